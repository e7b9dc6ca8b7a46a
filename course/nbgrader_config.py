# nbgrader configuration of the vizlab course (written by `make course` next to gradebook.db; edit freely).
# Run every nbgrader command from this folder, with the venv's executable (.venv/bin/nbgrader, or activate the venv).
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)                       # exercise_grader.py lives next to this file

from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput,  # noqa: E402
                                    SaveAutoGrades)
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402

from exercise_grader import ExercisesOnly  # noqa: E402

c = get_config()  # noqa: F821 (provided by nbgrader when it reads this file)

c.CourseDirectory.root = HERE
c.CourseDirectory.course_id = "vizlab"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")
# One assignment per chapter: ch01 .. ch12 and ch06b, each holding that chapter's notebook.

# Grading runs the exercise section only (from the "## Exercises" heading on); the chapter body above it makes no
# grade and would cost 10-40 s of CPU per submission. nbgrader's own list, with Execute replaced:
c.Autograde.autograde_preprocessors = [ExercisesOnly, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                       SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
# Seconds one cell may run before nbgrader interrupts it; the interrupted check scores 0 and grading goes on with the
# next cell. Every exercise cell of the instructor version takes at most about 1.5 s (09's set-up: the digits CNN and
# its features); 30 s (nbgrader's default, set here so that it is visible) leaves 20x for a slow but correct answer
# and bounds what a student's endless loop costs: 30 s per check cell.
c.ExecutePreprocessor.timeout = 30
c.Execute.timeout = 30
# A re-submission replaces the earlier one; students are created when their first submission is graded.
c.Autograde.create_student = True

# nbgrader's exchange (release_assignment, fetch_assignment, submit, collect, release_feedback) in a folder next to
# this file: enough on one machine. On a shared JupyterHub, point every user at one shared, writable folder
# (nbgrader's default is /srv/nbgrader/exchange). Handing out release/<chapter>/ through a learning platform and
# putting the files into submitted/<student>/<chapter>/ needs no exchange at all.
c.Exchange.root = os.path.join(HERE, "exchange")
