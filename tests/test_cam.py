"""vizlab.cam: exact values on a hand-made net, parity with pytorch-grad-cam and torchcam,
CAM == Grad-CAM on a GAP + linear model, batching, zero maps, hygiene and bad inputs."""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

import vizlab as vz
from vizlab import cam as C
from conftest import assert_untouched, model_state, random_resnet18

TOL = 1e-4


def minmax(a) -> torch.Tensor:
    """Each map of a batch min-max'ed to [0, 1] and flattened (how the parity is defined)."""
    a = torch.as_tensor(np.asarray(a, dtype=np.float32)) if not isinstance(a, torch.Tensor) else a.detach().float()
    a = a.reshape(a.shape[0], -1)
    lo, hi = a.min(1, keepdim=True).values, a.max(1, keepdim=True).values
    return (a - lo) / (hi - lo).clamp_min(1e-12)


def max_diff(ours, theirs) -> float:
    return float((minmax(ours) - minmax(theirs)).abs().max())


# --------------------------------------------------------------------------------------------
# A tiny net with hand-set weights and hand-computed maps
# --------------------------------------------------------------------------------------------

class Tiny(nn.Module):
    """x [N, 2, 2, 2] -> conv 1x1 (identity) -> ReLU ("act") -> GAP -> linear(2 -> 2)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1, bias=False)
        self.act = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
            self.fc.weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 1.0]]))
            self.fc.bias.copy_(torch.tensor([0.5, 0.0]))

    def forward(self, x):
        return self.fc(self.pool(self.act(self.conv(x))).flatten(1))


TINY_X = torch.tensor([[[[1.0, 2.0], [0.0, 3.0]], [[2.0, 0.0], [1.0, 1.0]]]])  # A = relu(x) = x
A0, A1 = TINY_X[0, 0], TINY_X[0, 1]


def test_tiny_cam_and_grad_cam_exact():
    net = Tiny().eval()
    # CAM weights are fc.weight[0] = (1, -2):  A0 - 2 A1 = [[-3, 2], [-2, 1]] -> ReLU
    assert torch.equal(C.cam(net, TINY_X, 0, "act")[0], torch.tensor([[0.0, 2.0], [0.0, 1.0]]))
    assert torch.equal(C.cam(net, TINY_X, 0, "act", relu=False)[0], torch.tensor([[-3.0, 2.0], [-2.0, 1.0]]))
    # Grad-CAM: dS/dA = w / 4 at every position -> weights (0.25, -0.5)
    torch.testing.assert_close(C.grad_cam(net, TINY_X, 0, "act")[0], torch.tensor([[0.0, 0.5], [0.0, 0.25]]))
    # class 1: weights (0.5, 1) -> all positive, no ReLU effect
    torch.testing.assert_close(C.grad_cam(net, TINY_X, 1, "act")[0], (0.5 * A0 + A1) / 4)


def test_tiny_grad_cam_pp_layer_cam_score_cam_exact():
    net = Tiny().eval()
    # Grad-CAM++: G_k constant g_k -> alpha_k = 1 / (2 + g_k sum(A_k)); channel 1 has g < 0 -> weight 0
    alpha0 = 1 / (2 + 0.25 * 6.0)
    w0 = 4 * alpha0 * 0.25
    torch.testing.assert_close(C.grad_cam_pp(net, TINY_X, 0, "act")[0], w0 * A0)
    # LayerCAM: relu(G) = 0.25 for channel 0, 0 for channel 1, at every position
    torch.testing.assert_close(C.layer_cam(net, TINY_X, 0, "act")[0], 0.25 * A0)
    # Score-CAM: masks H0 = A0 / 3, H1 = (A1 - 0) / 2; scores of the masked inputs, by hand
    s0 = 0.5 + (1 / 3 + 4 / 3 + 0 + 3) / 4 - 2 * (2 / 3 + 0 + 0 + 1) / 4
    s1 = 0.5 + (1 + 0 + 0 + 1.5) / 4 - 2 * (2 + 0 + 0.5 + 0.5) / 4
    w = torch.tensor([math.exp(s0), math.exp(s1)]) / (math.exp(s0) + math.exp(s1))
    torch.testing.assert_close(C.score_cam(net, TINY_X, 0, "act")[0], torch.relu(w[0] * A0 + w[1] * A1))


def test_grad_cam_pp_general_form():
    net = Tiny().eval()
    default = C.grad_cam_pp(net, TINY_X, 0, "act")
    # f = exp is the special case: the same map times exp(S)
    s = net(TINY_X)[0, 0].item()
    general = C.grad_cam_pp(net, TINY_X, 0, "act", output_fn=torch.exp)
    torch.testing.assert_close(general, default * math.exp(s))
    # f = exp(S / T): alpha_k = 1 / (2 + g_k sum(A_k) / T), weight = 4 alpha relu(g) f'(S)
    T = 10.0
    alpha0 = 1 / (2 + 0.25 * 6.0 / T)
    expected = 4 * alpha0 * 0.25 * math.exp(s / T) / T * A0
    torch.testing.assert_close(C.grad_cam_pp(net, TINY_X, 0, "act", output_fn=lambda z: torch.exp(z / T))[0], expected)
    # a linear f has no 2nd derivative: alpha is 0/0 -> a zero map, not NaN
    lin = C.grad_cam_pp(net, TINY_X, 0, "act", output_fn=lambda z: z)
    assert torch.equal(lin, torch.zeros_like(lin))


# --------------------------------------------------------------------------------------------
# CAM == Grad-CAM up to a positive scale on GAP + linear models
# --------------------------------------------------------------------------------------------

def test_cam_equals_grad_cam_on_default_model(lite0, chelsea_x):
    c = C.cam(lite0, chelsea_x, relu=False, upsample=False)
    g = C.grad_cam(lite0, chelsea_x, relu=False, upsample=False)
    hw = c.shape[-1] * c.shape[-2]
    torch.testing.assert_close(c, g * hw, rtol=1e-4, atol=1e-5)
    assert max_diff(C.cam(lite0, chelsea_x), C.grad_cam(lite0, chelsea_x)) < TOL


def test_cam_equals_grad_cam_on_resnet18():
    model = random_resnet18(1)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    c = C.cam(model, x, [1, 2], "layer4", relu=False)
    g = C.grad_cam(model, x, [1, 2], "layer4", relu=False)
    torch.testing.assert_close(c, g * 4, rtol=1e-4, atol=1e-6)  # layer4 is 2 x 2 at 64 px


def test_cam_refuses_models_without_gap_linear_head():
    vgg_like = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5)).eval()
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="grad_cam"):
        C.cam(vgg_like, x, 0, "1")
    # ... while Grad-CAM works on it
    assert C.grad_cam(vgg_like, x, 0, "1").shape == (1, 8, 8)
    # a layer that is not the last one before GAP is refused as well
    with pytest.raises(ValueError, match="global average pooling"):
        C.cam(random_resnet18(), torch.randn(1, 3, 64, 64), 0, "layer3")


# --------------------------------------------------------------------------------------------
# Parity with pytorch-grad-cam and torchcam
# --------------------------------------------------------------------------------------------

def _pgc(cls, model, layer, x, targets, batch_size=None, **kw):
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    with cls(model=model, target_layers=[vz.find_layer(model, layer)], **kw) as extractor:
        if batch_size:
            extractor.batch_size = batch_size  # ScoreCAM's chunk size
        out = extractor(input_tensor=x, targets=[ClassifierOutputTarget(t) for t in targets])
    for p in model.parameters():  # pytorch-grad-cam calls loss.backward(): undo that on shared models
        p.grad = None
    return out


@pytest.fixture(scope="module")
def resnet_case():
    return random_resnet18(0), torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1)), [3, 7]


@pytest.fixture(scope="module")
def lite0_case(lite0):
    x = torch.cat([vz.preprocess(vz.sample_image(n), lite0) for n in ("chelsea", "coffee")])
    return lite0, x, [281, 967]


@pytest.mark.parametrize("ours, theirs, options", [
    ("grad_cam", "GradCAM", {}),
    ("grad_cam_pp", "GradCAMPlusPlus", {"eps": 1e-6}),  # pytorch-grad-cam adds 1e-6 to alpha's denominator
    ("layer_cam", "LayerCAM", {}),
])
@pytest.mark.parametrize("case", ["resnet_case", "lite0_case"])
def test_parity_pytorch_grad_cam(ours, theirs, options, case, request):
    import pytorch_grad_cam
    model, x, targets = request.getfixturevalue(case)
    layer = vz.default_cam_layer(model)
    assert layer == ("layer4" if case == "resnet_case" else "head")
    mine = getattr(C, ours)(model, x, targets, **options)
    ref = _pgc(getattr(pytorch_grad_cam, theirs), model, layer, x, targets)
    assert mine.shape == tuple(ref.shape)
    assert max_diff(mine, ref) <= TOL


def test_parity_score_cam_resnet18():
    from pytorch_grad_cam import ScoreCAM
    model = random_resnet18(0)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    # pytorch-grad-cam upsamples the masks with align_corners=True (the paper's code: False)
    mine = C.score_cam(model, x, 5, "layer4", align_corners=True, batch_size=64)
    ref = _pgc(ScoreCAM, model, "layer4", x, [5], batch_size=64)
    assert max_diff(mine, ref) <= TOL


def test_parity_score_cam_default_model(lite0):
    from pytorch_grad_cam import ScoreCAM
    # all 1280 channels of the default layer; a 40 px input keeps it to seconds (head is 2 x 2)
    x = vz.preprocess(vz.sample_image("chelsea"), lite0, size=40)
    mine = C.score_cam(lite0, x, 281, align_corners=True, batch_size=64)
    ref = _pgc(ScoreCAM, lite0, "head", x, [281], batch_size=64)
    assert C.score_cam(lite0, x, 281, upsample=False).shape == (1, 2, 2)
    assert max_diff(mine, ref) <= TOL


@pytest.mark.parametrize("case", ["resnet_case", "lite0_case"])
def test_parity_torchcam_cam(case, request):
    from torchcam.methods import CAM
    model, x, targets = request.getfixturevalue(case)
    layer = vz.default_cam_layer(model)
    fc = "fc" if case == "resnet_case" else "classifier"
    with CAM(model, layer, fc) as extractor:
        with torch.no_grad():
            model(x)
        ref = extractor(class_idx=targets)[0]  # torchcam's CAM: no ReLU, layer resolution
    mine = C.cam(model, x, targets, relu=False, upsample=False)
    assert max_diff(mine, ref) <= TOL


def test_parity_torchcam_smooth_grad_cam_pp(lite0, chelsea_x):
    from torchcam.methods import SmoothGradCAMpp

    def torchcam_map(std, n, seed):
        torch.manual_seed(seed)  # torchcam draws its noise from the global RNG
        with SmoothGradCAMpp(lite0, "head", num_samples=n, std=std) as extractor:
            lite0(chelsea_x)
            return extractor(class_idx=281)[0]

    def ours(std, n, seed):
        return C.smooth_grad_cam_pp(lite0, chelsea_x, 281, samples=n, std=std, eps=1e-8,
                                    generator=torch.Generator().manual_seed(seed), upsample=False)

    # Negligible noise: the smoothing formula itself agrees exactly.
    assert max_diff(ours(1e-9, 2, 0), torchcam_map(1e-9, 2, 0)) <= TOL
    # Real noise (the same draws): torchcam weights relu() of the *last* noisy gradient and maps the
    # *last noisy* activation; we average the gradients and map the clean activation (Omeiza et
    # al.), so only a statistical agreement is expected: measured correlation 0.81 / 0.84 / 0.87
    # for seeds 0 / 1 / 2 (an unrelated map of the same photo scores far lower).
    a, b = minmax(ours(0.3, 8, 0))[0], minmax(torchcam_map(0.3, 8, 0))[0]
    assert float(np.corrcoef(a.numpy(), b.numpy())[0, 1]) > 0.7


def test_smooth_grad_cam_pp_reproducible_and_reduces_to_grad_cam_pp(lite0):
    x = vz.preprocess(vz.sample_image("chelsea"), lite0, size=128)
    g = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    inner = "blocks.14"  # a layer with non-linear layers after it: its gradient depends on the input
    a = C.smooth_grad_cam_pp(lite0, x, 281, inner, samples=4, generator=g(1), upsample=False)
    b = C.smooth_grad_cam_pp(lite0, x, 281, inner, samples=4, generator=g(1), upsample=False, batch_size=3)
    c = C.smooth_grad_cam_pp(lite0, x, 281, inner, samples=4, generator=g(2), upsample=False)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)                # chunking does not change the result
    assert not torch.allclose(a, c)                  # the generator is really used
    zero_noise = C.smooth_grad_cam_pp(lite0, x, 281, inner, samples=2, std=0.0, upsample=False)
    torch.testing.assert_close(zero_noise, C.grad_cam_pp(lite0, x, 281, inner, upsample=False), rtol=1e-4, atol=1e-4)
    # At the head, followed only by GAP + linear, dS/dA = W[c] / (h w) whatever the input:
    # averaging over noise cannot change anything, and Smooth Grad-CAM++ IS Grad-CAM++ there.
    torch.testing.assert_close(C.smooth_grad_cam_pp(lite0, x, 281, samples=4, upsample=False),
                               C.grad_cam_pp(lite0, x, 281, upsample=False), rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------------------------
# Batches, chunking, zero maps, fusion, guided Grad-CAM
# --------------------------------------------------------------------------------------------

def small_cnn(seed: int) -> nn.Module:
    """conv -> ReLU -> conv/2 -> BN -> ReLU ("relu2", 16 x 8 x 8 at 16 px) -> GAP -> linear(10)."""
    torch.manual_seed(seed)
    net = nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(3, 8, 3, padding=1), relu1=nn.ReLU(inplace=True),
        conv2=nn.Conv2d(8, 16, 3, stride=2, padding=1), bn=nn.BatchNorm2d(16), relu2=nn.ReLU(inplace=True),
        pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=nn.Linear(16, 10)))
    return net.eval()


@pytest.mark.parametrize("method", list(C.METHODS))
def test_batch_equals_single_calls(method):
    model = small_cnn(3)
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    fn = C.get_method(method)
    batch = fn(model, x, [0, 5, 9], "relu2")
    single = torch.cat([fn(model, x[i:i + 1], t, "relu2") for i, t in enumerate([0, 5, 9])])
    assert float(batch.abs().max()) > 0
    torch.testing.assert_close(batch, single, rtol=1e-4, atol=1e-6)
    # the same with target=None: each image its own predicted class
    torch.testing.assert_close(fn(model, x, None, "relu2"),
                               torch.cat([fn(model, x[i:i + 1], None, "relu2") for i in range(3)]),
                               rtol=1e-4, atol=1e-6)


def test_score_cam_chunking_does_not_matter():
    model = small_cnn(3)
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(C.score_cam(model, x, 1, "relu2", batch_size=256),
                               C.score_cam(model, x, 1, "relu2", batch_size=3), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", list(C.METHODS))
def test_all_zero_maps_give_zeros_not_nan(method):
    net = Tiny().eval()
    x = -torch.ones(1, 2, 2, 2)  # ReLU kills everything: A == 0
    out = C.get_method(method)(net, x, 0, "act", normalize=True)
    assert torch.equal(out, torch.zeros_like(out))
    if method != "cam":  # conv is not followed by GAP + linear, so cam refuses it
        fused = C.get_method(method)(net, x, 0, ["act", "conv"], normalize=True)
        assert torch.isfinite(fused).all()


def test_shapes_default_layer_and_normalize(lite0, chelsea_x):
    for fn in (C.grad_cam, C.layer_cam):
        m = fn(lite0, chelsea_x, normalize=True)
        assert m.shape == (1, 224, 224)
        assert float(m.min()) == 0.0 and abs(float(m.max()) - 1.0) < 1e-6
    assert C.grad_cam(lite0, chelsea_x, upsample=False).shape == (1, 7, 7)


def test_multi_layer_fusion(lite0, chelsea_x):
    layers = ["blocks.10", "head"]
    fused_mean = C.layer_cam(lite0, chelsea_x, layer=layers)
    parts = [minmax(C.layer_cam(lite0, chelsea_x, layer=n)) for n in layers]
    torch.testing.assert_close(fused_mean.reshape(1, -1), (parts[0] + parts[1]) / 2, rtol=1e-4, atol=1e-5)
    fused_max = C.layer_cam(lite0, chelsea_x, layer=layers, fuse="max")
    torch.testing.assert_close(fused_max.reshape(1, -1), torch.maximum(*parts), rtol=1e-4, atol=1e-5)


def test_grad_cam_is_class_discriminative(lite0, chelsea_x):
    """Different classes give different maps (the property CAM methods are for)."""
    cat = C.grad_cam(lite0, chelsea_x, 281, normalize=True)
    espresso = C.grad_cam(lite0, chelsea_x, 967, normalize=True)
    assert float((cat - espresso).abs().mean()) > 0.1


def test_guided_grad_cam(lite0, chelsea_x):
    attribution = pytest.importorskip("vizlab.attribution")
    if not hasattr(attribution, "guided_backprop"):
        pytest.skip("vizlab.attribution.guided_backprop has not landed yet")
    before = model_state(lite0)
    out = C.guided_grad_cam(lite0, chelsea_x, 281)
    assert_untouched(lite0, before)
    assert out.shape == chelsea_x.shape
    expected = attribution.guided_backprop(lite0, chelsea_x, 281) * C.grad_cam(lite0, chelsea_x, 281)[:, None]
    torch.testing.assert_close(out, expected)


# --------------------------------------------------------------------------------------------
# Hygiene and bad inputs
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", list(C.METHODS))
def test_hygiene_after_success(method):
    model = random_resnet18(5)
    model.train()  # a training-mode model must come back in training mode, BN stats untouched
    before = model_state(model)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = C.get_method(method)(model, x, 3, "layer4" if method == "cam" else "layer1", **(
        {"samples": 2} if method == "smooth_grad_cam_pp" else {}))
    assert torch.isfinite(out).all()
    assert_untouched(model, before)


@pytest.mark.parametrize("method", list(C.METHODS))
def test_hygiene_after_exception_mid_call(method):
    model = random_resnet18(6)
    before = model_state(model)
    x = torch.randn(1, 3, 32, 32)
    calls = []

    def failing_target(logits):
        calls.append(1)
        if len(calls) > 1 or method in ("grad_cam", "grad_cam_pp", "layer_cam"):
            raise RuntimeError("boom")
        return logits[:, 0]

    if method == "cam":  # cam takes class indices only: let it fail after the forward pass, in its head check
        with pytest.raises(ValueError):
            C.cam(model, x, 0, "layer3")
    else:
        with pytest.raises(RuntimeError, match="boom"):
            C.get_method(method)(model, x, failing_target, "layer1")
        assert calls, "the target was never called: the test did not reach the middle of the call"
    assert_untouched(model, before)


def test_bad_inputs(lite0, chelsea_x):
    with pytest.raises(KeyError, match="Closest"):
        C.grad_cam(lite0, chelsea_x, layer="haed")
    with pytest.raises(ValueError, match="batch"):
        C.grad_cam(lite0, chelsea_x[0])
    with pytest.raises(ValueError, match="outside"):
        C.grad_cam(lite0, chelsea_x, 1000)
    with pytest.raises(ValueError, match="fuse"):
        C.grad_cam(lite0, chelsea_x, fuse="median")
    with pytest.raises(ValueError, match="unknown CAM method"):
        C.get_method("gradcam")
    with pytest.raises(ValueError, match="convolutional"):
        C.grad_cam(lite0, chelsea_x, layer="classifier")
    with pytest.raises(ValueError, match="callable"):
        C.cam(lite0, chelsea_x, lambda z: z[:, 0])
    with pytest.raises(ValueError, match="samples"):
        C.smooth_grad_cam_pp(lite0, chelsea_x, samples=0)


def test_public_names():
    for name in vz.methods.names(module="cam"):
        assert callable(getattr(C, name))
    assert vz.grad_cam is C.grad_cam


def test_score_cam_dead_channels_share_one_pass_exactly():
    """Constant (dead) channels share one forward pass; the result must equal pytorch-grad-cam's,
    which runs every channel."""
    from pytorch_grad_cam import ScoreCAM
    model = small_cnn(7)
    with torch.no_grad():
        model.bn.bias[:10] = -100.0  # channels 0-9 die after the ReLU: all-zero maps
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(8))
    A = vz.capture(model, x, "relu2")["relu2"][0]
    assert int((A.flatten(1).amax(1) == 0).sum()) == 10
    calls = []
    with vz.hooks.forward_hooks([(model.fc, lambda m, i, o: calls.append(o.shape[0]))]):
        mine = C.score_cam(model, x, 2, "relu2", align_corners=True, batch_size=4)
    assert sum(calls) == 1 + 6 + 1  # the clean pass, 6 live channels, one pass for all 10 dead ones
    ref = _pgc(ScoreCAM, model, "relu2", x, [2])
    assert max_diff(mine, ref) <= TOL


def test_cam_explorer_caches_maps_and_reblends(lite0):
    pytest.importorskip("ipywidgets")
    from vizlab.widgets import CamExplorer
    before = model_state(lite0)
    explorer = CamExplorer(lite0, {"chelsea": "chelsea"}, methods=["grad_cam", "cam"], layers=["head", "blocks.15"])
    assert [p.index for p in explorer.predictions("chelsea")][:1] == [285]
    a = explorer.render("chelsea", "grad_cam", 285, "head", alpha=0.0)
    b = explorer.render("chelsea", "grad_cam", 285, "head", alpha=1.0)
    assert len(explorer._maps) == 1                       # the opacity does not recompute
    np.testing.assert_allclose(a, explorer._pictures["chelsea"], atol=1e-6)
    expected = C.grad_cam(lite0, vz.preprocess(vz.sample_image("chelsea"), lite0), 285, normalize=True)[0]
    np.testing.assert_allclose(explorer.heatmap("chelsea", "grad_cam", 285, "head"), expected.numpy(), atol=1e-6)
    assert np.abs(a - b).max() > 0.3
    widget = explorer.widget
    explorer.method.value, explorer.layer.value = "cam", "blocks.15"   # CAM there is refused: message, no crash
    assert "grad_cam" in explorer.info.value
    assert widget is explorer.widget
    assert_untouched(lite0, before)


# --------------------------------------------------------------------------------------------
# Issue 7: hardening
# --------------------------------------------------------------------------------------------

class ConstantChannels(nn.Module):
    """x [1, 1, 32, 32] -> 3 x 3 average -> conv 1x1 "feat": channel 0 = the pooled image,
    channels 1 and 2 constant 0.3 and 0.7 -> GAP -> linear."""

    def __init__(self):
        super().__init__()
        self.pool3 = nn.AdaptiveAvgPool2d(3)
        self.feat = nn.Conv2d(1, 3, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(3, 2)
        with torch.no_grad():
            self.feat.weight.copy_(torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1, 1))
            self.feat.bias.copy_(torch.tensor([0.0, 0.3, 0.7]))
            self.fc.weight.copy_(torch.tensor([[1.0, 0.5, -0.5], [0.2, 0.1, 0.3]]))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(self.gap(self.feat(self.pool3(x))).flatten(1))


def test_score_cam_constant_channels_tested_at_low_resolution():
    """Item 5: a constant channel upsampled from 3 x 3 to 32 x 32 gains ~1e-7 ripple; min-max'ed,
    that would be a full-range mask. Its mask is zero, as the paper's min-max of a constant gives."""
    import torch.nn.functional as F
    model = ConstantChannels().eval()
    x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    A = vz.capture(model, x, "feat")["feat"]
    up = F.interpolate(A, size=(32, 32), mode="bilinear", align_corners=False)
    assert float(up[0, 1].max() - up[0, 1].min()) > 0  # the ripple this test is about
    live = (up[0, 0] - up[0, 0].min()) / (up[0, 0].max() - up[0, 0].min() + 1e-8)
    with torch.no_grad():
        s_live = model(x * live)[0, 0]
        s_zero = model(x * 0)[0, 0]
    w = torch.softmax(torch.stack([s_live, s_zero, s_zero]), 0)
    expected = torch.relu((w.view(3, 1, 1) * A[0]).sum(0))
    calls = []
    with vz.hooks.forward_hooks([(model.fc, lambda m, i, o: calls.append(o.shape[0]))]):
        got = C.score_cam(model, x, 0, "feat", upsample=False, batch_size=1)
    assert torch.allclose(got[0], expected, atol=1e-6)
    assert len(calls) == 1 + 1 + 1  # the clean pass, the live channel, one pass for both constant ones


def test_grad_cam_pp_without_overflow():
    """Item 9: exp(S / T) for a small T and a huge score gave all-NaN maps."""
    model = Tiny().eval()
    ref = C.grad_cam_pp(model, TINY_X, 0, "act", upsample=False, normalize=True)
    huge = C.grad_cam_pp(model, TINY_X, lambda z: 1e20 * z[:, 0], "act", upsample=False, normalize=True)
    assert torch.isfinite(huge).all() and torch.allclose(huge, ref, atol=1e-6)
    # class 1 scores 1.75: exp(1.75 / 0.01) = 1e76 fits float64 but not the float32 map
    steep = C.grad_cam_pp(model, TINY_X, 1, "act", upsample=False, normalize=True,
                          output_fn=lambda s: torch.exp(s / 0.01))
    assert torch.isfinite(steep).all() and steep.max() == 1
    with pytest.raises(ValueError, match="normalize=True"):
        C.grad_cam_pp(model, TINY_X, 1, "act", output_fn=lambda s: torch.exp(s / 0.01))
    with pytest.raises(ValueError, match="not finite"):
        C.grad_cam_pp(model, TINY_X, 1, "act", normalize=True, output_fn=lambda s: torch.exp(s / 1e-4))
    noisy = C.smooth_grad_cam_pp(model, TINY_X, lambda z: 1e20 * z[:, 0], "act", samples=4, normalize=True)
    assert torch.isfinite(noisy).all()


@pytest.mark.parametrize("method", C.METHODS)
def test_float64_models_keep_float64(method):
    """Items 10/12: a float64 model explains a float64 input and returns float64."""
    model = small_cnn(3).double()
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    fn = C.get_method(method)
    out = fn(model, x, 1, "relu2", **({"samples": 2} if method == "smooth_grad_cam_pp" else {}))
    assert out.dtype == torch.float64
    ref = fn(small_cnn(3), x.float(), 1, "relu2", **({"samples": 2} if method == "smooth_grad_cam_pp" else {}))
    assert torch.allclose(out.float(), ref, rtol=1e-3, atol=1e-5)


def test_class_name_targets_and_inference_mode():
    """Items 14/15: a class name is a target; calls inside torch.inference_mode() work."""
    model = random_resnet18()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    by_index = C.grad_cam(model, x, 281, "layer3")
    assert torch.equal(C.grad_cam(model, x, "tabby", "layer3"), by_index)
    with torch.inference_mode():
        inside = C.grad_cam(model, x, 281, "layer3")
        x_inf = x.clone()
    assert torch.equal(inside, by_index)
    assert torch.equal(C.grad_cam(model, x_inf, 281, "layer3"), by_index)
    assert torch.equal(C.score_cam(model, x_inf, 281, "layer4"), C.score_cam(model, x, 281, "layer4"))


def test_cam_calls_the_classifier_once():
    """Item 18: a user's hook on the classifier fires once per cam() call."""
    model = Tiny().eval()
    calls = []
    handle = model.fc.register_forward_hook(lambda m, i, o: calls.append(1))
    try:
        C.cam(model, TINY_X, 0, "act")
    finally:
        handle.remove()
    assert len(calls) == 1


def test_smooth_grad_cam_pp_samples_is_named_as_in_smoothgrad():
    """Issue 21 item 3: one name per knob. n_samples (the old name) gives the same map, with a warning."""
    model = small_cnn(3)
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    new = C.smooth_grad_cam_pp(model, x, 1, "relu1", samples=3)
    with pytest.warns(DeprecationWarning, match="now called samples"):
        old = C.smooth_grad_cam_pp(model, x, 1, "relu1", n_samples=3)
    assert torch.equal(new, old)
    assert not torch.equal(new, C.smooth_grad_cam_pp(model, x, 1, "relu1", samples=4))
