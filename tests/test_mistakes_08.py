"""Chapter 08's exercises: plausible mistakes fail their check, with the exercise's hint (issue 18, item 2).

Each row replaces one solution by a plausible wrong one (the mistake a student makes when the idea is missing)
and runs the chapter's exercise section in this process (tests/test_gaming.py's runner): the check cell must
raise, and its message must carry the hint's key concept. The instructor's solutions pass, the student
version (solutions not written) fails with "not done yet".
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_gaming_helpers_08", HERE / "test_gaming.py")
G = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(G)
S = G.S

CHAPTER = "08_integrated_gradients"

# (check cell's grade_id, mistake, replacement solution, a phrase of the hint the message must carry)
MISTAKES = [
    ('ex08_1_check', 'weights not halved (they sum to 2)', '''
def gauss_legendre(steps):
    t, v = np.polynomial.legendre.leggauss(steps)
    return torch.tensor((1 + t) / 2), torch.tensor(v)
''', 'weights scale by its slope'),
    ('ex08_1_check', 'points left on [-1, 1]', '''
def gauss_legendre(steps):
    t, v = np.polynomial.legendre.leggauss(steps)
    return torch.tensor(t), torch.tensor(v / 2)
''', 'the points follow the affine change of variable'),
    ('ex08_1_check', 'equal weights at the Gauss points', '''
def gauss_legendre(steps):
    t, v = np.polynomial.legendre.leggauss(steps)
    return torch.tensor((1 + t) / 2), torch.full((steps,), 1 / steps, dtype=torch.float64)
''', 'weights scale by its slope'),
    ('ex08_2_check', "every point weighs 1/n (the rule's weights ignored)", '''
def integrated_gradients(model, x, target, baseline, rule, steps):
    alphas, weights = A.quadrature(rule, steps)
    total = torch.zeros_like(x)
    for alpha in alphas:
        point = (baseline + alpha * (x - baseline)).requires_grad_(True)
        (grad,) = torch.autograd.grad(model(point)[:, target].sum(), point)
        total += grad / steps
    return (x - baseline) * total
''', "counts with its rule's weight"),
    ('ex08_2_check', 'path from the image to the baseline', '''
def integrated_gradients(model, x, target, baseline, rule, steps):
    alphas, weights = A.quadrature(rule, steps)
    total = torch.zeros_like(x)
    for alpha, weight in zip(alphas, weights):
        point = (x + alpha * (baseline - x)).requires_grad_(True)
        (grad,) = torch.autograd.grad(model(point)[:, target].sum(), point)
        total += weight * grad
    return (x - baseline) * total
''', 'the path starts at the baseline'),
    ('ex08_2_check', "the (x - x') factor forgotten", '''
def integrated_gradients(model, x, target, baseline, rule, steps):
    alphas, weights = A.quadrature(rule, steps)
    total = torch.zeros_like(x)
    for alpha, weight in zip(alphas, weights):
        point = (baseline + alpha * (x - baseline)).requires_grad_(True)
        (grad,) = torch.autograd.grad(model(point)[:, target].sum(), point)
        total += weight * grad
    return total
''', 'multiplied by (x - baseline)'),
    ('ex08_3_check', "every image's logits of every target (an [N, N] table)", '''
def completeness_gap(model, x, targets, baseline, ig):
    with torch.no_grad():
        difference = model(x)[:, targets] - model(baseline)[:, targets]
    return ig.sum(dim=(1, 2, 3)) - difference
''', 'its own class'),
    ('ex08_3_check', 'probability instead of logit', '''
def completeness_gap(model, x, targets, baseline, ig):
    with torch.no_grad():
        own = lambda inp: model(inp).softmax(dim=1).gather(1, targets[:, None])[:, 0]
        difference = own(x) - own(baseline)
    return ig.sum(dim=(1, 2, 3)) - difference
''', 'logits'),
    ('ex08_3_check', 'score difference the wrong way round', '''
def completeness_gap(model, x, targets, baseline, ig):
    with torch.no_grad():
        own = lambda inp: model(inp).gather(1, targets[:, None])[:, 0]
        difference = own(baseline) - own(x)
    return ig.sum(dim=(1, 2, 3)) - difference
''', 'at the image and at the baseline'),
    ('ex08_4_check', "error relative to S(x), not to S(x) - S(x')", '''
def completeness_errors(model, x, y, steps):
    baseline = torch.zeros_like(x)
    with torch.no_grad():
        own = lambda inp: model(inp).gather(1, y[:, None])[:, 0]
        difference = own(x) - own(baseline)
    ig = vz.integrated_gradients(model, x, y, baseline, steps=steps)
    control = vz.saliency(model, x, y) * (x - baseline)
    scale = model(x).gather(1, y[:, None])[:, 0].detach().abs()
    error = lambda a: ((a.sum(dim=(1, 2, 3)) - difference).abs() / scale).mean()
    return error(ig), error(control)
''', 'relative to that difference'),
    ('ex08_4_check', 'absolute error, not relative', '''
def completeness_errors(model, x, y, steps):
    baseline = torch.zeros_like(x)
    with torch.no_grad():
        own = lambda inp: model(inp).gather(1, y[:, None])[:, 0]
        difference = own(x) - own(baseline)
    ig = vz.integrated_gradients(model, x, y, baseline, steps=steps)
    control = vz.saliency(model, x, y) * (x - baseline)
    error = lambda a: (a.sum(dim=(1, 2, 3)) - difference).abs().mean()
    return error(ig), error(control)
''', 'relative to that difference'),
    ('ex08_4_check', 'control left out', '''
def completeness_errors(model, x, y, steps):
    baseline = torch.zeros_like(x)
    with torch.no_grad():
        own = lambda inp: model(inp).gather(1, y[:, None])[:, 0]
        difference = own(x) - own(baseline)
    ig = vz.integrated_gradients(model, x, y, baseline, steps=steps)
    control = vz.saliency(model, x, y) * (x - baseline)
    return ((ig.sum(dim=(1, 2, 3)) - difference).abs() / difference.abs()).mean()
''', 'once for IG and once for the control'),
]


def run_with(gid: str, mistake_source: str | None = None, stub: bool = False) -> dict[str, str]:
    nb = S.load(S.NOTEBOOKS / f"{CHAPTER}.ipynb")
    if stub:
        nb = S.student_version(nb)

    def replace(check_gid, ns, defined):
        if check_gid == gid and mistake_source is not None:
            exec(compile(mistake_source, f"<mistake {gid}>", "exec"), ns)
    with G._restored_library():
        return G.run(nb, solution=replace)


@pytest.fixture(autouse=True)
def _restore_torch_rng():
    state = torch.random.get_rng_state()
    yield
    torch.random.set_rng_state(state)


def test_instructor_passes_and_student_stub_fails():
    nb = S.load(S.NOTEBOOKS / f"{CHAPTER}.ipynb")
    checks = [S.grading(c)["grade_id"] for c in nb["cells"] if S.is_check(c)]
    assert run_with("") == {gid: "passed" for gid in checks}
    stub = run_with("", stub=True)
    assert all(stub[gid].startswith("failed") and "not done yet" in stub[gid] for gid in checks), stub


def test_every_exercise_has_two_or_more_mistakes():
    nb = S.load(S.NOTEBOOKS / f"{CHAPTER}.ipynb")
    checks = {S.grading(c)["grade_id"] for c in nb["cells"] if S.is_check(c)}
    counts = {gid: sum(row[0] == gid for row in MISTAKES) for gid in checks}
    assert all(n >= 2 for n in counts.values()), counts


@pytest.mark.parametrize("gid, mistake, source, concept", MISTAKES, ids=[f"{m[0]}-{m[1]}" for m in MISTAKES])
def test_plausible_mistake_fails_with_the_hint(gid, mistake, source, concept):
    results = run_with(gid, source)
    got = results[gid]
    assert got.startswith("failed"), f"{mistake}: the check passed"
    assert "Hint:" in got and "".join(concept.split()) in "".join(got.split()), got     # lines wrap at spaces and hyphens
