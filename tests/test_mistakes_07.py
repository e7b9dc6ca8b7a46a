"""Chapter 07's exercises: plausible mistakes fail their check, with the exercise's hint (issue 18, item 2).

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
_spec = importlib.util.spec_from_file_location("_gaming_helpers_07", HERE / "test_gaming.py")
G = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(G)
S = G.S

CHAPTER = "07_smoothgrad"

# (check cell's grade_id, mistake, replacement solution, a phrase of the hint the message must carry)
MISTAKES = [
    ("ex07_1_check", "sigma from the whole batch's range", '''
def noisy_copies(x, samples, noise, seed):
    g = torch.Generator().manual_seed(seed)
    sigma = noise * (x.max() - x.min())
    return torch.stack([x + sigma * torch.randn(x.shape, generator=g) for _ in range(samples)])
''', "that image's own range"),
    ("ex07_1_check", "noise drawn image by image", '''
def noisy_copies(x, samples, noise, seed):
    g = torch.Generator().manual_seed(seed)
    out = torch.empty(samples, *x.shape)
    for n in range(x.shape[0]):
        sigma = noise * (x[n].max() - x[n].min())
        for s in range(samples):
            out[s, n] = x[n] + sigma * torch.randn(x[n].shape, generator=g)
    return out
''', "whole batch at once"),
    ("ex07_1_check", "standard deviation instead of the range", '''
def noisy_copies(x, samples, noise, seed):
    g = torch.Generator().manual_seed(seed)
    sigma = noise * x.std(dim=(1, 2, 3), keepdim=True)
    return torch.stack([x + sigma * torch.randn(x.shape, generator=g) for _ in range(samples)])
''', "max minus min"),
    ("ex07_2_check", "gradient of the mean score", '''
def smoothgrad_saliency(model, x, target, samples, noise, seed):
    copies = noisy_copies(x, samples, noise, seed).flatten(0, 1).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(copies)[:, target].mean(), copies)
    return grad.reshape(samples, *x.shape).mean(dim=0)
''', "summed logits"),
    ("ex07_2_check", "probability instead of logit", '''
def smoothgrad_saliency(model, x, target, samples, noise, seed):
    copies = noisy_copies(x, samples, noise, seed).flatten(0, 1).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(copies).softmax(dim=1)[:, target].sum(), copies)
    return grad.reshape(samples, *x.shape).mean(dim=0)
''', "logits"),
    ("ex07_2_check", "one average over the copies of every image", '''
def smoothgrad_saliency(model, x, target, samples, noise, seed):
    copies = noisy_copies(x, samples, noise, seed).flatten(0, 1).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(copies)[:, target].sum(), copies)
    return grad.mean(dim=0, keepdim=True)
''', "each image separately"),
    ("ex07_3_check", "clean image times the smoothed gradient", '''
def smoothgrad_grad_x_input(model, x, target, samples, noise, seed):
    copies = noisy_copies(x, samples, noise, seed).flatten(0, 1).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(copies)[:, target].sum(), copies)
    return x * grad.reshape(samples, *x.shape).mean(dim=0)
''', "not the clean image"),
    ("ex07_3_check", "absolute value before averaging", '''
def smoothgrad_grad_x_input(model, x, target, samples, noise, seed):
    copies = noisy_copies(x, samples, noise, seed).flatten(0, 1).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(copies)[:, target].sum(), copies)
    return (copies.detach() * grad).abs().reshape(samples, *x.shape).mean(dim=0)
''', "signed products"),
    ("ex07_4_check", "the same seed for both runs", '''
def run_agreement(model, x, y, samples):
    def correlation(a, b):
        a, b = a.flatten(1), b.flatten(1)
        a, b = a - a.mean(dim=1, keepdim=True), b - b.mean(dim=1, keepdim=True)
        return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1))
    def agreement(n):
        a, b = (vz.smoothgrad(vz.saliency, model, x, y, samples=n, noise=0.2,
                              generator=torch.Generator().manual_seed(1)).abs().amax(dim=1) for seed in (1, 2))
        return correlation(a, b).mean()
    return agreement(samples), agreement(1)
''', "differ only in their noise seed"),
    ("ex07_4_check", "signed maps (no absolute value)", '''
def run_agreement(model, x, y, samples):
    def correlation(a, b):
        a, b = a.flatten(1), b.flatten(1)
        a, b = a - a.mean(dim=1, keepdim=True), b - b.mean(dim=1, keepdim=True)
        return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1))
    def agreement(n):
        a, b = (vz.smoothgrad(vz.saliency, model, x, y, samples=n, noise=0.2,
                              generator=torch.Generator().manual_seed(seed)).amax(dim=1) for seed in (1, 2))
        return correlation(a, b).mean()
    return agreement(samples), agreement(1)
''', "largest absolute value"),
    ("ex07_4_check", "control left out", '''
def run_agreement(model, x, y, samples):
    def correlation(a, b):
        a, b = a.flatten(1), b.flatten(1)
        a, b = a - a.mean(dim=1, keepdim=True), b - b.mean(dim=1, keepdim=True)
        return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1))
    a, b = (vz.smoothgrad(vz.saliency, model, x, y, samples=samples, noise=0.2,
                          generator=torch.Generator().manual_seed(seed)).abs().amax(dim=1) for seed in (1, 2))
    return correlation(a, b).mean()
''', "the control is the same measurement"),
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
