import io

import numpy as np
import pytest
from PIL import Image

import vizlab as vz
from vizlab import plot
from vizlab.widgets import FeatureMapExplorer

from conftest import assert_untouched, model_state


@pytest.fixture(scope="module")
def explorer(lite0, chelsea_x):
    return FeatureMapExplorer(lite0, chelsea_x, layers=["stem.act", "blocks.5.expand.act", "head.act"])


def test_render_matches_the_maps(explorer, lite0, chelsea_x):
    maps = vz.feature_maps(lite0, chelsea_x, ["blocks.5.expand.act"])["blocks.5.expand.act"][0]
    one = explorer.render("blocks.5.expand.act", 7, "channel")
    assert np.allclose(one, plot.colorize(plot.normalize(maps[7]), "viridis", normalized=True))
    shared = explorer.render("blocks.5.expand.act", 7, "shared")
    lo, hi = float(maps.min()), float(maps.max())
    assert np.allclose(shared, plot.colorize(plot.normalize(maps[7], lo, hi), "viridis", normalized=True))
    with pytest.raises(IndexError, match="channels"):
        explorer.render("head.act", 5000)


def test_controls_drive_the_picture(explorer):
    w = explorer.widget
    assert explorer.layer.options == ("stem.act", "blocks.5.expand.act", "head.act")
    first = explorer.picture.value
    explorer.channel.value = 3
    assert explorer.picture.value != first and "channel 3" in explorer.info.value
    explorer.layer.value = "stem.act"
    assert explorer.channel.max == 31
    explorer.channel.value = 31
    explorer.layer.value = "head.act"
    assert explorer.channel.max == 1279 and explorer.channel.value == 31
    explorer.channel.value = -1
    assert "all channels (first 64)" in explorer.info.value
    assert w is explorer.widget


def test_new_photo_recomputes_once(explorer, lite0):
    before = model_state(lite0)
    old = explorer.maps("head.act").copy()
    explorer.image = vz.sample_image("coffee")
    assert not np.allclose(old, explorer.maps("head.act"))
    assert_untouched(lite0, before)


def test_unknown_layer(explorer):
    with pytest.raises(KeyError, match="stem.act"):
        explorer.maps("stem")


def test_grid_separators_are_background_not_the_top_colour(explorer):
    grid = explorer.render("head.act", -1)          # 64 tiles of 7x7, 8 per row, 1 px separators
    top = np.array(plot.colorize(np.ones((1, 1)), "viridis", normalized=True)[0, 0])
    sep = grid[7, :, :]                                # the first horizontal separator row
    assert np.allclose(sep, plot.BACKGROUND)
    assert not np.isclose(grid, top).all(-1)[7].any()
    maps = explorer.maps("head.act")[:64]
    tile = grid[8:15, 16:23]                           # tile (row 1, col 2) = channel 10, own range
    assert np.allclose(tile, plot.colorize(plot.normalize(maps[10]), "viridis", normalized=True))


def test_dead_channels_are_named_and_a_channel_can_be_typed(explorer):
    w = explorer.widget
    maps = explorer.maps("head.act")
    flat = maps.reshape(len(maps), -1)
    dead = np.flatnonzero(flat.max(1) == flat.min(1))
    assert np.array_equal(explorer.dead_channels("head.act"), dead) and len(dead) > 0
    explorer.layer.value = "head.act"
    explorer.channel.value = -1
    assert f"{int((dead < 64).sum())} of these 64 channels are all zero" in explorer.info.value
    assert "vizlab-why" not in explorer.info.value     # a remark, not an excuse for an unchanged picture
    explorer.channel_box.value = int(dead[0])          # typed in the box: the slider follows
    assert explorer.channel.value == int(dead[0]) and "nothing to see" in explorer.info.value
    shown = explorer.picture.value                     # the toggle cannot change a dead channel: it says why
    explorer.normalization.value = "shared"
    assert explorer.picture.value == shown and "vizlab-why" in explorer.info.value
    explorer.normalization.value = "channel"
    live = int(np.setdiff1d(np.arange(len(maps)), dead)[0])
    explorer.channel.value = live
    assert explorer.channel_box.value == live and "nothing to see" not in explorer.info.value
    explorer.layer.value = "stem.act"
    assert explorer.channel_box.max == 31 == explorer.channel.max
    assert w is explorer.widget


def test_picture_is_shown_at_display_size(explorer):
    explorer.widget
    explorer.layer.value = "head.act"
    explorer.channel.value = 0                         # a 7x7 map: 64x enlarged = 448 px, no soft stretch
    img = Image.open(io.BytesIO(explorer.picture.value))
    assert img.size == (448, 448) and explorer.picture.layout.width == "448px"
    assert "activation of channel 0" in explorer.legend.value
    explorer.normalization.value = "shared"
    assert "one scale for the whole layer" in explorer.legend.value
    explorer.normalization.value = "channel"
