"""Lab 13's manifest policy (autograder/engine/kube_policy.py): what the grader refuses to play,
and the job-scoped manifests it really plays. Pure data: no engine."""

from __future__ import annotations

import copy

import pytest
import yaml

from autograder.engine.kube_policy import MAX_WORKLOADS, KubeRefused, review, rewrite
from autograder.engine.policy import DEFAULT_CPUS, DEFAULT_MEMORY, MAX_CPUS, MAX_MEMORY
from autograder.readers.kube import Doc, memory_bytes

JOB = "ag-test0001"
LABELS = {"org.4data.autograder.job": JOB}


def deployment(name: str = "db", **pod: object) -> dict:
    spec = {"containers": [{"name": name, "image": "postgres:17"}], **pod}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def docs_of(*objs: dict) -> list[Doc]:
    return [Doc("k8s/db.yaml", i, o) for i, o in enumerate(objs, 1)]


def container_ctx(**ctx: object) -> dict:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["securityContext"] = ctx
    return obj


# -- review: refusals -----------------------------------------------------------------------------------
def _pvc(annotations: dict) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "db-data", "annotations": annotations},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}


def _with_metadata_annotation(key: str, value: str, template: bool) -> dict:
    obj = deployment()
    meta = obj["spec"]["template"]["metadata"] if template else obj["metadata"]
    meta["annotations"] = {key: value}
    return obj


def _device() -> dict:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["volumeDevices"] = [{"name": "d", "devicePath": "/dev/xvda"}]
    return obj


REFUSED = {
    "hostPath": (deployment(volumes=[{"name": "root", "hostPath": {"path": "/"}}]), "volume root (hostPath)"),
    "privileged": (container_ctx(privileged=True), "conteneur db.securityContext.privileged"),
    "hostNetwork": (deployment(hostNetwork=True), "hostNetwork"),
    "hostPID": (deployment(hostPID=True), "hostPID"),
    "hostIPC": (deployment(hostIPC=True), "hostIPC"),
    "SYS_ADMIN": (container_ctx(capabilities={"add": ["SYS_ADMIN"]}), "capabilities.add"),
    "CAP_SYS_ADMIN": (container_ctx(capabilities={"add": ["CAP_SYS_ADMIN"]}), "capabilities.add"),
    "volumeDevices": (_device(), "conteneur db.volumeDevices"),
    # The pod-level refusal names the pod's own securityContext.
    "seccomp pod": (deployment(securityContext={"seccompProfile": {"type": "Unconfined"}}),
                    "(document 1, Deployment db).securityContext.seccompProfile"),
    "seccomp container": (container_ctx(seccompProfile={"type": "Unconfined"}),
                          "conteneur db.securityContext.seccompProfile"),
    "apparmor container": (container_ctx(appArmorProfile={"type": "Unconfined"}),
                           "conteneur db.securityContext.appArmorProfile"),
    "procMount": (container_ctx(procMount="Unmasked"), "conteneur db.securityContext.procMount"),
    "podman privileged": (_with_metadata_annotation("io.podman.annotations.privileged", "true", False),
                          "io.podman.annotations.privileged"),
    "podman privileged (template)": (_with_metadata_annotation("io.podman.annotations.privileged", "true", True),
                                     "io.podman.annotations.privileged"),
    "seccomp annotation": (_with_metadata_annotation("seccomp.security.alpha.kubernetes.io/pod", "unconfined", True),
                           "seccomp.security.alpha.kubernetes.io/pod"),
    # Podman reads it (Seccomp: 0 in the container, measured with Podman 5.8.6).
    "container seccomp annotation": (
        _with_metadata_annotation("container.seccomp.security.alpha.kubernetes.io/db", "unconfined", False),
        "container.seccomp.security.alpha.kubernetes.io/db"),
    "PVC device": (_pvc({"volume.podman.io/device": "/dev/sda1"}), "volume.podman.io/device"),
    "seccomp Localhost": (container_ctx(seccompProfile={"type": "Localhost", "localhostProfile": "x.json"}),
                          "conteneur db.securityContext.seccompProfile"),
    "apparmor Localhost (pod)": (deployment(securityContext={"appArmorProfile": {"type": "Localhost"}}),
                                 "(document 1, Deployment db).securityContext.appArmorProfile"),
    "SELinux spc_t": (container_ctx(seLinuxOptions={"type": "spc_t"}), "conteneur db.securityContext.seLinuxOptions"),
    "sysctls": (deployment(securityContext={"sysctls": [{"name": "net.ipv4.ip_forward", "value": "1"}]}),
                "(document 1, Deployment db).securityContext.sysctls"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_review_refuses(case):
    obj, where = REFUSED[case]
    refusals = review(docs_of(obj))
    assert len(refusals) == 1, refusals
    assert where in refusals[0].where and refusals[0].where.startswith("k8s/db.yaml (document 1,")
    assert refusals[0].reason  # a French reason for the student


def test_every_refusal_is_listed_and_raised_with_its_rules():
    obj = deployment(hostNetwork=True, volumes=[{"name": "root", "hostPath": {"path": "/"}}])
    obj["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    refusals = review(docs_of(obj))
    assert len(refusals) == 3
    err = KubeRefused(refusals)
    assert err.rule == "CIS 5.10, CIS 5.5, CL-0002"
    message = err.message()
    assert message.count("\n- ") == 3 and "rien n'a été démarré" in message


@pytest.mark.parametrize("obj", [
    container_ctx(capabilities={"add": ["CHOWN", "net_bind_service"], "drop": ["ALL"]}),
    container_ctx(privileged=False, allowPrivilegeEscalation=False, procMount="Default",
                  seccompProfile={"type": "RuntimeDefault"}),
    deployment(hostNetwork=False, securityContext={"runAsUser": 999, "seccompProfile": {"type": "RuntimeDefault"}}),
    _pvc({"volume.podman.io/uid": "999", "volume.podman.io/gid": "999"}),
    _with_metadata_annotation("io.podman.annotations.autoremove", "true", True),
    _with_metadata_annotation("seccomp.security.alpha.kubernetes.io/pod", "runtime/default", True),
    container_ctx(seLinuxOptions={"type": "container_t", "level": "s0:c1,c2"}),
], ids=["default caps", "safe ctx", "safe pod", "PVC uid/gid", "podman autoremove", "seccomp default",
        "SELinux container_t"])
def test_review_accepts(obj):
    assert review(docs_of(obj)) == []


def test_review_refuses_more_pods_than_the_maximum():
    assert review(docs_of(*(deployment(f"d{i}") for i in range(MAX_WORKLOADS)))) == []
    refusals = review(docs_of(*(deployment(f"d{i}") for i in range(MAX_WORKLOADS)),
                              {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "one-more"},
                               "spec": {"containers": [{"name": "c", "image": "debian:trixie-slim"}]}}))
    assert [r.where for r in refusals] == [f"{MAX_WORKLOADS + 1} pods ou workloads"]


# -- rewrite ---------------------------------------------------------------------------------------------
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-credentials"},
          "stringData": {"password": "s3cret"}}


def manifests() -> list[Doc]:
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "db-data"},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "db-config", "labels": {"app": "db"}},
              "data": {"POSTGRES_DB": "boutique"}}
    db = deployment(volumes=[
        {"name": "data", "persistentVolumeClaim": {"claimName": "db-data"}},
        {"name": "credentials", "secret": {"secretName": "db-credentials"}},
        {"name": "conf", "configMap": {"name": "db-config"}},
        {"name": "outside", "configMap": {"name": "not-in-manifests"}},
        {"name": "scratch", "emptyDir": {}},
    ])
    db["metadata"]["labels"] = {"app": "db"}
    db["spec"]["template"]["spec"]["containers"][0].update({
        "env": [
            {"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "password"}}},
            {"name": "POSTGRES_DB", "valueFrom": {"configMapKeyRef": {"name": "db-config", "key": "POSTGRES_DB"}}},
            {"name": "OTHER", "valueFrom": {"configMapKeyRef": {"name": "not-in-manifests", "key": "x"}}},
            {"name": "PLAIN", "value": "1"},
        ],
        "envFrom": [{"configMapRef": {"name": "db-config"}}, {"secretRef": {"name": "db-credentials"}},
                    {"secretRef": {"name": "unknown-secret"}}],
        "ports": [{"containerPort": 5432}],
        "resources": {"limits": {"memory": "512Mi", "cpu": "500m"}},
    })
    api = deployment("api")
    api["spec"]["template"]["spec"]["containers"][0].update({
        "image": "tp13-api:1.0",
        "ports": [{"containerPort": 8000, "hostPort": 8080, "hostIP": "127.0.0.1"},
                  {"containerPort": 9000, "hostIP": "127.0.0.1"}],
    })
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "solo"},
           "spec": {"hostname": "mine", "containers": [{"name": "s", "image": "debian:trixie-slim",
                                                         "resources": {"limits": {"memory": "8Gi", "cpu": "4"}}}]}}
    return docs_of(pvc, config, db, api, pod)


@pytest.fixture
def played():
    docs = manifests()
    before = copy.deepcopy([d.obj for d in docs])
    text, ports, notes = rewrite(docs, JOB, LABELS, {"tp13-api:1.0": f"tp13-api:{JOB}"}, extra=[SECRET])
    assert [d.obj for d in docs] == before, "rewrite must not change the student's manifests"
    objs = list(yaml.safe_load_all(text))
    return {(o["kind"], o["metadata"]["name"]): o for o in objs}, [o["kind"] for o in objs], ports, notes


def pod_of(objs: dict, kind: str, name: str) -> dict:
    obj = objs[(kind, f"{JOB}-{name}")]
    return obj["spec"] if kind == "Pod" else obj["spec"]["template"]["spec"]


def test_every_name_gets_the_job_prefix_and_the_extra_secret_comes_first(played):
    objs, kinds, _, _ = played
    assert kinds[0] == "Secret"
    assert list(objs)[0] == ("Secret", f"{JOB}-db-credentials")
    assert set(objs) == {("Secret", f"{JOB}-db-credentials"), ("PersistentVolumeClaim", f"{JOB}-db-data"),
                         ("ConfigMap", f"{JOB}-db-config"), ("Deployment", f"{JOB}-db"),
                         ("Deployment", f"{JOB}-api"), ("Pod", f"{JOB}-solo")}


def test_references_follow_the_prefixed_names_and_outside_ones_stay(played):
    objs, _, _, _ = played
    spec = pod_of(objs, "Deployment", "db")
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == f"{JOB}-db-data"
    assert volumes["credentials"]["secret"]["secretName"] == f"{JOB}-db-credentials"
    assert volumes["conf"]["configMap"]["name"] == f"{JOB}-db-config"
    assert volumes["outside"]["configMap"]["name"] == "not-in-manifests"
    assert volumes["scratch"] == {"name": "scratch", "emptyDir": {}}
    c = spec["containers"][0]
    env = {e["name"]: e for e in c["env"]}
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": f"{JOB}-db-credentials", "key": "password"}
    assert env["POSTGRES_DB"]["valueFrom"]["configMapKeyRef"]["name"] == f"{JOB}-db-config"
    assert env["OTHER"]["valueFrom"]["configMapKeyRef"]["name"] == "not-in-manifests"
    assert env["PLAIN"] == {"name": "PLAIN", "value": "1"}
    assert c["envFrom"] == [{"configMapRef": {"name": f"{JOB}-db-config"}},
                            {"secretRef": {"name": f"{JOB}-db-credentials"}},
                            {"secretRef": {"name": "unknown-secret"}}]


def test_a_name_is_scoped_only_for_its_own_kind():
    # A Secret named like the ConfigMap: the configMap volume keeps a name no ConfigMap has.
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shared"}}
    db = deployment(volumes=[{"name": "c", "configMap": {"name": "shared"}},
                             {"name": "s", "secret": {"secretName": "shared"}}])
    text, _, _ = rewrite(docs_of(secret, db), JOB, LABELS, {})
    spec = list(yaml.safe_load_all(text))[1]["spec"]["template"]["spec"]
    assert spec["volumes"] == [{"name": "c", "configMap": {"name": "shared"}},
                               {"name": "s", "secret": {"secretName": f"{JOB}-shared"}}]


def test_the_job_label_is_on_every_object_and_pod_template(played):
    objs, _, _, _ = played
    for obj in objs.values():
        assert obj["metadata"]["labels"].items() >= LABELS.items(), obj["kind"]
    assert objs[("ConfigMap", f"{JOB}-db-config")]["metadata"]["labels"]["app"] == "db"  # kept
    for name in ("db", "api"):
        template = objs[("Deployment", f"{JOB}-{name}")]["spec"]["template"]["metadata"]["labels"]
        assert template == {"app": name, **LABELS}
    # The selector is left alone: it still matches the template's labels.
    assert objs[("Deployment", f"{JOB}-db")]["spec"]["selector"] == {"matchLabels": {"app": "db"}}


def test_the_pod_hostname_is_the_original_pod_name_unless_set(played):
    objs, _, _, _ = played
    assert pod_of(objs, "Deployment", "db")["hostname"] == "db-pod"
    assert pod_of(objs, "Deployment", "api")["hostname"] == "api-pod"
    assert pod_of(objs, "Pod", "solo")["hostname"] == "mine"
    assert "hostname" not in objs[("ConfigMap", f"{JOB}-db-config")]


def test_host_ports_are_removed_and_their_container_ports_returned(played):
    objs, _, ports, _ = played
    assert ports == [8000]  # only the port that had a hostPort is published by the grader
    assert pod_of(objs, "Deployment", "api")["containers"][0]["ports"] == [{"containerPort": 8000},
                                                                          {"containerPort": 9000}]
    assert pod_of(objs, "Deployment", "db")["containers"][0]["ports"] == [{"containerPort": 5432}]


def test_built_images_are_mapped_and_never_pulled(played):
    objs, _, _, _ = played
    api = pod_of(objs, "Deployment", "api")["containers"][0]
    assert (api["image"], api["imagePullPolicy"]) == (f"tp13-api:{JOB}", "Never")
    db = pod_of(objs, "Deployment", "db")["containers"][0]
    assert (db["image"], db["imagePullPolicy"]) == ("postgres:17", "IfNotPresent")


def test_limits_default_capped_or_kept(played):
    objs, _, _, notes = played
    kept = pod_of(objs, "Deployment", "db")["containers"][0]["resources"]["limits"]
    # kept, memory written in plain bytes (Podman 5.8 misreads a fractional `0.125Gi`)
    assert kept == {"memory": str(512 * 2**20), "cpu": "500m"}
    default = pod_of(objs, "Deployment", "api")["containers"][0]["resources"]["limits"]
    assert default == {"memory": str(DEFAULT_MEMORY), "cpu": str(DEFAULT_CPUS)}
    capped = pod_of(objs, "Pod", "solo")["containers"][0]["resources"]["limits"]
    assert capped == {"memory": str(MAX_MEMORY), "cpu": str(MAX_CPUS)}
    assert len(notes) == 2
    assert notes[0] == f"conteneur s : limite de mémoire ramenée à {MAX_MEMORY // 2**20} Mio"
    assert notes[1].startswith("conteneur s : limite de CPU ramenée à ")


# -- sections left empty, requests above the limits written ---------------------------------------------
def _one_container(resources: object, template_metadata: object = "keep") -> list[Doc]:
    obj = deployment("api")
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = resources
    if template_metadata != "keep":
        obj["spec"]["template"]["metadata"] = template_metadata
    return docs_of(obj)


@pytest.mark.parametrize("resources, template_metadata", [
    (None, "keep"), ({"limits": None}, "keep"), ({}, None),
], ids=["resources null", "limits null", "template metadata null"])
def test_empty_sections_get_the_defaults_instead_of_a_crash(resources, template_metadata):
    text, _, _ = rewrite(_one_container(resources, template_metadata), JOB, LABELS, {})
    template = list(yaml.safe_load_all(text))[0]["spec"]["template"]
    assert template["metadata"]["labels"].items() >= LABELS.items()
    assert template["spec"]["containers"][0]["resources"]["limits"] == {"memory": str(DEFAULT_MEMORY),
                                                                        "cpu": str(DEFAULT_CPUS)}


@pytest.mark.parametrize("resources", [
    {"requests": {"memory": "3Gi"}},                                  # valid in Kubernetes: no limit at all
    {"requests": {"memory": "3Gi"}, "limits": {"memory": "4Gi"}},     # valid: the cap lowers the limit
], ids=["default limit", "capped limit"])
def test_memory_requests_never_exceed_the_limit_the_grader_writes(resources):
    text, _, _ = rewrite(_one_container(resources), JOB, LABELS, {})
    written = list(yaml.safe_load_all(text))[0]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert memory_bytes(written["requests"]["memory"]) <= memory_bytes(written["limits"]["memory"])


def test_a_fractional_memory_quantity_is_written_in_plain_bytes():
    text, _, _ = rewrite(_one_container({"limits": {"memory": "0.125Gi", "cpu": "250m"},
                                         "requests": {"memory": "0.0625Gi"}}), JOB, LABELS, {})
    written = list(yaml.safe_load_all(text))[0]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert written["limits"]["memory"] == str(128 * 2**20) and written["requests"]["memory"] == str(64 * 2**20)
