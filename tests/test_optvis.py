"""vizlab.optvis: parameterisations, transforms, objectives, the render loop and inversion.

Exact values on hand-made nets, Lucid's "improves within 5 steps" on a random net, parity with
Lucent (torch-lucent) for the FFT/decorrelated image and the objectives, hygiene, determinism.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import vizlab as vz
from vizlab import optvis
from vizlab.optvis import objectives as O
from vizlab.optvis import param as P
from vizlab.optvis import transforms as T

from conftest import assert_untouched, model_state


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


class Tiny(nn.Module):
    """conv(3 -> 2, 1x1) -> ReLU -> conv(2 -> 2, 3x3) -> pool -> linear(2 -> 3); counts its forwards."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 2, 1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(2, 2, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 3)
        self.calls = {"conv2": 0}

    def forward(self, x):
        x = self.relu(self.conv1(x))
        self.calls["conv2"] += 1
        return self.fc(self.pool(self.conv2(x)).flatten(1))


# ---------------------------------------------------------------------------------------------
# param
# ---------------------------------------------------------------------------------------------

def test_fft_of_a_single_frequency_is_a_cosine():
    h = w = 8
    S = torch.zeros(1, 3, h, w // 2 + 1, 2)
    S[0, :, 0, 1, 0] = 1.0  # real part at (fy=0, fx=1/8)
    img = P.fft_image(S, h, w)
    scale = 1.0 / (1 / 8)  # 1 / |f|
    xs = torch.arange(w, dtype=torch.float64)
    # irfft2 (ortho) of a single real coefficient c at fx: 2 c cos(2 pi fx x) / sqrt(h w)
    want = (2 * scale * torch.cos(2 * math.pi * xs / 8) / math.sqrt(h * w) / 4).float()
    assert torch.allclose(img[0, 0], want.expand(h, w), atol=1e-6)


def test_spectrum_scale_is_one_over_f_with_a_floor():
    s = P.spectrum_scale(4, 4)
    f = P.rfft2d_freqs(4, 4)
    assert s[0, 0] == pytest.approx(4.0)  # DC: 1 / (1 / max(h, w))
    assert torch.allclose(s[1:, 1:].double(), 1 / f[1:, 1:], rtol=1e-6)


def test_decorrelation_matrix_is_lucids_normalised():
    C = P.COLOR_CORRELATION_NORMALIZED
    assert C.norm(dim=0).max() == pytest.approx(1.0)
    z = torch.randn(2, 3, 4, 5, generator=gen())
    c = P.decorrelate_colors(z)
    assert torch.allclose(c[1, :, 2, 3], C @ z[1, :, 2, 3], atol=1e-6)


@pytest.mark.parametrize("size", [16, 17])
def test_fft_decorrelated_image_equals_lucent(size):
    lucent_param = pytest.importorskip("lucent.optvis.param")
    params, image_f = lucent_param.image(size, batch=2, fft=True, decorrelate=True)
    ours = P.fft(size, batch=2, generator=gen(3))
    with torch.no_grad():
        spectrum = ours.parameters()[0]
        lucent_spectrum = params[0]
        # Lucent keeps w // 2 + 2 columns for odd widths; irfft ignores the extra one.
        lucent_spectrum.zero_()
        lucent_spectrum[..., :spectrum.shape[-2], :] = spectrum
        mine, theirs = ours(), image_f()
    assert mine.shape == theirs.shape == (2, 3, size, size)
    assert (mine - theirs).abs().max() <= 1e-5


def test_pixels_start_grey_and_init_round_trips():
    p = P.pixels(8, batch=2, generator=gen())
    assert p().shape == (2, 3, 8, 8) and (p() - 0.5).abs().max() < 0.05
    photo = torch.rand(1, 3, 6, 7, generator=gen(1)) * 0.9 + 0.05
    assert torch.allclose(P.pixels(0, init=photo)(), photo, atol=1e-5)
    assert torch.equal(P.pixels(0, init=photo, valid="clip")(), photo)


def test_clip_projects_after_a_step():
    p = P.pixels(4, valid="clip", generator=gen())
    with torch.no_grad():
        p.parameters()[0].add_(torch.linspace(-2, 2, 48).view(1, 3, 4, 4))
    p.project()
    assert p().min() >= 0 and p().max() <= 1


def test_param_errors_teach():
    with pytest.raises(ValueError, match="valid must be"):
        P.pixels(8, valid="tanh")
    with pytest.raises(ValueError, match="sigmoid"):
        P.fft(8, valid="clip")
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        P.pixels(8, init=torch.rand(3, 8, 8))


# ---------------------------------------------------------------------------------------------
# transforms
# ---------------------------------------------------------------------------------------------

def test_jitter_is_a_crop_drawn_from_the_generator():
    x = torch.arange(2 * 3 * 10 * 10, dtype=torch.float32).view(2, 3, 10, 10)
    g = gen(5)
    dx, dy = (int(v) for v in torch.randint(4, (2,), generator=gen(5)))
    y = T.jitter(4)(x, g)
    assert torch.equal(y, x[..., dy:dy + 7, dx:dx + 7])


def test_transforms_are_deterministic_for_a_generator_and_differentiable():
    x = torch.rand(2, 3, 24, 24, generator=gen()).requires_grad_(True)
    t = T.compose(T.standard(0.5))
    a, b = t(x, gen(7)), t(x, gen(7))
    assert torch.equal(a, b)
    with torch.no_grad():
        draws = {tuple(t(x, gen(s)).shape) + (float(t(x, gen(s)).sum()),) for s in range(6)}
    assert len(draws) > 1  # different seeds, different draws
    (g,) = torch.autograd.grad(a.sum(), x)
    assert g.abs().sum() > 0


def test_rotate_by_90_degrees_is_rot90():
    x = torch.rand(1, 3, 6, 6, generator=gen())
    assert torch.allclose(T.rotate(x, 90.0), torch.rot90(x, k=1, dims=(2, 3)), atol=1e-5)
    assert torch.equal(T.rotate(x, 0.0), x)


def test_pad_scale_and_blur():
    x = torch.rand(1, 3, 8, 8, generator=gen())
    y = T.pad(2, value=0.5)(x)
    assert y.shape[-1] == 12 and torch.all(y[..., 0, :] == 0.5)
    assert T.random_scale([1.5])(x).shape[-2:] == (12, 12)
    flat = torch.full((1, 3, 9, 9), 0.3)
    assert torch.allclose(T.blur(1.0)(flat), flat, atol=1e-6)
    k = T.gaussian_kernel(1.0)
    assert k.sum() == pytest.approx(1.0) and len(k) == 7
    assert T.blur(1.0)(x).std() < x.std()  # smoother


# ---------------------------------------------------------------------------------------------
# objectives
# ---------------------------------------------------------------------------------------------

def _acts():
    A = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    return {"L": A, "logits": torch.tensor([[1.0, 2.0], [3.0, 5.0]]), "image": torch.full((2, 3, 2, 2), 0.5)}


def test_objectives_exact_values():
    a = _acts()
    A = a["L"]
    assert torch.equal(O.channel("L", 1)(a), A[:, 1].mean((1, 2)))
    assert torch.equal(O.channel("L", 1, batch=1)(a), torch.tensor([0.0, A[1, 1].mean()]))
    assert torch.equal(O.neuron("L", 2)(a), A[:, 2, 1, 1])
    assert torch.equal(O.layer_l2("L")(a), A.pow(2).flatten(1).mean(1))
    assert torch.equal(O.class_logit(1)(a), torch.tensor([2.0, 5.0]))
    assert torch.allclose(O.l2()(a), torch.tensor([0.25, 0.25]))
    assert torch.equal(O.total_variation()(a), torch.zeros(2))
    assert torch.equal(O.channels("L", [2, 0])(a), torch.stack([A[0, 2].mean(), A[1, 0].mean()]))


def test_objectives_compose_like_numbers_with_readable_names():
    a = _acts()
    obj = O.channel("L", 1) - 0.1 * O.layer_l2("L") + O.class_logit(0)
    want = O.channel("L", 1)(a) - 0.1 * O.layer_l2("L")(a) + O.class_logit(0)(a)
    assert torch.allclose(obj(a), want)
    assert repr(obj) == "channel(L, 1) - 0.1 * deepdream(L) + class_logit(0)"
    assert obj.layers == ("L", "logits")
    assert torch.allclose((-obj / 2)(a), -want / 2)
    assert torch.allclose(sum([O.channel("L", 0), O.channel("L", 1)])(a), A_sum := a["L"][:, :2].mean((2, 3)).sum(1))
    with pytest.raises(TypeError, match="number"):
        O.channel("L", 0) * O.channel("L", 1)


def test_objective_errors_name_the_range():
    with pytest.raises(IndexError, match="3 channels"):
        O.channel("L", 7)(_acts())
    with pytest.raises(IndexError, match="2 classes"):
        O.class_logit(5)(_acts())


def test_objectives_equal_lucents():
    lucent_obj = pytest.importorskip("lucent.optvis.objectives")
    A = torch.randn(3, 6, 5, 5, generator=gen())
    acts = {"L": A}
    hook = lambda name: acts[name]
    v = torch.randn(6, generator=gen(1))
    # Lucent's objectives are losses to minimise averaged over the batch; ours are per-image scores.
    pairs = [(O.channel("L", 4), lucent_obj.channel("L", 4), -1 / 3),
             (O.channel("L", 4, batch=1), lucent_obj.channel("L", 4, batch=1), -1.0),
             (O.direction("L", v), lucent_obj.direction("L", v), -1 / 3),
             (O.diversity("L"), lucent_obj.diversity("L"), 1.0)]
    for ours, theirs, factor in pairs:
        assert float(ours(acts).sum()) * factor == pytest.approx(float(theirs(hook)), rel=1e-5, abs=1e-6), repr(ours)


def test_channel_objective_equals_lucent_on_lite0(lite0):
    lucent_render = pytest.importorskip("lucent.optvis.render")
    lucent_obj = pytest.importorskip("lucent.optvis.objectives")
    img = torch.rand(2, 3, 64, 64, generator=gen())
    mine = optvis.score(lite0, O.channel("blocks.5", 11), img)
    hook = lucent_render.hook_model(lite0, lambda: img)
    try:
        with torch.no_grad():
            lite0((img - 0.5) / 0.5)
            theirs = lucent_obj.channel("blocks_5", 11)(hook)
    finally:
        for m in lite0.modules():  # Lucent's hooks are never removed by hook_model: remove them here
            m._forward_hooks.clear()
    assert float(mine.mean()) == pytest.approx(-float(theirs), rel=1e-5)


# ---------------------------------------------------------------------------------------------
# render
# ---------------------------------------------------------------------------------------------

OBJECTIVES = [O.channel("layer3", 3), O.neuron("layer2", 5), O.layer_l2("layer3.1.bn2"), O.class_logit(7),
              O.direction("layer2", torch.linspace(-1, 1, 128)),
              O.channel("layer1", 1) + 1.0 * O.diversity("layer1")]


@pytest.fixture(scope="module")
def random_resnet():
    from conftest import random_resnet18
    return random_resnet18(0)


@pytest.mark.parametrize("objective", OBJECTIVES, ids=repr)
def test_each_objective_improves_within_5_steps_on_a_random_net(random_resnet, objective):
    """Lucid's test, on torchvision's resnet18 with random weights (in-place ReLUs after hooked layers)."""
    batch = 2 if "diversity" in repr(objective) else 1
    before = model_state(random_resnet)
    _, hist = optvis.render(random_resnet, objective, param=P.fft(48, batch=batch, generator=gen()), transforms=[],
                            steps=6, lr=0.05, generator=gen(), progress=False)
    assert_untouched(random_resnet, before)
    total = hist.sum(1)
    assert total[5] > total[0], f"{objective}: {total.tolist()}"


def test_one_step_is_the_hand_computed_gradient_step():
    """1x1 conv: channel 0 score = mean_p w . (x_p - m) / s + b, so d score / d x_p = w / (s H W)."""
    net = nn.Sequential(nn.Conv2d(3, 2, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [0.0, 0.0, 1.0]]).view(2, 3, 1, 1))
        net[0].bias.zero_()
    p = P.pixels(4, valid=None, generator=gen())
    x0 = p().detach().clone()
    imgs, hist = optvis.render(net, O.channel("0", 0), param=p, transforms=[], steps=1, optimizer="sgd", lr=2.0,
                               progress=False)
    w = torch.tensor([1.0, -2.0, 0.5]).view(1, 3, 1, 1)
    std = 0.229  # first ImageNet std is not used: each colour has its own
    stds = torch.tensor(vz.models.IMAGENET_STD).view(1, 3, 1, 1)
    assert torch.allclose(imgs, x0 + 2.0 * w / stds / 16, atol=1e-6)
    means = torch.tensor(vz.models.IMAGENET_MEAN).view(1, 3, 1, 1)
    assert hist[0, 0].item() == pytest.approx(float(((x0 - means) / stds * w).sum(1).mean()), rel=1e-5)
    del std


def test_normalized_ascent_step_has_unit_rms_per_image():
    t = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 4.0]], requires_grad=True)
    opt = optvis.NormalizedAscent([t], lr=0.5)
    g = torch.tensor([[3.0, 4.0, 0.0], [1e-3, 0.0, 0.0]])
    t.grad = g.clone()
    opt.step()
    rms = g.pow(2).mean(1, keepdim=True).sqrt()
    want = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 4.0]]) - 0.5 * g / (rms + 1e-8)
    assert torch.allclose(t.detach(), want)


def test_render_equals_the_plain_pytorch_ascent_loop(lite0):
    """The chapter's derivation: forward hook -> objective -> autograd.grad -> L2-normalised step."""
    g = gen(1)
    p = P.pixels(32, valid=None, sd=0.1, generator=g)
    x = p().detach().clone()
    imgs, _ = optvis.render(lite0, O.channel("blocks.1", 4), param=p, transforms=[], steps=3, optimizer="normalized",
                            lr=0.1, progress=False)
    store = {}
    handle = vz.find_layer(lite0, "blocks.1").register_forward_hook(lambda m, i, o: store.update(A=o))
    try:
        for _ in range(3):
            x.requires_grad_(True)
            lite0((x - 0.5) / 0.5)
            (grad,) = torch.autograd.grad(store["A"][:, 4].mean(), x)
            x = (x + 0.1 * grad / (grad.pow(2).mean().sqrt() + 1e-8)).detach()
    finally:
        handle.remove()
    assert torch.allclose(imgs, x, atol=1e-5)


def test_render_stops_the_forward_pass_after_the_last_layer_it_needs():
    net = Tiny().eval()
    optvis.render(net, O.channel("conv1", 0), param=P.pixels(8, generator=gen()), transforms=[], steps=3,
                  progress=False)
    assert net.calls["conv2"] == 0
    optvis.render(net, O.class_logit(1), param=P.pixels(8, generator=gen()), transforms=[], steps=3, progress=False)
    assert net.calls["conv2"] == 3


def test_render_is_deterministic_for_a_generator(lite0):
    def run(seed):
        g = gen(seed)
        return optvis.render(lite0, O.channel("blocks.4", 2), param=P.fft(40, generator=g), transforms=T.standard(0.3),
                             steps=4, generator=g, progress=False)
    (a, ha), (b, hb), (c, _) = run(0), run(0), run(1)
    assert torch.equal(a, b) and torch.equal(ha, hb)
    assert not torch.equal(a, c)


def test_render_leaves_the_model_as_found_also_on_error():
    model = vz.load("efficientnet_lite0", pretrained=False)
    model.train()
    model.blocks[3].eval()
    model.blocks[0].depthwise.conv.weight.requires_grad_(False)
    before = model_state(model)
    optvis.render(model, O.channel("blocks.5", 0) + O.class_logit(3), param=P.fft(32, generator=gen()),
                  transforms=T.standard(0.3), steps=2, progress=False)
    assert_untouched(model, before)
    with pytest.raises(IndexError, match="channels"):
        optvis.render(model, O.channel("blocks.5", 999), param=P.fft(32, generator=gen()), steps=2, progress=False)
    assert_untouched(model, before)
    with pytest.raises(vz.models.NotFoundError):
        optvis.render(model, O.channel("block.5", 0), param=P.fft(32, generator=gen()), steps=2, progress=False)
    assert_untouched(model, before)


def test_train_mode_model_renders_as_in_eval_mode():
    model = vz.load("efficientnet_lite0", pretrained=False).eval()
    run = lambda: optvis.render(model, O.channel("blocks.3", 1), param=P.fft(32, generator=gen()), transforms=[],
                                steps=2, progress=False)[0]
    a = run()
    model.train()
    b = run()
    assert torch.equal(a, b)


def test_batch_renders_each_channel_as_alone():
    """A batch of channel objectives (one per image) gives each image what a separate render gives."""
    net = Tiny().eval()
    batch, _ = optvis.render(net, O.channels("conv2", [0, 1]), param=P.pixels(8, batch=2, generator=gen()),
                             transforms=[], steps=4, progress=False)
    for i in range(2):
        start = P.pixels(8, batch=2, generator=gen())
        alone = P.pixels(0, init=start()[i:i + 1].detach())
        img, _ = optvis.render(net, O.channel("conv2", i), param=alone, transforms=[], steps=4, progress=False)
        assert torch.allclose(img, batch[i:i + 1], atol=1e-4)


def test_optimizer_choices():
    net = Tiny().eval()
    calls = []

    def factory(params):
        calls.append(len(params))
        return torch.optim.SGD(params, lr=0.1)

    optvis.render(net, O.channel("conv1", 0), param=P.pixels(8, generator=gen()), transforms=[], steps=1,
                  optimizer=factory, progress=False)
    assert calls == [1]
    with pytest.raises(ValueError, match="adam"):
        optvis.render(net, O.channel("conv1", 0), param=P.pixels(8), steps=1, optimizer="rmsprop", progress=False)


def _quadratic(target: torch.Tensor, curvature: torch.Tensor) -> O.Objective:
    """``-sum a (x - t)^2`` per image: its maximum is ``x = t``, reached slowly by a fixed gradient step when
    the curvatures ``a`` differ a lot, in a few steps by a quasi-Newton method that learns them."""
    return O.Objective(lambda acts: -(curvature * (acts["image"] - target) ** 2).flatten(1).sum(1), "quadratic",
                       layers=["image"])


def test_render_takes_a_closure_optimizer_and_lbfgs_reaches_a_known_optimum():
    """L-BFGS needs ``step(closure)``; on ``-sum a (x - t)^2`` with curvatures ``a`` from 1 to 100 it reaches
    ``x = t`` (to float32's resolution) in 60 steps, where plain gradient ascent (stable step 0.4 / max a) and
    Adam are still more than 1e-2 away: the control shows the problem is not trivially easy."""
    target = torch.rand(1, 3, 6, 6, generator=gen(3)) * 0.8 + 0.1
    curvature = 10 ** (2 * torch.rand(1, 3, 6, 6, generator=gen(4)))
    objective = _quadratic(target, curvature)
    results = {}
    for name, optimizer, lr in [("lbfgs", "lbfgs", 1.0),
                                ("factory", lambda ps: torch.optim.LBFGS(ps, lr=1.0, max_iter=1, history_size=20), 1.0),
                                ("sgd", "sgd", 0.004), ("adam", "adam", 0.05)]:
        results[name] = optvis.render(Tiny().eval(), objective, param=P.pixels(6, valid=None, generator=gen()),
                                      transforms=[], steps=60, optimizer=optimizer, lr=lr, progress=False)
    for name in ("lbfgs", "factory"):
        imgs, hist = results[name]
        assert hist.shape == (60, 1)
        assert float((imgs - target).abs().max()) < 1e-4, name
        assert float(hist[0]) < -1 and float(hist[-1]) > -1e-6, name     # the score before each step -> 0
    assert torch.equal(results["lbfgs"][0], results["factory"][0])
    for control in ("sgd", "adam"):
        assert float((results[control][0] - target).abs().max()) > 1e-2, control


def test_lbfgs_in_render_calls_the_objective_once_per_step_and_leaves_no_grad():
    net = Tiny().eval()
    before = model_state(net)
    calls = []
    base = O.channel("conv1", 0)
    counted = O.Objective(lambda acts: (calls.append(1), base(acts))[1], "counted", layers=base.layers)
    param = P.pixels(8, generator=gen())
    _, hist = optvis.render(net, counted, param=param, transforms=[], steps=5, optimizer="lbfgs", lr=1.0,
                            progress=False)
    assert len(calls) == 5 and hist.shape == (5, 1)
    assert all(t.grad is None for t in param.parameters())
    assert_untouched(net, before)


def test_render_sees_through_a_compiled_model():
    """``torch.compile``'s wrapper is unwrapped (hooks on the compiled code would never fire): the same result."""
    net = Tiny().eval()
    obj = O.channel("conv1", 0)
    plain, _ = optvis.render(net, obj, param=P.pixels(8, generator=gen()), transforms=[], steps=3, progress=False)
    compiled, _ = optvis.render(torch.compile(net), obj, param=P.pixels(8, generator=gen()), transforms=[], steps=3,
                                progress=False)
    assert torch.equal(plain, compiled)


def test_post_step_can_blur_every_k_steps():
    net = Tiny().eval()
    seen = []
    optvis.render(net, O.channel("conv1", 0), param=P.pixels(8, valid=None, generator=gen()), transforms=[],
                  steps=4, progress=False, post_step=lambda i, p: seen.append((i, torch.is_grad_enabled())))
    assert seen == [(0, False), (1, False), (2, False), (3, False)]


# ---------------------------------------------------------------------------------------------
# invert
# ---------------------------------------------------------------------------------------------

def test_invert_recovers_the_image_through_an_invertible_layer():
    """A 1x1 conv with an invertible matrix keeps everything: inversion must find the photo."""
    net = nn.Sequential(nn.Conv2d(3, 3, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.2, 0.0], [0.0, 1.0, 0.3], [0.1, 0.0, 1.0]]).view(3, 3, 1, 1))
    photo = torch.rand(1, 3, 8, 8, generator=gen()) * 0.8 + 0.1
    x = (photo - torch.tensor(vz.models.IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(vz.models.IMAGENET_STD).view(1, 3, 1, 1)
    before = model_state(net)
    img, hist = optvis.invert(net, x, "0", steps=300, lr=0.1, tv_weight=0.0, generator=gen(), progress=False)
    assert_untouched(net, before)
    assert (img - photo).abs().max() < 0.02
    assert hist[-1, 0] > hist[0, 0]


def test_invert_reduces_the_feature_error_on_lite0(lite0, chelsea_x):
    x = torch.nn.functional.interpolate(chelsea_x, size=64, mode="bilinear", align_corners=False)
    before = model_state(lite0)
    img, hist = optvis.invert(lite0, x, "blocks.2", steps=20, generator=gen(), progress=False)
    assert_untouched(lite0, before)
    assert img.shape == (1, 3, 64, 64) and 0 <= img.min() and img.max() <= 1
    assert hist[-1, 0] > hist[0, 0] + 0.2


def test_shift_crop_is_the_jitter_crop():
    x = torch.arange(60, dtype=torch.float32).view(1, 1, 6, 10)
    y = T.shift_crop(x, 3, dx=2, dy=1)
    assert y.shape == (1, 1, 4, 8) and y[0, 0, 0, 0] == x[0, 0, 1, 2] and y[0, 0, -1, -1] == x[0, 0, 4, 9]


# ---------------------------------------------------------------------------------------------
# the contract (issue 19): grad modes, one meaning of generator=None, dead channels, dtypes
# ---------------------------------------------------------------------------------------------

def _render_tiny(net=None, **kw):
    options = dict(param=P.pixels(8, generator=gen()), transforms=[T.jitter(2)], steps=3, progress=False)
    options.update(kw)
    return optvis.render(Tiny().eval() if net is None else net, O.channel("conv2", 0), **options)


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
def test_render_and_invert_work_inside_no_grad_and_inference_mode(mode):
    """Bug 3: the ascent needs gradients whatever the caller's grad mode; the results are the same."""
    net = Tiny().eval()                 # made outside: a model built in inference mode cannot be differentiated
    want_img, want_hist = _render_tiny(net)
    x = torch.randn(1, 3, 8, 8, generator=gen(1))
    want_inv = optvis.invert(net, x, "conv1", steps=3, generator=gen(), progress=False)[0]
    with mode():
        img, hist = _render_tiny(net)
        default = optvis.render(net, O.channel("conv1", 0), param=P.pixels(8), transforms=[], steps=2,
                                progress=False)[0]
        inv = optvis.invert(net, x, "conv1", steps=3, generator=gen(), progress=False)[0]
    assert torch.equal(img, want_img) and torch.equal(hist, want_hist) and torch.equal(inv, want_inv)
    assert not img.is_inference() and default.shape == (1, 3, 8, 8)
    assert torch.is_grad_enabled()


def _rng_untouched(call):
    before = torch.get_rng_state()
    out = call()
    assert torch.equal(torch.get_rng_state(), before), "the global torch RNG was drawn from"
    return out


def test_generator_none_means_seed_0_everywhere_and_never_the_global_rng():
    """Bug 14: param, transforms, render and invert all read generator=None as a fresh seed-0 generator."""
    x = torch.rand(2, 3, 24, 24, generator=gen(3))
    net = Tiny().eval()
    photo = torch.randn(1, 3, 8, 8, generator=gen(2))
    calls = {
        "pixels": (lambda g: P.pixels(8, batch=2, generator=g)()),
        "fft": (lambda g: P.fft(8, batch=2, generator=g)()),
        "image": (lambda g: P.image(8, generator=g)()),
        "image pixels": (lambda g: P.image(8, fft=False, generator=g)()),
        "jitter": (lambda g: T.jitter(5)(x, g)),
        "random_scale": (lambda g: T.random_scale([0.5, 1.0, 1.5, 2.0])(x, g)),
        "random_rotate": (lambda g: T.random_rotate(list(range(-30, 31)))(x, g)),
        "compose standard": (lambda g: T.compose(T.standard(0.5))(x, g)),
        "invert": (lambda g: optvis.invert(net, photo, "conv1", steps=2, progress=False, generator=g)[0]),
        "render": (lambda g: optvis.render(net, O.channel("conv1", 0), param=P.pixels(8, generator=gen()),
                                           transforms=[T.jitter(3)], steps=2, progress=False, generator=g)[0]),
    }
    torch.manual_seed(123)
    for name, call in calls.items():
        a = _rng_untouched(lambda: call(None))
        b = _rng_untouched(lambda: call(None))
        assert torch.equal(a, b), name
        assert torch.equal(a, call(gen(0))), name


def test_a_dead_channel_warns_and_a_live_one_does_not():
    """Bug 13: a channel that is zero for every image gives zero gradient at every step -- say so."""
    from vizlab import digits as D
    net = D.random_model()
    with torch.no_grad():
        net.conv1.bias[3] = -1e4                         # relu1 channel 3 is always 0
    with pytest.warns(optvis.ZeroGradientWarning, match="exactly zero") as record:
        imgs, hist = optvis.render(net, O.channel("relu1", 3), param=P.pixels(32, generator=gen()), transforms=[],
                                   steps=4, progress=False)
    assert record[0].message.images == [0] and float(hist.abs().max()) == 0.0
    with pytest.warns(optvis.ZeroGradientWarning) as record:      # in a batch: only image 1 is named
        optvis.render(net, O.channels("relu1", [0, 3, 2]), param=P.pixels(32, batch=3, generator=gen()),
                      transforms=[], steps=2, progress=False)
    dead = [w.message.images for w in record if isinstance(w.message, optvis.ZeroGradientWarning)]
    assert 1 in dead[0] and 0 not in dead[0] and 2 not in dead[0]
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", optvis.ZeroGradientWarning)
        _render_tiny()                                    # a live channel: no warning


def test_a_float64_model_renders_with_the_default_float32_param():
    """Bug 17: the param's image is cast to the model's dtype; score still refuses mismatched pixels."""
    net = Tiny().eval()
    want, _ = _render_tiny()
    double = Tiny().double().eval()
    img, hist = optvis.render(double, O.channel("conv2", 0), param=P.pixels(8, generator=gen()),
                              transforms=[T.jitter(2)], steps=3, progress=False)
    assert img.dtype == torch.float32 and hist.dtype == torch.float64
    assert torch.allclose(img, want, atol=1e-5)
    assert optvis.score(double, O.channel("conv2", 0), img.double()).dtype == torch.float64
    del net


def test_a_1_channel_model_sees_the_grey_image():
    """digits_cnn takes one channel: render and invert give it the mean of the colours, as its own
    forward does for a 3-channel input (same numbers as before), and invert takes its 1-channel input."""
    from vizlab import digits as D
    net = D.random_model()
    img, hist = optvis.render(net, O.channel("relu2", 1), param=P.pixels(32, generator=gen()), transforms=[],
                              steps=2, progress=False)
    start = P.pixels(32, generator=gen())()
    with torch.no_grad():
        grey = vz.capture(net, start.mean(1, keepdim=True), "relu2")["relu2"]
    assert hist[0, 0] == pytest.approx(float(grey[0, 1].mean()), rel=1e-6)
    x = torch.rand(1, 1, 32, 32, generator=gen(1))
    inv, _ = optvis.invert(net, x, "relu1", steps=2, progress=False)
    assert inv.shape == (1, 3, 32, 32)


def test_a_tuple_output_model_renders_its_layers_and_class_logits_explain_why_not():
    class TupleOut(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = Tiny()

        def forward(self, x):
            return self.net(x), x
    img, _ = optvis.render(TupleOut().eval(), O.channel("net.conv2", 0), param=P.pixels(8, generator=gen()),
                           transforms=[], steps=1, progress=False)
    assert img.shape == (1, 3, 8, 8)
    with pytest.raises(TypeError, match="returned tuple"):
        optvis.render(TupleOut().eval(), O.class_logit(0), param=P.pixels(8), transforms=[], steps=1,
                      progress=False)


def test_class_logit_takes_a_class_name_of_the_model():
    """Bug 20: class_logit("name") is looked up with targets.resolve in the model being rendered."""
    net = Tiny().eval()
    net.vizlab_info = vz.models.ModelInfo("tiny", 8, categories=("cat", "dog", "fish"))
    imgs = torch.rand(2, 3, 8, 8, generator=gen())
    assert torch.equal(optvis.score(net, O.class_logit("dog"), imgs), optvis.score(net, O.class_logit(1), imgs))
    a = optvis.render(net, O.class_logit("fish"), param=P.pixels(8, generator=gen()), transforms=[], steps=2,
                      progress=False)
    b = optvis.render(net, O.class_logit(2), param=P.pixels(8, generator=gen()), transforms=[], steps=2,
                      progress=False)
    assert torch.equal(a[0], b[0])


def test_direction_on_a_layer_without_positions_is_the_cosine():
    A = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    assert torch.allclose(O.direction("fc", torch.tensor([1.0, 0.0]))({"fc": A}), torch.tensor([1.0, 2 ** -0.5]))


def test_total_variation_below_beta_1_is_finite_on_a_flat_image():
    """Bug 28: |d|^beta has an infinite slope at 0 for beta < 1; the smoothed form gives 0 and a finite gradient."""
    flat = torch.full((1, 3, 6, 6), 0.5, requires_grad=True)
    tv = O.total_variation(beta=0.5)({"image": flat})
    (g,) = torch.autograd.grad(tv.sum(), flat)
    assert float(tv.detach()) == pytest.approx(2e-3) and torch.equal(g, torch.zeros_like(g))
    x = torch.rand(1, 3, 6, 6, generator=gen())
    exact = sum((d.abs() ** 0.5).flatten(1).mean(1) for d in (x[..., 1:, :] - x[..., :-1, :], x[..., 1:] - x[..., :-1]))
    assert torch.allclose(O.total_variation(beta=0.5)({"image": x}), exact, atol=1e-5)
    assert torch.equal(O.total_variation()({"image": x}), O.total_variation(beta=1.0)({"image": x}))
    net = Tiny().eval()
    img, _ = optvis.render(net, O.channel("conv1", 0) - O.total_variation(beta=0.5),
                           param=P.pixels(8, init=torch.full((1, 3, 8, 8), 0.5)), transforms=[], steps=2,
                           progress=False)
    assert torch.isfinite(img).all()


def test_objective_arithmetic_still_accepts_numbers_and_channel_lists():
    a = _acts()
    assert torch.equal(O.channels("L", range(2))(a), O.channels("L", [0, 1])(a))
    assert torch.equal(O.channels("L", torch.tensor([2, 0]))(a), O.channels("L", [2, 0])(a))
    assert torch.equal((O.channel("L", 1) + 0)(a), O.channel("L", 1)(a))
    assert torch.allclose((O.channel("L", 1) / 4 - 1)(a), O.channel("L", 1)(a) / 4 - 1)
