"""What leaves the gradebook for an LMS and for students: grade CSVs and the feedback pages.

``python -m autograder.classroom.course export`` (``make export``) writes, from ``gradebook.db``:

* ``build/nbgrader/grades.csv`` — one row per student and lab: ``student_id, email, last_name,
  first_name, assignment, status, score, max_score, raw_score, late_penalty, timestamp``
  (nbgrader's column names where it has one). ``status`` is ``graded``, ``missing`` (not handed
  in), ``pending`` (handed in, not graded yet) or ``ungradable`` (the grading could not run: no
  Docker…). **``score`` is empty unless the status is ``graded``**: an LMS turns an empty cell
  into "no grade", a 0 into a zero. ``raw_score`` is what the gradebook holds for a submission
  before the late penalty, whatever its status (for the instructor's eyes, never for an LMS).
* ``build/nbgrader/grades-wide.csv`` — one row per student, one column per lab (its score, empty
  when not graded), ``handed_in`` (labs handed in, out of the number of lab columns) and
  ``total_20``: the course grade on 20 = sum of the lab scores / sum of the labs' maximum × 20,
  over every lab of the gradebook (every released lab), **a lab not handed in counting 0**: that
  is what a term grade means (work not handed in earns nothing), while the lab's own cell stays
  empty so that nobody reads it as graded work. A student with a ``pending`` or ``ungradable``
  lab gets no total (it would be false), and the export says so and exits 1.

Numbers use a decimal point and at most two decimals (``10.5``, ``11``): Moodle's grade import
reads a point in every language and a comma only in languages whose decimal separator is a comma
(``unformat_float``). See ``docs/lms-moodle.md``.

Why our own export and not nbgrader's ``export`` post-processed: nbgrader's CSV plugin writes 0.0
for a missing submission (with only an empty timestamp to tell), writes rows with ``str.format``
(no quoting: a comma in a name shifts every column), prints floats as ``repr`` (``0.30000000000000004``)
and knows nothing of submissions not graded yet or whose grading failed. Reading the gradebook
through ``nbgrader.api.Gradebook`` (the public API nbgrader's own plugin uses) gives the same
figures with none of these traps, and the ``csv`` module quotes what needs quoting.

Feedback (``make feedback``): :func:`configure_feedback` (called by ``nbgrader_config.py``) makes
``nbgrader generate_feedback`` render with the French template ``jupyter/nbgrader_templates/
retour_fr`` (nbgrader's supported override: ``HTMLExporter.template_name`` and
``extra_template_basedirs``, set for ``GenerateFeedback`` only, so the formgrader keeps its own),
after :class:`CleanFeedback`, which drops Python tracebacks and the grader's host paths from the
outputs: a failed check shows its French message and nothing of the instructor's machine.
"""

from __future__ import annotations

import csv
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Optional

TEMPLATES = Path(__file__).resolve().parents[2] / "jupyter" / "nbgrader_templates"
TEMPLATE_NAME = "retour_fr"
SCALE = 20  # the course grade is out of 20, as French schools grade
LONG_COLUMNS = ["student_id", "email", "last_name", "first_name", "assignment", "status", "score",
                "max_score", "raw_score", "late_penalty", "timestamp"]
GRADED, MISSING, PENDING, UNGRADABLE = "graded", "missing", "pending", "ungradable"


@dataclass
class Row:
    student_id: str
    email: str
    last_name: str
    first_name: str
    lab: str
    status: str
    max_score: float
    score: Optional[float] = None
    raw_score: Optional[float] = None
    late_penalty: Optional[float] = None
    timestamp: Optional[datetime] = None


def number(x: Optional[float]) -> str:
    """``10.5``, ``11``, ``0``; empty for None. A decimal point, two decimals at most."""
    if x is None:
        return ""
    text = f"{round(float(x), 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _stamp(t: Optional[datetime]) -> str:
    # nbgrader stores naive UTC datetimes.
    return t.replace(microsecond=0).isoformat() + "Z" if t else ""


def rows(root: Path) -> tuple[list[str], list[Row]]:
    """(labs, one row per student and lab) from the course's gradebook. Students are those of
    the gradebook (autograde adds them; ``nbgrader db student import`` adds a roster) and those
    with a folder in ``submitted/``; labs are the gradebook's assignments (the released labs)."""
    from nbgrader.api import Gradebook, MissingEntry

    from autograder.classroom import course

    root = Path(root).resolve()
    if not (root / "gradebook.db").is_file():
        raise SystemExit(f"Pas de carnet de notes ({root / 'gradebook.db'}) : lancez d'abord "
                         "`make release`, puis `make collect` et `make grade`.")
    failed = set(course.ungraded(root))
    submitted = root / "submitted"
    out: list[Row] = []
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course.COURSE_ID) as gb:
        labs = {a.name: float(a.max_score) for a in gb.assignments}
        people = {s.id: (s.email or "", s.last_name or "", s.first_name or "") for s in gb.students}
        if submitted.is_dir():
            for folder in submitted.iterdir():
                if folder.is_dir() and not folder.name.startswith("."):
                    people.setdefault(folder.name, ("", "", ""))
        for student in sorted(people):
            email, last, first = people[student]
            for lab in sorted(labs):
                row = Row(student, email, last, first, lab, MISSING, labs[lab])
                try:
                    sub = gb.find_submission(lab, student)
                except MissingEntry:
                    sub = None
                if sub is not None:
                    row.timestamp = sub.timestamp
                    row.raw_score = float(sub.score)
                    if f"{student}/{lab}" in failed:
                        row.status = UNGRADABLE
                    else:
                        row.status = GRADED
                        row.late_penalty = float(sub.late_submission_penalty or 0)
                        row.score = max(0.0, float(sub.score) - row.late_penalty)
                elif (submitted / student / lab).is_dir():
                    row.status = PENDING
                out.append(row)
    return sorted(labs), out


def write_long(path: Path, table: list[Row]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(LONG_COLUMNS)
        for r in table:
            w.writerow([r.student_id, r.email, r.last_name, r.first_name, r.lab, r.status,
                        number(r.score), number(r.max_score), number(r.raw_score), number(r.late_penalty),
                        _stamp(r.timestamp)])


def wide(labs: list[str], table: list[Row]) -> list[dict[str, str]]:
    """One dict per student: identity, one score per lab (empty unless graded), ``handed_in``
    and ``total_20`` (see the module docstring; empty while a lab is pending or ungradable)."""
    by_student: dict[str, list[Row]] = {}
    for r in table:
        by_student.setdefault(r.student_id, []).append(r)
    out = []
    for student, mine in by_student.items():
        first = mine[0]
        line = {"student_id": student, "email": first.email, "last_name": first.last_name,
                "first_name": first.first_name}
        scores = {r.lab: r for r in mine}
        for lab in labs:
            line[lab] = number(scores[lab].score) if lab in scores else ""
        line["handed_in"] = str(sum(r.status != MISSING for r in mine))
        total_max = sum(r.max_score for r in mine)
        unsure = any(r.status in (PENDING, UNGRADABLE) for r in mine)
        line[f"total_{SCALE}"] = ("" if unsure or total_max <= 0 else
                                  number(sum(r.score or 0.0 for r in mine) / total_max * SCALE))
        out.append(line)
    return out


def write_wide(path: Path, labs: list[str], table: list[Row]) -> None:
    columns = ["student_id", "email", "last_name", "first_name", *labs, "handed_in", f"total_{SCALE}"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        w.writerows(wide(labs, table))


def export(root: Path, out_dir: Optional[Path] = None) -> tuple[Path, Path, list[Row]]:
    """Write grades.csv and grades-wide.csv into ``build/nbgrader/`` (or ``out_dir``); returns
    both paths and the rows that are pending or ungradable (their scores are left empty)."""
    root = Path(root).resolve()
    out_dir = Path(out_dir) if out_dir else root / "build" / "nbgrader"
    out_dir.mkdir(parents=True, exist_ok=True)
    labs, table = rows(root)
    long_path, wide_path = out_dir / "grades.csv", out_dir / "grades-wide.csv"
    write_long(long_path, table)
    write_wide(wide_path, labs, table)
    return long_path, wide_path, [r for r in table if r.status in (PENDING, UNGRADABLE)]


def summary_fr(unsure: list[Row]) -> str:
    """The French warning printed when some scores were left empty for want of a grading."""
    pending = [f"{r.student_id}/{r.lab}" for r in unsure if r.status == PENDING]
    failed = [f"{r.student_id}/{r.lab}" for r in unsure if r.status == UNGRADABLE]
    lines = []
    if pending:
        lines.append("Rendus pas encore notés (lancez `make grade`) : " + ", ".join(pending))
    if failed:
        lines.append("Correction impossible (relancez `make grade` une fois Docker disponible) : "
                     + ", ".join(failed))
    if lines:
        lines.append("Leur note et le total de ces étudiants sont laissés vides dans les CSV.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Feedback pages
# ---------------------------------------------------------------------------------------------
def host_prefixes(root: Path) -> list[tuple[re.Pattern, str]]:
    """(pattern, replacement) for the host paths a feedback page must not show, most specific
    first: the submission's own folder (made relative), the grader's temporary copy of it, the
    course root and the grader's virtual environment (replaced by « … »)."""
    root = Path(root).resolve()
    tmp = re.escape(tempfile.gettempdir().rstrip("/"))
    pairs = [
        (rf"{re.escape(str(root / 'autograded'))}/[^/\s]+/[^/\s]+/?", ""),
        (rf"{re.escape(str(root / 'submitted'))}/[^/\s]+/[^/\s]+/?", ""),
        (rf"(?:/private)?{tmp}/autograder-[^/\s]+/(?:\d{{2}}-[a-z0-9-]+/?)?", ""),
    ]
    # Not the home folder nor the system's prefix: `/root`, `/usr` are also paths inside the
    # students' containers, which the French messages name on purpose.
    others = {str(root)} | ({sys.prefix} if sys.prefix != sys.base_prefix else set())
    for prefix in sorted((p.rstrip("/") for p in others if p.rstrip("/")), key=len, reverse=True):
        pairs.append((rf"{re.escape(prefix)}(?=/|\b)", "…"))
    return [(re.compile(p), r) for p, r in pairs]


def scrub(text: str, prefixes: list[tuple[re.Pattern, str]]) -> str:
    for pattern, replacement in prefixes:
        text = pattern.sub(replacement, text)
    return text


def _clean_feedback():
    from nbconvert.preprocessors import Preprocessor
    from traitlets import Bool, Unicode

    class CleanFeedback(Preprocessor):
        """Before a feedback page is rendered: no traceback in error outputs (the French
        message is the exception's value), no host path in any output."""

        enabled = Bool(True, help="nbconvert runs only enabled preprocessors").tag(config=True)
        course_root = Unicode("", help="course root, whose paths never reach a student").tag(config=True)

        def preprocess(self, nb, resources):
            self._prefixes = host_prefixes(Path(self.course_root or os.getcwd()))
            return super().preprocess(nb, resources)

        def preprocess_cell(self, cell, resources, index):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = []
                    out["evalue"] = scrub(str(out.get("evalue", "")), self._prefixes)
                elif out.get("output_type") == "stream":
                    out["text"] = scrub(out.get("text", ""), self._prefixes)
                for mime, value in (out.get("data") or {}).items():
                    if mime.startswith("text/") and isinstance(value, str):
                        out["data"][mime] = scrub(value, self._prefixes)
            return cell, resources

    return CleanFeedback


def __getattr__(name):  # nbconvert is imported only when the preprocessor is asked for
    if name == "CleanFeedback":
        cls = _clean_feedback()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


def configure_feedback(c, root: Path) -> None:
    """The feedback settings of the nbgrader config ``c``: the French template and the
    cleaning preprocessor, for ``GenerateFeedback`` (command line and formgrader) only."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades

    from autograder.classroom.exports import CleanFeedback

    nbgrader_templates = Path(__import__("nbgrader").__file__).parent / "server_extensions" / "formgrader" / "templates"
    c.GenerateFeedback.preprocessors = [GetGrades, CleanFeedback, CSSHTMLHeaderPreprocessor]
    c.GenerateFeedback.HTMLExporter.template_name = TEMPLATE_NAME
    c.GenerateFeedback.HTMLExporter.extra_template_basedirs = [str(TEMPLATES), str(nbgrader_templates)]
    c.CleanFeedback.course_root = str(Path(root).resolve())
