"""Chapter 06's exercises against plausible mistakes (issue 18, item 2): each row replaces one solution cell by a
realistic wrong answer and asserts the check fails with its hint's key concept in the message (machinery:
tests/test_mistakes_04.py)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_mistakes_04_m06", HERE / "test_mistakes_04.py")
M = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(M)
S = M.S

NAME = "06_grad_cam"

_PP_T = '''
def grad_cam_pp_T(model, x, target, T):
    A, g = activations_and_gradients(model, x, target)
    d1, d2, d3 = {d1}, {d2}, {d3}
    den = 2 * d2 + A.sum(dim=(2, 3), keepdim=True) * d3
    alpha = torch.where(g != 0, d2 / torch.where(den != 0, den, torch.ones_like(den)), torch.zeros_like(g))
    w = (alpha * F.relu(d1)).sum(dim=(2, 3))
    return F.relu((w[:, :, None, None] * A).sum(dim=1))
'''

_SMOOTH = '''
def smooth_grad_cam_pp(model, x, target, n, std, seed):
    A, _ = activations_and_gradients(model, {clean}, target)
    noise = std * torch.randn((n, *x.shape[1:]), generator=torch.Generator().manual_seed(seed))
    Gs = torch.cat([activations_and_gradients(model, x + noise[s:s + 1], target)[1] for s in range(n)])
    g1 = Gs.mean(dim=0, keepdim=True)
    g2, g3 = {g2}, {g3}
    den = 2 * g2 + A.sum(dim=(2, 3), keepdim=True) * g3
    alpha = torch.where(g1 != 0, g2 / torch.where(den != 0, den, torch.ones_like(den)), torch.zeros_like(g2))
    w = (alpha * F.relu(g1)).sum(dim=(2, 3))
    return F.relu((w[:, :, None, None] * A).sum(dim=1))
'''

_SPREAD = '''
def gradient_spread(model, control, x, y):
    out = []
    for net in (model, control):
        G = vz.capture(net, x, "relu3", target=y, gradients=True).gradients["relu3"]
        ratio = {ratio}
        out.append({reduce})
    return out[0], {control_out}
'''


def spread(ratio="G.std(dim=(2, 3)) / G.abs().mean(dim=(2, 3)).clamp_min(1e-20)", reduce="ratio.median()",
           control_out="out[1]"):
    return _SPREAD.format(ratio=ratio, reduce=reduce, control_out=control_out)


MISTAKES = [
    ("ex06_1_contrast_grad_cam", "the difference of two Grad-CAMs, each after its ReLU", '''
def contrast_grad_cam(model, x, a, b):
    A, Ga = activations_and_gradients(model, x, a)
    _, Gb = activations_and_gradients(model, x, b)
    La = F.relu((Ga.mean(dim=(2, 3))[:, :, None, None] * A).sum(dim=1))
    Lb = F.relu((Gb.mean(dim=(2, 3))[:, :, None, None] * A).sum(dim=1))
    return F.relu(La - Lb)
''', "one ReLU, at the end"),
    ("ex06_1_contrast_grad_cam", "the probability of a instead of the logit difference", '''
def contrast_grad_cam(model, x, a, b):
    A, G = activations_and_gradients(model, x, lambda out: out.softmax(dim=1)[:, a])
    return F.relu((G.mean(dim=(2, 3))[:, :, None, None] * A).sum(dim=1))
''', "not probabilities"),
    ("ex06_1_contrast_grad_cam", "class b ignored", '''
def contrast_grad_cam(model, x, a, b):
    A, G = activations_and_gradients(model, x, a)
    return F.relu((G.mean(dim=(2, 3))[:, :, None, None] * A).sum(dim=1))
''', "difference of their gradients"),
    ("ex06_2_grad_cam_pp_T", "the temperature forgotten (the default Grad-CAM++)", _PP_T.format(d1="g", d2="g ** 2", d3="g ** 3"),
     "one more factor 1/T"),
    ("ex06_2_grad_cam_pp_T", "the first derivative's 1/T dropped from w", _PP_T.format(d1="g", d2="g ** 2 / T ** 2",
                                                                                      d3="g ** 3 / T ** 3"),
     "scales w too"),
    ("ex06_2_grad_cam_pp_T", "the same 1/T for every derivative", _PP_T.format(d1="g / T", d2="g ** 2 / T",
                                                                               d3="g ** 3 / T"),
     "one more factor 1/T"),
    ("ex06_3_smooth_grad_cam_pp", "the activations of the first noisy copy, not of the clean image",
     _SMOOTH.format(clean="x + std * torch.randn((1, *x.shape[1:]), generator=torch.Generator().manual_seed(seed))",
                    g2="(Gs ** 2).mean(dim=0, keepdim=True)", g3="(Gs ** 3).mean(dim=0, keepdim=True)"),
     "from the clean image"),
    ("ex06_3_smooth_grad_cam_pp", "the powers of the averaged gradient, not the averaged powers",
     _SMOOTH.format(clean="x", g2="g1 ** 2", g3="g1 ** 3"), "each power of the gradient is averaged"),
    ("ex06_6_experiment", "the mean over channels instead of the median", spread(reduce="ratio.mean()"), "the median"),
    ("ex06_6_experiment", "|mean gradient| instead of mean |gradient|",
     spread(ratio="G.std(dim=(2, 3)) / G.mean(dim=(2, 3)).abs().clamp_min(1e-20)"), "mean size of the gradient"),
    ("ex06_6_experiment", "the control left out (the model measured twice)", spread(control_out="out[0]"),
     "the control is the same body"),
]


@pytest.fixture(autouse=True)
def _restore_torch_rng():
    state = torch.random.get_rng_state()
    yield
    torch.random.set_rng_state(state)


@pytest.mark.parametrize("solution_id, mistake, student, phrase", MISTAKES, ids=[f"{m[0]}: {m[1]}" for m in MISTAKES])
def test_mistake_fails_with_the_hint(solution_id, mistake, student, phrase):
    nb = S.load(S.NOTEBOOKS / f"{NAME}.ipynb")
    result = M.run_check(nb, M.check_after(nb, solution_id), {solution_id: student})
    assert result.startswith("failed"), f"{mistake}: {result}"
    assert phrase in result, f"{mistake}: the message does not name {phrase!r}: {result}"


def test_every_exercise_has_two_mistakes_and_the_solution_passes():
    nb = S.load(S.NOTEBOOKS / f"{NAME}.ipynb")
    solutions = [S.grading(c)["grade_id"] for c in nb["cells"] if S.is_solution(c)]
    for sid in solutions:
        assert sum(row[0] == sid for row in MISTAKES) >= 2, f"{sid}: fewer than two mistakes tested"
    stub = S.student_version(nb)
    for sid in solutions:
        gid = M.check_after(nb, sid)
        assert M.run_check(nb, gid) == "passed", gid
        assert "not done yet" in M.run_check(stub, gid), gid
