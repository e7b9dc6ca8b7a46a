"""Explorers of the gradient chapters: they show what the library computes, and react to controls."""
from __future__ import annotations

import numpy as np
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


def test_deconvnet_explorer_opens_where_the_rules_differ_and_says_why_they_may_not(lite0, chelsea_x):
    before = model_state(lite0)
    layers = ["stem.bn", "blocks.1", "blocks.5", "head.bn"]
    ex = W.DeconvnetExplorer(lite0, chelsea_x, layers, max_rank=2)
    assert [ex.rules_differ(name) for name in layers] == [False, True, True, True]
    assert ex.start_layer == "blocks.5"                # the middle of the layers with a ReLU before them
    ex.widget
    assert ex.layer.value == "blocks.5" and "No ReLU" not in ex.info.value
    shown = ex.picture.value
    ex.rule.value = "guided"
    assert ex.picture.value != shown
    ex.layer.value = "stem.bn"
    assert "No ReLU runs before" in ex.info.value and "class='vizlab-why'" in ex.info.value
    same = [ex.projection("stem.bn", 0, rule) for rule in ("deconvnet", "guided", "backprop")]
    assert torch.equal(same[0], same[1]) and torch.equal(same[0], same[2])
    top, left, size = W.peak_window(ex.projection("blocks.5", 0, "deconvnet"))
    ex.layer.value, ex.rule.value = "blocks.5", "deconvnet"
    assert f"{size}x{size} px window" in ex.info.value
    pic = ex.render("blocks.5", 0, "deconvnet")
    assert pic.shape == (224, 3 * 224 + 8, 3)
    photo = ex._photo
    assert np.allclose(pic[:, :224][top + 5, left + 5], photo[top + 5, left + 5])   # inside the box: the photo
    assert np.allclose(pic[top, left + 5], (1.0, 0.85, 0.0))                        # the box's edge
    with pytest.raises(ValueError, match="not one of layers"):
        W.DeconvnetExplorer(lite0, chelsea_x, layers, layer="blocks.2")
    assert_untouched(lite0, before)


def test_slow_settings_show_busy_feedback_before_computing(net_and_x):
    model, x = net_and_x
    ex = W.SmoothGradExplorer(model, x, target=3, noise_levels=(0.0, 0.2), max_samples=4, batch_size=2, seed=5)
    ex.widget
    messages = []
    ex.info.observe(lambda change: messages.append(change["new"]), names="value")
    ex.noise.value = 0.0                               # not cached yet: message, progress, then the result
    assert messages[0].startswith("<i>computing 4 noisy copies at noise 0")
    assert messages[1].endswith("2/4</i>") and messages[2].endswith("4/4</i>")
    assert "samples changes nothing" in ex.info.value
    messages.clear()
    ex.n.value = 2                                     # cached: straight to the new line, no busy message
    assert len(messages) == 1 and "<i>" not in messages[0]


def test_saliency_explorer_picks_classes_in_eval_mode_and_leaves_a_train_mode_model_as_found():
    """Without ``classes`` the explorer runs the model once to find the top 5: in eval mode, so
    dropout does not randomise the choice and batch-norm buffers do not move."""
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Dropout(0.5),
                                torch.nn.Linear(4, 6)).train()
    x = torch.randn(1, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    before = model_state(model)
    ex = W.SaliencyExplorer(model, x)
    with torch.no_grad():
        expected = model.eval()(x)[0].topk(5).indices.tolist()
    model.train()
    assert ex.classes == expected
    assert_untouched(model, before)
