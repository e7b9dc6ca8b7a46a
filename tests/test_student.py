"""The chapters' graded exercises and the student version that `make student` builds with nbgrader.

* nbgrader accepts every notebook: its own metadata check (``CheckCellMetadata``) passes, grade ids
  are unique, every solution cell has its ``### BEGIN/END SOLUTION`` region and is followed by its
  locked check cell.
* The student version (built by ``course/build_student.py``, i.e. ``nbgrader generate_assignment``)
  has the solutions replaced, the outputs cleared and the check cells kept unchanged.
* Run in this process, the instructor version's check cells pass, the student version's fail with
  "not done yet", and a deliberately wrong answer fails every check.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))
# The chapters that must carry graded exercises (other chapters are checked when they have some).
GRADED = ["01_feature_maps", "02_deconvnet", "03_saliency_guided_backprop", "04_filter_ascent", "05_cam",
          "06_grad_cam", "06b_score_cam_layer_cam", "07_smoothgrad", "08_integrated_gradients", "09_tsne",
          "10_adversarial", "11_style_transfer", "12_evaluating_explanations"]


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def grading(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def source(cell: dict) -> str:
    s = cell["source"]
    return s if isinstance(s, str) else "".join(s)


def is_solution(cell: dict) -> bool:
    return cell["cell_type"] == "code" and grading(cell).get("solution", False)


def is_check(cell: dict) -> bool:
    return cell["cell_type"] == "code" and grading(cell).get("grade", False)


def has_exercises(nb: dict) -> bool:
    return any(grading(c) for c in nb["cells"])


def exercise_cells(nb: dict) -> list[dict]:
    """The code cells from the "## Exercises" heading on: they need nothing from the chapter above."""
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] == "markdown" and source(c).startswith("## Exercises"):
            return [c for c in nb["cells"][i:] if c["cell_type"] == "code"]
    raise AssertionError("no markdown cell starting with '## Exercises'")


# -- nbgrader metadata -----------------------------------------------------------------------

@pytest.mark.parametrize("name", GRADED)
def test_graded_chapters_have_three_checks_and_a_written_question(name):
    nb = load(NOTEBOOKS / f"{name}.ipynb")
    checks = [c for c in nb["cells"] if is_check(c)]
    written = [c for c in nb["cells"] if c["cell_type"] == "markdown" and grading(c).get("grade")]
    assert len(checks) >= 3, f"{name}: {len(checks)} autograded check cells, need at least 3"
    assert 1 <= len(written) <= 2, f"{name}: {len(written)} written questions, need 1 or 2"
    assert all("from vizlab.exercises import check as _check" in source(c) and "_check(" in source(c) for c in checks)


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_nbgrader_accepts_the_metadata(path):
    from nbformat import reads
    from nbgrader.preprocessors import CheckCellMetadata
    nb = load(path)
    CheckCellMetadata().preprocess(reads(json.dumps(nb), as_version=4), {})     # raises on invalid metadata
    ids = [grading(c)["grade_id"] for c in nb["cells"] if grading(c)]
    assert len(ids) == len(set(ids)), f"duplicate grade_id in {path.name}"
    cells = nb["cells"]
    for i, c in enumerate(cells):
        if is_solution(c):
            assert "### BEGIN SOLUTION" in source(c) and "### END SOLUTION" in source(c), grading(c)["grade_id"]
            assert i + 1 < len(cells) and is_check(cells[i + 1]), f"{grading(c)['grade_id']}: no check cell after it"
        if is_check(c):
            assert grading(c).get("locked") and grading(c).get("points", 0) > 0, grading(c)["grade_id"]


# -- the student version, built by nbgrader ----------------------------------------------------

@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("build_student", ROOT / "course" / "build_student.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    base = tmp_path_factory.mktemp("course")
    builder.build(NOTEBOOKS, base / "student", course=base / "course")
    return base / "student"


def test_student_version_of_every_chapter(student_dir):
    assert sorted(p.name for p in student_dir.glob("*.ipynb")) == [p.name for p in ALL]
    for path in ALL:
        teacher, student = load(path), load(student_dir / path.name)
        assert len(student["cells"]) == len(teacher["cells"]), path.name
        for t, s in zip(teacher["cells"], student["cells"]):
            if s["cell_type"] == "code":
                assert s["outputs"] == [] and s["execution_count"] is None, f"{path.name}: outputs not cleared"
            if is_solution(t):
                assert "BEGIN SOLUTION" not in source(s) and "raise NotImplementedError()" in source(s)
                if source(t).startswith("def "):
                    assert source(s).split("\n")[0] == source(t).split("\n")[0], "the function's signature is kept"
            elif t["cell_type"] == "markdown" and grading(t).get("solution"):
                assert source(s).strip() == "YOUR ANSWER HERE", "the model answer of a written question is removed"
            else:
                assert source(s) == source(t), f"{path.name}: a cell other than a solution changed"
            if is_check(t):
                assert grading(s)["locked"] and s["metadata"].get("editable") is False, "check cells are locked"


# -- running the exercises -------------------------------------------------------------------

def run_exercises(nb: dict, wrong: bool = False) -> dict[str, str]:
    """Execute the exercise section's code cells in a fresh namespace; return, per check cell's
    grade_id, "passed" or the AssertionError's message. ``wrong=True`` perturbs the value of every
    function a solution cell defines (x -> 1.01 x + 0.01), a deliberately wrong answer."""
    ns: dict = {"__name__": "__exercises__"}
    results = {}
    for cell in exercise_cells(nb):
        code = compile(source(cell), f"<{grading(cell).get('grade_id', 'cell')}>", "exec")
        if is_check(cell):
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    exec(code, ns)
                results[grading(cell)["grade_id"]] = "passed" if "passed" in out.getvalue() else out.getvalue()
            except AssertionError as err:
                results[grading(cell)["grade_id"]] = f"failed: {err}"
            continue
        before = set(ns)
        exec(code, ns)
        if wrong and is_solution(cell):
            for name in set(ns) - before:
                if callable(ns[name]):
                    ns[name] = _perturbed(ns[name])
    return results


def _perturbed(fn):
    def shift(v):
        if isinstance(v, tuple):
            return tuple(shift(u) for u in v)
        return v * 1.01 + 0.01 if isinstance(v, torch.Tensor) else v

    def wrong(*args, **kwargs):
        return shift(fn(*args, **kwargs))
    return wrong


def student_version(nb: dict) -> dict:
    """nbgrader's ClearSolutions (the preprocessor `generate_assignment` runs) on the notebook."""
    from nbformat import reads
    from nbgrader.preprocessors import ClearSolutions
    nb2, _ = ClearSolutions().preprocess(reads(json.dumps(nb), as_version=4), {})
    return json.loads(json.dumps(nb2))


@pytest.fixture(autouse=True)
def _restore_torch_rng():
    state = torch.random.get_rng_state()
    yield
    torch.random.set_rng_state(state)


@pytest.mark.parametrize("name", GRADED)
def test_instructor_checks_pass_student_and_wrong_ones_fail(name):
    nb = load(NOTEBOOKS / f"{name}.ipynb")
    checks = [grading(c)["grade_id"] for c in nb["cells"] if is_check(c)]
    teacher = run_exercises(nb)
    assert teacher == {gid: "passed" for gid in checks}, teacher
    student = run_exercises(student_version(nb))
    for gid in checks:
        assert student[gid].startswith("failed") and "not done yet" in student[gid], (gid, student[gid])
    wrong = run_exercises(nb, wrong=True)
    for gid in checks:
        assert wrong[gid].startswith("failed"), (gid, wrong[gid])


def test_exercise_sections_are_self_contained():
    """The exercises run without the chapter above them (what `run_exercises` relies on): no cell
    of the section uses the chapter's big model or photo."""
    for name in GRADED:
        text = "\n".join(source(c) for c in exercise_cells(load(NOTEBOOKS / f"{name}.ipynb")))
        assert not re.search(r"\bvz\.load\(|sample_image\(", text), name
