"""Chapter 04's exercises against plausible mistakes (issue 18, item 2).

Each row of ``MISTAKES`` replaces one solution cell by a realistic wrong answer -- the kind of slip a student who half
understood the idea makes -- runs the exercise section as tests/test_student.py does (set-up and solution cells, then
the one check cell), and asserts the check fails with its hint's key concept in the message. The instructor's
solutions pass and the untouched student version fails with "not done yet". ``run_check`` is shared with
tests/test_mistakes_05.py and tests/test_mistakes_06.py.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_student_helpers_m04", HERE / "test_student.py")
S = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(S)

NAME = "04_filter_ascent"


def run_check(nb: dict, check_id: str, replace: dict[str, str] | None = None) -> str:
    """Run the exercise section up to the check cell ``check_id`` (set-up and solution cells, no other check cell),
    with solution cells replaced by ``replace`` (solution grade_id -> source). Returns "passed" or "failed: <message>"
    with the message's whitespace collapsed (the hint is wrapped on short lines)."""
    replace = replace or {}
    ns: dict = {"__name__": "__exercises__"}
    for cell in S.exercise_cells(nb):
        gid = S.grading(cell).get("grade_id", "cell")
        if S.is_check(cell):
            if gid != check_id:
                continue
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(S.source(cell), f"<{gid}>", "exec"), ns)
            except Exception as err:                        # any error in the check cell: 0 points
                return "failed: " + " ".join(f"{type(err).__name__}: {err}".split())
            return "passed" if "passed" in out.getvalue() else "failed: " + out.getvalue()
        exec(compile(replace.get(gid, S.source(cell)), f"<{gid}>", "exec"), ns)
    raise AssertionError(f"no check cell {check_id}")


def check_after(nb: dict, solution_id: str) -> str:
    cells = nb["cells"]
    i = next(i for i, c in enumerate(cells) if S.grading(c).get("grade_id") == solution_id)
    return next(S.grading(c)["grade_id"] for c in cells[i + 1:] if S.is_check(c))


@pytest.fixture(autouse=True)
def _restore_torch_rng():
    state = torch.random.get_rng_state()
    yield
    torch.random.set_rng_state(state)


# (solution grade_id, mistake, the student's cell, a phrase the failure message must hold: the hint's key concept)
MISTAKES = [
    ("ex04_1_ascent_step", "one RMS for the whole batch", '''
def ascent_step(x, grad, lr):
    return x + lr * grad / (grad.pow(2).mean().sqrt() + 1e-8)
''', "one RMS per image"),
    ("ex04_1_ascent_step", "L2 norm (sum) instead of the root mean square", '''
def ascent_step(x, grad, lr):
    return x + lr * grad / (grad.pow(2).flatten(1).sum(1).sqrt().view(-1, 1, 1, 1) + 1e-8)
''', "one RMS per image"),
    ("ex04_1_ascent_step", "a descent step", '''
def ascent_step(x, grad, lr):
    return x - lr * grad / (grad.pow(2).flatten(1).mean(1).sqrt().view(-1, 1, 1, 1) + 1e-8)
''', "one RMS per image"),
    ("ex04_2_jitter_each", "rows and columns swapped", '''
def jitter_each(x, d, offsets):
    H, W = x.shape[-2:]
    return torch.stack([x[n, :, dx:dx + H - d + 1, dy:dy + W - d + 1] for n, (dx, dy) in enumerate(offsets.tolist())])
''', "dx moves along the columns"),
    ("ex04_2_jitter_each", "the first image's offset for every image", '''
def jitter_each(x, d, offsets):
    H, W = x.shape[-2:]
    dx, dy = offsets[0].tolist()
    return x[:, :, dy:dy + H - d + 1, dx:dx + W - d + 1]
''', "each image has its own window"),
    ("ex04_2_jitter_each", "a window d pixels smaller instead of d - 1", '''
def jitter_each(x, d, offsets):
    H, W = x.shape[-2:]
    return torch.stack([x[n, :, dy:dy + H - d, dx:dx + W - d] for n, (dx, dy) in enumerate(offsets.tolist())])
''', "d - 1 pixels smaller"),
    ("ex04_3_tv2_grad", "each difference moves only one of its two pixels", '''
def tv2_grad(x):
    dy = x[..., 1:, :] - x[..., :-1, :]
    dx = x[..., :, 1:] - x[..., :, :-1]
    g = torch.zeros_like(x)
    g[..., 1:, :] += 2 * dy / dy[0].numel()
    g[..., :, 1:] += 2 * dx / dx[0].numel()
    return g
''', "two pixels, with opposite signs"),
    ("ex04_3_tv2_grad", "the mean over the whole batch", '''
def tv2_grad(x):
    dy = x[..., 1:, :] - x[..., :-1, :]
    dx = x[..., :, 1:] - x[..., :, :-1]
    g = torch.zeros_like(x)
    g[..., 1:, :] += 2 * dy / dy.numel(); g[..., :-1, :] -= 2 * dy / dy.numel()
    g[..., :, 1:] += 2 * dx / dx.numel(); g[..., :, :-1] -= 2 * dx / dx.numel()
    return g
''', "not in the batch"),
    ("ex04_3_tv2_grad", "the slope of the square forgotten", '''
def tv2_grad(x):
    dy = x[..., 1:, :] - x[..., :-1, :]
    dx = x[..., :, 1:] - x[..., :, :-1]
    g = torch.zeros_like(x)
    g[..., 1:, :] += dy / dy[0].numel(); g[..., :-1, :] -= dy / dy[0].numel()
    g[..., :, 1:] += dx / dx[0].numel(); g[..., :, :-1] -= dx / dx[0].numel()
    return g
''', "twice its argument"),
    ("ex04_3_tv2_grad", "autograd instead of the derivation", '''
def tv2_grad(x):
    x = x.clone().requires_grad_(True)
    dy = (x[..., 1:, :] - x[..., :-1, :]).pow(2).flatten(1).mean(1)
    dx = (x[..., :, 1:] - x[..., :, :-1]).pow(2).flatten(1).mean(1)
    (g,) = torch.autograd.grad((dy + dx).sum(), x)
    return g
''', "write it yourself"),
    ("ex04_6_experiment", "the hook not removed", '''
def ascent_vs_digits(model, layer, c, x0, steps, lr, digits):
    store = {}
    vz.find_layer(model, layer).register_forward_hook(lambda m, inp, out: store.update(A=out))
    x = x0.clone()
    for _ in range(steps):
        x.requires_grad_(True)
        model(x)
        (g,) = torch.autograd.grad(store["A"][:, c].mean(), x)
        x = (x + lr * g / (g.pow(2).mean().sqrt() + 1e-8)).detach()
    with torch.no_grad():
        model(x)
        measure = store["A"][0, c].mean()
        model(digits)
        return measure, store["A"][:, c].mean(dim=(1, 2)).max()
''', "hook is still on the model"),
    ("ex04_6_experiment", "the average digit as the control, not the best", '''
def ascent_vs_digits(model, layer, c, x0, steps, lr, digits):
    store = {}
    handle = vz.find_layer(model, layer).register_forward_hook(lambda m, inp, out: store.update(A=out))
    x = x0.clone()
    try:
        for _ in range(steps):
            x.requires_grad_(True)
            model(x)
            (g,) = torch.autograd.grad(store["A"][:, c].mean(), x)
            x = (x + lr * g / (g.pow(2).mean().sqrt() + 1e-8)).detach()
        with torch.no_grad():
            model(x)
            measure = store["A"][0, c].mean()
            model(digits)
            return measure, store["A"][:, c].mean()
    finally:
        handle.remove()
''', "best single real digit"),
    ("ex04_6_experiment", "the raw gradient step (no unit-RMS scaling)", '''
def ascent_vs_digits(model, layer, c, x0, steps, lr, digits):
    store = {}
    handle = vz.find_layer(model, layer).register_forward_hook(lambda m, inp, out: store.update(A=out))
    x = x0.clone()
    try:
        for _ in range(steps):
            x.requires_grad_(True)
            model(x)
            (g,) = torch.autograd.grad(store["A"][:, c].mean(), x)
            x = (x + lr * g).detach()
        with torch.no_grad():
            model(x)
            measure = store["A"][0, c].mean()
            model(digits)
            return measure, store["A"][:, c].mean(dim=(1, 2)).max()
    finally:
        handle.remove()
''', "unit-RMS step"),
]


@pytest.mark.parametrize("solution_id, mistake, student, phrase", MISTAKES, ids=[f"{m[0]}: {m[1]}" for m in MISTAKES])
def test_mistake_fails_with_the_hint(solution_id, mistake, student, phrase):
    nb = S.load(S.NOTEBOOKS / f"{NAME}.ipynb")
    result = run_check(nb, check_after(nb, solution_id), {solution_id: student})
    assert result.startswith("failed"), f"{mistake}: {result}"
    assert phrase in result, f"{mistake}: the message does not name {phrase!r}: {result}"


def test_every_exercise_has_two_mistakes_and_the_solution_passes():
    nb = S.load(S.NOTEBOOKS / f"{NAME}.ipynb")
    solutions = [S.grading(c)["grade_id"] for c in nb["cells"] if S.is_solution(c)]
    for sid in solutions:
        assert sum(row[0] == sid for row in MISTAKES) >= 2, f"{sid}: fewer than two mistakes tested"
    stub = S.student_version(nb)
    for sid in solutions:
        gid = check_after(nb, sid)
        assert run_check(nb, gid) == "passed", gid
        assert "not done yet" in run_check(stub, gid), gid
