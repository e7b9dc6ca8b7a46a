"""Chapter 03's exercises against plausible mistakes (issue 18, item 2): each named mistake fails its check with the
hint's key concept in the message; the instructor's solutions pass and the student stub fails. The runner is
tests/test_mistakes_01.py's."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

_spec = importlib.util.spec_from_file_location("_mistakes_01", Path(__file__).resolve().parent / "test_mistakes_01.py")
M = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(M)

CHAPTER = "03_saliency_guided_backprop"

_SENSITIVITY = '''
def class_sensitivity(model, x):
    from scipy.stats import rankdata
    def rank_corr(a, b):
        ra = torch.as_tensor(RANK(a.flatten().numpy()))
        rb = torch.as_tensor(RANK(b.flatten().numpy()))
        ra, rb = ra - ra.mean(), rb - rb.mean()
        return (ra * rb).sum() / (ra.norm() * rb.norm())
    with torch.no_grad():
        top = model(x).argmax(1)
    other = (top + 1) % 10
    result = []
    for method in METHODS:
        a = MAP(method(model, x, top.tolist()))
        b = MAP(method(model, x, other.tolist()))
        result.append(torch.stack([rank_corr(a[i], b[i]) for i in range(len(x))]).mean())
    return result[0], result[1], (result[0] > result[1]).double()
'''


def _sensitivity(rank="rankdata", methods="(vz.guided_backprop, vz.saliency)", map_="A.abs_max"):
    return _SENSITIVITY.replace("RANK", rank).replace("METHODS", methods).replace("MAP", map_)


_DECONV = '''
def deconvnet(model, x, target):
    def rectify(module, inputs, out):
        BODY
    handles = [m.register_forward_hook(rectify) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        xg = x.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(xg)[:, target].sum(), xg)
    finally:
        FINALLY
    return grad
'''
_STRAIGHT = ("inp = inputs[0]\n        passed = inp + (out - inp).detach()\n"
             "        passed.register_hook(lambda g: g.clamp(min=0))\n        return passed")

MISTAKES = [
    ("ex03_1_check", "probabilities instead of logits", '''
def contrastive_saliency(model, x, target, other):
    xg = x.detach().clone().requires_grad_(True)
    p = model(xg).softmax(1)
    (grad,) = torch.autograd.grad((p[:, target] - p[:, other]).sum(), xg)
    return grad.abs().amax(dim=1)
''', "not probabilities"),
    ("ex03_1_check", "difference of the two saliency maps", '''
def contrastive_saliency(model, x, target, other):
    xg = x.detach().clone().requires_grad_(True)
    logits = model(xg)
    (gt,) = torch.autograd.grad(logits[:, target].sum(), xg, retain_graph=True)
    (go,) = torch.autograd.grad(logits[:, other].sum(), xg)
    return gt.abs().amax(dim=1) - go.abs().amax(dim=1)
''', "not two separate maps"),
    ("ex03_1_check", "the other class ignored (plain saliency)", '''
def contrastive_saliency(model, x, target, other):
    xg = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(xg)[:, target].sum(), xg)
    return grad.abs().amax(dim=1)
''', "difference of the two logits"),
    ("ex03_2_check", "gradient taken at the baseline", '''
def first_order_gap(model, x, target, baseline):
    bg = baseline.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(bg)[:, target].sum(), bg)
    with torch.no_grad():
        change = model(x)[:, target] - model(baseline)[:, target]
    return change - ((x - baseline) * grad).sum(dim=(1, 2, 3))
''', "gradient at x (not at the baseline)"),
    ("ex03_2_check", "baseline forgotten in the estimate (plain gradient x input)", '''
def first_order_gap(model, x, target, baseline):
    xg = x.detach().clone().requires_grad_(True)
    score = model(xg)[:, target]
    (grad,) = torch.autograd.grad(score.sum(), xg)
    with torch.no_grad():
        change = score.detach() - model(baseline)[:, target]
    return change - (x * grad).sum(dim=(1, 2, 3))
''', "step from the baseline to x"),
    ("ex03_2_check", "probabilities instead of the logit", '''
def first_order_gap(model, x, target, baseline):
    xg = x.detach().clone().requires_grad_(True)
    score = model(xg).softmax(1)[:, target]
    (grad,) = torch.autograd.grad(score.sum(), xg)
    with torch.no_grad():
        change = score.detach() - model(baseline).softmax(1)[:, target]
    return change - ((x - baseline) * grad).sum(dim=(1, 2, 3))
''', "true change of the logit"),
    ("ex03_3_check", "guided backprop (the forward mask kept)", _DECONV.replace(
        "BODY", "out.register_hook(lambda g: g.clamp(min=0))").replace(
        "FINALLY", "for h in handles:\n            h.remove()"), "ignores the forward mask"),
    ("ex03_3_check", "straight-through without the rectification (the gradient of the identity)", _DECONV.replace(
        "BODY", "inp = inputs[0]\n        return inp + (out - inp).detach()").replace(
        "FINALLY", "for h in handles:\n            h.remove()"), "negative part is cut"),
    ("ex03_3_check", "hooks not removed", _DECONV.replace("BODY", _STRAIGHT).replace("FINALLY", "pass"),
     "remove every hook"),
    ("ex03_4_check", "Pearson correlation of the values, not of the ranks", _sensitivity(rank=""), "ranks"),
    ("ex03_4_check", "signed maps (the sign kept)", _sensitivity(map_="(lambda a: a.sum(1))"), "sizes |a|"),
    ("ex03_4_check", "control left out (guided backprop measured twice)",
     _sensitivity(methods="(vz.guided_backprop, vz.guided_backprop)"), "the control"),
]


@pytest.fixture(autouse=True)
def _restore_torch_rng():
    state = torch.random.get_rng_state()
    yield
    torch.random.set_rng_state(state)


def test_solutions_pass_and_stubs_fail():
    M.assert_solutions(CHAPTER)


def test_every_exercise_has_two_or_three_mistakes():
    nb = M.S.load(M.S.NOTEBOOKS / f"{CHAPTER}.ipynb")
    checks = [M.S.grading(c)["grade_id"] for c in nb["cells"] if M.S.is_check(c)]
    counts = {gid: sum(row[0] == gid for row in MISTAKES) for gid in checks}
    assert all(2 <= n <= 3 for n in counts.values()), counts


@pytest.mark.parametrize("gid, mistake, replacement, phrase", MISTAKES, ids=[f"{r[0]}: {r[1]}" for r in MISTAKES])
def test_mistake_fails_with_the_hint(gid, mistake, replacement, phrase):
    M.assert_mistake_fails(CHAPTER, gid, replacement, phrase)
