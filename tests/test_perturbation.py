"""Occlusion sensitivity (vizlab.perturbation): exact values on hand-computable nets, parity with
Captum's Occlusion on three models, the library's contract, and the bad-input table."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import vizlab as vz
from vizlab.perturbation import occlusion, window_masks, window_starts
from conftest import TupleOut, assert_clear_error, assert_untouched, model_state, tiny

captum_attr = pytest.importorskip("captum.attr")


def linear_net(weights: torch.Tensor) -> nn.Module:
    """S(x) = sum_cij w_cij x_cij (one output): occluding a set of pixels drops S by their w * x."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(weights.numel(), 1, bias=True)).eval()
    with torch.no_grad():
        net[1].weight.copy_(weights.flatten()[None])
        net[1].bias.fill_(0.7)
    return net


def test_one_pixel_window_on_a_linear_net_is_w_times_x_summed_over_colours():
    g = torch.Generator().manual_seed(1)
    w, x = torch.randn(3, 5, 4, generator=g), torch.randn(1, 3, 5, 4, generator=g)
    got = occlusion(linear_net(w), x, target=0, window=1, stride=1)
    expected = (w * x[0]).sum(0, keepdim=True).expand(3, 5, 4)
    assert torch.allclose(got[0], expected, atol=1e-6)


def test_each_pixel_gets_the_mean_drop_of_the_windows_that_cover_it():
    # 1 x 4 image, window 2, stride 1: windows {0,1}, {1,2}, {2,3}; drops d_k = sum of w*x inside
    w, x = torch.tensor([[[[1.0, 2.0, 3.0, 4.0]]]]), torch.ones(1, 1, 1, 4)
    got = occlusion(linear_net(w[0]), x, target=0, window=(1, 2), stride=1)[0, 0, 0]
    d = [3.0, 5.0, 7.0]
    assert torch.allclose(got, torch.tensor([d[0], (d[0] + d[1]) / 2, (d[1] + d[2]) / 2, d[2]]))


def test_a_window_as_large_as_the_image_gives_every_pixel_s_x_minus_s_baseline():
    m, x = tiny(), torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    got = occlusion(m, x, target=[1, 4], window=8, stride=8, baseline=0.3)
    with torch.no_grad():
        s = m(x)[[0, 1], [1, 4]] - m(torch.full_like(x, 0.3))[[0, 1], [1, 4]]
    assert torch.allclose(got, s.view(2, 1, 1, 1).expand_as(x), atol=1e-6)


def test_windows_cover_every_pixel_and_are_counted_like_captum():
    for size, window, stride in [(224, 32, 16), (17, 5, 3), (10, 10, 4), (13, 4, 4)]:
        starts = window_starts(size, window, stride)
        assert len(starts) == math.ceil((size - window) / stride) + 1
        assert starts[-1] >= size - window                     # the last window reaches the edge
    masks = window_masks(17, 13, (5, 4), (3, 2))
    assert masks.shape == (5 * 6, 1, 17, 13) and bool(masks.any(0).all())


def _captum(model, x, target, window, stride, baseline=0.0):
    c = x.shape[1]
    return captum_attr.Occlusion(model).attribute(x, target=target, sliding_window_shapes=(c, *window),
                                                  strides=(c, *stride), baselines=baseline,
                                                  perturbations_per_eval=16)


@pytest.mark.parametrize("which", ["tiny", "digits_cnn", "lite0"])
def test_parity_with_captum_occlusion(which, lite0, chelsea_x):
    if which == "tiny":
        model, x, window, stride = tiny(), torch.randn(2, 3, 16, 12, generator=torch.Generator().manual_seed(3)), (5, 4), (3, 2)
    elif which == "digits_cnn":
        model = vz.load("digits_cnn")
        x, window, stride = vz.digits.load_split().x_test[:3], (8, 8), (4, 4)
    else:
        model, x, window, stride = lite0, chelsea_x, (56, 56), (56, 56)
    with torch.no_grad():
        target = model(x).argmax(1)
    ours = occlusion(model, x, target.tolist(), window=window, stride=stride)
    theirs = _captum(model, x, target, window, stride)
    assert (ours - theirs).abs().max() <= 1e-5 * max(1.0, float(theirs.abs().max()))
    assert float(theirs.abs().max()) > 0                       # a real map, not two zeros


def test_contract_model_untouched_names_no_grad_rng_progress_and_batching():
    m = tiny()
    m.train()                                                  # left in training mode by the student
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    before, rng = model_state(m), torch.get_rng_state()
    calls = []
    with torch.no_grad():
        a = occlusion(m, x, target=2, window=3, stride=2, batch_size=4, progress=lambda d, t: calls.append((d, t)))
    assert_untouched(m, before)
    assert torch.equal(torch.get_rng_state(), rng)
    K = len(window_masks(8, 8, (3, 3), (2, 2)))
    assert calls[-1] == (2 * K, 2 * K) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    b = occlusion(m, x, target=2, window=3, stride=2, batch_size=1)
    assert torch.allclose(a, b, atol=1e-6)                     # the batching does not change the answer
    m.eval()
    with torch.no_grad():
        assert torch.equal(m(x), m(x))                         # eval-mode output reproducible after the call


def test_class_names_and_the_default_target_freeze_the_clean_prediction(lite0, chelsea_x):
    by_name = occlusion(lite0, chelsea_x, "Egyptian cat", window=112, stride=112)
    by_index = occlusion(lite0, chelsea_x, vz.class_index(lite0, "Egyptian cat"), window=112, stride=112)
    default = occlusion(lite0, chelsea_x, None, window=112, stride=112)
    assert torch.equal(by_name, by_index) and torch.equal(by_index, default)


M = tiny()
X = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
CASES = {
    "window 0": (lambda: occlusion(M, X, 0, window=0), ValueError, "window"),
    "window larger than the image": (lambda: occlusion(M, X, 0, window=9), ValueError, "larger than the image"),
    "window a triple": (lambda: occlusion(M, X, 0, window=(3, 3, 3)), ValueError, "(height, width)"),
    "stride a float": (lambda: occlusion(M, X, 0, stride=1.5), ValueError, "stride"),
    "batch_size 0": (lambda: occlusion(M, X, 0, window=2, batch_size=0), ValueError, "batch_size"),
    "unknown baseline": (lambda: occlusion(M, X, 0, window=2, baseline="grey"), ValueError, "'black'"),
    "NaN image": (lambda: occlusion(M, X * float("nan"), 0, window=2), ValueError, "NaN"),
    "typo'd class name": (lambda: occlusion(vz.load(), torch.zeros(1, 3, 32, 32), "tabbby", window=16),
                          KeyError, "tabby"),
    "target list too long": (lambda: occlusion(M, X, [1, 2, 3], window=2), ValueError, "batch holds 2"),
    "model returns a tuple": (lambda: occlusion(TupleOut(), X, 0, window=2), TypeError, "logits"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_inputs_get_a_clear_error(case):
    assert_clear_error(CASES, case)
