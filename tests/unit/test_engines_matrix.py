"""The engine matrix's pure logic (tests/engines/): expectations per case, the comparison across
lanes, the table, lab selection, and the docker-save → gzip OCI layout conversion."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

import pytest

ENGINES = Path(__file__).resolve().parents[1] / "engines"
sys.path.insert(0, str(ENGINES))

from expect import Case, differences, problems, statuses, table, triage  # noqa: E402
from matrix import derive_cases, select_labs  # noqa: E402
from ocilayout import OCI_LAYER_GZIP, convert, layer_media_types, qualified  # noqa: E402

from cases import lab_ids, tar_of  # noqa: E402


def check(cid, status="passed", skipped_here=False, message=""):
    return {"id": cid, "status": status, "skipped_here": skipped_here, "message": message}


def result(checks, score, attainable=10.0, max_score=10.0):
    return {"lab": "01-x", "score": score, "attainable": attainable, "max_score": max_score, "checks": checks}


FAILED = "Attendu : x\nObservé : y\nÀ faire : z"


# -- expectations ---------------------------------------------------------------------------
def test_solution_at_attainable_marks_with_exit_0_is_fine():
    r = result([check("a"), check("gpu", "skipped", True, "pas de GPU ici")], 8.0, attainable=8.0)
    assert problems(Case("01-x", "solution", "solution"), 0, r) == []


def test_solution_below_attainable_names_the_checks_and_the_exit_status():
    r = result([check("a"), check("b", "failed", message=FAILED)], 8.0)
    found = problems(Case("01-x", "solution", "solution"), 1, r)
    assert any("score 8.0 != attainable 10.0 (b)" in p for p in found)
    assert any("exit status 1" in p for p in found)


def test_solution_skipped_here_needs_a_reason():
    r = result([check("a"), check("gpu", "skipped", True, "")], 5.0, attainable=5.0)
    assert problems(Case("01-x", "solution", "solution"), 0, r) == ["gpu: skipped here without a reason"]


def test_starter_over_20_percent_or_without_expected_observed_is_a_problem():
    case = Case("01-x", "starter", "starter")
    assert problems(case, 1, result([check("a", "failed", message=FAILED)], 2.0)) == []
    assert problems(case, 1, result([check("a", "failed", message=FAILED)], 2.5)) == ["score 2.5 > 20 % of 10.0"]
    assert problems(case, 0, result([check("a", "failed", message="non")], 0.0)) == [
        "exit status 0, expected 1", "a: failure message lacks Attendu/Observé"]


def test_mutant_must_fail_exactly_its_checks_among_those_judged_here():
    case = Case("01-x", "mutant", "m", frozenset({"b", "gpu"}))
    ok = result([check("a"), check("b", "failed", message=FAILED), check("gpu", "skipped", True, "pas ici")], 5.0)
    assert problems(case, 1, ok) == []
    extra = result([check("a", "skipped", message="dépend de b"), check("b", "failed", message=FAILED),
                    check("gpu", "skipped", True, "pas ici")], 0.0)
    assert problems(case, 1, extra) == ["not passed unexpectedly: a"]
    missed = result([check("a"), check("b"), check("gpu", "skipped", True, "pas ici")], 10.0)
    assert problems(case, 0, missed) == ["not passed passed but must fail: b"]


def test_mutant_errors_and_bare_failure_messages_are_problems():
    case = Case("01-x", "mutant", "m", frozenset({"a", "b"}))
    r = result([check("a", "error", message="Traceback"), check("b", "failed", message="Attendu : x")], 0.0)
    assert problems(case, 1, r) == ["a: error: Traceback", "b: failure message lacks Attendu/À faire"]


def test_no_result_is_a_problem_that_keeps_stderr():
    found = problems(Case("01-x", "alternative", "alt"), 2, None, "boom\n")
    assert found == ["no grading result (exit 2): boom"]


def test_alternative_needs_full_attainable_marks():
    case = Case("01-x", "alternative", "alt")
    assert problems(case, 0, result([check("a")], 10.0)) == []
    assert problems(case, 1, result([check("a", "failed", message=FAILED)], 0.0)) == [
        "score 0.0 != attainable 10.0 (a)"]


def test_case_ids():
    assert Case("01-x", "solution", "solution").id == "01-x/solution"
    assert Case("01-x", "mutant", "m").id == "01-x/mutant/m"


# -- comparison across lanes -----------------------------------------------------------------
def entry(r):
    return {"statuses": statuses(r), "messages": {c["id"]: c["message"] for c in r["checks"] if c["status"] != "passed"}}


def test_same_statuses_do_not_differ_whatever_the_messages_or_durations():
    a = result([check("a"), check("b", "failed", message="x")], 5.0)
    b = result([check("a"), check("b", "failed", message="autre texte")], 5.0)
    assert differences({"host": entry(a), "sid": entry(b)}) == []
    assert differences({"host": entry(a)}) == []


def test_a_different_status_is_reported_with_each_lanes_message():
    a = result([check("a"), check("b", "failed", message="trop gros")], 5.0)
    b = result([check("a"), check("b")], 10.0)
    assert differences({"host": entry(a), "sid": entry(b)}) == [
        {"check": "b", "lanes": {"host": {"status": "failed", "message": "trop gros"},
                                 "sid": {"status": "passed", "message": ""}}}]


def test_skipped_here_differs_from_a_plain_skip_and_a_missing_result_differs_everywhere():
    a = result([check("gpu", "skipped", True, "pas de GPU")], 0.0)
    b = result([check("gpu", "skipped", False, "dépend de x")], 0.0)
    assert [d["check"] for d in differences({"host": entry(a), "sid": entry(b)})] == ["gpu"]
    missing = differences({"host": entry(a), "sid": {"statuses": {}, "messages": {}}})
    assert missing[0]["lanes"]["sid"]["status"] == "absent"


def test_an_engine_bound_lab_compares_a_check_only_between_the_lanes_that_judge_it():
    podman = result([check("pods", "passed"), check("data", "failed", message="perdu")], 30.0)
    docker = result([check("pods", "skipped", True, "aucun Podman"), check("data", "skipped", True, "aucun Podman")], 1.0)
    sid = result([check("pods", "skipped", True, "aucun Podman"), check("data", "skipped", True, "aucun Podman")], 1.0)
    lanes = {"host": entry(docker), "sid": entry(sid), "podman": entry(podman)}
    assert [d["check"] for d in differences(lanes)] == ["data", "pods"]   # a Docker lab: they differ
    assert differences(lanes, engine_bound=True) == []
    # two lanes that both judge the check still must agree
    other = result([check("pods", "passed"), check("data", "passed")], 30.0)
    assert [d["check"] for d in differences({**lanes, "podman2": entry(other)}, engine_bound=True)] == ["data"]


def test_a_known_engine_difference_is_excused_only_on_its_lane_and_reported_once_gone():
    cid = "04-registre/alternative/x"
    good = {"statuses": {"a": "passed"}, "messages": {}, "problems": []}
    worse = {"statuses": {"a": "failed"}, "messages": {"a": "latest seulement"}, "problems": ["score 2.0 != 10.0"]}
    known = {("podman", cid): "one tag per push"}

    def case(**lanes):
        e = {"id": cid, "lanes": lanes}
        e["differences"] = differences(lanes)
        return e

    assert triage(case(host=good, podman=worse), known) == (False, ["podman: one tag per push"], [])
    # the same failure on a lane with no known reason still fails the run
    assert triage(case(host=good, sid=worse, podman=worse), known)[0] is True
    assert triage(case(host=good, podman=worse), {})[0] is True
    # fixed upstream: the entry is reported as stale, and nothing is excused
    assert triage(case(host=good, podman=good), known) == (False, [], ["podman"])


# -- table -------------------------------------------------------------------------------------
def test_table_counts_cases_per_lab_and_lane_and_the_differences():
    def lane(problems_, wall):
        return {"problems": problems_, "wall_s": wall}
    cases = [
        {"lab": "01-a", "lanes": {"host": lane([], 30), "sid": lane([], 45)}, "differences": []},
        {"lab": "01-a", "lanes": {"host": lane([], 30), "sid": lane(["x"], 15)}, "differences": [{"check": "c"}]},
        {"lab": "02-b", "lanes": {"host": lane([], 125), "sid": lane([], 60)}, "differences": []},
    ]
    text = table(cases, ["host", "sid"], {"host": {"setup_s": 0.1, "grading_s": 185, "facts": {"engine": "20.10"}},
                                          "sid": {"setup_s": 30.5, "grading_s": 120,
                                                  "facts": {"engine": "28.5", "store": "containerd"}}})
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line[:1].isalnum()}
    assert rows["01-a"] == ["01-a", "2/2", "1/2", "1m00s", "1m00s", "1"]
    assert rows["02-b"] == ["02-b", "1/1", "1/1", "2m05s", "1m00s", "0"]
    assert rows["all"] == ["all", "3/3", "2/3", "3m05s", "2m00s", "1"]
    assert "sid: set-up 30.5 s, grading wall 2m00s (28.5, store containerd)" in text


# -- cases from the repository -------------------------------------------------------------------
def test_labs_are_selected_by_number_or_name_and_unknown_ones_refused():
    labs = lab_ids()
    assert select_labs("") == labs
    assert select_labs(f"1 {labs[4][:2]}") == [labs[0], labs[4]]
    assert select_labs(labs[2]) == [labs[2]]
    with pytest.raises(SystemExit, match="99"):
        select_labs("99")


def test_solutions_and_starters_are_derived_for_every_lab(tmp_path):
    cases = derive_cases(lab_ids(), ["solution", "starter"], tmp_path)
    assert [c.id for c, _ in cases] == [f"{lab}/{kind}" for lab in lab_ids() for kind in ("solution", "starter")]
    assert all(folder.is_dir() for _, folder in cases)
    assert list(tmp_path.iterdir()) == []


# -- docker save → OCI layout with gzip layers ------------------------------------------------------


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def saved_archive(path: Path, *, corrupt: bool = False) -> dict:
    """A legacy `docker save` archive: two images sharing their base layer."""
    base, top = tar_of({"etc/os": b"debian\n" * 1000}), tar_of({"app/x.py": b"print(1)\n"})
    members = {"aaa/layer.tar": base, "bbb/layer.tar": top}
    configs = {}
    for name, layers in (("base", [base]), ("app", [base, top])):
        diff_ids = [sha(layer) for layer in layers]
        if corrupt and name == "app":
            diff_ids[1] = sha(b"other")
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        configs[name] = config
        members[f"{hashlib.sha256(config).hexdigest()}.json"] = config
    manifest = [{"Config": f"{hashlib.sha256(configs['base']).hexdigest()}.json",
                 "RepoTags": ["debian:trixie-slim"], "Layers": ["aaa/layer.tar"]},
                {"Config": f"{hashlib.sha256(configs['app']).hexdigest()}.json",
                 "RepoTags": ["python:3.13-slim", "python:latest"], "Layers": ["aaa/layer.tar", "bbb/layer.tar"]}]
    members["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return configs


def test_convert_gzips_every_layer_and_keeps_configs_and_tags(tmp_path):
    configs = saved_archive(tmp_path / "saved.tar")
    out = convert(tmp_path / "saved.tar", tmp_path / "oci.tar")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["oci.tar", "saved.tar"]  # scratch removed
    assert layer_media_types(out) == [OCI_LAYER_GZIP] * 5  # one index entry per tag
    with tarfile.open(out) as tar:
        def blob(digest):
            data = tar.extractfile(f"blobs/sha256/{digest.split(':')[1]}").read()
            assert sha(data) == digest
            return data
        index = json.loads(tar.extractfile("index.json").read())
        assert json.loads(tar.extractfile("oci-layout").read()) == {"imageLayoutVersion": "1.0.0"}
        names = [m["annotations"]["io.containerd.image.name"] for m in index["manifests"]]
        assert names == ["docker.io/library/debian:trixie-slim", "docker.io/library/python:3.13-slim",
                         "docker.io/library/python:latest"]
        assert index["manifests"][1]["digest"] == index["manifests"][2]["digest"]
        app = json.loads(blob(index["manifests"][1]["digest"]))
        config = blob(app["config"]["digest"])
        assert config == configs["app"]  # byte for byte: same image content, same diff_ids
        diff_ids = json.loads(config)["rootfs"]["diff_ids"]
        for layer, diff_id in zip(app["layers"], diff_ids):
            packed = blob(layer["digest"])
            assert packed[:2] == b"\x1f\x8b" and layer["size"] == len(packed)
            assert sha(gzip.decompress(packed)) == diff_id
        base = json.loads(blob(index["manifests"][0]["digest"]))
        assert base["layers"][0] == app["layers"][0]  # the shared layer is one blob
        assert base["layers"][0]["size"] < len(b"debian\n" * 1000)


def test_convert_refuses_layers_that_do_not_match_the_diff_ids(tmp_path):
    saved_archive(tmp_path / "saved.tar", corrupt=True)
    with pytest.raises(ValueError, match="diff_ids"):
        convert(tmp_path / "saved.tar", tmp_path / "oci.tar")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved.tar"]


@pytest.mark.parametrize("tag, name", [
    ("python:3.13-slim", "docker.io/library/python:3.13-slim"),
    ("registry:2", "docker.io/library/registry:2"),
    ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
    ("localhost:5000/app", "localhost:5000/app:latest"),
    ("ghcr.io/o/i:1", "ghcr.io/o/i:1"),
])
def test_qualified_names_are_those_containerd_stores(tag, name):
    assert qualified(tag) == name


# -- lanes graded in separate runs ---------------------------------------------------------------
def test_merge_adds_earlier_lanes_and_cases_a_lane_graded_now_wins(tmp_path):
    from matrix import merge

    earlier = tmp_path / "matrix-podman.json"
    earlier.write_text(json.dumps({"lanes": {"podman": {"setup_s": 30}, "host": {"setup_s": 9}}, "cases": [
        {"id": "01-x/solution", "lab": "01-x", "lanes": {"podman": {"statuses": {"a": "failed"}},
                                                          "host": {"statuses": {"a": "error"}}}},
        {"id": "02-y/solution", "lab": "02-y", "lanes": {"podman": {"statuses": {"b": "passed"}}}}]}))
    lane_info = {"host": {"setup_s": 0.1}}
    ordered = [{"id": "01-x/solution", "lab": "01-x", "lanes": {"host": {"statuses": {"a": "passed"}}}}]
    merged = merge(lane_info, ordered, [earlier])
    assert list(lane_info) == ["host", "podman"] and lane_info["host"] == {"setup_s": 0.1}
    assert [e["id"] for e in merged] == ["01-x/solution", "02-y/solution"]
    assert merged[0]["lanes"] == {"host": {"statuses": {"a": "passed"}}, "podman": {"statuses": {"a": "failed"}}}
    assert [d["check"] for d in differences(merged[0]["lanes"])] == ["a"]
