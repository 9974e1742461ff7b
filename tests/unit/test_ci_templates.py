"""The CI jobs of the student release (ci/), validated against the schemas check-jsonschema vendors
(GitLab CI, GitHub workflows), what they run, and the instructor's collect-ci round trip."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autograder.classroom import ci, course, nbgrade
from autograder.registry import all_labs, get_lab
from cases import ROOT

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
SCHEMAS = {"gitlab-ci.yml": "vendor.gitlab-ci", "github-classroom.yml": "vendor.github-workflows"}


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "01-images-conteneurs"
    ci.install(out, "01-images-conteneurs")
    return out


@pytest.mark.parametrize("template", sorted(SCHEMAS))
def test_templates_valid_against_vendored_schema(released, template):
    path = released / ci.INSTALLED[template]
    proc = subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", SCHEMAS[template], str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_can_fail(tmp_path):
    """The schema test above is not vacuous: a broken job is refused."""
    bad = tmp_path / ".gitlab-ci.yml"
    bad.write_text("correction:\n  script: 3\n  artifacts:\n    reports:\n      junit: [1]\n")
    proc = subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.gitlab-ci", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1


def test_gitlab_job_grades_on_dind_and_keeps_both_reports(released):
    doc = yaml.safe_load((released / ".gitlab-ci.yml").read_text())
    assert doc["variables"]["LAB"] == "01-images-conteneurs"
    assert doc["variables"]["DOCKER_HOST"] == "tcp://docker:2376"
    assert doc["variables"]["DOCKER_TLS_CERTDIR"] == "/certs"
    job = doc["correction"]
    (service,) = job["services"]
    assert service["name"].startswith("docker:") and service["name"].endswith("-dind") and service["alias"] == "docker"
    script = "\n".join(job["script"])
    assert "python -m autograder check" in script and "--json" in script and "--junit rapport-correcteur/junit.xml" in script
    assert "python -m autograder.classroom.ci scorecard" in script and script.rstrip().endswith("exit $code")
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] == "rapport-correcteur/junit.xml"
    assert "rapport-correcteur/" in job["artifacts"]["paths"]


def test_github_workflow_same_job(released):
    doc = yaml.safe_load((released / ".github/workflows/correction.yml").read_text())
    job = doc["jobs"]["correction"]
    assert job["env"]["LAB"] == "01-images-conteneurs"
    run = "\n".join(step.get("run", "") for step in job["steps"])
    assert "python -m autograder check" in run and "--junit rapport-correcteur/junit.xml" in run
    assert "GITHUB_STEP_SUMMARY" in run
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "rapport-correcteur/"
    assert "push" in doc.get("on", doc.get(True))  # YAML 1.1 reads the key `on` as True


@pytest.mark.parametrize("lab", [lab.id for lab in all_labs()])
def test_every_lab_gets_its_id(tmp_path, lab):
    for path in ci.install(tmp_path, lab):
        text = path.read_text()
        assert ci.LAB_MARK not in text and f'"{lab}"' in text


def test_release_gets_the_jobs(tmp_path):
    (tmp_path / "release" / "01-images-conteneurs").mkdir(parents=True)
    written = ci.install_release(tmp_path, ["01-images-conteneurs", "02-volumes-persistance"])
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "release/01-images-conteneurs/.github/workflows/correction.yml",
        "release/01-images-conteneurs/.gitlab-ci.yml"]


def test_a_labs_own_pipeline_is_never_replaced(tmp_path):
    """Lab 10 grades the student's own .gitlab-ci.yml: the grading job goes beside it."""
    lab = "10-ci-cd"
    dest = tmp_path / "release" / lab
    shutil.copytree(ROOT / "labs" / lab, dest)
    written = ci.install_release(tmp_path, [lab])
    assert (dest / ".gitlab-ci.yml").read_bytes() == (ROOT / "labs" / lab / ".gitlab-ci.yml").read_bytes()
    assert sorted(p.relative_to(dest).as_posix() for p in written) == [
        ".github/workflows/correction.yml", ".gitlab-ci.correction.yml"]
    assert f'"{lab}"' in (dest / ".gitlab-ci.correction.yml").read_text()


# ---------------------------------------------------------------------------------------------
# scorecard and collect-ci
# ---------------------------------------------------------------------------------------------
def _full_marks(lab_id="01-images-conteneurs") -> dict:
    lab = get_lab(lab_id)
    checks = [{"id": c.id, "title": c.title, "points": c.points, "earned": c.points, "status": "passed",
               "skipped_here": False, "absent": False, "message": ""} for c in lab.checks]
    return {"lab": lab.id, "score": lab.max_score, "max_score": lab.max_score, "attainable": lab.max_score,
            "duration_s": 9.1, "incomplete": False, "notes": [], "checks": checks}


def test_scorecard_from_json(tmp_path, capsys):
    path = tmp_path / "autograder.json"
    path.write_text(json.dumps(_full_marks()) + "\n")
    md = tmp_path / "summary.md"
    assert ci.scorecard(path, md) == 0
    out = capsys.readouterr().out
    assert "Note : 10 / 10" in out and "01-layer-cache" in out
    assert "| `01-build`" in md.read_text()
    empty = tmp_path / "vide.json"
    empty.write_text("")
    assert ci.scorecard(empty) == 2 and "Pas de rapport lisible" in capsys.readouterr().err


def _artifact(base: Path, student: str, data: dict, nested: str = "rapport-correcteur") -> Path:
    folder = base / student / nested
    (folder / "rendu").mkdir(parents=True)
    for name in ("Dockerfile", "app.py", "requirements.txt"):
        (folder / "rendu" / name).write_bytes((ROOT / "solutions/01-images-conteneurs" / name).read_bytes())
    (folder / "autograder.json").write_text(json.dumps(data))
    return folder


def test_collect_ci_fills_submitted_and_the_report_cache(tmp_path):
    root = tmp_path / "cours"
    (root / "labs" / "01-images-conteneurs").mkdir(parents=True)
    artifacts = tmp_path / "artefacts"
    _artifact(artifacts, "alice", _full_marks())
    tampered = _full_marks()
    tampered["checks"][0]["earned"] = 99
    _artifact(artifacts, "bob", tampered)
    stale = _full_marks()
    stale["checks"].pop()
    _artifact(artifacts, "carol", stale, nested="x/y")
    (artifacts / "dave").mkdir()
    done, refused = ci.collect(root, artifacts)
    assert done == ["alice/01-images-conteneurs"]
    assert [r.split(" : ")[0] for r in refused] == ["bob", "carol", "dave"]
    assert "points incohérents" in refused[0] and "pas celles du TP" in refused[1]
    submitted = root / "submitted" / "alice" / "01-images-conteneurs"
    assert (submitted / "Dockerfile").read_bytes() == (ROOT / "solutions/01-images-conteneurs/Dockerfile").read_bytes()
    cached = root / ci.CACHE / f"{nbgrade.report_key('01-images-conteneurs', submitted)}.json"
    assert json.loads(cached.read_text())["score"] == 10
    assert not (root / "submitted" / "bob").exists()
    assert course.submitted_labs(root) == ["01-images-conteneurs"]


def test_grade_cells_read_the_runners_report(tmp_path, monkeypatch):
    """After collect-ci, a grade cell on the submitted folder takes the runner's report from the
    cache make grade points it at, and grades nothing itself."""
    root = tmp_path / "cours"
    (root / "labs" / "01-images-conteneurs").mkdir(parents=True)
    data = _full_marks()
    data["checks"][1]["earned"] = 0
    data["checks"][1]["status"] = "failed"
    data["checks"][1]["message"] = "Attendu : x\nObservé : y"
    data["score"] = round(data["score"] - data["checks"][1]["points"], 2)
    _artifact(tmp_path / "a", "alice", data)
    assert ci.collect(root, tmp_path / "a")[0] == ["alice/01-images-conteneurs"]

    def no_grading(lab, folder):
        raise AssertionError("graded again instead of reading the runner's report")

    monkeypatch.setattr(nbgrade, "_run_grader", no_grading)
    monkeypatch.setattr(nbgrade, "_CACHE", {})
    monkeypatch.setenv(nbgrade.CACHE_ENV, str(root / ci.CACHE))
    folder = root / "submitted" / "alice" / "01-images-conteneurs"
    assert nbgrade.rapport("01", folder) == data
    passed, message = nbgrade.resultat(data["checks"][1]["id"], folder)
    assert not passed and "Observé : y" in message


def test_collect_ci_cli_exit_status(tmp_path):
    root = tmp_path / "cours"
    (root / "labs" / "01-images-conteneurs").mkdir(parents=True)
    _artifact(tmp_path / "a", "alice", _full_marks())
    assert ci.main(["collect", str(tmp_path / "a"), "--root", str(root)]) == 0
    (tmp_path / "a" / "zoe").mkdir()
    assert ci.main(["collect", str(tmp_path / "a"), "--root", str(root)]) == 1
