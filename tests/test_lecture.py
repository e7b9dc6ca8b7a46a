"""The lecture version (course/lecture.py, `make present`): no model answer, no solution, no check on the projector;
the chapter body unchanged (issue 18, item 6). The browser test (tests/browser/run.py) checks the page Voila shows."""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("lecture", ROOT / "course" / "lecture.py")
lecture = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lecture)

CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _src(cell) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def _hidden_text(nb) -> list[str]:
    """What the student version hides: written answers, solution code, check cells (lines of 12+ characters)."""
    hidden = []
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") or (cell["cell_type"] == "code" and meta.get("grade")):
            hidden += [line.strip() for line in _src(cell).splitlines() if len(line.strip()) >= 12]
    return hidden


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name[:3])
def test_lecture_version_hides_what_the_student_version_hides(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = lecture.lecture_version(nb, path.name)
    text = "\n".join(_src(c) for c in out["cells"])
    start = lecture.exercise_start(nb)
    # (the chapter body is the lecture itself, kept whole: a Derive cell may resemble a solution, issue 18 item 2)
    section = "\n".join(_src(c) for c in out["cells"][len(out["cells"]) if start is None else start:])
    given = "\n".join(_src(c) for c in nb["cells"] if c["cell_type"] == "markdown"
                      and not c["metadata"].get("nbgrader", {}).get("solution"))   # the statement may give a line
    leaked = [line for line in _hidden_text(nb) if line in section and line not in given]
    assert not leaked, f"{path.name}: shown in the lecture version: {leaked[:3]}"
    for word in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN MARK SCHEME", "BEGIN HIDDEN TESTS", "Model answer"):
        assert word not in text, word
    written = [c for c in nb["cells"] if c["cell_type"] == "markdown" and c["metadata"].get("nbgrader", {}).get("solution")]
    assert text.count(lecture.ANSWERED) == len(written)        # every written question says "answered in class"
    assert all(_src(c) not in text for c in written)
    if start is None:
        assert out["cells"] == nb["cells"]
        return
    # the chapter body is unchanged (sources, saved outputs and explorer views), and so is the notebook's metadata
    body = nb["cells"][:start]
    assert out["cells"][:start] == body and out["metadata"].get("widgets") == nb["metadata"].get("widgets")
    # the exercise section keeps its text (statements, questions) and has no code cell left
    section = out["cells"][start:]
    assert not [c for c in section if c["cell_type"] == "code"]
    statements = [_src(c) for c in nb["cells"][start:]
                  if c["cell_type"] == "markdown" and not c["metadata"].get("nbgrader", {}).get("solution")]
    assert all(s in text for s in statements)
    assert not any("nbgrader" in c.get("metadata", {}) for c in out["cells"])


def _md(source, **nbgrader):
    meta = {"nbgrader": nbgrader} if nbgrader else {}
    return {"cell_type": "markdown", "id": f"m{abs(hash(source)) % 10**6}", "metadata": meta, "source": source}


def _code(source, **nbgrader):
    meta = {"nbgrader": nbgrader} if nbgrader else {}
    return {"cell_type": "code", "id": f"c{abs(hash(source)) % 10**6}", "metadata": meta, "source": source,
            "outputs": [], "execution_count": None}


def test_regions_rubrics_and_hidden_tests_are_removed():
    nb = {"metadata": {}, "nbformat": 4, "nbformat_minor": 5, "cells": [
        _md("# Chapter"), _code("x = 1"),
        _md("## Exercises\nWrite it."),
        _code("def f():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION", solution=True, grade=False),
        _code("assert f() == 42\n### BEGIN HIDDEN TESTS\nassert f() != 41\n### END HIDDEN TESTS", grade=True),
        _md("**Question.** Why?"),
        _md("Because of the secret reason.", solution=True, grade=True),
        _md("Keep this.\n### BEGIN SOLUTION\nthe delimited secret\n### END SOLUTION\nAnd this."),
        _md("Task.\n=== BEGIN MARK SCHEME ===\nrubric: 1 point for the secret\n=== END MARK SCHEME ===", task=True),
    ]}
    out = lecture.lecture_version(nb)
    text = "\n".join(_src(c) for c in out["cells"])
    for secret in ("42", "41", "secret", "rubric", "BEGIN", "END"):
        assert secret not in text, secret
    for kept in ("x = 1", "Write it.", "**Question.** Why?", "Keep this.", "And this.", "Task."):
        assert kept in text, kept
    assert text.count(lecture.ANSWERED) == 2 and lecture.NOTE in text


def test_a_solution_above_the_exercises_is_an_error():
    nb = {"metadata": {}, "cells": [_code("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
                                          solution=True), _md("## Exercises")]}
    with pytest.raises(ValueError, match="above"):
        lecture.lecture_version(nb, "x.ipynb")
    with pytest.raises(ValueError, match="no END SOLUTION"):
        lecture.clear_regions("a\n### BEGIN SOLUTION\nb")


def test_command_line_writes_the_chapter(tmp_path, capsys):
    assert lecture.main(["06", "--out", str(tmp_path)]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == tmp_path / "06_grad_cam.ipynb" and json.loads(path.read_text())["cells"]
    assert lecture.find_chapter("06b", ROOT / "notebooks").name.startswith("06b_")
    with pytest.raises(SystemExit, match="no "):
        lecture.find_chapter("99", ROOT / "notebooks")
