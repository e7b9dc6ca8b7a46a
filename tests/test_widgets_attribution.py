"""Explorers of the gradient chapters: they show what the library computes, and react to controls."""
from __future__ import annotations

import pytest
import torch

from vizlab import attribution as A
from vizlab.widgets import attribution as W
from conftest import assert_untouched, model_state, random_resnet18

pytest.importorskip("ipywidgets")


@pytest.fixture(scope="module")
def net_and_x():
    return random_resnet18(7), torch.randn(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))


def is_picture(a, width):
    return a.ndim == 3 and a.shape[2] == 3 and a.shape[1] == width and 0 <= a.min() and a.max() <= 1


def test_smoothgrad_explorer_is_the_library_and_reacts(net_and_x):
    model, x = net_and_x
    before = model_state(model)
    ex = W.SmoothGradExplorer(model, x, target=3, noise_levels=(0.0, 0.2), max_samples=4, batch_size=3, seed=5)
    for k, kind in [(4, "smoothgrad"), (2, "vargrad")]:
        ref = A.smoothgrad(A.saliency, model, x, 3, samples=k, noise=0.2, kind=kind,
                           generator=torch.Generator().manual_seed(5))
        got = ex.result(0.2, k, kind)
        assert float((got - ref).abs().max()) <= 1e-6 * float(ref.abs().max())
    assert is_picture(ex.render(0.2, 3), 48 * 2 + 4)
    box = ex.widget
    shown = ex.picture.value
    ex.n.value = 1
    assert ex.picture.value != shown and "1 samples" in ex.info.value
    assert box is ex.widget
    assert_untouched(model, before)


def test_deconvnet_explorer_ranks_channels_and_projects_the_strongest_unit(net_and_x):
    model, x = net_and_x
    ex = W.DeconvnetExplorer(model, x, ["layer1", "layer2.0.relu"], max_rank=4)
    with torch.no_grad():
        acts = model.layer1(model.maxpool(model.relu(model.bn1(model.conv1(x)))))
    peaks = acts[0].flatten(1).amax(1)
    assert ex.channels("layer1") == peaks.argsort(descending=True)[:4].tolist()
    ref = A.neuron_gradient(model, x, "layer1", ex.channels("layer1")[1], rule="deconvnet", position="max")
    assert torch.equal(ex.projection("layer1", 1, "deconvnet"), ref)
    ex.widget
    shown = ex.picture.value
    ex.rule.value = "guided"
    assert ex.picture.value != shown and "guided" in ex.info.value


def test_saliency_explorer_and_ig_explorer(net_and_x):
    model, x = net_and_x
    ex = W.SaliencyExplorer(model, x)
    with torch.no_grad():
        top = model(x)[0].topk(5).indices.tolist()
    assert ex.classes == top
    assert torch.equal(ex.attribution("guided_backprop", top[1]), A.guided_backprop(model, x, top[1]))
    for display in ("abs_max", "channel_max", "signed_sum", "rgb"):
        assert is_picture(ex.render("saliency", top[0], display), 48 * 2 + 4)
    with pytest.raises(ValueError, match="display must be"):
        ex.render("saliency", top[0], "max")
    ig_ex = W.IntegratedGradientsExplorer(model, x, target=2, steps=(2, 4), batch_size=4)
    ig, err = ig_ex.result("blur", 4)
    ref, delta = A.integrated_gradients(model, x, 2, ig_ex.baseline("blur"), 4, return_delta=True)
    assert torch.equal(ig, ref)
    assert err == pytest.approx(float(delta.abs()[0] / (ref.sum() - delta[0]).abs()))
    ig_ex.widget
    assert "completeness error" in ig_ex.info.value
    with pytest.raises(ValueError, match="one photo"):
        W.SaliencyExplorer(model, torch.cat([x, x]))
