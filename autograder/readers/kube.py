"""Kubernetes manifests: read them, validate them against Kubernetes' own schemas, and find what
they declare (workloads, pod specs, containers, quantities). Pure reading: no engine.

Validation is ``kubernetes-validate`` (the OpenAPI schemas of every Kubernetes release, bundled in
its wheel, so it works offline), in strict mode: an unknown field (a typo such as ``resource:``) is
an error, as ``kubectl apply --validate=strict`` would say. An ``apiVersion`` that Kubernetes
:data:`K8S_VERSION` no longer serves (``extensions/v1beta1``, ``apps/v1beta2`` …) has no schema:
it is reported as obsolete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterator, Optional

import yaml

from autograder.core import Fail, NotYet

MANIFEST_DIR = "k8s"
K8S_VERSION = "1.34"
# Workloads and where their pod spec lives.
TEMPLATED = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Doc:
    file: str        # relative to the submission, e.g. k8s/db.yaml
    index: int       # 1-based position in its file
    obj: dict

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind") or "")

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name") or "")

    @property
    def where(self) -> str:
        return f"{self.file} (document {self.index}, {self.kind or '?'} {self.name or '?'})"


def manifest_files(root: Path) -> list[Path]:
    folder = root / MANIFEST_DIR
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SUFFIXES) if folder.is_dir() else []


def load(root: Path) -> list[Doc]:
    """Every document of ``k8s/*.yaml`` (empty documents and comments-only files skipped).
    :class:`NotYet` when there is none yet; :class:`Fail` on a YAML error or a document that
    is not a mapping."""
    files = manifest_files(root)
    docs: list[Doc] = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        try:
            loaded = list(yaml.safe_load_all(path.read_text(encoding="utf-8", errors="replace")))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" ligne {mark.line + 1}, colonne {mark.column + 1}" if mark else ""
            raise Fail(f"{rel} : du YAML valide", f"erreur de syntaxe YAML{at} : {getattr(exc, 'problem', exc)}",
                       "vérifiez l'indentation (des espaces, jamais de tabulation) et les `-` des listes ; "
                       "séparez les objets par une ligne `---`.") from None
        for i, obj in enumerate(loaded, 1):
            if obj is None:
                continue
            if not isinstance(obj, dict):
                raise Fail(f"{rel} : des objets Kubernetes (apiVersion, kind, metadata…)",
                           f"le document {i} est {type(obj).__name__}, pas un objet",
                           "chaque document commence par `apiVersion:` et `kind:`.")
            docs.append(Doc(rel, i, obj))
    if not docs:
        raise NotYet(f"des manifestes Kubernetes dans {MANIFEST_DIR}/",
                     f"aucun objet dans {MANIFEST_DIR}/*.yaml" if files else f"aucun fichier {MANIFEST_DIR}/*.yaml",
                     f"écrivez les manifestes dans {MANIFEST_DIR}/ en suivant les TODO du squelette.")
    return docs


def schema_errors(doc: Doc, version: str = K8S_VERSION) -> list[str]:
    """What Kubernetes ``version``'s schema says of ``doc`` (empty: valid)."""
    import kubernetes_validate  # noqa: PLC0415 - 22 MB of schemas, read only when validating

    if not doc.obj.get("apiVersion") or not doc.kind:
        return [f"{doc.where} : `apiVersion` et `kind` sont obligatoires"]
    try:
        kubernetes_validate.validate(doc.obj, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{doc.where} : `apiVersion: {doc.obj.get('apiVersion')}` n'existe pas (ou plus) pour "
                f"`kind: {doc.kind}` dans Kubernetes {version}"]
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path) or "(racine)"
        return [f"{doc.where} : {path} : {_french(exc.message)}"]
    except kubernetes_validate.InvalidSchemaError as exc:  # pragma: no cover - the package's own fault
        return [f"{doc.where} : schéma illisible ({exc})"]
    return []


def _french(message: str) -> str:
    m = re.match(r"Additional properties are not allowed \((.*) (?:was|were) unexpected\)", message)
    if m:
        return f"champ inconnu {m.group(1)} (faute de frappe ou mauvais niveau d'indentation ?)"
    m = re.match(r"(.*) is not of type (.*)", message)
    if m:
        return f"{m.group(1)} n'est pas du type attendu ({m.group(2)})"
    m = re.match(r"'(.*)' is a required property", message)
    if m:
        return f"le champ obligatoire `{m.group(1)}` manque"
    return message


# -- what the manifests declare ---------------------------------------------------------------------
def find(docs: list[Doc], kind: str, name: Optional[str] = None) -> list[Doc]:
    return [d for d in docs if d.kind == kind and (name is None or d.name == name)]


def pod_spec(obj: dict) -> dict:
    """The pod spec of a Pod or of a workload's template ({} when absent)."""
    kind = obj.get("kind")
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    if kind == "Pod":
        return spec
    if kind in TEMPLATED:
        template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
        return template.get("spec") if isinstance(template.get("spec"), dict) else {}
    return {}


def template_labels(obj: dict) -> dict:
    """The labels its pods get (a Pod's own, a workload's template's)."""
    if obj.get("kind") == "Pod":
        return dict((obj.get("metadata") or {}).get("labels") or {})
    template = (obj.get("spec") or {}).get("template") or {}
    return dict((template.get("metadata") or {}).get("labels") or {})


def containers(spec: dict, init: bool = True) -> list[dict]:
    out = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    return out + [c for c in spec.get("initContainers") or [] if isinstance(c, dict)] if init else out


def workloads(docs: list[Doc]) -> Iterator[Doc]:
    return (d for d in docs if d.kind == "Pod" or d.kind in TEMPLATED)


def pod_name(doc: Doc) -> str:
    """The pod Podman makes for it: a Pod keeps its name, a workload's pod is ``<name>-pod``."""
    return doc.name if doc.kind == "Pod" else f"{doc.name}-pod"


def env_value(container: dict, spec_docs: list[Doc], name: str) -> Optional[str]:
    """The value ``name`` gets in ``container``: a literal ``env`` value, or a ConfigMap's entry
    (``configMapKeyRef`` or ``envFrom.configMapRef``); None when not set that way."""
    configmaps = {d.name: (d.obj.get("data") or {}) for d in spec_docs if d.kind == "ConfigMap"}
    for item in container.get("env") or []:
        if isinstance(item, dict) and item.get("name") == name:
            if "value" in item:
                return str(item.get("value"))
            ref = ((item.get("valueFrom") or {}).get("configMapKeyRef") or {})
            return str(configmaps.get(ref.get("name"), {}).get(ref.get("key"))) if ref else None
    for source in container.get("envFrom") or []:
        ref = (source or {}).get("configMapRef") or {}
        data = configmaps.get(ref.get("name"), {})
        if name in data:
            return str(data[name])
    return None


# -- quantities -----------------------------------------------------------------------------------
BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "m": Decimal("0.001"),
           "": 1}


def quantity(value: Any) -> Optional[Decimal]:
    """A Kubernetes quantity (``512Mi``, ``0.5``, ``250m``, ``1G``, ``1e9``) as a number; None if unreadable."""
    m = re.fullmatch(r"\s*([0-9.]+(?:[eE][+-]?[0-9]+)?)\s*(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?\s*", str(value))
    if not m:
        return None
    try:
        number = Decimal(m.group(1))
    except InvalidOperation:
        return None
    unit = m.group(2) or ""
    return number * (BINARY.get(unit) or DECIMAL[unit])


def memory_bytes(value: Any) -> Optional[int]:
    q = quantity(value)
    return int(q) if q is not None else None


def nano_cpus(value: Any) -> Optional[int]:
    q = quantity(value)
    return int(q * 10**9) if q is not None else None
