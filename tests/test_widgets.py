import numpy as np
import pytest

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
