"""vizlab.attribution: exact values on hand-computable nets, axioms, parity with Captum, hygiene."""
from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import vizlab as vz
from vizlab import attribution as A
from conftest import assert_untouched, model_state, random_resnet18

captum_attr = pytest.importorskip("captum.attr")


# --------------------------------------------------------------------------------------------
# Hand-computable nets
# --------------------------------------------------------------------------------------------
# x = (x1, x2) as a [1, 2, 1, 1] image; h = W1 x (1x1 conv, no bias); y = w2 . act(h).


def two_layer_net(w1, w2, act: nn.Module) -> nn.Module:
    net = nn.Sequential(nn.Conv2d(2, len(w1), 1, bias=False), act, nn.Conv2d(len(w1), 1, 1, bias=False),
                        nn.Flatten())
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(w1, dtype=torch.float32)[:, :, None, None])
        net[2].weight.copy_(torch.tensor([w2], dtype=torch.float32)[:, :, None, None])
    return net.eval()


W1 = [[1.0, -1.0], [1.0, 1.0], [0.0, 1.0]]


def relu_net(inplace=False):
    # x = (1, 2): h = (-1, 3, 2), relu(h) = (0, 3, 2), y = 1*0 - 1*3 + 2*2 = 1, g = dy/drelu = (1, -1, 2)
    return two_layer_net(W1, [1.0, -1.0, 2.0], nn.ReLU(inplace=inplace))


X_RELU = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)
# backprop: g*[h>0] = (0,-1,2) -> W1^T = (-1, 1); deconvnet: max(g,0) = (1,0,2) -> (1, 1);
# guided: max(g,0)*[h>0] = (0,0,2) -> (0, 2); gradient x input: (1*-1, 2*1) = (-1, 2), sums to y = 1.
EXPECTED_RELU = {A.saliency: [-1.0, 1.0], A.deconvnet: [1.0, 1.0], A.guided_backprop: [0.0, 2.0],
                 A.grad_x_input: [-1.0, 2.0]}


@pytest.mark.parametrize("method", list(EXPECTED_RELU), ids=lambda f: f.__name__)
@pytest.mark.parametrize("inplace", [False, True])
def test_relu_rules_exact_on_hand_net(method, inplace):
    net = relu_net(inplace)
    out = method(net, X_RELU, 0)
    assert out.shape == X_RELU.shape
    assert out.flatten().tolist() == EXPECTED_RELU[method]
    assert net[1].inplace is inplace  # an in-place ReLU is in place again afterwards


def test_relu6_rules_exact_on_hand_net():
    # x = (2, 5): h = (-3, 7, 5), relu6(h) = (0, 6, 5); w2 = (1, 1, -2) so g = (1, 1, -2).
    # ReLU6's forward mask is [0 < h < 6] = (0, 0, 1).
    net = two_layer_net(W1, [1.0, 1.0, -2.0], nn.ReLU6())
    x = torch.tensor([2.0, 5.0]).view(1, 2, 1, 1)
    assert A.saliency(net, x, 0).flatten().tolist() == [0.0, -2.0]        # g*m = (0,0,-2)
    assert A.deconvnet(net, x, 0).flatten().tolist() == [2.0, 0.0]        # max(g,0) = (1,1,0)
    assert A.guided_backprop(net, x, 0).flatten().tolist() == [0.0, 0.0]  # max(g,0)*m = 0


def test_deconvnet_unpools_through_the_max_pool_switch():
    # identity 1x1 conv -> ReLU -> 2x2 max pool: the pooled unit's gradient goes only to its argmax.
    net = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.ReLU(), nn.MaxPool2d(2)).eval()
    with torch.no_grad():
        net[0].weight.fill_(1.0)
    x = torch.tensor([[1.0, 3.0], [2.0, -1.0]]).view(1, 1, 2, 2)
    for rule in A.RULES:
        g = A.neuron_gradient(net, x, "2", channel=0, rule=rule, position=(0, 0))
        assert g.view(2, 2).tolist() == [[0.0, 1.0], [0.0, 0.0]]


def test_neuron_gradient_position_modes_exact():
    # channel 1 of layer "1" is relu(x1 + x2) = 3 at x = (1, 2): gradient (1, 1) in every mode.
    net = relu_net()
    for position in (None, "max", (0, 0)):
        g = A.neuron_gradient(net, X_RELU, "1", channel=1, position=position)
        assert g.flatten().tolist() == [1.0, 1.0]
    # channel 0 is relu(x1 - x2) = 0 (negative input): plain and guided gradients vanish,
    # the deconvnet ignores the forward mask and still projects the filter (1, -1).
    assert A.neuron_gradient(net, X_RELU, "1", 0).flatten().tolist() == [0.0, 0.0]
    assert A.neuron_gradient(net, X_RELU, "1", 0, rule="guided").flatten().tolist() == [0.0, 0.0]
    assert A.neuron_gradient(net, X_RELU, "1", 0, rule="deconvnet").flatten().tolist() == [1.0, -1.0]


def test_ig_left_rule_exact_on_hand_net():
    # Along alpha * x the ReLU pattern is fixed for alpha > 0 (gradient (-1, 1)) and all-off at 0.
    ig = A.integrated_gradients(relu_net(), X_RELU, 0, baseline=0.0, steps=4, method="left")
    assert ig.flatten().tolist() == [-0.75, 1.5]          # 3/4 of x * (-1, 1)
    ig = A.integrated_gradients(relu_net(), X_RELU, 0, baseline=0.0, steps=4, method="right")
    assert ig.flatten().tolist() == [-1.0, 2.0]


def test_display_reductions_exact():
    a = torch.tensor([[1.0, -3.0], [2.0, 0.5], [-1.0, 1.0]]).view(1, 3, 1, 2)
    assert A.abs_max(a).flatten().tolist() == [2.0, 3.0]
    assert A.channel_max(a).flatten().tolist() == [2.0, 1.0]
    assert A.signed_sum(a).flatten().tolist() == [2.0, -1.5]
    m = torch.arange(100.0).view(1, 10, 10)
    assert A.clip_percentile(m, 90).max() == pytest.approx(89.1) and A.clip_percentile(-m, 90).min() == pytest.approx(-89.1)
    assert torch.equal(A.clip_percentile(m[0], 100), m[0])
    img = A.rgb(a, percentile=100)
    assert img.shape == (1, 1, 2, 3)
    assert img[0, 0, 1].tolist() == [0.0, pytest.approx(0.5 + 0.25 / 3), pytest.approx(0.5 + 1 / 6)]


# --------------------------------------------------------------------------------------------
# Integrated Gradients: quadrature and completeness
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method,steps,degree", [("gausslegendre", 3, 5), ("trapezoid", 5, 1),
                                                  ("middle", 4, 1), ("left", 4, 0), ("right", 4, 0)])
def test_quadrature_is_exact_for_low_degree_polynomials(method, steps, degree):
    alphas, weights = A.quadrature(method, steps)
    assert all(0 <= a <= 1 for a in alphas)
    integral = sum(w * a ** degree for a, w in zip(alphas, weights))
    assert integral == pytest.approx(1 / (degree + 1), abs=1e-12)


def smooth_net(seed=1):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Tanh(), nn.Conv2d(8, 8, 3, stride=2, padding=1),
                         nn.Softplus(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).eval()


def test_ig_completeness_default_rule_within_0_1_percent_at_64_steps():
    net, x = smooth_net(), 2 * torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    ig, delta = A.integrated_gradients(net, x, [0, 3], baseline=0.0, steps=64, return_delta=True)
    with torch.no_grad():
        gap = net(x)[[0, 1], [0, 3]] - net(torch.zeros_like(x))[[0, 1], [0, 3]]
    assert torch.allclose(delta, ig.sum((1, 2, 3)) - gap, atol=1e-6)
    rel = delta.abs() / gap.abs()
    assert (rel <= 1e-3).all(), rel
    # Captum's riemann_trapezoid (weights 1/n) misses completeness by ~1/n at the same cost.
    _, captum_delta = captum_attr.IntegratedGradients(net).attribute(
        x, baselines=0.0, target=[0, 3], n_steps=64, method="riemann_trapezoid", return_convergence_delta=True)
    assert (captum_delta.abs() / gap.abs() > 5e-3).all()


def test_baselines():
    lite = nn.Sequential(nn.Conv2d(3, 1, 1))
    lite.vizlab_info = vz.models.ModelInfo("t", 8, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    x = torch.randn(2, 3, 8, 8)
    assert (A.baseline_for(lite, x, "black") == -1).all()
    flat = torch.full((1, 3, 8, 8), 0.3)
    assert torch.allclose(A.baseline_for(lite, flat, "blur"), flat)
    blurred = A.baseline_for(lite, x, "blur", blur_sigma=2.0)
    assert blurred.shape == x.shape and blurred.std() < 0.5 * x.std()
    n1 = A.baseline_for(lite, x, "noise", torch.Generator().manual_seed(3))
    n2 = A.baseline_for(lite, x, "noise", torch.Generator().manual_seed(3))
    assert torch.equal(n1, n2) and n1.min() >= -1 and n1.max() <= 1 and n1.std() > 0.3
    assert torch.equal(A.baseline_for(lite, x, torch.zeros(1, 3, 1, 1)), torch.zeros_like(x))


# --------------------------------------------------------------------------------------------
# Parity with Captum on random-weight torchvision nets and on the default model
# --------------------------------------------------------------------------------------------

def rel_err(ours, ref):
    return float((ours - ref).abs().max() / ref.abs().max().clamp(min=1e-30))


TOL = 1e-5


@pytest.fixture(scope="module", params=["resnet18", "vgg11"])
def tv_model(request):
    if request.param == "resnet18":
        model = random_resnet18(0)
    else:
        import torchvision
        torch.manual_seed(0)
        model = torchvision.models.vgg11(weights=None).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    return request.param, model, x


def captum_plain(cls, model, x, target, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(model).attribute(x.clone().requires_grad_(), target=target, **kw).detach()


def test_parity_gradients_torchvision(tv_model):
    name, model, x = tv_model
    t = [1, 7]
    pairs = [(A.saliency, captum_attr.Saliency, {"abs": False}), (A.grad_x_input, captum_attr.InputXGradient, {}),
             (A.deconvnet, captum_attr.Deconvolution, {}), (A.guided_backprop, captum_attr.GuidedBackprop, {})]
    for ours, theirs, kw in pairs:
        ref = captum_plain(theirs, model, x, t, **kw)
        assert ref.abs().max() > 0
        assert rel_err(ours(model, x, t), ref) <= TOL, (name, ours.__name__)


def test_parity_integrated_gradients_torchvision(tv_model):
    name, model, x = tv_model
    ig = captum_attr.IntegratedGradients(model)
    methods = ["gausslegendre", "left", "middle", "right"] if name == "resnet18" else ["gausslegendre"]
    for method in methods:
        captum_name = method if method == "gausslegendre" else f"riemann_{method}"
        ours = A.integrated_gradients(model, x, [1, 7], baseline=0.0, steps=4, method=method, batch_size=8)
        ref = ig.attribute(x, baselines=0.0, target=[1, 7], n_steps=4, method=captum_name)
        assert rel_err(ours, ref) <= TOL, (name, method)
    # Captum weights the n points of riemann_trapezoid 1/n (ends halved) instead of 1/(n - 1),
    # a factor (n - 1)/n: ours times 3/4 is Captum's.
    ours = A.integrated_gradients(model, x, [1, 7], baseline=0.0, steps=4, method="trapezoid", batch_size=8)
    ref = ig.attribute(x, baselines=0.0, target=[1, 7], n_steps=4, method="riemann_trapezoid")
    assert rel_err(ours * 3 / 4, ref) <= TOL
    assert rel_err(ours, ref) > 0.1


def captum_noise_tunnel(model, x, target, kind, samples, sigma, seed, base=None):
    """NoiseTunnel fed exactly vizlab's noise: its torch.normal call returns our draws."""
    base = base or captum_attr.Saliency
    g = torch.Generator().manual_seed(seed)
    draws = [torch.randn(x.shape, generator=g) * sigma.view(-1, 1, 1, 1) for _ in range(samples)]
    eps = torch.stack(draws, 1).reshape(-1, *x.shape[1:])   # Captum: image-major (repeat_interleave)
    real = torch.normal
    torch.normal = lambda mean, std: eps.clone()
    try:
        kw = {"abs": False} if base is captum_attr.Saliency else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return captum_attr.NoiseTunnel(base(model)).attribute(
                x, nt_type=kind, nt_samples=samples, stdevs=0.0, target=target, **kw)
    finally:
        torch.normal = real


@pytest.mark.parametrize("kind", A.SMOOTHGRAD_KINDS)
def test_parity_noise_tunnel_same_noise(kind):
    model = random_resnet18(2)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    sigma = 0.2 * (x.amax((1, 2, 3)) - x.amin((1, 2, 3)))
    ours = A.smoothgrad(A.saliency, model, x, [3, 5], samples=4, noise=0.2, kind=kind, batch_size=3,
                        generator=torch.Generator().manual_seed(9))
    ref = captum_noise_tunnel(model, x, [3, 5], kind, 4, sigma, 9)
    assert rel_err(ours, ref) <= TOL


class CaptumVisibleReLU6(nn.ReLU):
    """ReLU6 that Captum's `isinstance(module, nn.ReLU)` test sees; same forward and backward."""

    def forward(self, t):
        return F.hardtanh(t, 0.0, 6.0)


def relu6_visible_to_captum(model):
    twin = copy.deepcopy(model)
    for parent in list(twin.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU6):
                setattr(parent, name, CaptumVisibleReLU6())
    return twin


def test_parity_default_model(lite0, chelsea_x):
    before = model_state(lite0)
    t = 281  # tabby
    sal = A.saliency(lite0, chelsea_x, t)
    assert rel_err(sal, captum_plain(captum_attr.Saliency, lite0, chelsea_x, t, abs=False)) <= TOL
    assert rel_err(A.grad_x_input(lite0, chelsea_x, t),
                   captum_plain(captum_attr.InputXGradient, lite0, chelsea_x, t)) <= TOL
    # Captum overrides only nn.ReLU; EfficientNet-Lite0 uses ReLU6, so on the model as it is
    # Captum's "guided backprop" is the plain gradient -- ours is not:
    captum_gb_as_is = captum_plain(captum_attr.GuidedBackprop, lite0, chelsea_x, t)
    assert rel_err(captum_gb_as_is, sal) <= TOL
    gb = A.guided_backprop(lite0, chelsea_x, t)
    assert rel_err(gb, sal) > 0.5
    # With the ReLU6 modules made visible to Captum (same function), the rules agree:
    twin = relu6_visible_to_captum(lite0)
    assert rel_err(gb, captum_plain(captum_attr.GuidedBackprop, twin, chelsea_x, t)) <= TOL
    assert rel_err(A.deconvnet(lite0, chelsea_x, t),
                   captum_plain(captum_attr.Deconvolution, twin, chelsea_x, t)) <= TOL
    ig = A.integrated_gradients(lite0, chelsea_x, t, steps=3, batch_size=3)
    ref = captum_attr.IntegratedGradients(lite0).attribute(chelsea_x, baselines=-1.0, target=t, n_steps=3,
                                                           method="gausslegendre")
    assert rel_err(ig, ref) <= TOL
    sigma = 0.15 * (chelsea_x.amax((1, 2, 3)) - chelsea_x.amin((1, 2, 3)))
    sg = A.smoothgrad(A.saliency, lite0, chelsea_x, t, samples=2, generator=torch.Generator().manual_seed(4))
    assert rel_err(sg, captum_noise_tunnel(lite0, chelsea_x, t, "smoothgrad", 2, sigma, 4)) <= TOL
    assert_untouched(lite0, before)


@pytest.mark.parametrize("rule,cls", [("backprop", "NeuronGradient"), ("deconvnet", "NeuronDeconvolution"),
                                      ("guided", "NeuronGuidedBackprop")])
def test_parity_neuron_gradient_resnet18(rule, cls):
    model = random_resnet18(0)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    layer = model.layer2[0].conv1
    ours = A.neuron_gradient(model, x, "layer2.0.conv1", channel=5, rule=rule, position=(3, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = getattr(captum_attr, cls)(model, layer).attribute(x, neuron_selector=(5, 3, 4))
    assert ref.abs().max() > 0
    assert rel_err(ours, ref) <= TOL


# --------------------------------------------------------------------------------------------
# Chunking, reproducibility, bounded batches
# --------------------------------------------------------------------------------------------

class BatchSizes(nn.Module):
    """Wraps a model and records the batch size of every forward call."""

    def __init__(self, model):
        super().__init__()
        self.model, self.seen = model, []

    def forward(self, x):
        self.seen.append(x.shape[0])
        return self.model(x)


def test_chunked_equals_unchunked_and_batches_are_bounded():
    model = BatchSizes(random_resnet18(3))
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    ig = {}
    for bs in (1, 3, 10):
        model.seen.clear()
        ig[bs] = A.integrated_gradients(model, x, [1, 2], steps=5, batch_size=bs)
        assert max(model.seen) == bs and sum(model.seen) == 10
    for bs in (1, 3):
        assert rel_err(ig[bs], ig[10]) <= 1e-6   # conv kernels may round differently by batch size
    sg = {}
    for bs in (1, 3, 8):
        model.seen.clear()
        sg[bs] = A.smoothgrad(A.guided_backprop, model, x, [1, 2], samples=4, batch_size=bs,
                              generator=torch.Generator().manual_seed(1))
        assert max(model.seen) == bs and sum(model.seen) == 8
    for bs in (1, 3):
        assert rel_err(sg[bs], sg[8]) <= 1e-6


def test_smoothgrad_reproducible_and_reduces_to_method_without_noise():
    model = random_resnet18(4)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    run = lambda seed: A.smoothgrad(A.saliency, model, x, 3, samples=4, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(run(1), run(1))
    assert not torch.allclose(run(1), run(2))
    plain = A.guided_backprop(model, x, 3)
    assert rel_err(A.smoothgrad(A.guided_backprop, model, x, 3, samples=3, noise=0.0), plain) <= 1e-6
    var = A.smoothgrad(A.saliency, model, x, 3, samples=3, noise=0.0, kind="vargrad")
    assert var.abs().max() <= 1e-6 * (plain ** 2).max()
    sq = A.smoothgrad(A.saliency, model, x, 3, samples=3, noise=0.0, kind="smoothgrad_sq")
    assert rel_err(sq, A.saliency(model, x, 3) ** 2) <= 1e-6


def test_target_none_means_predicted_class_per_image():
    model = random_resnet18(5)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pred = model(x).argmax(1).tolist()
    assert torch.equal(A.saliency(model, x), A.saliency(model, x, pred))
    assert torch.equal(A.integrated_gradients(model, x, steps=3), A.integrated_gradients(model, x, pred, steps=3))
    callable_target = lambda z: z[:, pred[0]] - z[:, 0]
    expected = A.saliency(model, x, pred[0]) - A.saliency(model, x, 0)
    assert rel_err(A.saliency(model, x, callable_target), expected) <= 1e-5


# --------------------------------------------------------------------------------------------
# Hygiene
# --------------------------------------------------------------------------------------------

CALLS = {
    "saliency": lambda m, x, t: A.saliency(m, x, t),
    "deconvnet": lambda m, x, t: A.deconvnet(m, x, t),
    "guided_backprop": lambda m, x, t: A.guided_backprop(m, x, t),
    "neuron_gradient": lambda m, x, t: A.neuron_gradient(m, x, "layer1.0.conv2", 0, rule="deconvnet"),
    "smoothgrad": lambda m, x, t: A.smoothgrad(A.guided_backprop, m, x, t, samples=2),
    "integrated_gradients": lambda m, x, t: A.integrated_gradients(m, x, t, steps=2, return_delta=True),
}


class Boom(RuntimeError):
    pass


def exploding_target(logits):
    raise Boom("raised mid-call, after the forward pass, before the backward pass")


@pytest.mark.parametrize("name", list(CALLS))
def test_model_untouched_after_success_and_after_an_exception(name):
    model = random_resnet18(6)
    model.layer1.train()            # a mixed training state must survive too
    x = torch.randn(1, 3, 32, 32)
    inplace = [m.inplace for m in A.rectifiers(model)]
    before = model_state(model)
    CALLS[name](model, x, 1)
    assert_untouched(model, before)
    if name != "neuron_gradient":   # its score does not use the target
        with pytest.raises(Boom):
            CALLS[name](model, x, exploding_target)
        assert_untouched(model, before)
    assert [m.inplace for m in A.rectifiers(model)] == inplace


def test_runs_in_eval_mode_and_restores_training_flags():
    model = random_resnet18(8)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    expected = A.guided_backprop(model, x, [1, 2])          # eval mode
    model.train()
    before = model_state(model)
    assert torch.equal(A.guided_backprop(model, x, [1, 2]), expected)   # not batch statistics
    assert torch.equal(A.integrated_gradients(model, x, [1, 2], steps=2),
                       A.integrated_gradients(model.eval(), x, [1, 2], steps=2))
    model.train()
    A.smoothgrad(A.saliency, model, x, [1, 2], samples=2)
    assert_untouched(model, before)
    assert all(m.training for m in model.modules())


def test_model_untouched_after_functional_relu_error():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.act, self.fc = nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Linear(4, 2)

        def forward(self, t):
            return self.fc(F.relu(self.act(self.conv(t))).mean((2, 3)))

    model = Functional().eval()
    before = model_state(model)
    with pytest.raises(ValueError, match="bare function"):
        A.guided_backprop(model, torch.randn(1, 3, 8, 8), 0)
    assert_untouched(model, before)
    assert model.act.inplace is True
    A.saliency(model, torch.randn(1, 3, 8, 8), 0)  # the plain gradient needs no rule: fine


# --------------------------------------------------------------------------------------------
# Bad inputs give clear errors
# --------------------------------------------------------------------------------------------

def test_bad_inputs():
    model = relu_net()
    with pytest.raises(ValueError, match="batch"):
        A.saliency(model, X_RELU[0], 0)
    with pytest.raises(ValueError, match="NaN"):
        A.guided_backprop(model, X_RELU * float("nan"), 0)
    with pytest.raises(ValueError, match="outside"):
        A.saliency(model, X_RELU, 5)
    with pytest.raises(ValueError, match="rule must be"):
        A.neuron_gradient(model, X_RELU, "1", 0, rule="guided_backprop")
    with pytest.raises(ValueError, match="channel 9"):
        A.neuron_gradient(model, X_RELU, "1", 9)
    with pytest.raises(KeyError, match="Closest"):
        A.neuron_gradient(model, X_RELU, "11", 0)
    with pytest.raises(ValueError, match="kind must be"):
        A.smoothgrad(A.saliency, model, X_RELU, 0, kind="smooth")
    with pytest.raises(ValueError, match="method must be"):
        A.integrated_gradients(model, X_RELU, 0, method="simpson")
    with pytest.raises(ValueError, match="1/steps"):
        A.integrated_gradients(model, X_RELU, 0, method="riemann_trapezoid")
    with pytest.raises(ValueError, match="broadcast"):
        A.integrated_gradients(model, X_RELU, 0, baseline=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="baseline must be"):
        A.integrated_gradients(model, X_RELU, 0, baseline="white noise")
    tanh_net = nn.Sequential(nn.Conv2d(2, 1, 1), nn.Tanh(), nn.Flatten())
    with pytest.raises(ValueError, match="no nn.ReLU"):
        A.deconvnet(tanh_net, X_RELU, 0)


# --------------------------------------------------------------------------------------------
# Issue 7: hardening
# --------------------------------------------------------------------------------------------

def test_guided_rules_refuse_other_activations_unless_allowed():
    """Item 2: a ReLU net with one Hardswish: the rule cannot be applied there. The error names the
    type and count; allow_mixed_rules=True gives the rule at the ReLU and the plain gradient at the
    Hardswish, computed here by hand."""
    net = nn.Sequential(nn.Conv2d(2, 3, 1, bias=False), nn.ReLU(), nn.Conv2d(3, 3, 1, bias=False), nn.Hardswish(),
                        nn.Conv2d(3, 1, 1, bias=False), nn.Flatten())
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(W1)[:, :, None, None])
        net[2].weight.copy_(torch.eye(3)[:, :, None, None])
        net[4].weight.copy_(torch.tensor([[1.0, -1.0, 2.0]])[:, :, None, None])
    net.eval()
    for method in (A.guided_backprop, A.deconvnet):
        with pytest.raises(ValueError, match=r"1 Hardswish"):
            method(net, X_RELU, 0)
    with pytest.raises(ValueError, match="Hardswish"):
        vz.guided_grad_cam(net, X_RELU, 0, "1")
    # h = (-1, 3, 2) -> relu (0, 3, 2) -> hardswish' at (0, 3, 2) = (0.5, 1, 1 + 2/3 ... ) by autograd
    r = torch.tensor([0.0, 3.0, 2.0], requires_grad=True)
    (d,) = torch.autograd.grad((F.hardswish(r) * torch.tensor([1.0, -1.0, 2.0])).sum(), r)
    g = d.detach()                                     # gradient arriving at the ReLU's output
    guided = torch.clamp(g, min=0) * torch.tensor([0.0, 1.0, 1.0])
    expected = torch.tensor(W1).T @ guided
    got = A.guided_backprop(net, X_RELU, 0, allow_mixed_rules=True)
    assert torch.allclose(got.flatten(), expected, atol=1e-6)
    assert torch.allclose(A.deconvnet(net, X_RELU, 0, allow_mixed_rules=True).flatten(),
                          torch.tensor(W1).T @ torch.clamp(g, min=0), atol=1e-6)


def test_mobilenet_v3_guided_backprop_names_the_mix():
    m = vz.load("mobilenet_v3_small", pretrained=False)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="Hardswish") as err:
        A.guided_backprop(m, x, 0)
    assert "Hardsigmoid" in str(err.value) and "allow_mixed_rules=True" in str(err.value)
    assert A.guided_backprop(m, x, 0, allow_mixed_rules=True).shape == x.shape


def test_smoothgrad_passes_the_wrapped_methods_options():
    """Item 6: a wrapped method's own `method`, `batch_size` and `generator` reach it."""
    model = relu_net()
    x = torch.randn(2, 2, 1, 1, generator=torch.Generator().manual_seed(0))
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    ig = dict(steps=4, baseline=0.0)
    sg = A.smoothgrad(A.integrated_gradients, model, x, 0, samples=3, generator=g(), method="left", **ig)
    # the same noise by hand, IG with the left rule on each noisy copy
    sigma = 0.15 * (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3)))
    gen, total = g(), torch.zeros_like(x)
    for _ in range(3):
        noisy = x + torch.randn(x.shape, generator=gen) * sigma.view(-1, 1, 1, 1)
        total += A.integrated_gradients(model, noisy, 0, method="left", **ig)
    assert torch.allclose(sg, total / 3, atol=1e-6)
    assert not torch.allclose(sg, A.smoothgrad(A.integrated_gradients, model, x, 0, samples=3, generator=g(),
                                               **ig), atol=1e-6)  # gausslegendre differs: the option arrived
    calls = []

    def spy(model, x, target=None, batch_size=None, generator=None):
        calls.append((batch_size, generator))
        return A.saliency(model, x, target)

    mine = torch.Generator()
    A.smoothgrad(spy, model, x, 0, samples=2, batch_size=1, method_options={"batch_size": 7, "generator": mine})
    assert calls and all(c == (7, mine) for c in calls)
    assert torch.equal(A.smoothgrad("saliency", model, x, 0, samples=2, generator=g()),
                       A.smoothgrad(A.saliency, model, x, 0, samples=2, generator=g()))


def test_targets_by_name_numpy_baseline_and_inference_mode():
    """Items 14/15: "tabby" is class 281; a numpy baseline is a baseline; inference-mode tensors and
    calls inside torch.inference_mode() give the normal result."""
    import numpy as np
    m = random_resnet18()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(A.saliency(m, x, "tabby"), A.saliency(m, x, 281))
    assert torch.equal(A.integrated_gradients(m, x, ["tabby"], steps=2), A.integrated_gradients(m, x, 281, steps=2))
    assert torch.equal(A.integrated_gradients(m, x, 281, baseline=np.zeros((3, 1, 1), np.float32), steps=2),
                       A.integrated_gradients(m, x, 281, baseline=0.0, steps=2))
    with torch.inference_mode():
        inside = A.guided_backprop(m, x, 281)
        x_inf = x.clone()
    assert torch.equal(inside, A.guided_backprop(m, x, 281))
    assert torch.equal(A.integrated_gradients(m, x_inf, 281, steps=2), A.integrated_gradients(m, x, 281, steps=2))
