"""What the grader refuses in Kubernetes manifests, and the manifests it really plays.

The same ideas as for Compose (:mod:`autograder.engine.policy`), read in Kubernetes' terms before
anything runs: no ``hostPath`` volume, no privileged container, no host namespace
(``hostNetwork``/``hostPID``/``hostIPC``), no capability beyond the engine's defaults, no device,
no unconfined seccomp or AppArmor, none of Podman's annotations that reach the host (a volume
driver's ``device``/``type``/``mount-options``, the ``io.podman.annotations.*`` switches), and
no more than :data:`MAX_WORKLOADS` pods.

The played manifests (:func:`rewrite`) are job-scoped: every object's name gets the job's prefix
(and every reference to it follows), each pod keeps its original name as its hostname (Podman's
DNS answers to it on the job's network), every object and pod carries the job label, host ports
are left to the grader (it publishes the same container ports on free ports of 127.0.0.1), built
images take the job's tags, images are never pulled, and a container without limits gets the
grader's defaults (as every container it starts).
"""

from __future__ import annotations

import copy
from typing import Any, Iterable

import yaml

from autograder.core import Fail
from autograder.engine.policy import DEFAULT_CAPS, DEFAULT_CPUS, DEFAULT_MEMORY, MAX_CPUS, MAX_MEMORY, Refusal
from autograder.readers.kube import Doc, containers, memory_bytes, nano_cpus, pod_name, pod_spec, workloads

HOST_NAMESPACES = (("hostNetwork", "CIS 5.10"), ("hostPID", "CIS 5.16"), ("hostIPC", "CIS 5.17"))
# Podman's PersistentVolumeClaim annotations that mount something of the host (uid/gid are harmless).
PVC_HOST_ANNOTATIONS = ("volume.podman.io/driver", "volume.podman.io/device", "volume.podman.io/type",
                        "volume.podman.io/mount-options", "volume.podman.io/import-source",
                        "volume.podman.io/image")
PODMAN_ANNOTATIONS_ALLOWED = ("io.podman.annotations.init.container.type", "io.podman.annotations.autoremove")
MAX_WORKLOADS = 8   # pods kube play would start (one per Pod or workload: Podman ignores replicas)


def refusal_message(refusals: Iterable[Refusal]) -> tuple[str, str, str]:
    lines = [r.line() for r in refusals]
    return ("des manifestes sans réglage dangereux pour la machine qui corrige (elle exécute les rendus "
            "de toute la classe)",
            "le correcteur refuse de lancer ces manifestes :\n- " + "\n- ".join(lines),
            "retirez ces réglages (ce TP n'en a besoin d'aucun) puis relancez : rien n'a été démarré. "
            "Les vérifications qui lisent seulement vos fichiers ont quand même été notées.")


class KubeRefused(Fail):
    """The manifests ask for something the grader will not run."""

    def __init__(self, refusals: list[Refusal]):
        rules = sorted({part.strip() for r in refusals for part in r.rule.split(",") if r.rule})
        super().__init__(*refusal_message(refusals), rule=", ".join(rules))
        self.refusals = list(refusals)


def review(docs: list[Doc]) -> list[Refusal]:
    """Every setting of ``docs`` the grader will not run (empty: they may be played)."""
    out: list[Refusal] = []
    for doc in docs:
        meta = doc.obj.get("metadata") if isinstance(doc.obj.get("metadata"), dict) else {}
        out += _annotations(doc.where, meta.get("annotations") or {})
        if doc.kind == "PersistentVolumeClaim":
            for key in (meta.get("annotations") or {}):
                if key in PVC_HOST_ANNOTATIONS:
                    out.append(Refusal(f"{doc.where} : {key}", "cette annotation fait monter par Podman un "
                                       "périphérique ou un dossier de la machine hôte", "CIS 5.5"))
    many = list(workloads(docs))
    if len(many) > MAX_WORKLOADS:
        out.append(Refusal(f"{len(many)} pods ou workloads", f"plus de {MAX_WORKLOADS} pods à lancer : le TP "
                           "en demande deux"))
    for doc in workloads(docs):
        spec = pod_spec(doc.obj)
        template_meta = ((doc.obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
        out += _annotations(doc.where, template_meta.get("annotations") or {})
        out += _review_pod(doc.where, spec)
    return out


def _annotations(where: str, annotations: Any) -> list[Refusal]:
    out = []
    for key, value in (annotations.items() if isinstance(annotations, dict) else ()):
        if key.startswith("io.podman.annotations.") and key not in PODMAN_ANNOTATIONS_ALLOWED:
            out.append(Refusal(f"{where} : {key}", "annotation propre à Podman qui change l'isolation du conteneur"))
        elif (key.startswith(("seccomp.security.alpha.kubernetes.io/",
                              "container.seccomp.security.alpha.kubernetes.io/", "container.apparmor.security.beta"))
              and "unconfined" in str(value).lower()):
            out.append(Refusal(f"{where} : {key}", "retire le filtre seccomp ou AppArmor du conteneur",
                               "CIS 5.1, 5.21"))
    return out


def _unconfined(where: str, ctx: dict) -> list[Refusal]:
    """A security context that loosens the container's confinement (pod or container level)."""
    out = []
    for key in ("seccompProfile", "appArmorProfile"):
        kind = str((ctx.get(key) or {}).get("type") or "").lower()
        if kind == "unconfined":
            out.append(Refusal(f"{where}.securityContext.{key}", "profil Unconfined : le conteneur perd son "
                               "filtre d'appels système", "CIS 5.1, 5.21"))
        elif kind == "localhost":
            out.append(Refusal(f"{where}.securityContext.{key}", "profil Localhost : un fichier de profil de la "
                               "machine hôte ; gardez celui du moteur (RuntimeDefault)", "CIS 5.1, 5.21"))
    selinux = str((ctx.get("seLinuxOptions") or {}).get("type") or "")
    if selinux in ("spc_t", "unconfined_t") or selinux.endswith(":spc_t"):
        out.append(Refusal(f"{where}.securityContext.seLinuxOptions", f"le type SELinux {selinux} lève le "
                           "confinement SELinux du conteneur", "CIS 5.2"))
    if ctx.get("sysctls"):
        out.append(Refusal(f"{where}.securityContext.sysctls", "modifie des paramètres du noyau (sysctls) : "
                           "aucun TP n'en a besoin", "CIS 5.3"))
    return out


def _review_pod(where: str, spec: dict) -> list[Refusal]:
    out: list[Refusal] = []
    for key, rule in HOST_NAMESPACES:
        if spec.get(key) is True:
            out.append(Refusal(f"{where} : {key}", f"`{key}: true` partage l'espace de noms de la machine hôte", rule))
    out += _unconfined(where, spec.get("securityContext") or {})
    for vol in spec.get("volumes") or []:
        if isinstance(vol, dict) and "hostPath" in vol:
            out.append(Refusal(f"{where} : volume {vol.get('name')} (hostPath)",
                               "un volume hostPath monte un dossier de la machine hôte : utilisez un "
                               "PersistentVolumeClaim", "CIS 5.5"))
    for c in containers(spec):
        at = f"{where} : conteneur {c.get('name')}"
        ctx = c.get("securityContext") if isinstance(c.get("securityContext"), dict) else {}
        if ctx.get("privileged") is True:
            out.append(Refusal(f"{at}.securityContext.privileged", "un conteneur privilégié a tous les droits "
                               "sur la machine hôte", "CIS 5.5, CL-0002"))
        for cap in (ctx.get("capabilities") or {}).get("add") or []:
            if str(cap).upper().removeprefix("CAP_") not in DEFAULT_CAPS:
                out.append(Refusal(f"{at}.securityContext.capabilities.add", f"capacité {cap} hors de l'ensemble "
                                   "par défaut du moteur", "CIS 5.4, CL-0006"))
        if str(ctx.get("procMount") or "") == "Unmasked":
            out.append(Refusal(f"{at}.securityContext.procMount", "/proc non masqué expose le noyau de l'hôte"))
        if c.get("volumeDevices"):
            out.append(Refusal(f"{at}.volumeDevices", "un périphérique de la machine hôte", "CIS 5.18"))
        out += _unconfined(at, ctx)
    return out


# -- the manifests the grader plays ---------------------------------------------------------------
REFERENCES = (  # (path from a volume / env item, kind of the object it names)
    (("persistentVolumeClaim", "claimName"), "PersistentVolumeClaim"),
    (("secret", "secretName"), "Secret"),
    (("configMap", "name"), "ConfigMap"),
)


def rewrite(docs: list[Doc], job: str, labels: dict[str, str], images: dict[str, str],
            extra: Iterable[dict] = ()) -> tuple[str, list[int], list[str]]:
    """The YAML the grader plays (``extra`` objects first, e.g. its own Secret), the container
    ports to publish, and French notes on what changed."""
    objs = [copy.deepcopy(o) for o in extra] + [copy.deepcopy(d.obj) for d in docs]
    names = {(o.get("kind"), (o.get("metadata") or {}).get("name")) for o in objs}

    def scoped(kind: str, name: Any) -> Any:
        return f"{job}-{name}" if (kind, name) in names else name

    notes: list[str] = []
    ports: list[int] = []
    for obj in objs:
        meta = obj["metadata"] = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        original = Doc("", 0, {"kind": obj.get("kind"), "metadata": dict(meta)})
        meta["name"] = f"{job}-{meta.get('name')}"
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        spec = pod_spec(obj)
        if not spec:
            continue
        if obj.get("kind") != "Pod":
            template = obj["spec"]["template"]
            template["metadata"] = template.get("metadata") if isinstance(template.get("metadata"), dict) else {}
            template["metadata"]["labels"] = {**(template["metadata"].get("labels") or {}), **labels}
        spec.setdefault("hostname", pod_name(original))   # the pod's DNS name on the job's network
        for vol in spec.get("volumes") or []:
            for (source, key), kind in REFERENCES:
                if isinstance(vol.get(source), dict) and key in vol[source]:
                    vol[source][key] = scoped(kind, vol[source][key])
        for c in containers(spec):
            _rewrite_container(c, scoped, images, ports, notes)
    return yaml.safe_dump_all(objs, sort_keys=False), sorted(set(ports)), notes


def _rewrite_container(c: dict, scoped, images: dict[str, str], ports: list[int], notes: list[str]) -> None:
    for item in c.get("env") or []:
        ref = (item.get("valueFrom") or {}) if isinstance(item, dict) else {}
        for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
            if isinstance(ref.get(key), dict):
                ref[key]["name"] = scoped(kind, ref[key].get("name"))
    for source in c.get("envFrom") or []:
        for key, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
            if isinstance((source or {}).get(key), dict):
                source[key]["name"] = scoped(kind, source[key].get("name"))
    image = str(c.get("image") or "")
    if image in images:
        c["image"] = images[image]
    c["imagePullPolicy"] = "Never" if image in images else "IfNotPresent"
    for port in c.get("ports") or []:
        if isinstance(port, dict) and port.pop("hostPort", None):
            ports.append(int(port.get("containerPort") or 0))
        if isinstance(port, dict):
            port.pop("hostIP", None)
    resources = c["resources"] = c.get("resources") if isinstance(c.get("resources"), dict) else {}
    limits = resources["limits"] = resources.get("limits") if isinstance(resources.get("limits"), dict) else {}
    memory, cpus = memory_bytes(limits.get("memory")), nano_cpus(limits.get("cpu"))
    if not memory or memory > MAX_MEMORY:
        limits["memory"] = str(MAX_MEMORY if memory else DEFAULT_MEMORY)
        if memory:
            notes.append(f"conteneur {c.get('name')} : limite de mémoire ramenée à {MAX_MEMORY // 2**20} Mio")
    else:
        limits["memory"] = str(memory)  # plain bytes: Podman 5.8 reads `0.125Gi` as 0.125e9 Gi
    if not cpus or cpus > MAX_CPUS * 1e9:
        limits["cpu"] = str(MAX_CPUS if cpus else DEFAULT_CPUS)
        if cpus:
            notes.append(f"conteneur {c.get('name')} : limite de CPU ramenée à {MAX_CPUS:g}")
    # A request above the limit it now has: Podman refuses the pod (« minimum memory limit cannot be
    # less than memory reservation limit »); a cluster would too. Lowered to the limit.
    requests = resources.get("requests") if isinstance(resources.get("requests"), dict) else {}
    for key, read in (("memory", memory_bytes), ("cpu", nano_cpus)):
        asked, cap = read(requests.get(key)), read(limits[key])
        if asked and cap and asked > cap:
            requests[key] = limits[key]
            notes.append(f"conteneur {c.get('name')} : requests.{key} ramené à sa limite ({limits[key]})")
        elif key == "memory" and asked:
            requests[key] = str(asked)  # plain bytes, as the limit
