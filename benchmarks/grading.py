"""Grading a class: nbgrader autograde over 150 generated submissions of one chapter, with 1 and 2 workers.

    .venv/bin/python benchmarks/grading.py [--chapter 05] [--students 150] [--whole 2]

Builds a one-chapter course with course/build_course.py in a temporary folder, writes the submissions (most are the
correct answers under different student ids, every fifth has one exercise wrong, the exercise rotating), and runs the
lecturer's command, ``nbgrader autograde ch05``, with the course's nbgrader_config.py (the exercise section only):

* 1 worker: one nbgrader process over every student,
* 2 workers: two nbgrader processes at once over disjoint halves of the class (nbgrader has no parallelism of its own;
  both write to the same gradebook),
* before: ``--ExercisesOnly.skip_chapter_body=False`` (whole chapters, as plain nbgrader grades) on ``--whole``
  submissions, extrapolated to the class.

Prints wall time, CPU time (all processes, kernels included) and CPU per submission, and checks the grades: every
correct submission has all autograded points and every one-bug submission loses exactly that exercise's points.
No timing is asserted.
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "course" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder, subs = _load("build_course"), _load("submissions")


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def autograde(course: Path, aid: str, groups: list[str], *extra: str) -> tuple[float, float]:
    """Run one ``nbgrader autograde`` per student glob, all at once; return (wall s, CPU s)."""
    cmd = builder.nbgrader_command()
    c0, t0 = children_cpu(), time.perf_counter()
    procs = [subprocess.Popen(cmd + ["autograde", aid, f"--student={g}", "--force", "--log-level=WARN", *extra],
                              cwd=course, env=builder.nbgrader_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for g in groups]
    outs = [p.communicate()[0] for p in procs]
    wall, cpu = time.perf_counter() - t0, children_cpu() - c0
    for p, out in zip(procs, outs):
        if p.returncode != 0:
            raise SystemExit(f"nbgrader autograde failed:\n{out}")
    return wall, cpu


def scores(course: Path, aid: str) -> dict[str, float]:
    builder.nbgrader(course, "export", "--to=grades.csv", "--log-level=WARN")
    with open(course / "grades.csv", newline="") as f:
        return {r["student_id"]: float(r["score"]) for r in csv.DictReader(f) if r["assignment"] == aid}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chapter", default="05")
    parser.add_argument("--students", type=int, default=150)
    parser.add_argument("--whole", type=int, default=2, help="submissions graded the old way (whole chapter)")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    aid = f"ch{args.chapter}"
    with tempfile.TemporaryDirectory(prefix="vizlab-grading-") as tmp:
        course = Path(tmp) / "course"
        builder.build(course, ROOT / "notebooks", only=[args.chapter], clean=True)
        (src_path,) = (course / "source" / aid).glob("*.ipynb")
        source = json.loads(src_path.read_text(encoding="utf-8"))
        ids = subs.solution_ids(source)
        half = (args.students + 1) // 2
        students = [f"a{i:03d}" for i in range(half)] + [f"b{i:03d}" for i in range(args.students - half)]
        expected = {}
        for k, student in enumerate(students + [f"w{i:03d}" for i in range(args.whole)]):
            plan = {g: "right" for g in ids}
            if k % 5 == 4 and k < len(students):                # one bug: one exercise wrong, rotating
                plan[ids[(k // 5) % len(ids)]] = "wrong"
            subs.write_submission(course, student, aid, plan)
            expected[student] = subs.expected_score(source, plan)
        rows, mismatches = [], []
        if args.whole:
            wall, cpu = autograde(course, aid, ["w*"], "--ExercisesOnly.skip_chapter_body=False")
            rows.append(("before: whole chapter", 1, args.whole, wall, cpu))
        for workers, groups in ((1, ["[ab]*"]), (2, ["a*", "b*"])):
            wall, cpu = autograde(course, aid, groups)
            rows.append(("exercises only", workers, args.students, wall, cpu))
            got = scores(course, aid)
            mismatches += [(workers, s, got.get(s), expected[s]) for s in students if got.get(s) != expected[s]]
    print(f"\nnbgrader autograde {aid}: {args.students} submissions ({args.students // 5} with one exercise wrong), "
          f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    print(f"{'grading':24s} {'workers':>7s} {'subs':>5s} {'wall s':>8s} {'CPU s':>8s} {'CPU s/sub':>10s} "
          f"{'class of ' + str(args.students) + ', wall':>22s}")
    for what, workers, n, wall, cpu in rows:
        print(f"{what:24s} {workers:7d} {n:5d} {wall:8.1f} {cpu:8.1f} {cpu / n:10.2f} "
              f"{wall / n * args.students / 60:19.1f} min")
    if mismatches:
        raise SystemExit(f"{len(mismatches)} grades differ from the expected ones (workers, student, got, expected): "
                         f"{mismatches[:5]}")
    print("grades: every submission has exactly the expected score")


if __name__ == "__main__":
    main()
