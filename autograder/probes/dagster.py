"""Dagster asked over HTTP (code location, assets, a launched run and its outcome) and in its PostgreSQL storage.

The HTTP functions take the webserver's base URL (``http://HOST:PORT``, the port published by
the student's stack); :func:`run_database` reads the runs table of dagster-postgres. The queries
name only fields that Dagster 1.x keeps stable (``workspaceOrError``, ``launchRun``,
``runOrError``, ``logsForRun``). What the lab expects (which assets, which job) is
the lab's business: these functions say what Dagster answers.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Optional

from autograder.core import Fail
from autograder.engine.sandbox import Sandbox
from autograder.probes.postgres import psql
from autograder.probes.waits import Timeout, wait_until

WORKSPACE = """{ workspaceOrError { __typename ... on PythonError { message }
  ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename
    ... on PythonError { message }
    ... on RepositoryLocation { name repositories { name jobs { name }
      assetNodes { assetKey { path } isMaterializable jobNames } } } } } } } }"""
LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
  ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } ... on InvalidSubsetError { message }
  ... on InvalidStepError { invalidStepKey } ... on UnauthorizedError { message } } }"""
RUN_STATUS = """query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }"""
RUN_EVENTS = """query($id: ID!) { logsForRun(runId: $id, limit: 400) { __typename
  ... on EventConnection { events { __typename ... on MessageEvent { message level } } } } }"""
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


class LaunchRefused(Exception):
    """Dagster did not accept the launch; the message is its answer (JSON)."""


def server_info(url: str) -> dict:
    """``GET /server_info`` (versions); ``OSError`` or ``ValueError`` when it does not answer JSON."""
    with urllib.request.urlopen(f"{url}/server_info", timeout=10) as resp:  # noqa: S310 - local URL
        return json.load(resp)


def graphql(url: str, query: str, variables: Optional[dict] = None) -> dict:
    """The ``data`` of a GraphQL answer; :class:`Fail` when the API does not answer or answers errors."""
    payload = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(f"{url}/graphql", data=payload, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - local URL
            body = json.load(resp)
    except (OSError, ValueError) as exc:
        raise Fail("l'API GraphQL de Dagster répond (POST /graphql)", f"{type(exc).__name__} : {exc}",
                   "vérifiez que dagster-webserver écoute sur 0.0.0.0:3000.") from None
    if body.get("errors"):
        raise Fail("une réponse GraphQL sans erreur", json.dumps(body["errors"], ensure_ascii=False)[:600],
                   "version de Dagster trop ancienne ? épinglez dagster==1.13.27.")
    return body["data"]


def code_location(url: str) -> tuple[Optional[dict], Optional[str], list[str]]:
    """``(location, workspace error, load errors)``: the first loaded location with materialisable
    assets as ``{location, repository, assets: {key path tuple: job names}, jobs}`` (``None``
    without one), the workspace's own error when it did not load (``None`` when it did), and one
    line per location that gave nothing (its name, load status and error)."""
    data = graphql(url, WORKSPACE)["workspaceOrError"]
    if data["__typename"] != "Workspace":
        return None, data.get("message", data["__typename"])[:800], []
    errors = []
    for entry in data["locationEntries"]:
        loc = entry.get("locationOrLoadError") or {}
        if loc.get("__typename") == "RepositoryLocation":
            for repo in loc["repositories"]:
                assets = {tuple(a["assetKey"]["path"]): a["jobNames"] for a in repo["assetNodes"]
                          if a["isMaterializable"]}
                if assets:
                    return ({"location": loc["name"], "repository": repo["name"], "assets": assets,
                             "jobs": [j["name"] for j in repo["jobs"]]}, None, errors)
        errors.append(f"{entry['name']} : {entry['loadStatus']} {(loc.get('message') or '')[:600]}")
    return None, None, errors


def launch_assets(url: str, location: dict) -> str:
    """Launch every materialisable asset of ``location`` (from :func:`code_location`) in the job
    they share (the implicit ``__ASSET_JOB`` when it is one of them); the run id, or
    :class:`LaunchRefused`."""
    keys = list(location["assets"])
    common = set.intersection(*(set(jobs) for jobs in location["assets"].values()))
    job = "__ASSET_JOB" if "__ASSET_JOB" in common else sorted(common)[0] if common else "__ASSET_JOB"
    params = {"selector": {"repositoryLocationName": location["location"], "repositoryName": location["repository"],
                           "jobName": job, "assetSelection": [{"path": list(k)} for k in keys]},
              "runConfigData": {}}
    result = graphql(url, LAUNCH, {"p": params})["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise LaunchRefused(json.dumps(result, ensure_ascii=False))
    return result["run"]["runId"]


def wait_run(url: str, run_id: str, timeout: float, queued_give_up_s: float) -> str:
    """The run's status once finished (SUCCESS, FAILURE, CANCELED); the last status seen at the
    deadline, or ``QUEUED`` as soon as it is still queued ``queued_give_up_s`` after this call (a
    daemon dequeues within seconds: a run still queued then will stay so)."""
    seen: dict[str, str] = {}
    queued_until = time.monotonic() + queued_give_up_s

    def finished():
        seen["status"] = graphql(url, RUN_STATUS, {"id": run_id})["runOrError"].get("status", "?")
        return seen["status"] if seen["status"] in FINISHED else None

    def stuck() -> Optional[str]:
        return "QUEUED" if seen.get("status") == "QUEUED" and time.monotonic() > queued_until else None
    try:
        return wait_until(finished, timeout, give_up=stuck, interval=1.0)
    except Timeout:
        return seen.get("status", "?")


def run_database(sandbox: Sandbox, container, run_id: str) -> tuple[Optional[str], list[str]]:
    """``(the database of the PostgreSQL container whose table runs holds run_id, or None; every
    database)``: where dagster-postgres keeps the runs (its ``runs`` table, in the public schema)."""
    databases = psql(sandbox, container, "SELECT datname FROM pg_database WHERE NOT datistemplate").split()
    for name in databases:
        if psql(sandbox, container, "SELECT to_regclass('runs') IS NOT NULL", database=name) == "t" and \
                psql(sandbox, container, f"SELECT count(*) FROM runs WHERE run_id = '{run_id}'", database=name) == "1":
            return name, databases
    return None, databases


def run_errors(url: str, run_id: str) -> str:
    """The last (at most four) ERROR or CRITICAL messages of the run's events, one per line."""
    events = (graphql(url, RUN_EVENTS, {"id": run_id})["logsForRun"] or {}).get("events") or []
    errors = [e["message"] for e in events if e.get("level") in ("ERROR", "CRITICAL") and e.get("message")]
    return "\n".join(m[:300] for m in errors[-4:])
