"""Lab 09's generic machinery without Docker: Dagster's answers read (probes.dagster, GraphQL faked),
PostgreSQL rows compared (probes.pg_rows), dbt's command line, profile and output read (readers.dbt_profile)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autograder.core import Fail
from autograder.probes import dagster
from autograder.probes.pg_rows import cell, rows_diff
from autograder.readers.dbt_profile import build_summary, raw_output, strip_ansi


def workspace(*entries) -> dict:
    return {"workspaceOrError": {"__typename": "Workspace", "locationEntries": list(entries)}}


def location(name: str, assets) -> dict:
    nodes = [{"assetKey": {"path": list(path)}, "isMaterializable": mat, "jobNames": jobs} for path, mat, jobs in assets]
    return {"name": name, "loadStatus": "LOADED", "locationOrLoadError": {
        "__typename": "RepositoryLocation", "name": name,
        "repositories": [{"name": "__repository__", "jobs": [{"name": "__ASSET_JOB"}], "assetNodes": nodes}]}}


@pytest.fixture
def answers(monkeypatch):
    """GraphQL answers given in order; the queries and variables sent are recorded."""
    sent, queue = [], []

    def fake(url, query, variables=None):
        sent.append((url, query, variables))
        return queue.pop(0)
    monkeypatch.setattr(dagster, "graphql", fake)
    return queue, sent


def test_code_location_keeps_the_materialisable_assets_of_the_first_loaded_location(answers):
    queue, _ = answers
    broken = {"name": "old", "loadStatus": "LOADED",
              "locationOrLoadError": {"__typename": "PythonError", "message": "ImportError: dbt"}}
    queue.append(workspace(broken, location("pipeline", [(("stg_ventes",), True, ["__ASSET_JOB"]),
                                                         (("brut", "ventes"), False, [])])))
    found, error, errors = dagster.code_location("http://h:1")
    assert error is None and errors == ["old : LOADED ImportError: dbt"]
    assert found == {"location": "pipeline", "repository": "__repository__",
                     "assets": {("stg_ventes",): ["__ASSET_JOB"]}, "jobs": ["__ASSET_JOB"]}


def test_code_location_reports_an_unloaded_workspace_and_an_empty_one(answers):
    queue, _ = answers
    queue.append({"workspaceOrError": {"__typename": "PythonError", "message": "bad workspace.yaml"}})
    assert dagster.code_location("http://h:1") == (None, "bad workspace.yaml", [])
    queue.append(workspace(location("vide", [])))
    assert dagster.code_location("http://h:1") == (None, None, ["vide : LOADED "])


def test_launch_assets_uses_the_shared_job_and_reports_a_refusal(answers):
    queue, sent = answers
    loc = {"location": "pipeline", "repository": "r", "assets": {("a",): ["daily", "__ASSET_JOB"], ("b",): ["daily"]}}
    queue.append({"launchRun": {"__typename": "LaunchRunSuccess", "run": {"runId": "abc"}}})
    assert dagster.launch_assets("http://h:1", loc) == "abc"
    selector = sent[-1][2]["p"]["selector"]
    assert selector["jobName"] == "daily" and selector["assetSelection"] == [{"path": ["a"]}, {"path": ["b"]}]
    queue.append({"launchRun": {"__typename": "InvalidSubsetError", "message": "nope"}})
    with pytest.raises(dagster.LaunchRefused, match="nope"):
        dagster.launch_assets("http://h:1", loc)


def test_wait_run_returns_the_final_status_and_gives_up_on_a_run_left_queued(answers):
    queue, _ = answers
    queue += [{"runOrError": {"status": "STARTED"}}, {"runOrError": {"status": "SUCCESS"}}]
    assert dagster.wait_run("http://h:1", "abc", timeout=10, queued_give_up_s=5) == "SUCCESS"
    queue += [{"runOrError": {"status": "QUEUED"}}] * 5
    assert dagster.wait_run("http://h:1", "abc", timeout=10, queued_give_up_s=0) == "QUEUED"


def test_run_errors_keeps_the_last_four_errors(answers):
    queue, _ = answers
    events = [{"message": f"e{i}", "level": "ERROR"} for i in range(6)] + [{"message": "fine", "level": "INFO"}]
    queue.append({"logsForRun": {"events": events}})
    assert dagster.run_errors("http://h:1", "abc") == "e2\ne3\ne4\ne5"


def test_graphql_without_a_server_is_a_french_fail():
    with pytest.raises(Fail) as info:
        dagster.graphql("http://127.0.0.1:9", "{ x }")
    assert "GraphQL" in info.value.expected


def test_cells_compare_numbers_to_the_cent_and_text_normalised():
    assert cell("16.9") == cell("16.900000001") == Decimal("16.90")
    assert cell(" Croissant ") == "croissant"


def test_rows_diff_names_missing_and_extra_rows():
    text = rows_diff({("a", 1), ("b", 2)}, {("a", 1), ("c", 3)})
    assert text.startswith("2 lignes, 2 attendues")
    assert "attendues mais absentes : c,3" in text and "présentes en trop ou fausses : b,2" in text


def test_dbt_build_summary_counts_models_and_tests():
    out = strip_ansi("\x1b[32mFinished running 1 view model, 2 table models, 7 data tests in 0 hours 0 minutes\x1b[0m")
    assert build_summary(out) == ("1 view model, 2 table models, 7 data tests", 3, 7)
    assert build_summary("Encountered an error") == ("", 0, 0)


def test_raw_output_is_the_output_as_written(tmp_path):
    path = tmp_path / "profiles.yml"
    path.write_text("pipeline:\n  target: \"{{ env_var('T', 'dev') }}\"\n  outputs:\n    dev:\n"
                    "      host: \"{{ env_var('DBT_HOST') }}\"\n")
    assert raw_output(path, "pipeline", "dev") == {"host": "{{ env_var('DBT_HOST') }}"}
    assert raw_output(path, "pipeline", "prod") == {}
    assert raw_output(tmp_path / "absent.yml", "pipeline", "dev") == {}
