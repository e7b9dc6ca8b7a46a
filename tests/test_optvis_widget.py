"""ActivationMaxExplorer: renders a block of channels in one batch, caches it, re-renders cheaply."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import vizlab as vz
from vizlab.widgets import optvis as W

from conftest import assert_untouched, model_state


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return vz.load("efficientnet_lite0", pretrained=False).eval()


@pytest.fixture
def count_renders(monkeypatch):
    calls = []
    real = W.render

    def counting(*args, **kwargs):
        calls.append(kwargs["param"].shape[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(W, "render", counting)
    return calls


def test_a_block_renders_once_and_slider_moves_are_cached(small, count_renders):
    before = model_state(small)
    ex = W.ActivationMaxExplorer(small, ["blocks.1", "blocks.3"], size=24, steps=3, block=4)
    assert ex.channels("blocks.1") == 24 and ex.channels("blocks.3") == 40
    a = ex.render("blocks.1", 1)
    assert a.shape == (24, 24, 3) and 0 <= a.min() and a.max() <= 1
    for c in range(4):
        ex.render("blocks.1", c)
    assert count_renders == [4]  # one batch of 4 channels
    ex.render("blocks.1", 5)
    ex.render("blocks.1", 2, "naive")
    assert count_renders == [4, 4, 4]
    assert np.array_equal(ex.render("blocks.1", 1), a)
    assert_untouched(small, before)


def test_batched_block_equals_rendering_the_channel_alone(small):
    """Image i of the batch is optimised for channel first + i only: the same as a batch of one."""
    big = W.ActivationMaxExplorer(small, ["blocks.2"], size=24, steps=3, block=4)
    one = W.ActivationMaxExplorer(small, ["blocks.2"], size=24, steps=3, block=1)
    # Same start only for image 0 of the block (the generator draws the whole batch at once).
    assert np.allclose(big.render("blocks.2", 0, "naive"), one.render("blocks.2", 0, "naive"), atol=1e-4)


def test_widget_moves_use_the_cache(small, count_renders):
    pytest.importorskip("ipywidgets")
    ex = W.ActivationMaxExplorer(small, ["blocks.1", "blocks.3"], size=24, steps=2, block=4)
    ex.widget
    assert count_renders == [4]
    png = ex.picture.value
    ex.channel.value = 3
    assert count_renders == [4] and ex.picture.value != png
    assert "channel 3 of 24" in ex.info.value
    assert ex._bar.value == 2  # the progress bar followed the render
    ex.layer.value = "blocks.3"
    assert count_renders == [4, 4]


def test_errors_teach(small):
    ex = W.ActivationMaxExplorer(small, ["blocks.1"], size=24, steps=1, block=2)
    with pytest.raises(IndexError, match="24 channels"):
        ex.render("blocks.1", 30)
    with pytest.raises(KeyError, match="blocks.1"):
        ex.render("blocks.9", 0)
    with pytest.raises(ValueError, match="parameterisation"):
        ex.render("blocks.1", 0, "wavelets")
    with pytest.raises(ValueError, match="layers"):
        W.ActivationMaxExplorer(small, [])


def test_a_new_block_shows_busy_feedback_while_it_renders(small, monkeypatch):
    """Moving to an unrendered block takes seconds: the info line says so and the picture is dimmed
    during the render (cached moves need no message); both are restored after."""
    pytest.importorskip("ipywidgets")
    from vizlab.widgets import _base
    ex = W.ActivationMaxExplorer(small, ["blocks.1"], size=24, steps=2, block=4)
    ex.widget
    seen = []
    real = W.render

    def watching(*args, **kwargs):
        seen.append((ex.info.value, _base.BUSY_CLASS in ex.picture._dom_classes))
        return real(*args, **kwargs)

    monkeypatch.setattr(W, "render", watching)
    ex.channel.value = 5
    assert len(seen) == 1 and "rendering channels 4-7" in seen[0][0] and seen[0][1]
    assert _base.BUSY_CLASS not in ex.picture._dom_classes and "channel 5 of 24" in ex.info.value
    ex.channel.value = 6
    assert len(seen) == 1


def test_explorer_on_the_1_channel_digits_cnn():
    """Bug 8: digits_cnn takes 1-channel 32 px input; the explorer probes with its own channels and,
    since it takes one size only, resizes back to 32 px after the standard transforms."""
    digits = vz.load("digits_cnn")
    before = model_state(digits)
    ex = W.ActivationMaxExplorer(digits, ["relu1", "conv3"], size=32, steps=2, block=4)
    assert ex.channels("relu1") == 16 and ex.channels("conv3") == 64
    for mode in W.PARAMETERISATIONS:
        pic = ex.render("conv3", 5, mode)
        assert pic.shape == (32, 32, 3) and np.isfinite(pic).all()
    assert_untouched(digits, before)


def test_lite0_keeps_the_standard_transforms_without_a_resize(small):
    ex = W.ActivationMaxExplorer(small, ["blocks.1"], size=24, steps=1, block=2)
    assert ex._fixed_size == {"blocks.1": False}


def test_a_dead_channel_is_named_in_the_info_line():
    """Bug 13: a channel whose gradient is zero at every step shows only the starting noise -- say so."""
    pytest.importorskip("ipywidgets")
    from vizlab import digits as D
    net = D.random_model()
    with torch.no_grad():
        net.conv1.bias[2] = -1e4                         # relu1 channel 2 never fires
    ex = W.ActivationMaxExplorer(net, ["relu1"], size=32, steps=2, block=4)
    ex.widget
    assert 2 in ex.dead("relu1") and 0 not in ex.dead("relu1")
    assert "dead" not in ex.info.value                   # channel 0 is shown first
    ex.channel.value = 2
    assert "channel 2 is dead" in ex.info.value and "vizlab-note" in ex.info.value


def test_dataset_examples_beside_the_render(small, monkeypatch):
    """The "show" buttons put the channel's nine top crops of the pool beside the render; the pool's forward pass
    runs once per layer, a channel move only sorts."""
    pool = [torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))]
    ex = W.ActivationMaxExplorer(small, ["blocks.1", "blocks.3"], size=24, steps=2, block=4, pool=pool)
    passes = []
    real = W.exemplars.layer_activations
    monkeypatch.setattr(W.exemplars, "layer_activations", lambda *a, **k: passes.append(a[1]) or real(*a, **k))
    pic = ex.beside("blocks.1", 2)
    assert pic.shape == (24, 24 + 1 + 24, 3)                      # render | 1 px gap | 3 x 3 grid of 8 px tiles
    assert np.array_equal(pic[:, :24], ex.render("blocks.1", 2)) and (pic[:, 24] == 1).all()
    ex.beside("blocks.1", 3)
    assert passes == ["blocks.1"]
    top = vz.dataset_examples(small, "blocks.1", 2, pool, k=9)
    first = torch.nn.functional.interpolate((top.crops[:1] * 0.5 + 0.5).clamp(0, 1), size=(8, 8), mode="bilinear",
                                           antialias=True, align_corners=False)[0].permute(1, 2, 0).numpy()
    assert np.allclose(pic[:8, 25:33], first, atol=1e-6)          # the top crop, top left of the grid
    assert ex.examples("blocks.1", 2).boxes == top.boxes


def test_show_buttons_change_the_picture(small):
    pytest.importorskip("ipywidgets")
    pool = [torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))]
    ex = W.ActivationMaxExplorer(small, ["blocks.1"], size=24, steps=2, block=4, pool=pool)
    ex.widget
    png = ex.picture.value
    ex.show.value = W.SHOW[1]
    assert ex.picture.value != png and "9 crops" in ex.info.value and "of the pool's 2 images" in ex.info.value
    with_examples = ex.picture.value
    ex.channel.value = 1
    assert ex.picture.value not in (png, with_examples)
    ex.show.value = W.SHOW[0]
    assert "9 crops" not in ex.info.value


def test_dataset_examples_of_digits_are_grey_tiles():
    digits = vz.load("digits_cnn")
    from vizlab import digits as D
    ex = W.ActivationMaxExplorer(digits, ["relu2"], size=32, steps=1, block=4, pool=[D.load_split().x_test[:40]])
    pic = ex.beside("relu2", 0)
    assert pic.shape == (32, 32 + 2 + 30, 3)
    grid = pic[:30, 34:]
    assert np.array_equal(grid[..., 0], grid[..., 1]) and np.array_equal(grid[..., 0], grid[..., 2])
