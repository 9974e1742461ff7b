"""The API proxy's HTTP: request heads and bodies read with limits, refusals, and requests of its
own to the daemon (see :mod:`autograder.engine.apiproxy`)."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import urllib.parse
from dataclasses import dataclass
from typing import BinaryIO, Callable, Optional


REFUSED_PREFIX = "refusé par le correcteur: "
MAX_HEAD = 64 * 1024
MAX_DRAINED = 1024**3  # body of a refused request read and dropped, so the client sees the 403
BUILD_MEMORY = 2 * 1024**3
VERSION_PREFIX = re.compile(r"^/v\d+(?:\.\d+)?(?=/)")
IMAGE_ID = re.compile(r"^(?:sha256:)?[0-9a-f]{12,64}$")
SOCKET_TIMEOUT_S = 600


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
