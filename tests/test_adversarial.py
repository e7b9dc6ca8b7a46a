"""Adversarial attacks in pixel space: hand-checkable linear cases, parity with torchattacks and
Captum, the projection, hygiene and determinism."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import vizlab as vz
from vizlab import adversarial as adv
from conftest import assert_untouched, model_state, random_resnet18


def linear_net(w0, w1, b=(0.0, 0.0), dtype=torch.float32) -> nn.Module:
    """Two logits ``z_k = w_k . p + b_k`` of the flattened pixels: gradients by hand."""
    lin = nn.Linear(len(w0), 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([w0, w1]))
        lin.bias.copy_(torch.tensor(b))
    return nn.Sequential(nn.Flatten(), lin).to(dtype).eval()


W0 = [1.0, -2.0, 0.0, 0.5, -0.25, 3.0, -1.0, 0.0]


# --------------------------------------------------------------------------------------------
# Hand-checkable: a linear model
# --------------------------------------------------------------------------------------------

def test_fgsm_on_a_linear_model_moves_each_pixel_against_the_weight_sign():
    """Label 0, w1 = 0: dCE/dp = s1 * (w1 - w0) = -s1 * w0, so p_adv = p - eps * sign(w0), and the
    logit z0 falls by exactly eps * ||w0||_1 (Goodfellow's linearity argument)."""
    net = adv.Normalized(linear_net(W0, [0.0] * 8))
    p = torch.full((1, 2, 2, 2), 0.5)
    eps = 0.125
    out = adv.fgsm(net, p, 0, eps)
    want = 0.5 - eps * torch.tensor(W0).sign()
    assert torch.equal(out.flatten(), want)
    with torch.no_grad():
        drop = net(p)[0, 0] - net(out)[0, 0]
    assert float(drop) == pytest.approx(eps * sum(abs(w) for w in W0), abs=1e-6)
    assert torch.equal(p, torch.full((1, 2, 2, 2), 0.5)), "the input was modified"


def test_targeted_fgsm_descends_the_target_loss():
    """With two classes, moving towards class 1 is moving away from class 0; targeting the class
    already predicted moves p + eps * sign(w0 - w1) (it reinforces it)."""
    net = adv.Normalized(linear_net(W0, [0.75] * 8))
    p = torch.rand(3, 2, 2, 2, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25
    assert torch.equal(adv.fgsm(net, p, 0, 0.1), adv.fgsm(net, p, eps=0.1, target=1))
    want = (p + 0.1 * (torch.tensor(W0) - 0.75).sign().view(1, 2, 2, 2)).clamp(0, 1)
    assert torch.equal(adv.fgsm(net, p, eps=0.1, target=0), want)


def test_results_are_clipped_to_valid_pixels_and_keep_dtype():
    net = adv.Normalized(linear_net(W0, [0.0] * 8, dtype=torch.float64))
    p = torch.tensor([0.0, 1.0, 0.99, 0.01, 1.0, 0.0, 0.5, 0.5], dtype=torch.float64).view(1, 2, 2, 2)
    out = adv.fgsm(net, p, 0, 0.1)
    assert out.dtype == torch.float64
    want = (p.flatten() - 0.1 * torch.tensor(W0, dtype=torch.float64).sign()).clamp(0, 1)
    assert torch.equal(out.flatten(), want)
    assert out.min() >= 0 and out.max() <= 1


def test_fooling_image_steps_by_hand():
    """z1 = 0.5 * sum(p), z0 = 0.35: each step adds lr * g / ||g|| = 0.05 to each pixel, so z1 grows
    by lr * ||w1|| = 0.1: 0.2 -> 0.3 -> 0.4 > 0.35 after two steps. An image already in the target
    class takes zero steps and is returned unchanged."""
    net = adv.Normalized(linear_net([0.0] * 4, [0.5] * 4, b=(0.35, 0.0)))
    p = torch.stack([torch.full((1, 2, 2), 0.1), torch.full((1, 2, 2), 0.9)])
    res = adv.fooling_image(net, p, target=1, lr=0.1)
    assert res.steps.tolist() == [2, 0]
    assert torch.allclose(res.image[0], torch.full((1, 2, 2), 0.2))
    assert torch.equal(res.image[1], p[1])
    assert adv.fooling_image(net, p, 1, lr=0.1, max_steps=1).steps.tolist() == [-1, 0]


# --------------------------------------------------------------------------------------------
# The projection and PGD's axioms
# --------------------------------------------------------------------------------------------

def test_projection_by_hand():
    p = torch.full((2, 1, 1, 2), 0.5)
    a = torch.tensor([0.5 + 0.3, 0.5 - 0.4, 0.5 + 0.01, 0.5 - 0.02]).view(2, 1, 1, 2)
    linf = adv.project(a, p, 0.1, "linf").flatten()
    assert torch.allclose(linf, torch.tensor([0.6, 0.4, 0.51, 0.48]))
    l2 = adv.project(a, p, 0.25, "l2").flatten()   # ||(0.3, -0.4)|| = 0.5 -> halved; the other is inside
    assert torch.allclose(l2, torch.tensor([0.65, 0.3, 0.51, 0.48]))
    with pytest.raises(ValueError, match="norm must be"):
        adv.project(a, p, 0.1, "l1")


def test_pgd_one_full_step_is_fgsm_and_stays_in_the_ball():
    model = random_resnet18(1)
    p = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    eps = 4 / 255
    assert torch.equal(adv.pgd(model, p, eps=eps, steps=1, step=eps), adv.fgsm(model, p, eps=eps))
    for norm, bound in [("linf", eps), ("l2", 0.5)]:
        out = adv.pgd(model, p, eps=bound, norm=norm, steps=3, random_start=True,
                      generator=torch.Generator().manual_seed(2))
        d = (out - p).flatten(1)
        size = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
        assert (size <= bound * (1 + 1e-5)).all() and out.min() >= 0 and out.max() <= 1


# --------------------------------------------------------------------------------------------
# Parity with torchattacks and Captum (same model, same pixels)
# --------------------------------------------------------------------------------------------

def _parity_cases(lite0, chelsea_x):
    p = adv.pixels(chelsea_x, lite0)
    r18 = random_resnet18(3)
    q = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(3))
    assert not lite0.training and not adv.pixel_model(lite0).training
    return [(lite0, p), (r18, q)]


def test_parity_with_torchattacks(lite0, chelsea_x):
    ta = pytest.importorskip("torchattacks")
    for model, p in _parity_cases(lite0, chelsea_x):
        net = adv.pixel_model(model)
        with torch.no_grad():
            label = net(p).argmax(1)
        eps = 2 / 255
        assert (adv.fgsm(model, p, label, eps) - ta.FGSM(net, eps=eps)(p, label)).abs().max() <= 1e-6
        steps = 3 if model is lite0 else 5
        ours = adv.pgd(model, p, label, eps, steps=steps, step=eps / 2)
        theirs = ta.PGD(net, eps=eps, alpha=eps / 2, steps=steps, random_start=False)(p, label)
        assert (ours - theirs).abs().max() <= 1e-6
        target = (label + 1) % 1000
        atk = ta.PGD(net, eps=eps, alpha=eps / 2, steps=steps, random_start=False)
        atk.set_mode_targeted_by_label(quiet=True)
        ours = adv.pgd(model, p, eps=eps, steps=steps, step=eps / 2, target=target)
        assert (ours - atk(p, target)).abs().max() <= 1e-6
        l2 = ta.PGDL2(net, eps=0.5, alpha=0.1, steps=steps, random_start=False)(p, label)
        assert (adv.pgd(model, p, label, 0.5, norm="l2", steps=steps, step=0.1) - l2).abs().max() <= 1e-6


@pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
def test_parity_with_captum(lite0, chelsea_x):
    robust = pytest.importorskip("captum.robust")
    ce = nn.CrossEntropyLoss(reduction="none")
    for model, p in _parity_cases(lite0, chelsea_x):
        net = adv.pixel_model(model)
        with torch.no_grad():
            label = net(p).argmax(1)
        fgsm = robust.FGSM(net, loss_func=ce, lower_bound=0.0, upper_bound=1.0)
        fgsm.zero_thresh = 0.0  # Captum leaves pixels with |grad| <= 1e-6 alone; FGSM proper uses sign(0) = 0 only
        eps = 2 / 255
        assert (adv.fgsm(model, p, label, eps) - fgsm.perturb(p, eps, label)).abs().max() <= 1e-6
        target = (label + 7) % 1000
        assert (adv.fgsm(model, p, eps=eps, target=target)
                - fgsm.perturb(p, eps, target, targeted=True)).abs().max() <= 1e-6
        pgd = robust.PGD(net, loss_func=ce, lower_bound=0.0, upper_bound=1.0)
        pgd.fgsm.zero_thresh = 0.0
        theirs = pgd.perturb(p, radius=eps, step_size=eps / 3, step_num=3, target=label)
        assert (adv.pgd(model, p, label, eps, steps=3, step=eps / 3) - theirs).abs().max() <= 1e-6


# --------------------------------------------------------------------------------------------
# Hygiene, determinism, errors
# --------------------------------------------------------------------------------------------

def test_attacks_leave_model_and_input_untouched_and_run_in_eval_mode():
    model = random_resnet18(4).train()
    p = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(4))
    p_before = p.clone()
    before = model_state(model)
    results = [adv.fgsm(model, p, eps=0.01), adv.pgd(model, p, eps=0.01, steps=2, random_start=True),
               adv.pgd(model, p, eps=0.5, norm="l2", steps=2), adv.fooling_image(model, p, 5, max_steps=2).image]
    assert_untouched(model, before)
    assert torch.equal(p, p_before) and not p.requires_grad
    assert all(not r.requires_grad for r in results)
    model.eval()
    assert torch.equal(results[0], adv.fgsm(model, p, eps=0.01)), "a train-mode model must give the eval result"
    model.train()


def test_random_start_comes_from_the_generator_only():
    model = random_resnet18(5)
    p = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    state = torch.get_rng_state()
    runs = [adv.pgd(model, p, eps=0.03, steps=2, random_start=True, generator=torch.Generator().manual_seed(s))
            for s in (7, 7, 8)]
    assert torch.equal(torch.get_rng_state(), state), "the global RNG was used"
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])
    assert torch.equal(adv.pgd(model, p, eps=0.03, steps=2, random_start=True),
                       adv.pgd(model, p, eps=0.03, steps=2, random_start=True))


def test_pixels_and_normalize_are_inverse_and_the_wrapper_is_the_model(lite0, chelsea_x):
    p = adv.pixels(chelsea_x, lite0)
    assert p.min() >= 0 and p.max() <= 1
    assert torch.allclose(adv.normalize(p, lite0), chelsea_x, atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(adv.pixel_model(lite0)(p), lite0(chelsea_x), atol=1e-4)
    img = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    mean, std = torch.tensor(vz.models.IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(vz.models.IMAGENET_STD).view(1, 3, 1, 1)
    assert torch.allclose(adv.normalize(img, nn.Identity()), (img - mean) / std)   # any other model: ImageNet's
    grey = torch.full((1, 1, 2, 2), 0.75)   # equal stats for every channel fit a one-channel image (digits)
    assert torch.equal(adv.Normalized(nn.Identity(), (0.5,) * 3, (0.25,) * 3)(grey), torch.ones(1, 1, 2, 2))
    assert torch.allclose(adv.magnify(torch.tensor([[-0.1, 0.0, 0.05]]), 0.1), torch.tensor([[0.0, 0.5, 0.75]]))


def test_errors_that_teach(chelsea_x):
    net = adv.Normalized(linear_net(W0, [0.0] * 8))
    p = torch.full((1, 2, 2, 2), 0.5)
    with pytest.raises(ValueError, match=r"pixels\(x, model\)"):
        adv.fgsm(net, p - 1)
    with pytest.raises(ValueError, match="not both"):
        adv.fgsm(net, p, 0, target=1)
    with pytest.raises(ValueError, match="must be > 0"):
        adv.pgd(net, p, eps=0)
    with pytest.raises(ValueError, match="norm must be"):
        adv.pgd(net, p, norm="l1")
    with pytest.raises(ValueError, match="outside 0..1"):
        adv.fgsm(net, p, 2)
    with pytest.raises(ValueError, match="label names 2 classes but the batch holds 1 image;"):
        adv.pgd(net, p, [0, 1])
    with pytest.raises(ValueError, match="2 channels but the pixels have 3"):
        adv.Normalized(nn.Identity(), (0.4, 0.5), (0.5, 0.5))(torch.rand(1, 3, 2, 2))


# --------------------------------------------------------------------------------------------
# Issue 19: the contract every entry point keeps
# --------------------------------------------------------------------------------------------

def _attacks(model, p):
    """Each attack once, as a dict of results (fooling_image's image and steps)."""
    fool = adv.fooling_image(model, p, 3, lr=1.0, max_steps=3)
    return {"fgsm": adv.fgsm(model, p, eps=2 / 255), "fgsm target": adv.fgsm(model, p, eps=2 / 255, target=1),
            "pgd": adv.pgd(model, p, eps=2 / 255, steps=2, random_start=True),
            "pgd l2": adv.pgd(model, p, 1, eps=0.5, norm="l2", steps=2), "fool": fool.image, "fool steps": fool.steps}


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_attacks_work_inside_no_grad_and_inference_mode(mode):
    """Bug 3: the attacks switch gradients on for themselves; the results are those of normal mode."""
    model = random_resnet18(6)
    p = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    want = _attacks(model, p)
    before = model_state(model)
    with (torch.no_grad() if mode == "no_grad" else torch.inference_mode()):
        got = _attacks(model, p)
        made_inside = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(7))
        inside = adv.fgsm(model, made_inside, eps=2 / 255)   # an inference tensor as the input
    assert_untouched(model, before)
    for key in want:
        assert torch.equal(got[key], want[key]), key
    with torch.inference_mode(False):
        assert torch.equal(inside, adv.fgsm(model, made_inside.clone(), eps=2 / 255))


def test_class_names_are_labels_and_targets():
    """Bug 5: a class name means its index (resolved with the model's names), as in every wave-1 method;
    an int class index (chapter 10's use) and an int tensor keep working."""
    model = vz.load("resnet18", pretrained=False)
    p = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(8))
    tabby = vz.class_index(model, "tabby")
    assert torch.equal(adv.fgsm(model, p, "tabby", eps=2 / 255), adv.fgsm(model, p, tabby, eps=2 / 255))
    assert torch.equal(adv.fgsm(model, p, torch.tensor([tabby]), eps=2 / 255), adv.fgsm(model, p, tabby, eps=2 / 255))
    assert torch.equal(adv.pgd(model, p, eps=2 / 255, target="goldfish", steps=1),
                       adv.pgd(model, p, eps=2 / 255, target=vz.class_index(model, "goldfish"), steps=1))
    a = adv.fooling_image(model, p, "daisy", max_steps=2)
    b = adv.fooling_image(model, p, vz.class_index(model, "daisy"), max_steps=2)
    assert torch.equal(a.image, b.image) and torch.equal(a.steps, b.steps)


def test_floats_are_not_truncated_to_a_class():
    """Bug 5: label=3.7 used to attack class 3 silently."""
    net = adv.Normalized(linear_net(W0, [0.0] * 8))
    p = torch.full((1, 2, 2, 2), 0.5)
    for bad in (3.7, 1.0, [0.5], torch.tensor([1.5])):
        with pytest.raises(TypeError, match="whole-number"):
            adv.fgsm(net, p, bad, eps=0.1)


def test_the_global_rng_is_never_touched_and_none_means_seed_0():
    """Bug 14: generator=None is a fresh torch.Generator().manual_seed(0); nothing draws from the global RNG."""
    model = random_resnet18(9)
    p = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    state = torch.get_rng_state()
    default = adv.pgd(model, p, eps=0.03, steps=2, random_start=True)
    seeded = adv.pgd(model, p, eps=0.03, steps=2, random_start=True, generator=torch.Generator().manual_seed(0))
    _attacks(model, p)
    assert torch.equal(torch.get_rng_state(), state), "the global RNG was used"
    assert torch.equal(default, seeded)


def test_budget_in_pixel_units_and_l2_radius():
    """Bug 7: an L-inf eps above 1 is a unit mistake (8 meant 8/255); an L2 radius may exceed 1."""
    model = random_resnet18(10)
    p = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(10))
    with pytest.raises(ValueError, match="8/255"):
        adv.pgd(model, p, eps=8, steps=1)
    out = adv.pgd(model, p, eps=3.0, norm="l2", steps=2)
    assert float((out - p).flatten(1).norm(dim=1).max()) <= 3.0 * (1 + 1e-5)
    assert torch.equal(adv.fgsm(model, p, eps=1), adv.fgsm(model, p, eps=1.0))   # eps = 1 is the edge of the range


def test_magnify_refuses_a_meaningless_scale():
    """Bug 29: eps <= 0 gave a binary or inverted picture, a NaN delta a NaN picture."""
    d = torch.tensor([[-0.1, 0.0, 0.05]])
    for eps in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="must be > 0"):
            adv.magnify(d, eps)
    with pytest.raises(ValueError, match="NaN"):
        adv.magnify(d * float("nan"))
    assert torch.allclose(adv.magnify(d, 0.1), torch.tensor([[0.0, 0.5, 0.75]]))
    assert torch.allclose(adv.magnify(d), torch.tensor([[0.0, 0.5, 0.75]]))


def test_random_sign_is_the_attack_control():
    """The same draws as torch.randint(0, 2) * 2 - 1 from the generator (the chapters' control), on the input's
    dtype and device; the global RNG untouched; FGSM's size exactly."""
    p = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    state = torch.get_rng_state()
    s = adv.random_sign(p, torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), state)
    expected = torch.randint(0, 2, p.shape, generator=torch.Generator().manual_seed(0)).double() * 2 - 1
    assert torch.equal(s, expected) and s.dtype == torch.float64
    assert set(s.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(adv.random_sign(p), adv.random_sign(p, torch.Generator().manual_seed(0)))   # None: seed 0
    assert 0.3 < float((s > 0).double().mean()) < 0.7
