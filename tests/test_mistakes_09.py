"""Chapter 09's exercises against plausible mistakes (issue 18, item 2).

Each row of ``MISTAKES`` is a student's solution with one conceptual error, written the way a student
would write it; the exercise section runs in this process (as in tests/test_student.py) with that solution
in place of the instructor's, and the check cell must fail with the exercise's hint (a phrase of it) in
its message. The instructor's solutions pass and the untouched student version fails with "not done yet".
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_student_helpers_09", HERE / "test_student.py")
S = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(S)

CHAPTER = "09_tsne"

HOOK = '''
def features_at(model, x, layer):
    store = []
    module = dict(model.named_modules())[layer]
    handle = module.register_forward_hook({hook})
    {body}
    return {ret}
'''
WITH_FINALLY = '''try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()'''

KNN = '''
def knn_acc(X, labels, k):
    d2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    {own}
    nearest = d2.argsort(dim=1, stable=True)[:, :k]
    votes = labels[nearest]
    pred = {vote}
    return {ret}
'''
BINCOUNT = "torch.stack([torch.bincount(v, minlength=int(labels.max()) + 1).argmax() for v in votes])"

AFFINITY = '''
def affinity(d2, perplexity):
    target, beta, lo, hi = {target}, 1.0, 0.0, float("inf")
    for _ in range(200):
        p = torch.exp(-beta * (d2 - d2.min()))
        {normalise}
        H = -(p[p > 0] * {log}(p[p > 0])).sum()
        if abs(H - target) < 1e-5:
            break
        if {too_large}:
            lo, beta = beta, (beta * 2 if hi == float("inf") else (beta + hi) / 2)
        else:
            hi, beta = beta, (beta + lo) / 2
    return p
'''

CLUSTER = '''
def cluster_vs_control(model, control, x, labels, layer):
    s = torch.tensor([E.silhouette({points}, labels.numpy()) for net in ({nets})])
    return s[0], s[1]
'''
FEATS = "features_at(net, x, layer).double().numpy()"

# (check cell's grade_id, mistake, the student's solution, a phrase of the hint that the message must contain)
MISTAKES = [
    ("ex09_1_check", "no row per image (a conv output left 4-D)",
     HOOK.format(hook="lambda m, i, o: store.append(o.detach())", body=WITH_FINALLY, ret="store[0]"),
     "one row of numbers per image"),
    ("ex09_1_check", "the layer's input kept instead of its output",
     HOOK.format(hook="lambda m, i, o: store.append(i[0].detach())", body=WITH_FINALLY, ret="store[0].flatten(1)"),
     "not its input"),
    ("ex09_1_check", "hook not removed",
     HOOK.format(hook="lambda m, i, o: store.append(o.detach())", body="with torch.no_grad():\n        model(x)",
                 ret="store[-1].flatten(1)"),
     "remove the hook afterwards"),
    ("ex09_2_check", "a point counted as its own neighbour",
     KNN.format(own="pass", vote=BINCOUNT, ret="(pred == labels).double().mean()"), "never its own neighbour"),
    ("ex09_2_check", "a tie goes to the nearest neighbour's label, not the smallest",
     KNN.format(own='d2.fill_diagonal_(float("inf"))',
                vote="torch.stack([max(v.tolist(), key=v.tolist().count) * torch.ones((), dtype=torch.long) "
                     "for v in votes])",
                ret="(pred == labels).double().mean()"), "smallest label"),
    ("ex09_2_check", "a count instead of a fraction",
     KNN.format(own='d2.fill_diagonal_(float("inf"))', vote=BINCOUNT, ret="(pred == labels).sum().double()"),
     "fraction of the rows"),
    ("ex09_3_check", "entropy in nats, compared with a target in bits",
     AFFINITY.format(target="np.log2(perplexity)", normalise="p = p / p.sum()", log="torch.log", too_large="H > target"),
     "entropy in bits"),
    ("ex09_3_check", "p not normalised",
     AFFINITY.format(target="np.log2(perplexity)", normalise="pass", log="torch.log2", too_large="H > target"),
     "the p sum to 1"),
    ("ex09_3_check", "binary search the wrong way (beta lowered when H is too large)",
     AFFINITY.format(target="np.log2(perplexity)", normalise="p = p / p.sum()", log="torch.log2", too_large="H < target"),
     "entropy falls as beta grows"),
    ("ex09_6_check", "control left out (the trained network twice)",
     CLUSTER.format(points=FEATS, nets="model, model"), "random-weights control"),
    ("ex09_6_check", "pixels as the control instead of the random-weights network",
     CLUSTER.format(points="(features_at(net, x, layer) if net is model else x.flatten(1)).double().numpy()",
                    nets="model, control"), "random-weights control"),
    ("ex09_6_check", "the chapter's layer instead of the given one",
     CLUSTER.format(points='features_at(net, x, "relu4").double().numpy()', nets="model, control"), "at the given layer"),
]


def run(nb: dict, replace: dict[str, str] | None = None) -> dict[str, str]:
    """The exercise section; ``replace`` maps a check's grade_id to the source that replaces the solution
    cell before it. Per check: "passed" or "failed: <message>" (any exception in a check cell scores 0)."""
    replace = replace or {}
    cells = S.exercise_cells(nb)
    ns: dict = {"__name__": "__exercises__"}
    results = {}
    for i, cell in enumerate(cells):
        gid = S.grading(cell).get("grade_id", "cell")
        text = S.source(cell)
        if S.is_solution(cell):
            nxt = next(S.grading(c)["grade_id"] for c in cells[i + 1:] if S.is_check(c))
            text = replace.get(nxt, text)
        if S.is_check(cell):
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(text, f"<{gid}>", "exec"), ns)
                results[gid] = "passed" if "passed" in out.getvalue() else out.getvalue()
            except Exception as err:
                results[gid] = f"failed: {type(err).__name__}: {err}"
            continue
        exec(compile(text, f"<{gid}>", "exec"), ns)
    return results


@pytest.fixture(autouse=True)
def _restore_torch_rng():
    state = torch.random.get_rng_state()
    yield
    torch.random.set_rng_state(state)


@pytest.fixture(scope="module")
def notebook():
    return S.load(S.NOTEBOOKS / f"{CHAPTER}.ipynb")


def test_instructor_passes_and_student_version_fails(notebook):
    checks = [S.grading(c)["grade_id"] for c in notebook["cells"] if S.is_check(c)]
    assert run(notebook) == {g: "passed" for g in checks}
    student = run(S.student_version(notebook))
    assert all(student[g].startswith("failed") and "not done yet" in student[g] for g in checks), student


def test_every_exercise_has_two_or_three_mistakes(notebook):
    checks = [S.grading(c)["grade_id"] for c in notebook["cells"] if S.is_check(c)]
    counts = {g: sum(row[0] == g for row in MISTAKES) for g in checks}
    assert all(2 <= n <= 3 for n in counts.values()), counts


@pytest.mark.parametrize("gid, mistake, solution, phrase", MISTAKES, ids=[f"{r[0]}-{r[1]}" for r in MISTAKES])
def test_mistake_fails_with_the_hint(notebook, gid, mistake, solution, phrase):
    results = run(notebook, {gid: solution})
    assert results[gid].startswith("failed"), f"{mistake}: {results[gid]}"
    assert phrase in " ".join(results[gid].split()), f"{mistake}: the message lacks {phrase!r}:\n{results[gid]}"
    others = {g: r for g, r in results.items() if g != gid}
    assert all(r == "passed" for r in others.values()), others      # one mistake costs one exercise only


def test_rubrics_are_instructor_only(notebook):
    """Every written question's model answer carries a marking rubric, and the student version has none."""
    written = [c for c in notebook["cells"] if c["cell_type"] == "markdown" and S.grading(c).get("solution")]
    assert written and all("**Rubric (" in S.source(c) for c in written)
    assert not any("Rubric" in S.source(c) for c in S.student_version(notebook)["cells"])
