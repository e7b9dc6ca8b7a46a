"""Chapter 01's exercises against plausible mistakes (issue 18, item 2): each named mistake must fail its check,
and the message must carry the hint's key concept; the instructor's solutions pass and the student stub fails.

The table's rows are (check grade_id, mistake, replacement solution source, phrase the message must contain). The
exercise section runs in this process as in tests/test_gaming.py; the replacement is executed right after the
solution cell, so it replaces the instructor's function for that exercise only. Chapters 02 and 03 reuse
``run_mistake`` and ``assert_solutions`` from here.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent


def _module(name: str, file: str):
    spec = importlib.util.spec_from_file_location(name, HERE / file)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


G = _module("_gaming_helpers", "test_gaming.py")
S = G.S


def run_mistake(chapter: str, check_gid: str, replacement: str) -> dict[str, str]:
    """Run ``chapter``'s exercise section with ``replacement`` executed after the solution cell of ``check_gid``."""
    nb = S.load(S.NOTEBOOKS / f"{chapter}.ipynb")

    def replace(gid, ns, defined):
        if gid == check_gid:
            exec(compile(replacement, f"<mistake {check_gid}>", "exec"), ns)
    with G._restored_library():
        return G.run(nb, solution=replace)


def assert_mistake_fails(chapter: str, check_gid: str, replacement: str, phrase: str) -> None:
    results = run_mistake(chapter, check_gid, replacement)
    got = results[check_gid]
    assert got.startswith("failed"), f"{check_gid}: the mistake passed"
    assert phrase in " ".join(got.split()), f"{check_gid}: the message lacks {phrase!r}:\n{got}"


def assert_solutions(chapter: str) -> None:
    """The instructor's solutions pass every check; the student version fails every check with "not done yet"."""
    nb = S.load(S.NOTEBOOKS / f"{chapter}.ipynb")
    checks = [S.grading(c)["grade_id"] for c in nb["cells"] if S.is_check(c)]
    with G._restored_library():
        assert G.run(nb) == {g: "passed" for g in checks}
    with G._restored_library():
        student = G.run(S.student_version(nb))
    for gid in checks:
        assert student[gid].startswith("failed") and "not done yet" in student[gid], (gid, student[gid])


@pytest.fixture(autouse=True)
def _restore_torch_rng():
    state = torch.random.get_rng_state()
    yield
    torch.random.set_rng_state(state)


CHAPTER = "01_feature_maps"

MISTAKES = [
    ("ex01_1_check", "input read in the forward hook (overwritten by an in-place ReLU)", '''
def layer_io(model, x, layer_name):
    stored = {}
    def keep(module, inputs, output):
        stored["in"], stored["out"] = inputs[0].detach().clone(), output.detach().clone()
    handle = vz.find_layer(model, layer_name).register_forward_hook(keep)
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return stored["in"], stored["out"]
''', "in-place layer"),
    ("ex01_1_check", "hooks not removed", '''
def layer_io(model, x, layer_name):
    stored = {}
    layer = vz.find_layer(model, layer_name)
    layer.register_forward_pre_hook(lambda m, inputs: stored.__setitem__("in", inputs[0].detach().clone()))
    layer.register_forward_hook(lambda m, inputs, out: stored.__setitem__("out", out.detach().clone()))
    with torch.no_grad():
        model(x)
    return stored["in"], stored["out"]
''', "remove every hook"),
    ("ex01_1_check", "the model's input instead of the layer's", '''
def layer_io(model, x, layer_name):
    stored = {}
    handle = vz.find_layer(model, layer_name).register_forward_hook(lambda m, i, out: stored.__setitem__("out", out.clone()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return x, stored["out"]
''', "copy of the input"),
    ("ex01_2_check", "shared normalisation (one range for the whole layer)", '''
def normalise_channels(maps):
    lo, hi = maps.amin(dim=(1, 2, 3), keepdim=True), maps.amax(dim=(1, 2, 3), keepdim=True)
    return (maps - lo) / (hi - lo + 1e-12)
''', "its own minimum"),
    ("ex01_2_check", "no guard for a constant map (NaN)", '''
def normalise_channels(maps):
    lo, hi = maps.amin(dim=(2, 3), keepdim=True), maps.amax(dim=(2, 3), keepdim=True)
    return (maps - lo) / (hi - lo)
''', "stays zero"),
    ("ex01_2_check", "range taken over the batch (per channel, all photos)", '''
def normalise_channels(maps):
    lo, hi = maps.amin(dim=(0, 2, 3), keepdim=True), maps.amax(dim=(0, 2, 3), keepdim=True)
    span = hi - lo
    return torch.where(span > 1e-12, (maps - lo) / span.clamp_min(1e-12), torch.zeros_like(maps))
''', "not the batch's"),
    ("ex01_3_check", "uncentred cosine", '''
def similarity_matrix(maps):
    p = maps.mean(dim=(2, 3))
    p = p / p.norm(dim=1, keepdim=True)
    return p @ p.T
''', "centred by its own mean"),
    ("ex01_3_check", "centred across the photos instead of over the channels", '''
def similarity_matrix(maps):
    p = maps.mean(dim=(2, 3))
    p = p - p.mean(dim=0, keepdim=True)
    p = p / p.norm(dim=1, keepdim=True)
    return p @ p.T
''', "not by the other photos"),
    ("ex01_3_check", "no spatial average (whole maps compared)", '''
def similarity_matrix(maps):
    p = maps.flatten(1)
    p = p - p.mean(dim=1, keepdim=True)
    p = p / p.norm(dim=1, keepdim=True)
    return p @ p.T
''', "profile"),
    ("ex01_4_check", "density (units on) instead of sparsity", '''
def sparsity_growth(model, control, x, early, late):
    def growth_of(net):
        maps = vz.capture(net, x, [early, late])
        return (maps[late] > 0).float().mean() - (maps[early] > 0).float().mean()
    g, g0 = growth_of(model), growth_of(control)
    return g, g0, (g > g0).float()
''', "switched off exactly"),
    ("ex01_4_check", "control left out (the trained model measured twice)", '''
def sparsity_growth(model, control, x, early, late):
    def growth_of(net):
        maps = vz.capture(net, x, [early, late])
        return (maps[late] == 0).float().mean() - (maps[early] == 0).float().mean()
    g = growth_of(model)
    return g, g, (g > g).float()
''', "random-weight network"),
    ("ex01_4_check", "verdict not measured (always 'holds')", '''
def sparsity_growth(model, control, x, early, late):
    def growth_of(net):
        maps = vz.capture(net, x, [early, late])
        return (maps[late] == 0).float().mean() - (maps[early] == 0).float().mean()
    return growth_of(model), growth_of(control), torch.tensor(1.0)
''', "trained growth beats the control"),
]


def test_solutions_pass_and_stubs_fail():
    assert_solutions(CHAPTER)


def test_every_exercise_has_two_or_three_mistakes():
    nb = S.load(S.NOTEBOOKS / f"{CHAPTER}.ipynb")
    checks = [S.grading(c)["grade_id"] for c in nb["cells"] if S.is_check(c)]
    counts = {gid: sum(row[0] == gid for row in MISTAKES) for gid in checks}
    assert all(2 <= n <= 3 for n in counts.values()), counts


@pytest.mark.parametrize("gid, mistake, replacement, phrase", MISTAKES, ids=[f"{r[0]}: {r[1]}" for r in MISTAKES])
def test_mistake_fails_with_the_hint(gid, mistake, replacement, phrase):
    assert_mistake_fails(CHAPTER, gid, replacement, phrase)


# -- what the student sees (chapters 01-03) --------------------------------------------------------

MY_CHAPTERS = ["01_feature_maps", "02_deconvnet", "03_saliency_guided_backprop"]


@pytest.mark.parametrize("chapter", MY_CHAPTERS)
def test_rubrics_stay_in_the_instructor_version(chapter):
    """Each written question's model answer carries a marking rubric; nbgrader's student version drops both."""
    import re
    nb = S.load(S.NOTEBOOKS / f"{chapter}.ipynb")
    answers = [c for c in nb["cells"] if c["cell_type"] == "markdown" and S.grading(c).get("solution")]
    assert answers and all(re.search(r"\*\*Rubric \(\d points?\)\.\*\*", S.source(c)) for c in answers)
    student = S.student_version(nb)
    assert not any("Rubric" in S.source(c) or "Model answer" in S.source(c) for c in student["cells"])


@pytest.mark.parametrize("chapter", MY_CHAPTERS)
def test_no_prompt_or_hint_holds_a_solution_line(chapter):
    """No line of a solution (comments and trivial lines aside) appears in the exercise prompts or in a hint."""
    import ast
    nb = S.load(S.NOTEBOOKS / f"{chapter}.ipynb")
    cells = S.exercise_cells(nb)
    section = nb["cells"][nb["cells"].index(cells[0]):]
    visible = " ".join(S.source(c) for c in section if c["cell_type"] == "markdown" and not S.grading(c))
    for c in cells:                                   # the hints: every string constant of a check cell
        if S.is_check(c):
            visible += " ".join(n.value for n in ast.walk(ast.parse(S.source(c)))
                                if isinstance(n, ast.Constant) and isinstance(n.value, str))
    visible = " ".join(visible.split())
    for cell in cells:
        if not S.is_solution(cell):
            continue
        body = S.source(cell).split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
        for line in body.splitlines():
            code = " ".join(line.split("#")[0].split())
            if len(code) >= 16 and not code.startswith(("def ", "return grad", "for ", "try", "finally")):
                assert code not in visible, f"{S.grading(cell)['grade_id']}: the prompt or a hint shows {code!r}"
