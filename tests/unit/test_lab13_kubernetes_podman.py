"""Lab 13's own files read by the generic Kubernetes reader and policy (removed with the lab: see
tests/places.py); the reader and the policy are tested on their own in test_kube_manifests.py and
test_kube_policy.py."""

from __future__ import annotations

from pathlib import Path

import yaml

from autograder.engine.kube_policy import review, rewrite
from autograder.readers import kube
from autograder.readers.kube import load

SOLUTION = Path(__file__).resolve().parents[2] / "solutions" / "13-kubernetes-podman"
JOB = "ag-test0001"
LABELS = {"org.4data.autograder.job": JOB}
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-credentials"},
          "stringData": {"password": "x"}}


def test_review_accepts_the_solution():
    docs = load(SOLUTION)
    assert len(docs) >= 6
    assert review(docs) == []


def test_the_solution_rewritten_plays_the_same_objects_job_scoped():
    docs = load(SOLUTION)
    text, ports, notes = rewrite(docs, JOB, LABELS, {"tp13-api:1.0": f"tp13-api:{JOB}"}, extra=[SECRET])
    objs = list(yaml.safe_load_all(text))
    assert [o["metadata"]["name"] for o in objs] == [f"{JOB}-db-credentials"] + [f"{JOB}-{d.name}" for d in docs]
    assert ports == [8000] and notes == []
    db = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == f"{JOB}-db")
    volumes = {v["name"]: v for v in db["spec"]["template"]["spec"]["volumes"]}
    assert volumes["credentials"]["secret"]["secretName"] == f"{JOB}-db-credentials"
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == f"{JOB}-db-data"


def test_the_solution_manifests_are_valid():
    docs = kube.load(SOLUTION)
    assert {(d.kind, d.name) for d in docs} >= {("Deployment", "db"), ("Deployment", "api"),
                                                ("PersistentVolumeClaim", "db-data")}
    assert [e for d in docs for e in kube.schema_errors(d)] == []
