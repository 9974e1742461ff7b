"""What the API proxy lets through: image references, the policy of a lab's script (images, builds,
containers, labels) and `docker compose exec` on one project (see :mod:`autograder.engine.apiproxy`)."""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Callable, Optional

from autograder.engine.apiproxy_http import BUILD_MEMORY, IMAGE_ID, Request


def with_labels(query: dict, forced: list[str]) -> Optional[dict]:
    """``query`` whose ``filters`` also require the ``forced`` labels (``k=v``); ``None`` when the
    client's filters are unreadable. Both encodings are read: ``{"label": ["k=v"]}`` (old) and
    ``{"label": {"k=v": true}}``."""
    try:
        filters = json.loads(query.get("filters") or "{}")
    except ValueError:
        return None
    if not isinstance(filters, dict):
        return None
    label = filters.get("label") or {}
    if not isinstance(label, dict):
        label = {str(x): True for x in label}
    filters["label"] = {**label, **{x: True for x in forced}}
    return {**query, "filters": json.dumps(filters)}


# ---------------------------------------------------------------------------------------------
# Image references
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reference:
    domain: str     # "" for Docker Hub names written without one
    path: str       # "meteo", "user/meteo"
    tag: str = ""
    digest: str = ""

    def __str__(self) -> str:
        name = f"{self.domain}/{self.path}" if self.domain else self.path
        return name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}" if self.domain else self.path


def parse_reference(ref: str) -> Reference:
    """Split an image reference the way Docker does (the domain is the first component when it
    holds a ``.`` or a ``:`` or is ``localhost``)."""
    name, _, digest = ref.partition("@")
    domain, path = "", name
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    tag = ""
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, _, tag = path.rpartition(":")
    return Reference(domain, path, tag, digest)


def is_image_id(ref: str) -> bool:
    return bool(IMAGE_ID.match(ref))


# ---------------------------------------------------------------------------------------------
# The policy
# ---------------------------------------------------------------------------------------------
@dataclass
class Decision:
    allowed: bool
    reason: str = ""
    target: Optional[str] = None  # the rewritten request target, when the request is changed
    # Read the (small, Content-Length framed) body first and ask this function about it.
    check_body: Optional[Callable[[bytes], "Decision"]] = None
    # After this request the connection is a raw stream both ways (exec start: `Upgrade: tcp`).
    hijack: bool = False

    def __bool__(self) -> bool:
        return self.allowed


def refused_path(req: Request) -> Optional[Decision]:
    """A refusal for a path that is not plain (relative, encoded, backslashes, empty, . or ..
    segments): both policies judge paths segment by segment."""
    raw = req.raw_path
    segments = raw.split("/")[1:]
    if not raw.startswith("/") or "%" in raw or "\\" in raw or any(s in ("", ".", "..") for s in segments):
        return Decision(False, f"chemin de requête refusé : {raw[:200]}")
    return None


# Query parameters of POST /build: value checks for the ones that could reach outside the job.
BUILD_PARAMS = {
    "t", "dockerfile", "q", "nocache", "rm", "forcerm", "pull", "buildargs", "labels", "target",
    "networkmode", "extrahosts", "shmsize", "cachefrom", "platform", "cpuperiod", "cpuquota", "cpushares",
    "cpusetcpus", "cpusetmems", "memory", "memswap", "ulimits", "squash", "version", "remote",
    "cgroupparent", "isolation", "session", "outputs", "buildid",
}
# Parameters that must stay empty (or at their default): what they do reaches beyond the build.
BUILD_EMPTY = {
    "remote": "un contexte de build distant (URL) : le correcteur ne télécharge rien",
    "cgroupparent": "`--cgroup-parent` sortirait le build des limites du correcteur",
    "session": "BuildKit (session) n'est pas disponible ici : laissez DOCKER_BUILDKIT non défini",
    "outputs": "`--output` écrirait hors du démon",
    "isolation": "mode d'isolation non pris en charge",
}
NETWORK_MODES = {"", "default", "bridge", "none"}


@dataclass
class Policy:
    """What a script may ask of the daemon.

    ``registries``: the registry hosts (``127.0.0.1:5000``) the script may push to and pull from.
    ``labels``: added to every build (the grader's job label: what is built is swept).
    ``namespace``: image names outside the registries written by a build or a tag go under
    ``<namespace>/`` (empty: such names are refused). ``inspect``: ``name -> labels dict`` of an
    existing image, ``None`` when absent (for name resolution and deletions).
    """

    registries: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)
    namespace: str = ""
    build_memory: int = BUILD_MEMORY
    inspect: Optional[Callable[[str], Optional[dict]]] = None

    # -- names ------------------------------------------------------------------
    def in_registry(self, ref: Reference) -> bool:
        return ref.domain in self.registries

    def owned(self, labels: Optional[dict]) -> bool:
        return labels is not None and all(labels.get(k) == v for k, v in self.labels.items())

    def write_name(self, name: str) -> tuple[Optional[str], str]:
        """``(name to use, "")`` for an image name a build or a tag writes, or ``(None, why)``."""
        ref = parse_reference(name)
        if ref.digest or not ref.path:
            return None, f"nom d'image invalide : {name}"
        if self.in_registry(ref):
            return name, ""
        if ref.domain and ref.domain not in ("docker.io", "index.docker.io"):
            return None, (f"l'image {name} vise le registre {ref.domain} ; ici, seul le registre "
                          f"{self.registries[0]} (variable REGISTRY) est disponible")
        if not self.namespace:
            return None, f"seules les images du registre {self.registries[0]} peuvent être étiquetées ({name})"
        return self._scoped(ref), ""

    def _scoped(self, ref: Reference) -> str:
        """``meteo:dev``, ``docker.io/library/meteo:dev`` -> ``<namespace>/meteo:dev``."""
        path = ref.path.removeprefix("library/") if ref.domain in ("", "docker.io", "index.docker.io") else ref.path
        if path.startswith(self.namespace + "/"):
            return path + (f":{ref.tag}" if ref.tag else "")
        return f"{self.namespace}/{path}" + (f":{ref.tag}" if ref.tag else "")

    def read_name(self, name: str) -> str:
        """The image a script means when it names ``name``: its own namespaced copy when there is one."""
        if is_image_id(name) or not self.namespace:
            return name
        ref = parse_reference(name)
        if ref.digest or self.in_registry(ref) or (ref.domain and ref.domain not in ("docker.io",
                                                                                    "index.docker.io")):
            return name
        mapped = self._scoped(ref)
        if mapped == name:
            return name
        return mapped if self._inspect(mapped) is not None else name

    def _inspect(self, name: str) -> Optional[dict]:
        return self.inspect(name) if self.inspect is not None else None

    # -- decisions ----------------------------------------------------------------
    def decide(self, req: Request) -> Decision:
        refused = refused_path(req)
        if refused is not None:
            return refused
        keys = [k for k, _ in req.query]
        repeated = {k for k in keys if keys.count(k) > 1} - {"t"}
        if repeated:
            return Decision(False, f"paramètre répété : {', '.join(sorted(repeated))}")
        method, path = req.method, req.path
        if method == "HEAD":
            method = "GET"
        if path == "/_ping" and method == "GET":
            return Decision(True)
        if path in ("/version", "/info") and method == "GET":
            return Decision(True)
        if path == "/build" and method == "POST":
            return self._build(req)
        if path == "/images/json" and method == "GET":
            return Decision(True)
        if path == "/images/create" and method == "POST":
            return self._pull(req)
        if path == "/images/prune" and method == "POST":
            return self._prune(req)
        m = re.match(r"^/images/(?P<name>.+)/(?P<op>json|history|tag|push)$", path)
        if m:
            return self._image(req, method, m.group("name"), m.group("op"))
        m = re.match(r"^/images/(?P<name>.+)$", path)
        if m and method == "DELETE":
            return self._delete(req, m.group("name"))
        m = re.match(r"^/distribution/(?P<name>.+)/json$", path)
        if m and method == "GET":
            if self.in_registry(parse_reference(m.group("name"))):
                return Decision(True)
            return Decision(False, f"seul le registre {self.registries[0]} peut être interrogé")
        return Decision(False, f"{req.method} {path} n'est pas permis pendant cette étape (seuls build, tag, "
                               "push, pull depuis le registre du TP et l'inspection des images le sont)")

    def _target(self, req: Request, path: str, query: list[tuple[str, str]]) -> str:
        raw = urllib.parse.quote(req.prefix + path, safe="/:@")
        return raw + ("?" + urllib.parse.urlencode(query) if query else "")

    def _build(self, req: Request) -> Decision:
        query = req.query
        out: list[tuple[str, str]] = []
        for key, value in query:
            if key not in BUILD_PARAMS:
                return Decision(False, f"option de build inconnue du correcteur : {key}")
            if key in BUILD_EMPTY and value not in ("", "default" if key == "isolation" else ""):
                return Decision(False, BUILD_EMPTY[key])
            if key == "networkmode" and value not in NETWORK_MODES:
                return Decision(False, f"`--network {value}` pendant le build : utilisez le réseau par défaut")
            if key == "version" and value not in ("", "1"):
                return Decision(False, "BuildKit n'est pas disponible ici : laissez DOCKER_BUILDKIT non défini")
            if key == "t":
                name, why = self.write_name(value)
                if name is None:
                    return Decision(False, why)
                value = name
            if key in ("labels", "memory", "memswap", "rm", "forcerm"):
                if key == "labels":
                    try:
                        labels = json.loads(value or "{}")
                    except ValueError:
                        return Decision(False, "labels de build illisibles")
                    if not isinstance(labels, dict):
                        return Decision(False, "labels de build illisibles")
                    out.append(("labels", json.dumps({**labels, **self.labels})))
                continue
            out.append((key, value))
        if not any(k == "labels" for k, _ in out):
            out.append(("labels", json.dumps(self.labels)))
        out += [("memory", str(self.build_memory)), ("memswap", str(self.build_memory)),
                ("rm", "1"), ("forcerm", "1")]
        return Decision(True, target=self._target(req, "/build", out))

    def _pull(self, req: Request) -> Decision:
        query = dict(req.query)
        if query.get("fromSrc"):
            return Decision(False, "`docker import` n'est pas permis pendant cette étape")
        image = query.get("fromImage", "")
        ref = parse_reference(image)
        if not image or not self.in_registry(ref):
            return Decision(False, f"seules les images du registre {self.registries[0]} peuvent être tirées "
                                   f"(demandé : {image or '?'})")
        unknown = set(query) - {"fromImage", "tag", "platform"}
        if unknown:
            return Decision(False, f"option de pull inconnue du correcteur : {', '.join(sorted(unknown))}")
        return Decision(True, target=self._target(req, "/images/create", list(query.items())))

    def _prune(self, req: Request) -> Decision:
        query = with_labels(dict(req.query), [f"{k}={v}" for k, v in self.labels.items()])
        if query is None:
            return Decision(False, "filtres illisibles")
        # Only this job's images are ever pruned: the label filter is the grader's.
        return Decision(True, target=self._target(req, "/images/prune", list(query.items())))

    def _image(self, req: Request, method: str, name: str, op: str) -> Decision:
        if op in ("json", "history"):
            if method != "GET":
                return Decision(False, f"{req.method} {req.path} n'est pas permis")
            resolved = self.read_name(name)
            return Decision(True, target=None if resolved == name else
                            self._target(req, f"/images/{resolved}/{op}", req.query))
        if method != "POST":
            return Decision(False, f"{req.method} {req.path} n'est pas permis")
        if op == "push":
            ref = parse_reference(name)
            if not self.in_registry(ref):
                return Decision(False, f"push vers {ref.domain or 'Docker Hub'} refusé ({name}) : poussez "
                                       f"vers le registre donné par la variable REGISTRY ({self.registries[0]})")
            # The job's registry speaks plain HTTP on loopback. Docker allows that by itself and
            # ignores this parameter; Podman verifies TLS unless told not to (tlsVerify=false).
            return Decision(True, target=self._target(req, req.path, [*req.query, ("tlsVerify", "false")]))
        # tag
        query = dict(req.query)
        repo, tag = query.get("repo", ""), query.get("tag", "")
        if not repo:
            return Decision(False, "`docker tag` sans nom cible")
        new, why = self.write_name(repo + (f":{tag}" if tag else ""))
        if new is None:
            return Decision(False, why)
        ref = parse_reference(new)
        query["repo"], query["tag"] = ref.repository, ref.tag
        source = self.read_name(name)
        return Decision(True, target=self._target(req, f"/images/{source}/tag",
                                                  [(k, v) for k, v in query.items() if v or k == "repo"]))

    def _delete(self, req: Request, name: str) -> Decision:
        resolved = self.read_name(name)
        if not self.owned(self._inspect(resolved)):
            return Decision(False, f"seules les images construites pendant cette étape peuvent être "
                                   f"supprimées ({name})")
        return Decision(True, target=None if resolved == name else
                        self._target(req, f"/images/{resolved}", req.query))


# ---------------------------------------------------------------------------------------------
# `docker compose exec` on one Compose project (lab 08: backup.sh / restore.sh)
# ---------------------------------------------------------------------------------------------
PROJECT_LABEL = "com.docker.compose.project"
MAX_EXEC_BODY = 64 * 1024
EXEC_KEYS = {"AttachStdin", "AttachStdout", "AttachStderr", "Detach", "DetachKeys", "Tty", "ConsoleSize", "Env",
             "Cmd", "Privileged", "User", "WorkingDir"}


@dataclass
class ExecPolicy:
    """Only what ``docker compose exec -T SERVICE CMD`` needs, on the containers of one project.

    ``project``: the Compose project name (label ``com.docker.compose.project``); containers of
    any other project, or of none, are invisible: listing is filtered by the grader, inspecting,
    exec-ing or starting an exec in them is refused. ``privileged`` execs are refused. ``fetch``:
    ``path -> JSON`` from the daemon (set by :class:`ApiProxy`).

    A started exec is a hijacked connection (``Upgrade: tcp``, then a raw stream both ways): its
    decision carries ``hijack=True`` and the proxy stops framing HTTP on that connection.
    """

    project: str
    fetch: Optional[Callable[[str], Optional[dict]]] = None
    inspect: Optional[Callable[[str], Optional[dict]]] = None  # unused; ApiProxy sets it for Policy

    def _in_project(self, obj: Optional[dict]) -> bool:
        labels = ((obj or {}).get("Config") or {}).get("Labels") or {}
        return labels.get(PROJECT_LABEL) == self.project

    def _container(self, ident: str) -> bool:
        return self.fetch is not None and self._in_project(self.fetch(f"/containers/{ident}/json"))

    def _exec(self, ident: str) -> bool:
        if self.fetch is None:
            return False
        found = self.fetch(f"/exec/{ident}/json")
        return bool(found) and self._container(str(found.get("ContainerID") or ""))

    def decide(self, req: Request) -> Decision:
        refused = refused_path(req)
        if refused is not None:
            return refused
        keys = [k for k, _ in req.query]
        if len(keys) != len(set(keys)):
            return Decision(False, "paramètre répété")
        method, path = req.method, req.path
        if method == "HEAD":
            method = "GET"
        if method == "GET" and path in ("/_ping", "/version", "/info"):
            return Decision(True)
        if method == "GET" and path == "/containers/json":
            return self._list(req)
        m = re.match(r"^/containers/(?P<id>[A-Za-z0-9][A-Za-z0-9_.-]*)/(?P<op>json|exec)$", path)
        if m and (method, m.group("op")) in (("GET", "json"), ("POST", "exec")):
            if not self._container(m.group("id")):
                return Decision(False, f"le conteneur {m.group('id')} n'appartient pas au projet Compose "
                                       f"{self.project} (utilisez `docker compose exec`, sans `-p`)")
            if m.group("op") == "exec":
                return Decision(True, check_body=self._exec_body)
            return Decision(True)
        m = re.match(r"^/exec/(?P<id>[0-9a-f]{12,64})/(?P<op>start|json|resize)$", path)
        if m and (method, m.group("op")) in (("POST", "start"), ("GET", "json"), ("POST", "resize")):
            if not self._exec(m.group("id")):
                return Decision(False, "exec inconnue dans ce projet")
            return Decision(True, hijack=m.group("op") == "start")
        return Decision(False, f"{req.method} {path} n'est pas permis pendant cette étape (seul "
                               "`docker compose exec` sur les services du TP l'est)")

    def _list(self, req: Request) -> Decision:
        query = with_labels(dict(req.query), [f"{PROJECT_LABEL}={self.project}"])
        if query is None:
            return Decision(False, "filtres illisibles")
        target = urllib.parse.quote(req.prefix + "/containers/json", safe="/:@")
        return Decision(True, target=target + "?" + urllib.parse.urlencode(list(query.items())))

    @staticmethod
    def _exec_body(body: bytes) -> Decision:
        try:
            spec = json.loads(body or b"{}")
        except ValueError:
            return Decision(False, "corps de `exec` illisible")
        if not isinstance(spec, dict):
            return Decision(False, "corps de `exec` illisible")
        unknown = set(spec) - EXEC_KEYS
        if unknown:
            return Decision(False, f"option d'exec inconnue du correcteur : {', '.join(sorted(unknown))}")
        if spec.get("Privileged"):
            return Decision(False, "`exec --privileged` donnerait tous les droits : refusé")
        return Decision(True)
