"""Lab 13's manifest reader (autograder/readers/kube.py): loading k8s/*.yaml, validation against
Kubernetes' own schemas (kubernetes-validate, offline), and what the manifests declare. No engine."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path

import pytest

from autograder.core import Fail, NotYet
from autograder.readers import kube
from autograder.readers.kube import Doc

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "api"},
    "spec": {
        "selector": {"matchLabels": {"app": "api"}},
        "template": {
            "metadata": {"labels": {"app": "api", "tier": "web"}},
            "spec": {"containers": [{"name": "api", "image": "tp13-api:1.0"}],
                     "initContainers": [{"name": "wait", "image": "busybox:1"}]},
        },
    },
}


def write(root: Path, name: str, text: str) -> Path:
    path = root / "k8s" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def doc(obj: dict, file: str = "k8s/api.yaml", index: int = 1) -> Doc:
    return Doc(file, index, obj)


# -- load -------------------------------------------------------------------------------------------
def test_load_without_a_k8s_folder_is_not_yet(tmp_path):
    with pytest.raises(NotYet) as err:
        kube.load(tmp_path)
    assert "aucun fichier k8s/*.yaml" in err.value.message()


def test_load_with_only_empty_documents_is_not_yet(tmp_path):
    write(tmp_path, "empty.yaml", "# TODO 1 : écrivez le Deployment\n---\n---\n")
    with pytest.raises(NotYet) as err:
        kube.load(tmp_path)
    assert "aucun objet dans k8s/*.yaml" in err.value.message()


def test_load_reads_yaml_and_yml_in_order_and_skips_empty_documents(tmp_path):
    write(tmp_path, "b.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n")
    write(tmp_path, "a.yaml", "---\napiVersion: v1\nkind: Service\nmetadata: {name: db}\n---\n"
                              "# nothing here\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
    write(tmp_path, "notes.txt", "apiVersion: v1\nkind: Pod\n")  # not a manifest
    docs = kube.load(tmp_path)
    assert [(d.file, d.index, d.kind, d.name) for d in docs] == [
        ("k8s/a.yaml", 1, "Service", "db"),
        ("k8s/a.yaml", 3, "Secret", "s"),   # index is the position in the file, empty ones counted
        ("k8s/b.yml", 1, "ConfigMap", "cfg"),
    ]
    assert docs[1].where == "k8s/a.yaml (document 3, Secret s)"


def test_load_reports_a_yaml_error_with_line_and_column(tmp_path):
    write(tmp_path, "api.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n")
    with pytest.raises(Fail) as err:
        kube.load(tmp_path)
    assert not isinstance(err.value, NotYet)
    message = err.value.message()
    assert "k8s/api.yaml" in message and "erreur de syntaxe YAML ligne" in message
    assert "ligne 5, colonne 1" in message  # the end of the stream, where PyYAML gives up


def test_load_reports_a_tab_with_its_position(tmp_path):
    write(tmp_path, "db.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n\tname: db\n")
    with pytest.raises(Fail) as err:
        kube.load(tmp_path)
    assert "ligne 4, colonne 1" in err.value.message()


def test_load_refuses_a_document_that_is_not_a_mapping(tmp_path):
    write(tmp_path, "api.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n- a\n- b\n")
    with pytest.raises(Fail) as err:
        kube.load(tmp_path)
    assert not isinstance(err.value, NotYet)
    assert "le document 2 est list, pas un objet" in err.value.message()


# -- schema_errors ----------------------------------------------------------------------------------
def test_a_valid_deployment_has_no_schema_error():
    assert kube.schema_errors(doc(DEPLOYMENT)) == []


def test_an_unknown_field_is_reported_in_french_with_its_path():
    obj = copy.deepcopy(DEPLOYMENT)
    obj["spec"]["template"]["spec"]["containers"][0]["resource"] = {"limits": {"memory": "128Mi"}}
    errors = kube.schema_errors(doc(obj))
    assert len(errors) == 1
    assert errors[0].startswith("k8s/api.yaml (document 1, Deployment api) : spec.template.spec.containers.0 : ")
    assert "champ inconnu 'resource'" in errors[0] and "faute de frappe" in errors[0]


def test_a_wrong_type_is_reported():
    obj = copy.deepcopy(DEPLOYMENT)
    obj["spec"]["replicas"] = "two"
    errors = kube.schema_errors(doc(obj))
    assert len(errors) == 1
    assert "spec.replicas : 'two' n'est pas du type attendu" in errors[0] and "integer" in errors[0]


def test_a_missing_required_field_is_reported():
    obj = copy.deepcopy(DEPLOYMENT)
    del obj["spec"]["template"]["spec"]["containers"][0]["name"]
    errors = kube.schema_errors(doc(obj))
    assert errors == ["k8s/api.yaml (document 1, Deployment api) : spec.template.spec.containers.0 : "
                      "le champ obligatoire `name` manque"]


def test_an_api_version_kubernetes_no_longer_serves_is_reported():
    obj = copy.deepcopy(DEPLOYMENT)
    obj["apiVersion"] = "extensions/v1beta1"
    errors = kube.schema_errors(doc(obj))
    assert len(errors) == 1
    assert "`apiVersion: extensions/v1beta1` n'existe pas (ou plus)" in errors[0]
    assert "`kind: Deployment` dans Kubernetes 1.34" in errors[0]


def test_missing_api_version_or_kind_is_reported_before_validation():
    errors = kube.schema_errors(doc({"kind": "Pod", "metadata": {"name": "p"}}))
    assert errors == ["k8s/api.yaml (document 1, Pod p) : `apiVersion` et `kind` sont obligatoires"]


# -- what the manifests declare ---------------------------------------------------------------------
def test_pod_spec_of_a_pod_a_workload_and_other_kinds():
    pod = {"kind": "Pod", "spec": {"containers": [{"name": "c"}]}}
    assert kube.pod_spec(pod) is pod["spec"]
    assert kube.pod_spec(DEPLOYMENT) is DEPLOYMENT["spec"]["template"]["spec"]
    job = {"kind": "Job", "spec": {"template": {"spec": {"containers": [{"name": "j"}]}}}}
    assert kube.pod_spec(job)["containers"] == [{"name": "j"}]
    assert kube.pod_spec({"kind": "Service", "spec": {"ports": []}}) == {}
    assert kube.pod_spec({"kind": "Deployment", "spec": {"template": "oops"}}) == {}
    assert kube.pod_spec({"kind": "Pod", "spec": None}) == {}


def test_template_labels():
    assert kube.template_labels(DEPLOYMENT) == {"app": "api", "tier": "web"}
    assert kube.template_labels({"kind": "Pod", "metadata": {"labels": {"app": "db"}}}) == {"app": "db"}
    assert kube.template_labels({"kind": "Deployment", "spec": {}}) == {}
    # A copy: changing it does not change the manifest.
    kube.template_labels(DEPLOYMENT)["app"] = "changed"
    assert DEPLOYMENT["spec"]["template"]["metadata"]["labels"]["app"] == "api"


def test_containers_with_and_without_init_containers():
    spec = kube.pod_spec(DEPLOYMENT)
    assert [c["name"] for c in kube.containers(spec)] == ["api", "wait"]
    assert [c["name"] for c in kube.containers(spec, init=False)] == ["api"]
    assert kube.containers({"containers": ["not a mapping", {"name": "x"}]}) == [{"name": "x"}]
    assert kube.containers({}) == []


def test_pod_name_as_podman_names_the_pod():
    assert kube.pod_name(doc(DEPLOYMENT)) == "api-pod"
    assert kube.pod_name(doc({"kind": "Pod", "metadata": {"name": "solo"}})) == "solo"


def test_workloads_and_find():
    docs = [doc(DEPLOYMENT), doc({"kind": "Service", "metadata": {"name": "api"}}),
            doc({"kind": "Pod", "metadata": {"name": "p"}})]
    assert [d.kind for d in kube.workloads(docs)] == ["Deployment", "Pod"]
    assert [d.kind for d in kube.find(docs, "Service")] == ["Service"]
    assert kube.find(docs, "Deployment", "db") == []


CONFIG = [doc({"kind": "ConfigMap", "metadata": {"name": "api-config"},
               "data": {"DB_HOST": "db", "DB_PORT": "5432"}})]


def test_env_value_literal():
    c = {"env": [{"name": "DB_HOST", "value": "localhost"}, {"name": "PORT", "value": 8000}]}
    assert kube.env_value(c, CONFIG, "DB_HOST") == "localhost"
    assert kube.env_value(c, CONFIG, "PORT") == "8000"
    assert kube.env_value(c, CONFIG, "ABSENT") is None


def test_env_value_from_a_configmap_key_ref():
    c = {"env": [{"name": "HOST", "valueFrom": {"configMapKeyRef": {"name": "api-config", "key": "DB_HOST"}}},
                 {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}}]}
    assert kube.env_value(c, CONFIG, "HOST") == "db"
    assert kube.env_value(c, CONFIG, "PW") is None  # a Secret's value is not read


def test_env_value_from_env_from_and_env_wins():
    c = {"envFrom": [{"configMapRef": {"name": "api-config"}}]}
    assert kube.env_value(c, CONFIG, "DB_PORT") == "5432"
    assert kube.env_value(c, CONFIG, "DB_NAME") is None
    assert kube.env_value({"envFrom": [{"configMapRef": {"name": "other"}}]}, CONFIG, "DB_PORT") is None
    both = {"env": [{"name": "DB_PORT", "value": "6543"}], **c}
    assert kube.env_value(both, CONFIG, "DB_PORT") == "6543"


# -- quantities -------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, number", [
    ("512Mi", Decimal(512 * 2**20)), ("0.5", Decimal("0.5")), ("250m", Decimal("0.25")),
    ("1G", Decimal(10**9)), ("536870912", Decimal(536870912)), ("1e9", Decimal(10**9)), ("2Pi", Decimal(2 * 2**50)),
    ("1E", Decimal(10**18)), (2, Decimal(2)), ("1Gi", Decimal(2**30)),
    (" 2k ", Decimal(2000)),
])
def test_quantity(value, number):
    assert kube.quantity(value) == number


@pytest.mark.parametrize("value", ["garbage", "", None, "1.2.3", ".", "12Q", "-1", "Mi"])
def test_unreadable_quantity_is_none(value):
    assert kube.quantity(value) is None
    assert kube.memory_bytes(value) is None
    assert kube.nano_cpus(value) is None


def test_memory_bytes_and_nano_cpus():
    assert kube.memory_bytes("512Mi") == 536870912
    assert kube.memory_bytes("1G") == 1_000_000_000
    assert kube.memory_bytes("536870912") == 536870912
    assert kube.nano_cpus("0.5") == 500_000_000
    assert kube.nano_cpus("250m") == 250_000_000
    assert kube.nano_cpus(2) == 2_000_000_000
    assert isinstance(kube.memory_bytes("128Mi"), int) and isinstance(kube.nano_cpus("1"), int)
