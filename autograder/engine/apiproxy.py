"""A Docker API allow-list proxy: untrusted code gets a `docker` command that can only do what a lab needs.

A student's script (``publier.sh``, a CI job…) must drive Docker, but the Docker
socket is root on the grading host. The grader therefore runs the script in a
throwaway container whose ``DOCKER_HOST`` is ``tcp://host.docker.internal:PORT``,
served by :class:`ApiProxy` (how that address is chosen on a Linux host, inside a
container or with Docker Desktop: :mod:`autograder.probes.scripts`). Only a client that
sends the job's secret token (header ``X-Autograder-Token``, which the docker CLI
adds from its ``config.json``) is served, and, where the network allows it to be
known, only from the script's own network. The proxy reads every HTTP request the
client sends (request line, headers, body by ``Content-Length`` or chunked
encoding, several requests per keep-alive connection) and asks a :class:`Policy`
what to do with it:

* forward it unchanged (``/_ping``, ``/version``, ``/info``, image listing and
  inspection),
* forward it rewritten: a build gets the grader's job label, memory limit and
  ``rm``/``forcerm`` forced; an image name outside the grader's registry written
  by a build or a tag is moved into the job's own namespace (``<job>/meteo:dev``),
  so that a script can never overwrite an image of the host (``python:3.13-slim``)
  nor collide with another grading running at the same time,
* or refuse it with ``403 {"message": "refusé par le correcteur: …"}``, which the
  docker CLI prints as ``Error response from daemon: refusé par le correcteur: …``.

Responses flow back from the daemon untouched. API paths may carry a version
prefix (``/v1.41/images/json``): it is ignored for matching and kept when
forwarding. The daemon is reached the way the grader reaches it (``DOCKER_HOST``:
a unix socket or plain TCP). Nothing here needs the docker SDK;
:func:`inspect_image` talks to the daemon with :mod:`http.client`.
"""

from __future__ import annotations

import hmac
import http.client
import ipaddress
import json
import os
import re
import secrets
import socket
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Optional

REFUSED_PREFIX = "refusé par le correcteur: "
MAX_HEAD = 64 * 1024
MAX_DRAINED = 1024**3  # body of a refused request read and dropped, so the client sees the 403
BUILD_MEMORY = 2 * 1024**3
VERSION_PREFIX = re.compile(r"^/v\d+(?:\.\d+)?(?=/)")
IMAGE_ID = re.compile(r"^(?:sha256:)?[0-9a-f]{12,64}$")
SOCKET_TIMEOUT_S = 600


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


class BadRequest(Exception):
    """The client sent something that is not an HTTP/1.x request the proxy can frame."""


# ---------------------------------------------------------------------------------------------
# HTTP framing
# ---------------------------------------------------------------------------------------------
@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]

    def header(self, name: str) -> Optional[str]:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def raw_path(self) -> str:
        """The request target's path as sent (origin form: no scheme, no authority)."""
        return self.target.split("?", 1)[0].split("#", 1)[0]

    @property
    def path(self) -> str:
        """The request path without its API version prefix, percent-decoded."""
        return urllib.parse.unquote(VERSION_PREFIX.sub("", self.raw_path))

    @property
    def prefix(self) -> str:
        """The API version prefix (``/v1.41``) or ``""``."""
        m = VERSION_PREFIX.match(self.raw_path)
        return m.group(0) if m else ""

    @property
    def query(self) -> list[tuple[str, str]]:
        query = self.target.split("#", 1)[0].partition("?")[2]
        return urllib.parse.parse_qsl(query, keep_blank_values=True)

    def chunked(self) -> bool:
        return "chunked" in (self.header("Transfer-Encoding") or "").lower()

    def content_length(self) -> int:
        value = self.header("Content-Length")
        if value is None:
            return 0
        if not value.strip().isdigit():
            raise BadRequest(f"Content-Length invalide : {value!r}")
        return int(value)

    def head_bytes(self, target: Optional[str] = None) -> bytes:
        lines = [f"{self.method} {target or self.target} {self.version}"]
        lines += [f"{k}: {v}" for k, v in self.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_head(rfile: BinaryIO) -> Optional[Request]:
    """The next request's line and headers; ``None`` at a clean end of stream."""
    lines: list[bytes] = []
    size = 0
    while True:
        line = rfile.readline(MAX_HEAD + 1)
        if not line:
            if lines:
                raise BadRequest("connexion fermée au milieu des en-têtes")
            return None
        size += len(line)
        if size > MAX_HEAD:
            raise BadRequest("en-têtes trop longs")
        if line in (b"\r\n", b"\n"):
            if not lines:
                continue  # tolerated blank line between requests (RFC 9112 2.2)
            break
        lines.append(line.rstrip(b"\r\n"))
    parts = lines[0].decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"ligne de requête invalide : {lines[0][:200]!r}")
    headers = []
    for raw in lines[1:]:
        key, sep, value = raw.decode("latin-1").partition(":")
        if not sep or not key or key != key.strip():
            raise BadRequest(f"en-tête invalide : {raw[:200]!r}")
        headers.append((key, value.strip()))
    request = Request(parts[0].upper(), parts[1], parts[2], headers)
    # One framing only, read the same way here and by the daemon (no request smuggling).
    lengths = [v for k, v in headers if k.lower() == "content-length"]
    encodings = [v for k, v in headers if k.lower() == "transfer-encoding"]
    if len(lengths) > 1 or len(encodings) > 1 or (lengths and encodings):
        raise BadRequest("cadrage du corps ambigu (Content-Length / Transfer-Encoding)")
    if encodings and encodings[0].strip().lower() != "chunked":
        raise BadRequest(f"Transfer-Encoding non pris en charge : {encodings[0]}")
    return request


def copy_body(rfile: BinaryIO, request: Request, write: Callable[[bytes], None],
              limit: Optional[int] = None) -> int:
    """Copy the request's body, framing included, to ``write``; returns the bytes of payload.

    Past ``limit`` bytes of payload, :class:`BadRequest` is raised.
    """
    total = 0

    def take(n: int) -> bytes:
        data = rfile.read(n)
        if len(data) != n:
            raise BadRequest("corps de requête tronqué")
        return data

    if request.chunked():
        while True:
            line = rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise BadRequest("taille de bloc invalide")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest(f"taille de bloc invalide : {line[:40]!r}") from None
            write(line)
            if size == 0:
                while True:  # trailers, then the empty line
                    trailer = rfile.readline(MAX_HEAD)
                    if not trailer:
                        raise BadRequest("fin de corps tronquée")
                    write(trailer)
                    if trailer in (b"\r\n", b"\n"):
                        return total
            total += size
            if limit is not None and total > limit:
                raise BadRequest("corps de requête trop long")
            while size:
                data = take(min(size, 1 << 16))
                write(data)
                size -= len(data)
            crlf = take(2)
            if crlf != b"\r\n":
                raise BadRequest("bloc mal terminé")
            write(crlf)
    length = request.content_length()
    if limit is not None and length > limit:
        raise BadRequest("corps de requête trop long")
    while length:
        data = take(min(length, 1 << 16))
        write(data)
        total += len(data)
        length -= len(data)
    return total


def refusal(reason: str, status: int = 403) -> bytes:
    body = json.dumps({"message": REFUSED_PREFIX + reason}, ensure_ascii=False).encode()
    head = (f"HTTP/1.1 {status} {'Forbidden' if status == 403 else 'Bad Request'}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


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
        raw = req.raw_path
        segments = raw.split("/")[1:]
        if not raw.startswith("/") or "%" in raw or "\\" in raw or any(s in ("", ".", "..") for s in segments):
            return Decision(False, f"chemin de requête refusé : {raw[:200]}")
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
# Talking to the daemon
# ---------------------------------------------------------------------------------------------
def default_upstream() -> str:
    """The daemon's address from ``DOCKER_HOST``: ``unix:///path`` or ``tcp://host:port`` (default
    ``unix:///var/run/docker.sock``). TLS endpoints cannot be proxied: :class:`ValueError`."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        return "unix:///var/run/docker.sock"
    if host.startswith("unix://") or (host.startswith("tcp://") and not os.environ.get("DOCKER_TLS_VERIFY")):
        return host
    raise ValueError(f"DOCKER_HOST={host}: only a unix socket or plain TCP can be proxied")


def connect_upstream(upstream: str, timeout: float) -> socket.socket:
    """A connected socket to ``upstream`` (``unix:///path``, ``tcp://host:port`` or a bare socket path)."""
    if upstream.startswith("tcp://"):
        parsed = urllib.parse.urlsplit(upstream)
        return socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 2375), timeout=timeout)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(upstream[len("unix://"):] if upstream.startswith("unix://") else upstream)
    except OSError:
        s.close()
        raise
    return s


class _DaemonConnection(http.client.HTTPConnection):
    def __init__(self, upstream: str, timeout: float = 30):
        super().__init__("localhost", timeout=timeout)
        self.upstream = upstream

    def connect(self) -> None:
        self.sock = connect_upstream(self.upstream, self.timeout)


def inspect_image(upstream: str, name: str) -> Optional[dict]:
    """The labels of image ``name`` (``{}`` when it has none), or ``None`` when it does not exist."""
    conn = _DaemonConnection(upstream)
    try:
        conn.request("GET", "/images/" + urllib.parse.quote(name, safe="/:@") + "/json")
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            return None
        return (json.loads(data).get("Config") or {}).get("Labels") or {}
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# The proxy
# ---------------------------------------------------------------------------------------------
TOKEN_HEADER = "X-Autograder-Token"
WILDCARDS = {"", "0.0.0.0", "::", "*"}


class ApiProxy:
    """Serve ``policy`` over TCP on ``host`` (a free port), forwarding what it allows to ``upstream``.

    Every request must carry the header ``X-Autograder-Token: <token>`` (the docker CLI sends it
    from its config file's ``HttpHeaders``): without it, or with another value, the answer is a
    403 and nothing reaches the daemon. The header is removed before forwarding. ``peers``, when
    given, are the networks (``ipaddress`` networks) a client may connect from; any other client
    is disconnected before it can send anything. A wildcard address (``0.0.0.0``) is refused: the
    proxy listens on one address only.

    Use as a context manager; ``address`` is ``(host, port)`` once started; ``decisions`` keeps
    ``(method path, allowed, reason)`` for feedback (bounded), ``refused`` the reasons of the
    refusals.
    """

    def __init__(self, policy: Policy, host: str = "127.0.0.1", upstream: Optional[str] = None,
                 token: Optional[str] = None, peers: Optional[list] = None, max_log: int = 500):
        if host in WILDCARDS:
            raise ValueError("the API proxy listens on one address, never on every interface")
        self.policy = policy
        self.host = host
        self.upstream = upstream or default_upstream()
        self.token = token or secrets.token_urlsafe(32)
        self.peers = [ipaddress.ip_network(p) for p in peers] if peers is not None else None
        if getattr(policy, "inspect", None) is None:
            policy.inspect = lambda name: inspect_image(self.upstream, name)
        if hasattr(policy, "fetch") and policy.fetch is None:
            policy.fetch = lambda path: inspect_object(self.upstream, path)
        self.decisions: list[tuple[str, bool, str]] = []
        self.max_log = max_log
        self.address: Optional[tuple[str, int]] = None
        self._server: Optional[socket.socket] = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    @property
    def refused(self) -> list[str]:
        return [reason for _, ok, reason in self.decisions if not ok]

    @property
    def http_headers(self) -> dict[str, str]:
        """What the docker CLI's ``config.json`` needs under ``HttpHeaders``."""
        return {TOKEN_HEADER: self.token}

    def __enter__(self) -> "ApiProxy":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        server = socket.socket(family, socket.SOCK_STREAM)
        try:
            server.bind((self.host, 0))
            server.listen(64)
        except OSError:
            server.close()
            raise
        self._server = server
        self.address = server.getsockname()[:2]
        threading.Thread(target=self._accept, name="apiproxy-accept", daemon=True).start()

    def stop(self) -> None:
        """Close the listener and every open connection (a running build is cancelled by the daemon)."""
        self._stopped.set()
        if self._server is not None:
            # shutdown first: a plain close leaves the listener open while accept() blocks on it
            _shutdown(self._server, socket.SHUT_RDWR)
            try:
                self._server.close()
            except OSError:
                pass
        with self._lock:
            sockets = list(self._sockets)
        for s in sockets:
            _close(s)

    def _track(self, s: socket.socket) -> None:
        with self._lock:
            self._sockets.add(s)
        if self._stopped.is_set():
            _close(s)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, peer = self._server.accept()
            except OSError:
                return
            if self.peers is not None and not any(ipaddress.ip_address(peer[0]) in n for n in self.peers):
                self._log(f"connexion de {peer[0]}", False, f"connexion refusée depuis {peer[0]} (hors du réseau "
                                                          "du script)")
                _close(client)
                continue
            self._track(client)
            threading.Thread(target=self._serve, args=(client,), name="apiproxy-conn", daemon=True).start()

    def _log(self, line: str, ok: bool, reason: str) -> None:
        with self._lock:
            if len(self.decisions) < self.max_log:
                self.decisions.append((line, ok, reason))

    def _authorised(self, req: Request) -> bool:
        sent = [v for k, v in req.headers if k.lower() == TOKEN_HEADER.lower()]
        return len(sent) == 1 and hmac.compare_digest(sent[0].encode("latin-1"), self.token.encode())

    def _serve(self, client: socket.socket) -> None:
        upstream: Optional[socket.socket] = None
        rfile = client.makefile("rb")
        try:
            while True:
                try:
                    req = read_head(rfile)
                except BadRequest as exc:
                    self._log("?", False, str(exc))
                    client.sendall(refusal(str(exc), 400))
                    return
                if req is None:
                    if upstream is not None:
                        _shutdown(upstream, socket.SHUT_WR)
                    return
                if not self._authorised(req):
                    decision = Decision(False, "jeton du correcteur absent ou faux : seul le script lancé par le "
                                               "correcteur peut utiliser ce point d'accès Docker")
                else:
                    req.headers = [(k, v) for k, v in req.headers if k.lower() != TOKEN_HEADER.lower()]
                    try:
                        decision = self.policy.decide(req)
                    except Exception as exc:  # noqa: BLE001 - a policy bug refuses, never forwards
                        decision = Decision(False, f"requête non comprise ({type(exc).__name__})")
                body: Optional[bytes] = None
                if decision.allowed and decision.check_body is not None:
                    if req.chunked() or req.content_length() > MAX_EXEC_BODY:
                        decision = Decision(False, "corps de requête trop long ou fragmenté")
                    else:
                        body = rfile.read(req.content_length())
                        if len(body) != req.content_length():
                            raise BadRequest("corps de requête tronqué")
                        try:
                            decision = decision.check_body(body)
                        except Exception as exc:  # noqa: BLE001 - a policy bug refuses, never forwards
                            decision = Decision(False, f"requête non comprise ({type(exc).__name__})")
                self._log(f"{req.method} {req.path}", decision.allowed, decision.reason)
                if not decision.allowed:
                    if body is None and "100-continue" not in (req.header("Expect") or "").lower():
                        try:  # read the body first: the client then reads the 403, not a broken pipe
                            copy_body(rfile, req, lambda data: None, limit=MAX_DRAINED)
                        except BadRequest:
                            pass
                    client.sendall(refusal(decision.reason))
                    if upstream is not None:  # no request is in flight: requests are not pipelined
                        _close(upstream)
                        upstream = None
                    return
                if upstream is None:
                    upstream = connect_upstream(self.upstream, SOCKET_TIMEOUT_S)
                    self._track(upstream)
                    threading.Thread(target=_pump, args=(upstream, client), name="apiproxy-pump",
                                     daemon=True).start()
                upstream.sendall(req.head_bytes(decision.target))
                if body is not None:
                    upstream.sendall(body)
                else:
                    copy_body(rfile, req, upstream.sendall)
                if decision.hijack:
                    # From here on the daemon speaks a raw stream (after its 101 answer): pipe the
                    # client's bytes (the command's stdin) and pass on its half-close.
                    while data := rfile.read1(1 << 16):
                        upstream.sendall(data)
                    _shutdown(upstream, socket.SHUT_WR)
                    return
        except (OSError, BadRequest):
            pass
        finally:
            if upstream is None:
                _close(client)
            else:
                # The pump closes both once the daemon has finished answering.
                _shutdown(client, socket.SHUT_RD)
            try:
                rfile.close()
            except OSError:
                pass


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(1 << 16):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        _close(src)
        _close(dst)


def _shutdown(s: socket.socket, how: int) -> None:
    try:
        s.shutdown(how)
    except OSError:
        pass


def _close(s: socket.socket) -> None:
    _shutdown(s, socket.SHUT_RDWR)
    try:
        s.close()
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# `docker compose exec` on one Compose project (lab 08: backup.sh / restore.sh)
# ---------------------------------------------------------------------------------------------
PROJECT_LABEL = "com.docker.compose.project"
MAX_EXEC_BODY = 64 * 1024
EXEC_KEYS = {"AttachStdin", "AttachStdout", "AttachStderr", "Detach", "DetachKeys", "Tty", "ConsoleSize", "Env",
             "Cmd", "Privileged", "User", "WorkingDir"}


def inspect_object(upstream: str, path: str) -> Optional[dict]:
    """``GET path`` on the daemon (``/containers/ID/json``, ``/exec/ID/json``): the JSON, or ``None``."""
    conn = _DaemonConnection(upstream)
    try:
        conn.request("GET", urllib.parse.quote(path, safe="/:@"))
        resp = conn.getresponse()
        data = resp.read()
        return json.loads(data) if resp.status == 200 else None
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()


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
        raw = req.raw_path
        segments = raw.split("/")[1:]
        if not raw.startswith("/") or "%" in raw or "\\" in raw or any(s in ("", ".", "..") for s in segments):
            return Decision(False, f"chemin de requête refusé : {raw[:200]}")
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
