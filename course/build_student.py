"""Build the student version of every chapter with nbgrader's own tool.

    python course/build_student.py [notebooks] [build/student]      (what `make student` runs)

nbgrader's ``generate_assignment`` expects a course directory ``<root>/source/<assignment>/``; this
script copies the chapters into ``<scratch>/source/chapters/``, runs

    nbgrader generate_assignment chapters --CourseDirectory.root=<scratch> --force --no-db

(which checks every cell's nbgrader metadata, locks the check cells, replaces each
``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region by ``raise NotImplementedError()`` and each
written answer by "YOUR ANSWER HERE", clears all outputs and stores checksums), and copies the
result, ``<scratch>/release/chapters/``, to the output folder (``<scratch>`` is a temporary folder unless
``course`` is given). ``--no-db`` skips the gradebook: a lecturer who grades builds the course directory with
``make course`` (course/build_course.py: one assignment per chapter, gradebook, see README, "For lecturers").
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import sys
from pathlib import Path

ASSIGNMENT = "chapters"


def nbgrader_command() -> list[str]:
    """``python -m nbgrader`` of the running interpreter (so the venv's nbgrader is used)."""
    return [sys.executable, "-m", "nbgrader"]


def build(notebooks: Path, out: Path, course: Path | None = None) -> list[Path]:
    """Generate the student version of every ``notebooks/*.ipynb`` into ``out``; return the files."""
    notebooks, out = Path(notebooks), Path(out)
    if course is None:          # a scratch course directory: build/course/ is make course's (gradebook, grades)
        with tempfile.TemporaryDirectory(prefix="vizlab-student-") as scratch:
            return build(notebooks, out, Path(scratch))
    course = Path(course)
    chapters = sorted(notebooks.glob("*.ipynb"))
    if not chapters:
        raise SystemExit(f"no notebooks found in {notebooks}")
    source = course / "source" / ASSIGNMENT
    release = course / "release" / ASSIGNMENT
    for folder in (source, release):
        if folder.exists():
            shutil.rmtree(folder)
    source.mkdir(parents=True)
    for nb in chapters:
        shutil.copy2(nb, source / nb.name)
    cmd = nbgrader_command() + ["generate_assignment", ASSIGNMENT, f"--CourseDirectory.root={course.resolve()}",
                                "--force", "--no-db", "--log-level=WARN"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"nbgrader generate_assignment failed:\n{done.stdout}\n{done.stderr}")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(release, out)
    built = sorted(out.glob("*.ipynb"))
    missing = {nb.name for nb in chapters} - {nb.name for nb in built}
    if missing:
        raise SystemExit(f"nbgrader did not write {sorted(missing)}:\n{done.stdout}\n{done.stderr}")
    return built


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("notebooks")
    dst = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("build/student")
    for path in build(src, dst):
        print("student version:", path)
