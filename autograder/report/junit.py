"""JUnit XML reports for CI runners (``python -m autograder check DIR… --junit FILE``).

GitLab (``artifacts:reports:junit``), GitHub Actions (test-report actions) and Jenkins (``junit``
step) show a JUnit file per test. Here: one ``<testsuite>`` per graded folder, one ``<testcase>``
per check, ``classname`` = the lab id, ``name`` = the check id and its French title:

* a check that passed is a plain testcase;
* a check that failed carries ``<failure>`` with the French message (expected, observed, what to
  do), ``type`` ``echec`` — or ``rien-a-evaluer`` when its subject is not there yet;
* a grader error in a check is ``<error>``;
* a check not judged (a prerequisite failed, or this host cannot judge it) is ``<skipped>`` with
  the reason;
* the points earned are in the testcase's ``<system-out>`` and in the suite's properties (score,
  max_score, attainable), the time per check when the grader measured it.

A folder that could not be graded at all (no Docker, unknown lab) becomes a suite with one
``correction`` testcase in ``<error>``, so that the CI page shows why instead of an empty report.

Written with junitparser (pure Python, pinned in requirements.txt).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from junitparser import Error, Failure, JUnitXml, Properties, Property, Skipped, TestCase, TestSuite

from autograder.core import Report
from autograder.report import _fmt

FAILED_TYPE = "echec"
ABSENT_TYPE = "rien-a-evaluer"
ERROR_TYPE = "erreur"
UNAVAILABLE_TYPE = "correction-impossible"


def report_data(result: Report) -> dict:
    """``Report.to_json()`` plus each check's grading time (``duration_s``), which the JSON
    report leaves out but JUnit has a place for."""
    data = result.to_json()
    for check, r in zip(data["checks"], result.results):
        check["duration_s"] = round(r.duration_s, 3)
    return data


def _first_line(text: str, limit: int = 200) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _case(lab: str, check: dict) -> TestCase:
    case = TestCase(f"{check['id']} — {check['title']}", classname=lab,
                    time=float(check.get("duration_s") or 0.0))
    message = check.get("message") or ""
    status = check.get("status")
    if status == "failed":
        kind = ABSENT_TYPE if check.get("absent") else FAILED_TYPE
        outcome = Failure(_first_line(message) or "vérification échouée", kind)
        outcome.text = message
        case.result = [outcome]
    elif status == "error":
        outcome = Error(_first_line(message) or "erreur du correcteur", ERROR_TYPE)
        outcome.text = message
        case.result = [outcome]
    elif status == "skipped":
        outcome = Skipped(_first_line(message) or "non évaluée")
        outcome.text = message
        case.result = [outcome]
    case.system_out = f"Points : {_fmt(check.get('earned', 0))}/{_fmt(check.get('points', 0))}"
    return case


def suite(folder: str, data: dict) -> TestSuite:
    """The testsuite of one graded folder: ``data`` is a report's JSON (``Report.to_json``,
    optionally with ``duration_s`` per check) or an error object (``error``/``error_fr``)."""
    if "checks" not in data:
        ts = TestSuite(f"{folder}")
        case = TestCase("correction", classname=Path(folder).name or folder)
        reason = data.get("error_fr") or data.get("error") or "le correcteur n'a pas pu corriger ce dossier"
        outcome = Error(_first_line(reason), UNAVAILABLE_TYPE)
        outcome.text = reason + (f"\n{data['error']}" if data.get("error") and data.get("error_fr") else "")
        case.result = [outcome]
        ts.add_testcase(case)
        ts.update_statistics()
        return ts
    lab = data.get("lab", "")
    ts = TestSuite(f"{lab} ({folder})")
    ts.add_property("lab", lab)
    ts.add_property("dossier", folder)
    for key in ("score", "max_score", "attainable"):
        if key in data:
            ts.add_property(key, f"{data[key]:g}")
    if data.get("incomplete"):
        ts.add_property("incomplete", "true")
    for check in data["checks"]:
        ts.add_testcase(_case(lab, check))
    for note in data.get("notes") or ():
        ts.add_property("remarque", note)
    ts.update_statistics()
    return ts


def build(entries: Iterable[tuple[str, dict]]) -> JUnitXml:
    xml = JUnitXml("autograder")
    for folder, data in entries:
        xml.add_testsuite(suite(folder, data))
    xml.update_statistics()
    return xml


def write(path: Path, entries: Iterable[tuple[str, dict]]) -> Path:
    """Write the JUnit report of ``entries`` ((folder, report JSON or error) pairs) to ``path``."""
    path = Path(path)
    if path.parent and not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
    build(entries).write(str(path), pretty=True)
    return path


def write_quietly(path: Optional[Path], entries: list[tuple[str, dict]]) -> Optional[str]:
    """:func:`write`, returning a French message instead of raising when the file cannot be
    written (a read-only folder): the grading itself already succeeded."""
    if path is None:
        return None
    try:
        write(path, entries)
    except OSError as exc:
        return f"rapport JUnit non écrit dans {path} : {exc.strerror or exc}"
    return None
