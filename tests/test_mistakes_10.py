"""Chapter 10's exercises against plausible mistakes (issue 18, item 2).

Each row of ``MISTAKES`` is a student's solution with one conceptual error; the exercise section runs in this
process with it in place of the instructor's solution (the runner of tests/test_mistakes_09.py), and the check
cell must fail with the exercise's hint (a phrase of it) in its message, while the other exercises still pass.
The instructor's solutions pass and the untouched student version fails with "not done yet".
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_mistakes_09_runner", HERE / "test_mistakes_09.py")
M = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(M)
S, run = M.S, M.run

CHAPTER = "10_adversarial"

TOWARD = '''
def fgsm_toward(model, x, target, eps):
    x = x.clone().requires_grad_(True)
    {loss}
    (g,) = torch.autograd.grad(loss, x)
    return {ret}
'''
CE = 'loss = F.cross_entropy(model(x), target, reduction="sum")'

PROJECT = '''
def project_l2(x_adv, x, eps):
    d = x_adv - x
    {body}
'''

FOOL = '''
def make_fooling_image(model, x, target, lr=0.5, max_steps=100):
    x = x.clone()
    for _ in range(max_steps):
        leaf = x.detach().requires_grad_(True)
        logits = model(leaf)
        if {stop}:
            break
        (g,) = torch.autograd.grad({score}, leaf)
        x = (x + lr * {step}).clamp(0, 1)
    return x.detach()
'''
LOGIT, UNIT, STOP = "logits[0, target]", "g / (g.norm() + 1e-12)", "int(logits.argmax(1)) == target"

ATTACK = '''
def attack_vs_noise(model, x, labels, eps, signs):
    attacked = {attacked}
    control = {control}
    with torch.no_grad():
        acc = [(model(z).argmax(1) == labels).double().mean() for z in (attacked, control)]
    return acc[0], acc[1]
'''
FGSM, NOISE = "vz.fgsm(model, x, labels, eps)", "(x + eps * signs).clamp(0, 1)"

# (check cell's grade_id, mistake, the student's solution, a phrase of the hint that the message must contain)
MISTAKES = [
    ("ex10_1_check", "steps up the target's loss (the untargeted direction)",
     TOWARD.format(loss=CE, ret="(x.detach() + eps * g.sign()).clamp(0, 1)"), "lowers the target's cross-entropy"),
    ("ex10_1_check", "climbs the target's logit instead of lowering its cross-entropy",
     TOWARD.format(loss="loss = model(x)[torch.arange(len(x)), target].sum()",
                   ret="(x.detach() + eps * g.sign()).clamp(0, 1)"), "lowers the target's cross-entropy"),
    ("ex10_1_check", "pixels not kept in [0, 1]",
     TOWARD.format(loss=CE, ret="x.detach() - eps * g.sign()"), "stay in [0, 1]"),
    ("ex10_2_check", "one norm for the whole batch",
     PROJECT.format(body="return (x + d * torch.clamp(eps / d.norm().clamp(min=1e-12), max=1.0)).clamp(0, 1)"),
     "its own L2 distance"),
    ("ex10_2_check", "every difference rescaled to length eps, also inside the ball",
     PROJECT.format(body="norm = d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)\n"
                         "    return (x + d * eps / norm.clamp(min=1e-12)).clamp(0, 1)"),
     "inside the ball stays as it is"),
    ("ex10_2_check", "each pixel clipped to [-eps, eps] (the L-inf ball)",
     PROJECT.format(body="return (x + d.clamp(-eps, eps)).clamp(0, 1)"), "keeps its direction"),
    ("ex10_3_check", "the probability's gradient instead of the logit's",
     FOOL.format(stop=STOP, score="logits.softmax(1)[0, target]", step=UNIT), "the target's logit"),
    ("ex10_3_check", "an unnormalised gradient step",
     FOOL.format(stop=STOP, score=LOGIT, step="g"), "scaled to length 1"),
    ("ex10_3_check", "no stopping rule: all max_steps steps",
     FOOL.format(stop="False", score=LOGIT, step=UNIT), "stop as soon as the target is top-1"),
    ("ex10_6_check", "control left out (the clean digits in its place)",
     ATTACK.format(attacked=FGSM, control="x"), "the control spends the same eps"),
    ("ex10_6_check", "the attack steps down the label's loss",
     ATTACK.format(attacked="vz.fgsm(model, x, eps=eps, target=labels)", control=NOISE), "up the label's loss"),
    ("ex10_6_check", "the control's noise not kept in [0, 1]",
     ATTACK.format(attacked=FGSM, control="x + eps * signs"), "both batches stay in [0, 1]"),
]


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
