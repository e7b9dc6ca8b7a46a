"""Chapter 12's exercises against plausible mistakes (issue 18, item 2).

Each row replaces one solution cell by a realistic wrong solution (the signature kept) and runs the exercise
section as tests/test_student.py does: the exercise's check must fail (0 points) with its hint in the message,
named by the concept the hint gives. The instructor's solutions pass and the student version fails every check.
"""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest
import torch

_spec = importlib.util.spec_from_file_location("_student_helpers", Path(__file__).resolve().parent / "test_student.py")
S = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(S)

NOTEBOOK = "12_evaluating_explanations"

# (solution cell's grade_id, mistake, replacement solution source, a phrase of the hint the message must hold)
_CURVE = """
def _curve(model, x, ranking, target, step, score):
    order = ranking.flatten().argsort(descending=True, stable=True)
    out = []
    for k in range(math.ceil(order.numel() / step) + 1):
        removed = torch.zeros(order.numel(), dtype=torch.bool)
        removed[order[:k * step]] = True
        image = torch.where(removed.view(1, 1, *ranking.shape), torch.zeros_like(x), x)
        with torch.no_grad():
            out.append(score(model(image))[0, target])
    return torch.stack(out)
trapezoid = lambda p: (p[:-1] + p[1:]).sum() / 2 / (len(p) - 1)
probability = lambda z: z.softmax(-1)
"""
_RANKED = """
def _pearson(ra, rb):
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = ra.norm() * rb.norm()
    return (ra * rb).sum() / den if den > 0 else torch.zeros((), dtype=torch.float64)
"""
MISTAKES = [
    ("ex12_1_deletion_aucs", "mean of the curve, not the trapezoid", _CURVE + """
def deletion_aucs(model, x, saliency_map, target, step):
    return torch.stack([_curve(model, x, r, target, step, probability).mean() for r in (saliency_map, -saliency_map)])
""", "trapezoid rule"),
    ("ex12_1_deletion_aucs", "least relevant first as the MoRF curve read backwards", _CURVE + """
def deletion_aucs(model, x, saliency_map, target, step):
    morf = _curve(model, x, saliency_map, target, step, probability)
    return torch.stack([trapezoid(morf), trapezoid(morf.flip(0))])
""", "read backwards"),
    ("ex12_1_deletion_aucs", "logits instead of probabilities", _CURVE + """
def deletion_aucs(model, x, saliency_map, target, step):
    return torch.stack([trapezoid(_curve(model, x, r, target, step, lambda z: z)) for r in (saliency_map, -saliency_map)])
""", "softmax probabilities"),
    ("ex12_2_pointing_game", "x and y swapped", """
def pointing_hit(saliency_map, boxes):
    inside = torch.zeros_like(saliency_map, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes:
        inside[x0:x1, y0:y1] = True
    return ((saliency_map == saliency_map.max()) & inside).any().float()
""", "x counts columns and y counts rows"),
    ("ex12_2_pointing_game", "only the first maximum (ties ignored)", """
def pointing_hit(saliency_map, boxes):
    i = int(saliency_map.argmax())
    row, col = divmod(i, saliency_map.shape[1])
    return torch.tensor(float(any(y0 <= row < y1 and x0 <= col < x1 for x0, y0, x1, y1 in boxes)))
""", "every pixel holding the maximum"),
    ("ex12_2_pointing_game", "end row and column included", """
def pointing_hit(saliency_map, boxes):
    inside = torch.zeros_like(saliency_map, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes:
        inside[y0:y1 + 1, x0:x1 + 1] = True
    return ((saliency_map == saliency_map.max()) & inside).any().float()
""", "excludes its end column"),
    ("ex12_3_spearman_ties", "ties broken by position (argsort ranks)", _RANKED + """
def spearman(a, b):
    return _pearson(a.flatten().argsort().argsort().double(), b.flatten().argsort().argsort().double())
""", "average of the ranks"),
    ("ex12_3_spearman_ties", "ties get the lowest rank", _RANKED + """
def spearman(a, b):
    low = lambda t: (t.flatten()[:, None] > t.flatten()[None, :]).sum(1).double()
    return _pearson(low(a), low(b))
""", "average of the ranks"),
    ("ex12_3_spearman_ties", "a constant map not handled (0 / 0)", """
def spearman(a, b):
    def ranks(t):
        v = t.flatten().double()
        return (v[:, None] > v[None, :]).sum(1).double() + ((v[:, None] == v[None, :]).sum(1).double() - 1) / 2
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return (ra * rb).sum() / (ra.norm() * rb.norm())
""", "constant map has no ranking"),
    ("ex12_6_sanity_experiment", "control left out (the map compared with itself)", """
def sanity_experiment(method, model, x, x_other, target, target_other):
    _, randomised = next(ev.randomize(model, "fc2", generator=0))
    trained = ev.explain(method, model, x, target)[0]
    after = ev.explain(method, randomised, x, target)[0]
    return torch.stack([torch.as_tensor(spearman(trained, after)), torch.as_tensor(spearman(trained, trained))])
""", "two different digits"),
    ("ex12_6_sanity_experiment", "the randomised model explains its own predicted class", """
def sanity_experiment(method, model, x, x_other, target, target_other):
    _, randomised = next(ev.randomize(model, "fc2", generator=0))
    trained = ev.explain(method, model, x, target)[0]
    after = ev.explain(method, randomised, x)[0]
    other = ev.explain(method, model, x_other, target_other)[0]
    return torch.stack([torch.as_tensor(spearman(trained, after)), torch.as_tensor(spearman(trained, other))])
""", "for the same class"),
    ("ex12_6_sanity_experiment", "Pearson correlation of the values, not of the ranks", """
def sanity_experiment(method, model, x, x_other, target, target_other):
    _, randomised = next(ev.randomize(model, "fc2", generator=0))
    trained = ev.explain(method, model, x, target)[0].flatten()
    after = ev.explain(method, randomised, x, target)[0].flatten()
    other = ev.explain(method, model, x_other, target_other)[0].flatten()
    return torch.stack([torch.corrcoef(torch.stack([trained, after]))[0, 1],
                        torch.corrcoef(torch.stack([trained, other]))[0, 1]])
""", "rank correlation"),
]


def run_with(nb: dict, gid: str | None = None, replacement: str | None = None) -> dict[str, str]:
    """The exercise section, run as in tests/test_student.py, with the solution cell ``gid`` replaced."""
    nb = {**nb, "cells": [dict(c) for c in nb["cells"]]}
    if gid is not None:
        cell = next(c for c in nb["cells"] if S.grading(c).get("grade_id") == gid)
        assert S.is_solution(cell), gid
        cell["source"] = replacement.strip("\n") + "\n"
    return S.run_exercises(nb)


def check_of(nb: dict, gid: str) -> str:
    cells = nb["cells"]
    i = next(k for k, c in enumerate(cells) if S.grading(c).get("grade_id") == gid)
    return S.grading(cells[i + 1])["grade_id"]


@pytest.fixture(scope="module")
def nb():
    return S.load(S.NOTEBOOKS / f"{NOTEBOOK}.ipynb")


@pytest.fixture(autouse=True)
def _restore_torch_rng():
    state = torch.random.get_rng_state()
    yield
    torch.random.set_rng_state(state)


def test_every_exercise_has_two_or_three_mistakes(nb):
    solutions = [S.grading(c)["grade_id"] for c in nb["cells"] if S.is_solution(c)]
    counts = {gid: sum(row[0] == gid for row in MISTAKES) for gid in solutions}
    assert all(2 <= n <= 3 for n in counts.values()), counts


def test_instructor_passes_and_student_version_fails(nb):
    checks = [S.grading(c)["grade_id"] for c in nb["cells"] if S.is_check(c)]
    t0 = time.process_time()
    assert run_with(nb) == {gid: "passed" for gid in checks}
    assert time.process_time() - t0 < 10, "the exercise section should grade in seconds"
    student = S.run_exercises(S.student_version(nb))
    for gid in checks:
        assert student[gid].startswith("failed") and "not done yet" in student[gid], (gid, student[gid])


@pytest.mark.parametrize("gid, mistake, replacement, concept", MISTAKES, ids=[f"{m[0]}-{m[1]}" for m in MISTAKES])
def test_mistake_fails_with_the_hint(nb, gid, mistake, replacement, concept):
    results = run_with(nb, gid, replacement)
    got = results[check_of(nb, gid)]
    assert got.startswith("failed"), f"{mistake}: {got}"
    assert "Hint:" in got and concept in " ".join(got.split()), f"{mistake}: the message lacks the hint's concept\n{got}"
    others = {g: r for g, r in results.items() if g != check_of(nb, gid)}
    assert all(r == "passed" for r in others.values()), f"{mistake} cost points elsewhere: {others}"
