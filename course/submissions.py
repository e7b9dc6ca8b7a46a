"""Fake submissions for the round-trip test and the grading benchmark.

A submission starts from the released (student) notebook, exactly what a student downloads, and fills each solution
cell in one of three ways, chosen per grade id:

* ``"right"``  the instructor's solution (the region between ``### BEGIN/END SOLUTION``, without the markers),
* ``"wrong"``  the instructor's solution with one bug: every function the cell defines returns a slightly wrong
  value (numbers x -> 1.01 x + 0.01, integers + 1, booleans negated, element-wise inside tuples, lists and dicts), and
  every number or tensor it assigns at top level is changed the same way,
* ``"untouched"`` (or a grade id left out) the released cell, still raising ``NotImplementedError``.

    write_submission(course, "alice", "ch05", {"ex05_1_cam": "right", "ex05_2_score": "wrong"})
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

BUG = '''

def _one_bug(value):
    import numbers
    import numpy as _np
    import torch as _torch
    if isinstance(value, bool) or (isinstance(value, _np.bool_)):
        return not value
    if isinstance(value, _torch.Tensor):
        if value.dtype == _torch.bool:
            return ~value
        if not value.is_floating_point() and not value.is_complex():
            return value + 1
        return value * 1.01 + 0.01
    if isinstance(value, _np.ndarray):
        if value.dtype == bool:
            return ~value
        return value + 1 if value.dtype.kind in "iu" else value * 1.01 + 0.01
    if isinstance(value, numbers.Integral):
        return value + 1
    if isinstance(value, numbers.Real):
        return value * 1.01 + 0.01
    if isinstance(value, (tuple, list)):
        return type(value)(_one_bug(v) for v in value)
    if isinstance(value, dict):
        return {k: _one_bug(v) for k, v in value.items()}
    return value


def _with_one_bug(fn):
    import functools

    @functools.wraps(fn)
    def wrong(*args, **kwargs):
        return _one_bug(fn(*args, **kwargs))
    return wrong
'''


def _source(cell: dict) -> str:
    s = cell["source"]
    return s if isinstance(s, str) else "".join(s)


def _set_source(cell: dict, text: str) -> None:
    cell["source"] = text if isinstance(cell["source"], str) else text.splitlines(keepends=True)


def grade_id(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def solution_ids(nb: dict) -> list[str]:
    """Grade ids of the code solution cells, in notebook order."""
    return [grade_id(c) for c in nb["cells"]
            if c["cell_type"] == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution")]


def check_points(nb: dict) -> dict[str, float]:
    """{grade id of an autograded code cell: points}, in notebook order."""
    return {grade_id(c): float(c["metadata"]["nbgrader"].get("points", 0)) for c in nb["cells"]
            if c["cell_type"] == "code" and c.get("metadata", {}).get("nbgrader", {}).get("grade")}


def total_points(nb: dict) -> float:
    return sum(float(c["metadata"]["nbgrader"].get("points", 0)) for c in nb["cells"]
               if c.get("metadata", {}).get("nbgrader", {}).get("grade"))


def expected_score(source: dict, plan: dict[str, str]) -> float:
    """Autograded points of a submission made with ``plan``: a check cell scores its points when every solution
    cell since the previous check cell is right (no credit for an exercise left undone or wrong)."""
    score, pending = 0.0, []
    for cell in source["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] != "code":
            continue
        if meta.get("solution"):
            pending.append(plan.get(meta["grade_id"], "untouched"))
        if meta.get("grade"):
            if pending and all(p == "right" for p in pending):
                score += float(meta.get("points", 0))
            pending = []
    return score


def solution_text(cell: dict) -> str:
    """The instructor's answer: the cell without its BEGIN/END SOLUTION marker lines."""
    return "".join(line for line in _source(cell).splitlines(keepends=True)
                   if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)


def with_one_bug(code: str) -> str:
    """``code`` followed by lines that make each function it defines, and each number it assigns, slightly wrong."""
    tree = ast.parse(code)
    lines = [BUG]
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines.append(f"{node.name} = _with_one_bug({node.name})")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    lines.append(f"{t.id} = _one_bug({t.id})")
    return code.rstrip("\n") + "\n" + "\n".join(lines) + "\n"


def make_submission(released: dict, source: dict, plan: dict[str, str]) -> dict:
    """The released notebook with its solution cells filled in per ``plan`` ({grade id: right|wrong|untouched})."""
    answers = {grade_id(c): solution_text(c) for c in source["cells"]
               if c["cell_type"] == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    unknown = set(plan) - set(answers)
    if unknown:
        raise KeyError(f"no solution cells {sorted(unknown)}")
    nb = json.loads(json.dumps(released))
    for cell in nb["cells"]:
        how = plan.get(grade_id(cell), "untouched") if grade_id(cell) in answers else None
        if how == "right":
            _set_source(cell, answers[grade_id(cell)])
        elif how == "wrong":
            _set_source(cell, with_one_bug(answers[grade_id(cell)]))
        elif how not in (None, "untouched"):
            raise ValueError(f"{grade_id(cell)}: {how!r} is not right, wrong or untouched")
    return nb


def write_submission(course: Path, student: str, assignment: str, plan: dict[str, str]) -> Path:
    """Write ``submitted/<student>/<assignment>/<notebook>`` from the course's release and source versions."""
    course = Path(course)
    (released_path,) = sorted((course / "release" / assignment).glob("*.ipynb"))
    released = json.loads(released_path.read_text(encoding="utf-8"))
    source = json.loads((course / "source" / assignment / released_path.name).read_text(encoding="utf-8"))
    out = course / "submitted" / student / assignment / released_path.name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(make_submission(released, source, plan), indent=1, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    return out
