"""Check registry, runner logic and report — no Docker needed (a fake sandbox stands in)."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from autograder import report
from autograder.core import Check, Fail, GraderUnavailable, Lab, NotYet, Skip, Status, several
from autograder.registry import all_labs, get_lab, lab_for_folder
from autograder.engine.runner import grade, student_text


class FakeSandbox:
    job = "ag-test0001"
    closed = False
    labels = {"org.4data.autograder.job": job}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        FakeSandbox.closed = True

    def alive(self):
        return True


def make_lab() -> Lab:
    lab = Lab("99-essai", "Essai", files=("f.txt",))

    @lab.check("99-present", "Le fichier est là", 2)
    def present(g):
        if not (g.workdir / "f.txt").exists():
            raise Fail("f.txt", "absent", "créez f.txt")

    @lab.check("99-content", "Le contenu est bon", 1, requires=["99-present"])
    def content(g):
        if (g.workdir / "f.txt").read_text() != "ok":
            raise Fail("ok", "autre chose", "écrivez ok")

    @lab.check("99-gpu", "GPU réel", 1)
    def gpu(g):
        raise Skip("pas de runtime NVIDIA sur cette machine")

    @lab.check("99-bug", "Bogue du correcteur", 1)
    def bug(g):
        return {}["missing"]

    return lab


def test_full_pass_skip_and_error(tmp_path):
    (tmp_path / "f.txt").write_text("ok")
    r = grade(make_lab(), tmp_path, sandbox_factory=FakeSandbox)
    status = {x.id: x.status for x in r.results}
    assert status == {"99-present": Status.PASSED, "99-content": Status.PASSED,
                      "99-gpu": Status.SKIPPED, "99-bug": Status.ERROR}
    assert r.score == 3 and r.max_score == 5 and not r.all_passed
    assert FakeSandbox.closed
    assert "Erreur interne du correcteur" in r.results[3].message
    assert "pas de runtime NVIDIA" in r.results[2].message
    # Skipped because of the host, not the work: left out of what can be earned here, never passed.
    assert r.results[2].skipped_here and r.results[2].earned == 0
    assert not r.results[1].skipped_here and r.attainable == r.max_score - r.results[2].points


def test_failed_prerequisite_skips_dependants_with_reason(tmp_path):
    r = grade(make_lab(), tmp_path, sandbox_factory=FakeSandbox)
    first, second = r.results[0], r.results[1]
    assert not second.skipped_here  # skipped because of the work: it counts against the score
    assert first.status is Status.FAILED and first.earned == 0
    assert first.message.splitlines() == ["Attendu : f.txt", "Observé : absent", "À faire : créez f.txt"]
    assert second.status is Status.SKIPPED and "99-present" in second.message


def test_check_declaration_is_validated():
    lab = Lab("98-essai", "Essai", files=())
    with pytest.raises(ValueError):
        lab.add(Check("97-wrong-lab", "x", 1, lambda g: None))
    lab.add(Check("98-a", "a", 1, lambda g: None))
    with pytest.raises(ValueError):
        lab.add(Check("98-a", "a", 1, lambda g: None))
    with pytest.raises(ValueError):
        lab.add(Check("98-b", "b", 1, lambda g: None, requires=("98-later",)))
    with pytest.raises(ValueError):
        Check("98-c", "c", 0, lambda g: None)
    with pytest.raises(ValueError):
        Lab("9-bad", "x", files=())


def test_registry_is_derived_and_consistent():
    labs = all_labs()
    assert [lab.id for lab in labs] == sorted(lab.id for lab in labs)
    ids = [c.id for lab in labs for c in lab.checks]
    assert len(ids) == len(set(ids))
    for lab in labs:
        assert lab.checks and lab.max_score == 10
        assert all(c.title.strip() for c in lab.checks)


def test_get_lab_accepts_numbers_and_ids(tmp_path):
    first = all_labs()[0]
    assert get_lab(first.number) is first
    assert get_lab(str(int(first.number))) is first
    assert get_lab(first.id) is first
    with pytest.raises(GraderUnavailable) as err:
        get_lab("42")
    assert "TP inconnu" in err.value.fr
    folder = tmp_path / first.id
    folder.mkdir()
    assert lab_for_folder(folder) is first
    with pytest.raises(GraderUnavailable):
        lab_for_folder(tmp_path)


def test_report_json_contract_and_scorecard(tmp_path):
    r = grade(make_lab(), tmp_path, sandbox_factory=FakeSandbox)
    data = r.to_json()
    assert set(data) >= {"lab", "score", "max_score", "duration_s", "checks"}
    assert set(data["checks"][0]) == {"id", "title", "points", "earned", "status", "skipped_here", "absent",
                                     "message"}
    assert {c["status"] for c in data["checks"]} <= {"passed", "failed", "skipped", "error"}
    json.dumps(data)
    out = io.StringIO()
    report.render(r, Console(file=out, width=60, color_system=None))
    text = out.getvalue()
    assert "Le fichier est là" in text and "Attendu : f.txt" in text and "Note : 0 / 5" in text


def test_absent_subject_earns_nothing_says_so_and_blocks_its_dependants(tmp_path):
    """A check whose subject is not there yet fails at 0 points with « rien à évaluer encore », is
    told apart in the JSON and the scorecard, and the checks that need it are skipped."""
    lab = Lab("98-essai", "Essai", files=("f.txt",))

    @lab.check("98-app", "L'application est dans l'image", 2)
    def app(g):
        raise NotYet("app.py dans l'image", "aucun code copié", "ajoutez `COPY . .`.")

    @lab.check("98-run", "Elle répond", 1, requires=["98-app"])
    def run(g):
        return None

    r = grade(lab, tmp_path, sandbox_factory=FakeSandbox)
    first, second = r.results
    assert (first.status, first.earned, first.absent) == (Status.FAILED, 0.0, True)
    assert "Observé : rien à évaluer encore : aucun code copié" in first.message
    assert "À faire : ajoutez `COPY . .`." in first.message
    assert second.status is Status.SKIPPED and "98-app" in second.message and not second.absent
    assert r.to_json()["checks"][0]["absent"] is True
    out = io.StringIO()
    report.render(r, Console(file=out, width=120))
    assert "rien à évaluer encore" in out.getvalue()


def test_student_text_has_no_colour_codes_nor_the_graders_temporary_folder(tmp_path):
    work = tmp_path / "autograder-x" / "02-volumes-persistance"
    raw = (f"\x1b[31merror\x1b[0m in {work}/compose.yaml line 3\n\x1b[1A\x1b[2Kcontext {work}")
    assert student_text(raw, work) == "error in compose.yaml line 3\ncontext ."


def test_several_problems_are_listed_all_numbered_and_capped():
    one = Fail("a", "b", "c")
    assert several([one]) is one
    many = several([Fail(f"port {i} non publié", f"port {i} publié", f"retirez le port {i}", rule="R")
                    for i in range(7)], cap=5)
    text = many.message()
    assert "7 problèmes" in text and "1. port 0 publié (attendu : port 0 non publié)" in text
    assert "5. retirez le port 4" in text and "port 5 publié" not in text and "… et 2 autres" in text
    assert many.rule == "R"
