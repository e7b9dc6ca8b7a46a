"""Build a ready nbgrader course directory: one assignment per chapter, gradebook, student versions.

    python course/build_course.py [--out build/course] [--chapters 03 05] [--clean]     (what `make course` runs)

writes

    build/course/nbgrader_config.py     course id "vizlab", grading of the exercise section only, the cell timeout
    build/course/exercise_grader.py     the Execute step that skips the chapter body (see that file)
    build/course/gradebook.db           nbgrader's gradebook, with one assignment per chapter
    build/course/source/ch05/05_cam.ipynb      the instructor version (copied from notebooks/)
    build/course/release/ch05/05_cam.ipynb     the student version (nbgrader generate_assignment)

for every chapter with graded exercises (00 has none): ch01 .. ch12 and ch06b. Every nbgrader command runs as the
venv's own executable with the venv's bin/ first on PATH: the first gradebook command calls ``alembic`` by name, and
without it nbgrader fails half-way (and the first student added is lost).

Re-running it updates source/ and release/ from notebooks/ and keeps the gradebook, the students and every submission;
``--clean`` starts from an empty course directory. Afterwards, from build/course/:

    ../../.venv/bin/nbgrader db student add alice --first-name=Alice --last-name=Liddell
    ../../.venv/bin/nbgrader autograde ch05          # submitted/<student>/ch05/05_cam.ipynb -> autograded/
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TEMPLATE_FILES = ("nbgrader_config.py", "exercise_grader.py")


def venv_bin() -> Path:
    """The folder of the running interpreter's executables (the venv's bin/)."""
    return Path(sys.executable).parent


def nbgrader_command() -> list[str]:
    exe = venv_bin() / "nbgrader"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nbgrader"]


def nbgrader_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(venv_bin()) + os.pathsep + env.get("PATH", "")      # alembic, jupyter, the kernel
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def nbgrader(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``nbgrader <args>`` in the course directory (where nbgrader_config.py is)."""
    done = subprocess.run(nbgrader_command() + list(args), cwd=course, env=nbgrader_env(),
                          capture_output=True, text=True)
    if check and done.returncode != 0:
        raise SystemExit(f"nbgrader {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def has_exercises(path: Path) -> bool:
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    return any(c.get("metadata", {}).get("nbgrader", {}).get("grade") for c in nb["cells"])


def assignment_id(path: Path) -> str:
    """05_cam.ipynb -> ch05, 06b_score_cam_layer_cam.ipynb -> ch06b."""
    return "ch" + Path(path).stem.split("_")[0]


def chapters(notebooks: Path, only: list[str] | None = None) -> list[Path]:
    found = [p for p in sorted(Path(notebooks).glob("*.ipynb")) if has_exercises(p)]
    if only:
        wanted = {o.removeprefix("ch") for o in only}
        found = [p for p in found if p.stem.split("_")[0] in wanted]
        missing = wanted - {p.stem.split("_")[0] for p in found}
        if missing:
            raise SystemExit(f"no chapter with exercises numbered {sorted(missing)} in {notebooks}")
    if not found:
        raise SystemExit(f"no notebooks with graded exercises in {notebooks}")
    return found


# A released notebook must run from its own folder: nothing read from ../ (e.g. ../data/), the package ships the rest.
OUTSIDE = re.compile(r"""["'(]\.\.[/\\]|Path\(\s*["']\.\.["']\s*\)""")


def outside_reads(path: Path) -> list[str]:
    """Code lines of a notebook that name a file outside the notebook's folder."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    hits = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        hits += [f"{Path(path).name} [{cell.get('id')}]: {line.strip()}" for line in src.splitlines()
                 if OUTSIDE.search(line)]
    return hits


def build(out: Path = ROOT / "build" / "course", notebooks: Path = ROOT / "notebooks",
          only: list[str] | None = None, clean: bool = False) -> dict[str, Path]:
    """Build (or update) the course directory; return {assignment id: released notebook}."""
    out, notebooks = Path(out).resolve(), Path(notebooks).resolve()
    todo = chapters(notebooks, only)
    if clean and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in TEMPLATE_FILES:
        shutil.copy2(HERE / name, out / name)
    # The gradebook: created here once, with alembic on PATH (nbgrader stamps its schema version with it).
    nbgrader(out, "db", "assignment", "list", "--log-level=WARN")
    released = {}
    for nb in todo:
        aid = assignment_id(nb)
        source = out / "source" / aid
        if source.exists():
            shutil.rmtree(source)
        source.mkdir(parents=True)
        shutil.copy2(nb, source / nb.name)
        nbgrader(out, "generate_assignment", aid, "--force", "--log-level=WARN")
        released[aid] = out / "release" / aid / nb.name
        if not released[aid].exists():
            raise SystemExit(f"nbgrader did not write {released[aid]}")
    return released


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "course")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks")
    parser.add_argument("--chapters", nargs="*", help="only these chapters, e.g. 03 05 06b (default: all graded)")
    parser.add_argument("--clean", action="store_true", help="delete the course directory first (grades too)")
    args = parser.parse_args(argv)
    released = build(args.out, args.notebooks, args.chapters, args.clean)
    for aid, path in released.items():
        print(f"{aid}: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    problems = [hit for path in released.values() for hit in outside_reads(path)]
    if problems:
        print("WARNING: these released notebooks read files outside their folder (students will not have them):")
        print("\n".join("  " + p for p in problems))
    print(f"course directory: {args.out} (run nbgrader there: see README, 'For lecturers')")


if __name__ == "__main__":
    main()
