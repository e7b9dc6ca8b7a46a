"""The shared explorer plumbing: readable text, busy feedback, colour legends, display size."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from vizlab import plot
from vizlab.widgets import _base
from vizlab.widgets import attribution as W
from conftest import assert_untouched, model_state

w = pytest.importorskip("ipywidgets")


class Tiny(_base.Explorer):
    def _build(self):
        self.picture = _base.image_widget(np.zeros((3, 5, 3)), width=23)
        self.info = w.HTML("ready")
        return w.VBox([self.picture, self.info])


def png_size(widget):
    return Image.open(io.BytesIO(widget.value)).size


def test_text_plain_is_readable_and_the_widget_view_is_kept():
    ex = Tiny()
    bundle = ex._repr_mimebundle_()
    assert bundle["text/plain"].startswith("Tiny -- run this cell to interact")
    assert "VBox" not in bundle["text/plain"]
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == ex.widget.model_id
    assert "run this cell" in repr(ex)


def test_busy_dims_and_says_so_then_restores_also_on_error():
    ex = Tiny()
    ex.widget
    seen = []
    with ex.busy("computing X..."):
        seen.append((ex.info.value, _base.BUSY_CLASS in ex.picture._dom_classes))
        ex.progress(3, 8)
        seen.append(ex.info.value)
    assert seen == [("<i>computing X...</i>", True), "<i>computing X... 3/8</i>"]
    assert _base.BUSY_CLASS not in ex.picture._dom_classes
    with pytest.raises(RuntimeError):
        with ex.busy("again"):
            raise RuntimeError("boom")
    assert _base.BUSY_CLASS not in ex.picture._dom_classes
    ex.progress(1, 2)                      # outside busy: no message to update
    assert ex.info.value == "<i>again</i>"
    assert "<style>" in ex.widget.children[0].value and BUSY_IN_STYLE(ex)


def BUSY_IN_STYLE(ex):
    return _base.BUSY_CLASS in ex.widget.children[0].value


def test_pictures_are_shown_at_a_whole_multiple_of_their_size():
    assert _base.display_scale(np.zeros((7, 7, 3)), 448) == 64
    assert _base.display_scale(np.zeros((10, 341, 3)), 448) == 1
    assert _base.display_scale(np.zeros((10, 900, 3)), 448) == 1
    pic = _base.image_widget(np.zeros((3, 5, 3)), width=23)
    assert png_size(pic) == (20, 12) and pic.layout.width == "20px"
    _base.update_image(pic, np.ones((2, 2, 3)))
    assert png_size(pic) == (22, 22) and pic.layout.width == "22px"
    plain = w.Image()                      # a widget not made by image_widget: bytes only, no resize
    _base.update_image(plain, np.ones((2, 2, 3)))
    assert png_size(plain) == (2, 2)


def test_legend_is_the_colour_map_with_its_labels():
    html = _base.legend("gray", "low <0>", "high")
    assert "rgb(0,0,0) 0%" in html and "rgb(255,255,255) 100%" in html
    assert "low &lt;0&gt;" in html and "high" in html
    assert "lowers the score" in W.display_legend("signed_sum") and "rgb(" in W.display_legend("signed_sum")
    assert "grey = 0" in W.display_legend("rgb")


class Chain(nn.Module):
    """conv -> bn -> relu -> conv -> relu6: a ReLU first runs inside ``act1``."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.act1, self.conv2, self.act2 = nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU6()
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.pool(self.act2(self.conv2(self.act1(self.bn(self.conv1(x)))))).flatten(1))


def test_rectifiers_before_counts_relus_on_the_way_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = Chain().train()
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    before = model_state(model)
    got = {name: W.rectifiers_before(model, x, name) for name in ["conv1", "bn", "act1", "conv2", "act2"]}
    assert got == {"conv1": 0, "bn": 0, "act1": 1, "conv2": 1, "act2": 2}
    assert_untouched(model, before)


def test_peak_window_is_the_smallest_square_around_the_peak_holding_the_mass():
    a = torch.zeros(1, 3, 64, 64)
    a[0, 0, 30, 40] = 10.0                 # the peak
    a[0, 1, 30, 52] = -4.0                 # 12 px to its right: inside only from half-width 12 on
    assert W.peak_window(a, mass=0.9, smallest=4) == (30 - 12, 40 - 12, 25)
    assert W.peak_window(a, mass=0.5, smallest=4) == (28, 38, 5)
    a[0, 2, 0, 0] = 1e6                    # a peak at the corner: the window stays inside the picture
    assert W.peak_window(a, mass=0.9, smallest=8) == (0, 0, 9)


def test_inline_label_puts_the_description_beside_the_control():
    buttons = w.ToggleButtons(options=["a", "b"], description="show")
    row = _base.inline_label(buttons, "70px")
    assert buttons.description == "" and row.children[0].value == "show" and row.children[1] is buttons
    assert row.children[0].layout.width == "70px" and "vizlab-label" in row.children[0]._dom_classes
    plain = w.ToggleButtons(options=["a"])
    assert _base.inline_label(plain) is plain
