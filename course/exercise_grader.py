"""nbgrader's Execute step, run on the exercises only: grading a chapter takes seconds, not the whole chapter.

A chapter is read whole, but it is graded from its "## Exercises" heading on. The exercise section has its own
set-up cell (imports, tiny seeded networks and inputs) and needs nothing from the chapter above it; the chapter body
(a pretrained network, optimisations, t-SNE maps: 10-40 s of CPU) produces no grade. ``ExercisesOnly`` replaces
nbgrader's ``Execute`` in ``Autograde.autograde_preprocessors`` (see the course's ``nbgrader_config.py``) and runs

* every code cell from the first markdown cell starting with "## Exercises" on,
* every cell with nbgrader metadata (solution or check cells) wherever it is,
* every code cell tagged ``grade-setup`` (a chapter-body cell the exercises need; none does today),

and leaves every other code cell of the chapter body unexecuted (no outputs). A notebook without the heading
(e.g. a student deleted it) is run whole, as nbgrader does: slower, never a different grade.

    nbgrader autograde ch05 --ExercisesOnly.skip_chapter_body=False     # run whole chapters (the old way)
"""
from __future__ import annotations

from nbgrader.preprocessors import Execute
from traitlets import Bool, Unicode

SETUP_TAG = "grade-setup"
HEADING = "## Exercises"


def _source(cell) -> str:
    src = cell.get("source", "")
    return src if isinstance(src, str) else "".join(src)


def exercise_start(nb) -> int | None:
    """Index of the first markdown cell starting with "## Exercises", or None."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and _source(cell).lstrip().startswith(HEADING):
            return i
    return None


def cells_to_skip(nb, setup_tag: str = SETUP_TAG) -> set[int]:
    """Indices of the chapter-body code cells the grader does not run."""
    start = exercise_start(nb)
    if start is None:
        return set()
    skip = set()
    for i, cell in enumerate(nb.cells[:start]):
        meta = cell.get("metadata", {})
        if cell.cell_type != "code" or meta.get("nbgrader") or setup_tag in meta.get("tags", []):
            continue
        skip.add(i)
    return skip


class ExercisesOnly(Execute):
    """nbgrader's ``Execute`` that runs only the exercise section (and cells tagged ``grade-setup``)."""

    skip_chapter_body = Bool(True, help="Leave the chapter body above '## Exercises' unexecuted when grading."
                             ).tag(config=True)
    setup_tag = Unicode(SETUP_TAG, help="Tag of a chapter-body code cell the exercises need.").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._skip = cells_to_skip(nb, self.setup_tag) if self.skip_chapter_body else set()
        if self._skip:
            self.log.info("Grading the exercises only: %d chapter-body code cells not run", len(self._skip))
        return super().preprocess(nb, resources, km=km)

    def preprocess_cell(self, cell, resources, index):
        if index in getattr(self, "_skip", ()):
            return cell, resources
        return super().preprocess_cell(cell, resources, index)
