import io

import matplotlib
import numpy as np
import torch
from PIL import Image

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from vizlab import plot  # noqa: E402


def test_normalize_constant_map_is_zero_not_nan():
    assert np.array_equal(plot.normalize(np.zeros((3, 3))), np.zeros((3, 3)))
    assert np.allclose(plot.normalize(torch.tensor([1.0, 2.0, 3.0])), [0, 0.5, 1])


def test_tile_channels_layout_and_normalisation():
    maps = np.stack([np.full((2, 2), 1.0), np.full((2, 2), 3.0), np.array([[0, 1], [2, 3.0]])])
    tiles = plot.tile_channels(maps, ncols=2, normalization="shared", padding=1)
    assert tiles.shape == (5, 5)
    assert tiles[0, 0] == 1 / 3 and tiles[0, 3] == 1.0 and tiles[3, 0] == 0 and tiles[4, 1] == 1.0
    assert tiles[2, 2] == 1.0 and tiles[4, 4] == 1.0  # white padding / unused cell
    per = plot.tile_channels(maps, ncols=3, normalization="channel", padding=0)
    assert np.array_equal(per[:, :4], np.zeros((2, 4)))  # constant channels -> 0, never NaN
    assert not np.isnan(per).any()


def test_blend_resizes_and_mixes():
    img = np.ones((8, 8, 3)) * 0.5
    out = plot.blend(img, np.zeros((2, 2)), alpha=0.0)
    assert out.shape == (8, 8, 3) and np.allclose(out, 0.5)
    heat = np.array([[0.0, 1.0]])
    out = plot.blend(img, heat, alpha=1.0, cmap="gray")
    assert out[0, 0, 0] < 0.05 and out[0, -1, 0] > 0.95


def test_png_roundtrip():
    a = np.random.default_rng(0).random((5, 7, 3))
    back = np.asarray(Image.open(io.BytesIO(plot.to_png(a))))
    assert back.shape == (5, 7, 3) and np.abs(back / 255 - a).max() <= 0.5 / 255 + 1e-9


def test_drawing_functions_take_and_return_ax():
    fig, axes = plt.subplots(1, 4)
    assert plot.show_image(np.zeros((4, 4, 3)), ax=axes[0], title="t") is axes[0]
    assert plot.show_map(np.zeros((4, 4)), ax=axes[1], symmetric=True) is axes[1]
    assert plot.heatmap_overlay(np.zeros((4, 4, 3)), np.zeros((2, 2)), ax=axes[2]) is axes[2]
    assert plot.channel_grid(torch.zeros(1, 4, 3, 3), ax=axes[3]) is axes[3]
    assert np.isfinite(axes[3].images[0].get_array()).all()
    axs = plot.image_grid([np.zeros((4, 4))] * 3, titles=list("abc"), ncols=2)
    assert axs.shape == (2, 2) and not axs[1, 1].axison
    plt.close("all")


def test_separators_can_stay_out_of_the_colour_scale():
    maps = np.stack([np.full((2, 2), 1.0), np.array([[0, 1], [2, 3.0]])])
    tiles = plot.tile_channels(maps, ncols=2, normalization="channel", padding=1, fill=np.nan)
    assert np.isnan(tiles[:, 2]).all() and not np.isnan(np.delete(tiles, 2, axis=1)).any()
    rgb = plot.colorize(tiles, "viridis", normalized=True)
    assert np.allclose(rgb[:, 2], plot.BACKGROUND)
    assert np.allclose(rgb[1, 4], matplotlib.colormaps["viridis"](1.0)[:3])      # the data keeps its colour
    fig, ax = plt.subplots()
    plot.channel_grid(torch.zeros(1, 4, 3, 3), ax=ax)
    drawn = ax.images[0].make_image(fig.canvas.get_renderer(), unsampled=True)[0]
    top = np.array(matplotlib.colormaps["viridis"](1.0)) * 255
    assert not np.all(np.abs(drawn[..., :3].reshape(-1, 3) - top[:3]) < 2, axis=1).any()  # nothing in the top colour
    plt.close("all")


def _colorbars(fig):
    return [a for a in fig.axes if a.get_label() == "<colorbar>"]


def test_maps_and_overlays_carry_their_colour_bar_by_default():
    for draw in (lambda ax: plot.show_map(np.arange(6.0).reshape(2, 3), ax=ax),
                 lambda ax: plot.heatmap_overlay(np.zeros((4, 4, 3)), np.arange(4.0).reshape(2, 2), ax=ax),
                 lambda ax: plot.channel_grid(torch.rand(3, 4, 4), ax=ax)):
        fig, ax = plt.subplots()
        draw(ax)
        assert len(_colorbars(fig)) == 1
        plt.close(fig)
    fig, ax = plt.subplots()
    plot.show_map(np.ones((2, 2)), ax=ax, colorbar=False)
    assert not _colorbars(fig)


def test_colour_bar_is_in_the_maps_units_and_diverging_for_signed_maps():
    fig, axes = plt.subplots(1, 3)
    plot.show_map(np.array([[2.0, 5.0]]), ax=axes[0])                 # unsigned: min..max, its own units
    plot.show_map(np.array([[-1.0, 3.0]]), ax=axes[1])                # signed: centred on zero
    plot.heatmap_overlay(np.zeros((4, 4, 3)), np.array([[0.5, 2.0]]), ax=axes[2])
    unsigned, signed = axes[0].images[0], axes[1].images[0]
    assert unsigned.get_clim() == (2.0, 5.0) and unsigned.get_cmap().name == "viridis"
    assert signed.get_clim() == (-3.0, 3.0) and signed.get_cmap().name == "bwr"
    overlay_bar = _colorbars(fig)[2]
    assert overlay_bar.get_ylim() == (0.5, 2.0)
    plt.close(fig)
