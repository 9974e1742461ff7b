"""nbgrader configuration of the course (nbgrader 0.9.6), read from the repository root.

The course root is the folder of this file; the source directory is ``labs/`` (reference
solutions live in ``solutions/``, outside it, and are never released). Everything else (release,
submitted, autograded, feedback, gradebook.db — all git-ignored) is derived in
``autograder/classroom/course.py``: files not overwritten at autograde, extensions zip_collect accepts, cell
timeout, grade cells only at autograde. The cycle: ``make release collect grade feedback export``.
"""

from pathlib import Path

from autograder.classroom.course import configure
from autograder.classroom.exports import configure_feedback

configure(get_config(), Path(__file__).resolve().parent)  # noqa: F821 - provided by traitlets
# Feedback pages in French, without tracebacks nor host paths (autograder/classroom/exports.py).
configure_feedback(get_config(), Path(__file__).resolve().parent)  # noqa: F821
