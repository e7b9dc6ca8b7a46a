"""Chapter 05's exercises against plausible mistakes (issue 18, item 2): each row replaces one solution cell by a
realistic wrong answer and asserts the check fails with its hint's key concept in the message (machinery:
tests/test_mistakes_04.py). Exercise 2 cannot be answered with the network's own logits any more: the check asks for
the score with some positions switched off and does not let the function run the classifier."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_mistakes_04_m05", HERE / "test_mistakes_04.py")
M = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(M)
S = M.S

NAME = "05_cam"

_LOCALISATION = '''
def cam_localisation(model, control, left, right, y_left, y_right):
    canvas = torch.cat([left, right], dim=3)
    n = torch.arange(len(canvas))
    out = []
    for net in (model, control):
        M = {relu}(cam_maps(net, canvas, range(10), "relu3"))
        half = M.shape[-1] // 2
        a, b = M[n, y_left], M[n, {right_class}]
        shares = torch.cat([a[..., :half].sum(dim=(1, 2)) / a.{total}(dim=(1, 2)).clamp_min(1e-12),
                            b[..., half:].sum(dim=(1, 2)) / b.{total}(dim=(1, 2)).clamp_min(1e-12)])
        out.append(shares.mean())
    return out[0], {control_out}
'''


def localisation(relu="F.relu", right_class="y_right", total="sum", control_out="out[1]"):
    return _LOCALISATION.format(relu=relu, right_class=right_class, total=total, control_out=control_out)


MISTAKES = [
    ("ex05_1_cam", "the classes' weights summed into one map", '''
def cam_maps(model, x, classes, layer):
    A = vz.capture(model, x, layer)[layer]
    w = model[-1].weight.detach()[list(classes)].sum(0)
    return (w[None, :, None, None] * A).sum(1, keepdim=True).expand(-1, len(classes), -1, -1)
''', "that class's row"),
    ("ex05_1_cam", "the weight's columns instead of its rows", '''
def cam_maps(model, x, classes, layer):
    A = vz.capture(model, x, layer)[layer]
    W = model[-1].weight.detach()
    return torch.einsum("kc,nkhw->nchw", W[:A.shape[1], list(classes)], A[:, :W.shape[0]])
''', "that class's row"),
    ("ex05_1_cam", "a ReLU on the raw maps", '''
def cam_maps(model, x, classes, layer):
    A = vz.capture(model, x, layer)[layer]
    return torch.relu(torch.einsum("ck,nkhw->nchw", model[-1].weight.detach()[list(classes)], A))
''', "sum over the channel dimension"),
    ("ex05_2_score", "the network's own logits, the map not used", '''
def score_without(model, x, c, drop):
    with torch.no_grad():
        return model(x)[:, c]
''', "write it yourself"),
    ("ex05_2_score", "the mean over the kept positions only", '''
def score_without(model, x, c, drop):
    M = cam_maps(model, x, [c], "3")[:, 0]
    return (M * ~drop).sum(dim=(1, 2)) / (~drop).sum() + model[-1].bias.detach()[c]
''', "all h*w positions"),
    ("ex05_2_score", "the bias forgotten", '''
def score_without(model, x, c, drop):
    M = cam_maps(model, x, [c], "3")[:, 0]
    return (M * ~drop).mean(dim=(1, 2))
''', "bias is added once"),
    ("ex05_2_score", "the sum of the map instead of its mean", '''
def score_without(model, x, c, drop):
    M = cam_maps(model, x, [c], "3")[:, 0]
    return (M * ~drop).sum(dim=(1, 2)) + model[-1].bias.detach()[c]
''', "GAP averages"),
    ("ex05_3_heatmap", "no ReLU before the min-max", '''
def heatmap(model, x, c):
    M = cam_maps(model, x, [c], "3")[:, 0]
    m = F.interpolate(M[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    lo, hi = m.amin(dim=(1, 2), keepdim=True), m.amax(dim=(1, 2), keepdim=True)
    return (m - lo) / (hi - lo).clamp_min(1e-12)
''', "positive part"),
    ("ex05_3_heatmap", "one min-max over the whole batch", '''
def heatmap(model, x, c):
    M = cam_maps(model, x, [c], "3")[:, 0]
    m = F.interpolate(F.relu(M)[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    return (m - m.min()) / (m.max() - m.min()).clamp_min(1e-12)
''', "each map on its own"),
    ("ex05_3_heatmap", "nearest-neighbour upsampling", '''
def heatmap(model, x, c):
    M = cam_maps(model, x, [c], "3")[:, 0]
    m = F.interpolate(F.relu(M)[:, None], size=x.shape[-2:], mode="nearest")[:, 0]
    lo, hi = m.amin(dim=(1, 2), keepdim=True), m.amax(dim=(1, 2), keepdim=True)
    return torch.where(hi - lo > 1e-12, (m - lo) / (hi - lo).clamp_min(1e-12), torch.zeros_like(m))
''', "bilinear upsampling"),
    ("ex05_6_experiment", "the left digit's class explained on both halves", localisation(right_class="y_left"),
     "for that digit's own class"),
    ("ex05_6_experiment", "the signed map, no ReLU", localisation(relu=""), "positive map"),
    ("ex05_6_experiment", "the control left out (0.5 assumed)", localisation(control_out="torch.tensor(0.5)"),
     "same measurement on random weights"),
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


def test_the_counterfactual_score_is_not_the_logit():
    """Exercise 2's cases switch positions off: the plain logit differs from the answer by far more than 1e-3."""
    nb = S.load(S.NOTEBOOKS / f"{NAME}.ipynb")
    ns: dict = {"__name__": "__exercises__"}
    for cell in S.exercise_cells(nb):
        if S.grading(cell).get("grade_id") == "ex05_2_check":
            break
        exec(compile(S.source(cell), "<cell>", "exec"), ns)
    for (net, x, c), s in zip(ns["cases"], range(3)):
        drop = torch.rand(8, 8, generator=torch.Generator().manual_seed(20 + s)) < 0.4
        with torch.no_grad():
            full, without = net(x)[:, c], net[4:](net[:4](x) * ~drop)[:, c]
        assert ((full - without).abs() / (full.abs() + without.abs())).max() > 1e-2
