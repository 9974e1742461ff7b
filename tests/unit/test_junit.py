"""``check --junit FILE``: one testsuite per folder, one testcase per check, valid JUnit XML.

The structure is checked against the rules of Jenkins' JUnit schema (junit-10.xsd, the one
GitLab and GitHub test-report actions also accept): element nesting, required attributes,
integer counts and decimal times, at most one outcome per testcase, counts that add up.
"""

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from autograder import cli

from autograder.report import junit
from autograder.core import CheckResult, Report, Status
from cases import ROOT

DECIMAL = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
OUTCOMES = {"failure", "error", "skipped"}


def validate(path) -> ET.Element:
    """Jenkins junit-10.xsd's rules, as assertions; returns the root."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in root:
        assert suite.tag == "testsuite"
        assert suite.get("name")
        for attr in ("tests", "failures", "errors", "skipped"):
            assert suite.get(attr, "0").isdigit(), (attr, suite.get(attr))
        assert DECIMAL.match(suite.get("time", "0"))
        counted = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for child in suite:
            assert child.tag in {"properties", "testcase", "system-out", "system-err"}, child.tag
            if child.tag == "properties":
                for prop in child:
                    assert prop.tag == "property" and prop.get("name") and prop.get("value") is not None
                continue
            if child.tag != "testcase":
                continue
            assert child.get("name") and child.get("classname")
            assert DECIMAL.match(child.get("time", "0"))
            outcomes = [c for c in child if c.tag in OUTCOMES]
            assert len(outcomes) <= 1
            assert all(c.tag in OUTCOMES | {"system-out", "system-err"} for c in child)
            counted["tests"] += 1
            for c in outcomes:
                if c.tag in ("failure", "error"):
                    assert c.get("type") and c.get("message") is not None
                counted[{"failure": "failures", "error": "errors", "skipped": "skipped"}[c.tag]] += 1
        assert {k: int(suite.get(k, "0")) for k in counted} == counted
        for k in total:
            total[k] += counted[k]
    assert {k: int(root.get(k, "0")) for k in total} == total
    return root


def _report() -> Report:
    return Report("01-images-conteneurs", "Images et conteneurs", [
        CheckResult("01-build", "L'image se construit", 2, 2, Status.PASSED, duration_s=3.25),
        CheckResult("01-serves", "Le conteneur répond", 2, 0, Status.FAILED,
                    "Attendu : une réponse HTTP 200\nObservé : connexion refusée\nÀ faire : EXPOSE 8000"),
        CheckResult("01-cmd", "CMD présent", 1, 0, Status.FAILED,
                    "Attendu : un CMD\nObservé : rien à évaluer encore : pas de CMD\nÀ faire : ajoutez CMD",
                    absent=True),
        CheckResult("01-layer-cache", "Cache des couches", 2, 0, Status.SKIPPED,
                    "non évaluée : 01-build doit d'abord réussir"),
        CheckResult("01-gpu", "GPU", 1, 0, Status.SKIPPED, "pas de GPU sur cette machine", skipped_here=True),
        CheckResult("01-oops", "Erreur", 2, 0, Status.ERROR, "erreur interne du correcteur : boom"),
    ], duration_s=12.5, notes=["Remarque d'essai"])


def test_one_testcase_per_check_with_french_messages(tmp_path):
    out = junit.write(tmp_path / "junit.xml", [("rendu/01-images-conteneurs", junit.report_data(_report()))])
    root = validate(out)
    (suite,) = root
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == ["01-build — L'image se construit", "01-serves — Le conteneur répond",
                           "01-cmd — CMD présent", "01-layer-cache — Cache des couches", "01-gpu — GPU",
                           "01-oops — Erreur"]
    assert {c.get("classname") for c in cases.values()} == {"01-images-conteneurs"}
    assert cases["01-build — L'image se construit"].get("time") == "3.25"
    assert not [c for c in cases["01-build — L'image se construit"] if c.tag in OUTCOMES]
    failure = cases["01-serves — Le conteneur répond"].find("failure")
    assert failure.get("type") == junit.FAILED_TYPE and failure.get("message") == "Attendu : une réponse HTTP 200"
    assert "Observé : connexion refusée" in failure.text and "À faire : EXPOSE 8000" in failure.text
    assert cases["01-cmd — CMD présent"].find("failure").get("type") == junit.ABSENT_TYPE
    assert "01-build doit d'abord réussir" in cases["01-layer-cache — Cache des couches"].find("skipped").get("message")
    assert cases["01-gpu — GPU"].find("skipped").get("message") == "pas de GPU sur cette machine"
    assert cases["01-oops — Erreur"].find("error").get("type") == junit.ERROR_TYPE
    assert cases["01-serves — Le conteneur répond"].find("system-out").text == "Points : 0/2"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["score"] == "2" and props["max_score"] == "10" and props["attainable"] == "9"
    assert props["remarque"] == "Remarque d'essai"
    assert suite.get("tests") == "6" and suite.get("failures") == "2" and suite.get("skipped") == "2"


def test_ungradable_folder_is_one_error_testcase(tmp_path):
    out = junit.write(tmp_path / "j.xml", [("rendu/x", {"error": "Docker is not reachable",
                                                          "error_fr": "Docker ne répond pas"})])
    (suite,) = validate(out)
    (case,) = suite.iter("testcase")
    assert case.find("error").get("message") == "Docker ne répond pas"
    assert case.find("error").get("type") == junit.UNAVAILABLE_TYPE


def test_cli_several_folders_one_suite_each(tmp_path, monkeypatch):
    """The CLI in-process with the grading replaced: each folder's report lands in its own suite,
    the exit status is unchanged, and a folder that names no lab is an error suite."""
    graded = []

    def fake_grade(lab, folder):
        graded.append(folder)
        rep = _report()
        rep.lab = lab.id
        return rep

    monkeypatch.setattr(cli, "grade", fake_grade)
    a = tmp_path / "01-images-conteneurs"
    b = tmp_path / "autre" / "01-images-conteneurs"
    c = tmp_path / "pas-un-tp"
    for d in (a, b, c):
        d.mkdir(parents=True)
    out = tmp_path / "rapports" / "junit.xml"
    code = cli.main(["check", str(a), str(b), str(c), "--junit", str(out)])
    assert code == 2 and len(graded) == 2
    root = validate(out)
    suites = list(root)
    assert [s.get("name") for s in suites] == [f"01-images-conteneurs ({a})", f"01-images-conteneurs ({b})", str(c)]
    assert root.get("tests") == "13"


def test_cli_single_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "grade", lambda lab, folder: _report())
    folder = tmp_path / "01-images-conteneurs"
    folder.mkdir()
    out = tmp_path / "junit.xml"
    assert cli.main(["check", str(folder), "--json", "--junit", str(out)]) == 1
    assert len(list(validate(out).iter("testcase"))) == 6
    assert '"lab": "01-images-conteneurs"' in capsys.readouterr().out


def test_unwritable_junit_is_a_french_warning_not_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "grade", lambda lab, folder: _report())
    folder = tmp_path / "01-images-conteneurs"
    folder.mkdir()
    blocker = tmp_path / "fichier"
    blocker.write_text("x")
    assert cli.main(["check", str(folder), "--junit", str(blocker / "junit.xml")]) == 1
    assert "rapport JUnit non écrit" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--lab", "77"], []])
def test_cli_cannot_grade_still_writes_junit(tmp_path, argv):
    """Exit 2 (unknown lab, no Docker) and a JUnit file that says why, for the CI page."""
    folder = tmp_path / "01-images-conteneurs"
    folder.mkdir()
    out = tmp_path / "junit.xml"
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", str(folder), *argv, "--junit", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (suite,) = validate(out)
    message = suite.find("testcase/error").get("message")
    assert "TP inconnu" in message or "Docker ne répond pas" in message


def test_the_grader_needs_junitparser_only_for_junit():
    """A minimal grader (tests/grader/test_topology.py installs the runtime requirements only)
    grades without junitparser: the CLI imports it when --junit is asked for."""
    code = "import sys, autograder.cli, autograder.engine.batch; assert 'junitparser' not in sys.modules, 'imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
