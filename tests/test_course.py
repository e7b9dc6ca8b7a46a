"""The lecturer's round trip with nbgrader, as `make course` sets it up (issue 18).

On two chapters that read files besides themselves (04: the optimisation gallery, 12: the leaderboard):

* ``course/build_course.py`` builds the course directory: ``nbgrader_config.py``, ``gradebook.db``, one assignment
  per chapter, ``release/<chapter>/`` holding the student version;
* students are added with the venv's ``nbgrader db student add`` from a shell whose PATH does not hold the venv
  (the pasted README command: nbgrader's first gradebook command needs ``alembic`` on PATH; make course made it);
* four submissions per chapter (correct, untouched, one bug in every exercise, mixed) go to
  ``submitted/<student>/<chapter>/``; ``nbgrader autograde``, ``nbgrader export`` and ``nbgrader generate_feedback``
  run; the exported CSV holds exactly the expected score of every student (worked out from the cells' points);
* grading ran the exercise section only: no code cell of the chapter body has an output in ``autograded/``, every
  exercise cell has one;
* every released notebook, filled in with the correct answers and copied alone into an empty folder (no ``../data``
  next to it), runs top to bottom without an error (what a student's Run All does).
"""
from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBGRADER = Path(sys.executable).parent / "nbgrader"
CHAPTERS = ["04", "12"]
STUDENTS = {"ada": "right", "ben": "untouched", "cyd": "wrong", "dee": "mixed"}


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "course" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder, subs = _load("build_course"), _load("submissions")


def bare_env() -> dict[str, str]:
    """A lecturer's shell: no activated venv, so nothing of the venv on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    venv = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p != venv)
    env["OMP_NUM_THREADS"] = "1"
    return env


def nbgrader(course: Path, *args: str) -> str:
    done = subprocess.run([str(NBGRADER), *args], cwd=course, env=bare_env(), capture_output=True, text=True)
    assert done.returncode == 0, f"nbgrader {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def plan_for(kind: str, solution_ids: list[str]) -> dict[str, str]:
    if kind == "mixed":          # first exercise right, second wrong, third untouched, ...
        return {g: ("right", "wrong", "untouched")[i % 3] for i, g in enumerate(solution_ids)}
    return {g: kind for g in solution_ids}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    out = tmp_path_factory.mktemp("course") / "course"
    old_path = os.environ["PATH"]
    try:                  # build as a lecturer without an activated venv would: make course calls the venv's python
        os.environ["PATH"] = bare_env()["PATH"]
        builder.build(out, ROOT / "notebooks", only=CHAPTERS, clean=True)
    finally:
        os.environ["PATH"] = old_path
    return out


def test_course_directory(course):
    assert (course / "nbgrader_config.py").exists() and (course / "gradebook.db").exists()
    assert sorted(p.name for p in (course / "release").iterdir()) == [f"ch{c}" for c in CHAPTERS]
    listed = nbgrader(course, "db", "assignment", "list")
    for ch in CHAPTERS:
        assert f"ch{ch}" in listed
        (released,) = (course / "release" / f"ch{ch}").glob("*.ipynb")
        assert released.name.startswith(ch + "_")
        assert builder.outside_reads(released) == [], "a released notebook reads a file outside its folder"


def test_round_trip(course):
    for student in STUDENTS:
        nbgrader(course, "db", "student", "add", student, f"--first-name={student.title()}", "--last-name=Test")
    assert all(s in nbgrader(course, "db", "student", "list") for s in STUDENTS), "a student was dropped"
    expected, body = {}, {}
    for ch in CHAPTERS:
        aid = f"ch{ch}"
        (src_path,) = (course / "source" / aid).glob("*.ipynb")
        source = load(src_path)
        ids = subs.solution_ids(source)
        assert ids, f"{aid} has no solution cells"
        for student, kind in STUDENTS.items():
            plan = plan_for(kind, ids)
            subs.write_submission(course, student, aid, plan)
            expected[(student, aid)] = (subs.expected_score(source, plan), subs.total_points(source))
        nbgrader(course, "autograde", aid)
        body[aid] = src_path.name
    nbgrader(course, "generate_feedback", f"ch{CHAPTERS[0]}")
    nbgrader(course, "export", "--to=grades.csv")
    with open(course / "grades.csv", newline="") as f:
        table = {(r["student_id"], r["assignment"]): (float(r["score"]), float(r["max_score"])) for r in csv.DictReader(f)}
    assert table == expected
    # sanity of the expectation itself: the correct student has every autograded point, the others fewer
    for ch in CHAPTERS:
        aid = f"ch{ch}"
        auto = sum(subs.check_points(load(course / "source" / aid / body[aid])).values())
        assert table[("ada", aid)][0] == auto > 0
        assert table[("ben", aid)][0] == table[("cyd", aid)][0] == 0
        assert 0 < table[("dee", aid)][0] < auto
    for student in STUDENTS:
        assert (course / "feedback" / student / f"ch{CHAPTERS[0]}" / body[f"ch{CHAPTERS[0]}"].replace(".ipynb", ".html")).exists()
    # grading ran the exercises only
    for ch in CHAPTERS:
        aid = f"ch{ch}"
        graded = load(course / "autograded" / "ada" / aid / body[aid])
        start = next(i for i, c in enumerate(graded["cells"])
                     if c["cell_type"] == "markdown" and "".join(c["source"]).lstrip().startswith("## Exercises"))
        code = [(i, c) for i, c in enumerate(graded["cells"]) if c["cell_type"] == "code" and "".join(c["source"]).strip()]
        ran_body = [c.get("id") for i, c in code if i < start and c["execution_count"] is not None]
        assert ran_body == [], f"{aid}: the grader ran chapter-body cells {ran_body}"
        assert all(c["execution_count"] is not None for i, c in code if i > start), f"{aid}: an exercise cell did not run"


GRADED = [p for p in sorted((ROOT / "notebooks").glob("*.ipynb")) if builder.has_exercises(p)]


@pytest.mark.parametrize("path", GRADED, ids=[p.stem.split("_")[0] for p in GRADED])
def test_no_chapter_reads_a_file_outside_its_folder(path):
    """A released chapter has only itself and the package: no ../data (04, 11 and 12 read it until issue 18)."""
    assert builder.outside_reads(path) == []


def test_outside_reads_sees_the_old_data_paths(tmp_path):
    nb = {"cells": [{"cell_type": "code", "id": "a", "source": 'Image(filename="../data/optvis_gallery.jpg")'},
                    {"cell_type": "code", "id": "b", "source": ['data_dir = Path("..") / "data"\n']},
                    {"cell_type": "code", "id": "c", "source": 'np.load(f"../data/style_cache_{part}.npz")'},
                    {"cell_type": "code", "id": "d", "source": 'ratio = a / b'}]}
    (tmp_path / "x.ipynb").write_text(json.dumps(nb))
    assert [h.split(" ")[1] for h in builder.outside_reads(tmp_path / "x.ipynb")] == ["[a]:", "[b]:", "[c]:"]


@pytest.mark.parametrize("ch", CHAPTERS)
def test_released_notebook_runs_alone(course, ch, tmp_path):
    """The student version, answered correctly, alone in an empty folder: Run All meets no error."""
    import nbformat
    from nbclient import NotebookClient

    aid = f"ch{ch}"
    (released,) = (course / "release" / aid).glob("*.ipynb")
    source = load(course / "source" / aid / released.name)
    folder = tmp_path / "student" / aid
    folder.mkdir(parents=True)
    for f in released.parent.iterdir():      # what the student downloads: the release folder, nothing else
        shutil.copy2(f, folder / f.name)
    nb = subs.make_submission(load(released), source, plan_for("right", subs.solution_ids(source)))
    assert not (folder.parent / "data").exists() and not (tmp_path / "data").exists()
    client = NotebookClient(nbformat.reads(json.dumps(nb), as_version=4), timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    client.execute()          # raises CellExecutionError on the first failing cell
