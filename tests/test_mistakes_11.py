"""Chapter 11's exercises against plausible mistakes (issue 18, item 2).

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

NOTEBOOK = "11_style_transfer"

# (solution cell's grade_id, mistake, replacement solution source, a phrase of the hint the message must hold)
MISTAKES = [
    ("ex11_1_content_loss", "mean instead of sum", """
def content_loss(content_weight, content_current, content_original):
    return content_weight * ((content_current - content_original) ** 2).mean()
""", "SUM (not the mean)"),
    ("ex11_1_content_loss", "weight forgotten", """
def content_loss(content_weight, content_current, content_original):
    return ((content_current - content_original) ** 2).sum()
""", "w_c times"),
    ("ex11_1_content_loss", "distance, not squared distance", """
def content_loss(content_weight, content_current, content_original):
    return content_weight * (content_current - content_original).norm()
""", "squared differences"),
    ("ex11_2_gram_matrix", "divided by H*W only", """
def gram_matrix(features, normalize=True):
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    gram = f @ f.transpose(1, 2)
    return gram / (h * w) if normalize else gram
""", "divided"),
    ("ex11_2_gram_matrix", "one matrix for the whole batch", """
def gram_matrix(features, normalize=True):
    n, c, h, w = features.shape
    f = features.transpose(0, 1).reshape(c, n * h * w)
    gram = (f @ f.T).expand(n, c, c)
    return gram / (c * h * w) if normalize else gram
""", "each pair of channels"),
    ("ex11_2_gram_matrix", "normalize ignored", """
def gram_matrix(features, normalize=True):
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)
""", "values per image"),
    ("ex11_3_style_loss", "mean instead of sum", """
def style_loss(feats, style_layers, style_targets, style_weights):
    loss = 0
    for i, layer in enumerate(style_layers):
        loss = loss + style_weights[i] * ((gram_matrix(feats[layer]) - style_targets[i]) ** 2).mean()
    return loss
""", "SUM of squared differences"),
    ("ex11_3_style_loss", "Gram matrix not normalised", """
def style_loss(feats, style_layers, style_targets, style_weights):
    loss = 0
    for i, layer in enumerate(style_layers):
        loss = loss + style_weights[i] * ((gram_matrix(feats[layer], normalize=False) - style_targets[i]) ** 2).sum()
    return loss
""", "normalised Gram matrix"),
    ("ex11_3_style_loss", "weights forgotten", """
def style_loss(feats, style_layers, style_targets, style_weights):
    loss = 0
    for i, layer in enumerate(style_layers):
        loss = loss + ((gram_matrix(feats[layer]) - style_targets[i]) ** 2).sum()
    return loss
""", "its weight times"),
    ("ex11_4_tv_loss", "absolute instead of squared differences", """
def tv_loss(img, tv_weight):
    down = (img[:, :, 1:, :] - img[:, :, :-1, :]).abs().sum()
    right = (img[:, :, :, 1:] - img[:, :, :, :-1]).abs().sum()
    return tv_weight * (down + right)
""", "squared differences"),
    ("ex11_4_tv_loss", "vertical neighbours only", """
def tv_loss(img, tv_weight):
    return tv_weight * ((img[:, :, 1:, :] - img[:, :, :-1, :]) ** 2).sum()
""", "horizontal"),
    ("ex11_4_tv_loss", "wrap-around neighbours (torch.roll)", """
def tv_loss(img, tv_weight):
    down = ((torch.roll(img, 1, dims=2) - img) ** 2).sum()
    right = ((torch.roll(img, 1, dims=3) - img) ** 2).sum()
    return tv_weight * (down + right)
""", "vertical neighbours"),
    ("ex11_7_masked_gram", "mask on both factors (weight squared)", """
def masked_gram(features, mask):
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w) * mask.reshape(n, 1, h * w)
    return f @ f.transpose(1, 2) / (c * mask.reshape(n, -1).sum(1).view(n, 1, 1))
""", "not its square"),
    ("ex11_7_masked_gram", "normalised by C*H*W", """
def masked_gram(features, mask):
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return (f * mask.reshape(n, 1, h * w)) @ f.transpose(1, 2) / (c * h * w)
""", "total weight of the mask"),
    ("ex11_7_masked_gram", "C forgotten in the normalisation", """
def masked_gram(features, mask):
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    m = mask.reshape(n, 1, h * w)
    return (f * m) @ f.transpose(1, 2) / m.sum(dim=2, keepdim=True)
""", "C times the total weight"),
    ("ex11_8_texture_steps", "gradient ascent", """
def texture_steps(net, target, x0, steps, lr):
    x = x0.detach().clone()
    for _ in range(steps):
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(((gram_matrix(net(x)) - target) ** 2).sum(), x)
        x = (x + lr * grad).detach()
    return x
""", "against the gradient"),
    ("ex11_8_texture_steps", "gradients accumulated over the steps (.grad never zeroed)", """
def texture_steps(net, target, x0, steps, lr):
    x = x0.detach().clone().requires_grad_(True)
    for _ in range(steps):
        ((gram_matrix(net(x)) - target) ** 2).sum().backward()
        with torch.no_grad():
            x -= lr * x.grad
    return x.detach()
""", "fresh gradient each step"),
    ("ex11_8_texture_steps", "one step too few", """
def texture_steps(net, target, x0, steps, lr):
    x = x0.detach().clone()
    for _ in range(steps - 1):
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(((gram_matrix(net(x)) - target) ** 2).sum(), x)
        x = (x - lr * grad).detach()
    return x
""", "exactly `steps` steps"),
    ("ex11_9_gram_experiment", "single precision (float32 rounding)", """
def gram_layout_experiment(model, layer, x, perm, perms):
    A = vz.capture(model, x, layer)[layer]
    c = A.shape[1]
    F = A.reshape(c, -1)
    G = gram_matrix(A)
    change = lambda F2: (gram_matrix(F2.reshape(A.shape)) - G).norm() / G.norm()
    return torch.stack([change(F[:, perm]), change(torch.stack([F[k, perms[k]] for k in range(c)]))])
""", "double precision"),
    ("ex11_9_gram_experiment", "control left out (all channels share one permutation)", """
def gram_layout_experiment(model, layer, x, perm, perms):
    A = vz.capture(model, x, layer)[layer].double()
    c = A.shape[1]
    F = A.reshape(c, -1)
    G = gram_matrix(A)
    change = lambda F2: (gram_matrix(F2.reshape(A.shape)) - G).norm() / G.norm()
    return torch.stack([change(F[:, perm]), change(F[:, perms[0]])])
""", "its own permutation"),
    ("ex11_9_gram_experiment", "absolute change, not relative", """
def gram_layout_experiment(model, layer, x, perm, perms):
    A = vz.capture(model, x, layer)[layer].double()
    c = A.shape[1]
    F = A.reshape(c, -1)
    G = gram_matrix(A)
    change = lambda F2: (gram_matrix(F2.reshape(A.shape)) - G).norm()
    return torch.stack([change(F[:, perm]), change(torch.stack([F[k, perms[k]] for k in range(c)]))])
""", "||G' - G|| / ||G||"),
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
