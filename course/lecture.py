"""The lecture version of a chapter: everything a student version hides is removed, the chapter body stays whole.

    python course/lecture.py 06 [--notebooks notebooks] [--out build/lecture]     (what `make present` runs)

writes build/lecture/06_grad_cam.ipynb, which `make present` serves with Voila on the projector. Compared with the
instructor version in notebooks/:

* the chapter body is unchanged, saved outputs and explorer views included (opened in JupyterLab it shows at once;
  Voila re-runs it, code hidden, explorers live);
* the exercise section (from the first markdown cell starting with "## Exercises" to the end, the section nbgrader
  grades) keeps its text -- the exercise statements and written questions students see -- but loses every code
  cell: the solutions, the check cells with their hints and hidden tests, and the set-up that only feeds the
  checks. Kept as nbgrader's student version keeps them (``raise NotImplementedError()``), the check cells would
  fail loudly on the projector as soon as Voila ran them; a hidden code cell shows nothing anyway;
* every written answer (an nbgrader solution markdown cell) becomes "*(answered in class)*", as nbgrader's
  ``ClearSolutions`` turns it into "YOUR ANSWER HERE"; a ``BEGIN SOLUTION`` ... ``END SOLUTION`` region in a
  markdown cell is replaced the same way, and ``BEGIN MARK SCHEME`` / ``BEGIN HIDDEN TESTS`` regions (marking rubrics,
  hidden tests) are dropped with their delimiters, as ``ClearMarkScheme`` / ``ClearHiddenTests`` drop them;
* a solution region or nbgrader solution/grade code cell *outside* the exercise section is an error (the chapter
  would need it to run, and it would show the answer), not silently shown.

Only the standard library: `make present` needs Voila, not nbgrader.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HEADING = "## Exercises"
ANSWERED = "*(answered in class)*"
NOTE = ("*Lecture version: the exercise code, its checks and the model answers are not shown here. "
        "Students write them in the student version of this chapter (nbgrader).*")
REGIONS = {  # delimiter -> what replaces the region (None: dropped with its delimiters)
    "SOLUTION": ANSWERED,
    "MARK SCHEME": None,
    "HIDDEN TESTS": None,
}


def _source(cell) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def _set_source(cell, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True) if isinstance(cell["source"], list) else text


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def exercise_start(nb) -> int | None:
    """Index of the first markdown cell starting with "## Exercises" (where nbgrader's grading starts), or None."""
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown" and _source(cell).lstrip().startswith(HEADING):
            return i
    return None


def has_region(text: str) -> bool:
    return any(f"BEGIN {name}" in text for name in REGIONS)


def clear_regions(text: str) -> str:
    """Replace each ``BEGIN SOLUTION`` region by ``ANSWERED``; drop mark-scheme and hidden-test regions."""
    out, inside = [], None
    for line in text.split("\n"):
        begin = next((name for name in REGIONS if f"BEGIN {name}" in line), None)
        if inside is None and begin is not None:
            inside = begin
            if REGIONS[begin] is not None:
                out.append(REGIONS[begin])
        elif inside is not None and f"END {inside}" in line:
            inside = None
        elif inside is None:
            out.append(line)
    if inside is not None:
        raise ValueError(f"no END {inside} after BEGIN {inside} in:\n{text[:300]}")
    return "\n".join(out)


def lecture_version(nb: dict, name: str = "notebook") -> dict:
    """A copy of ``nb`` (a notebook as loaded by ``json.load``) with answers, solutions and checks removed."""
    nb = json.loads(json.dumps(nb))
    start = exercise_start(nb)
    start = len(nb["cells"]) if start is None else start
    cells, removed = [], 0
    for i, cell in enumerate(nb["cells"]):
        meta, text = _nbgrader(cell), _source(cell)
        if cell["cell_type"] == "code":
            if i >= start:
                removed += 1
                continue                                  # solutions, checks, their set-up: not on the projector
            if meta.get("solution") or meta.get("grade") or has_region(text):
                raise ValueError(f"{name}: code cell {cell.get('id')} holds a solution or a check but lies above "
                                 f"{HEADING!r}; the lecture version cannot drop it without breaking the chapter")
        elif cell["cell_type"] == "markdown":
            if has_region(text):
                text, removed = clear_regions(text), removed + 1
            elif meta.get("solution"):
                text, removed = ANSWERED, removed + 1     # a written answer: nbgrader's "YOUR ANSWER HERE"
            _set_source(cell, text)
        elif has_region(text):                            # a raw cell
            _set_source(cell, clear_regions(text))
        cells.append(cell)
    if removed and start < len(nb["cells"]):              # say so under the heading (00 has nothing to remove)
        at = next(k for k, cell in enumerate(cells) if cell is nb["cells"][start])
        cells.insert(at + 1, {"cell_type": "markdown", "id": "lecture-note", "metadata": {}, "source": NOTE})
    nb["cells"] = cells
    for cell in cells:                                    # nothing nbgrader-specific is left to show or lock
        cell.get("metadata", {}).pop("nbgrader", None)
    nb.get("metadata", {}).pop("celltoolbar", None)
    return nb


def find_chapter(chapter: str, notebooks: Path) -> Path:
    """``06`` -> notebooks/06_grad_cam.ipynb (the first match, as `make present` picks it); a path is kept."""
    path = Path(chapter)
    if path.suffix == ".ipynb":
        if not path.exists():
            raise SystemExit(f"no notebook {path}")
        return path
    found = sorted(notebooks.glob(f"{chapter}_*.ipynb"))
    if not found:
        raise SystemExit(f"no {notebooks}/{chapter}_*.ipynb; try 06 (or 06b)")
    return found[0]


def build(chapter: str, notebooks: Path = ROOT / "notebooks", out: Path = ROOT / "build" / "lecture") -> Path:
    """Write the lecture version of one chapter into ``out``; return its path."""
    src = find_chapter(chapter, Path(notebooks))
    nb = lecture_version(json.loads(src.read_text(encoding="utf-8")), src.name)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dst = out / src.name
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    return dst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapter", help="a chapter prefix (06, 06b) or a notebook path")
    ap.add_argument("--notebooks", type=Path, default=ROOT / "notebooks")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "lecture")
    args = ap.parse_args(argv)
    try:
        print(build(args.chapter, args.notebooks, args.out))
    except ValueError as err:
        print(f"lecture version not written: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
