"""Read an image registry through its HTTP API (Distribution v2, what ``registry:2`` serves).

What a check needs to judge a push without trusting the pushing side: the
repositories (``/v2/_catalog``), the tags of one (``/v2/<name>/tags/list``), the
manifest a tag points to and its digest, and the image configuration blob (labels,
user, command). Only plain HTTP on a local port is used: the grader's own
registry, started for one grading.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional

from autograder.core import Fail
from autograder.probes.containers import container_gone, logs_tail
from autograder.probes.waits import Timeout, wait_until

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ACCEPT = ", ".join((MANIFEST_V2, OCI_MANIFEST, MANIFEST_LIST, OCI_INDEX))
MAX_BODY = 4 * 1024**2
# RFC 3339 date-time (section 5.6; a space may replace the T, as its note allows).
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")


class RegistryError(Exception):
    """The registry answered something else than the API promises (status, JSON)."""


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    body: dict


@dataclass
class RegistryApi:
    base: str  # http://127.0.0.1:PORT
    timeout: float = 10.0

    @property
    def host(self) -> str:
        return self.base.split("://", 1)[-1].rstrip("/")

    def _get(self, path: str, accept: str = "application/json") -> tuple[int, dict, bytes]:
        req = urllib.request.Request(self.base.rstrip("/") + path, headers={"Accept": accept})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - local URL
                return resp.status, dict(resp.headers), resp.read(MAX_BODY)
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers or {}), exc.read(MAX_BODY) if exc.fp else b""

    def _json(self, path: str, accept: str = "application/json") -> Optional[tuple[dict, dict]]:
        status, headers, body = self._get(path, accept)
        if status == 404:
            return None
        if status != 200:
            raise RegistryError(f"GET {path} : HTTP {status}")
        try:
            return json.loads(body), headers
        except ValueError:
            raise RegistryError(f"GET {path} : réponse qui n'est pas du JSON") from None

    def ping(self) -> bool:
        try:
            return self._get("/v2/")[0] == 200
        except OSError:
            return False

    def catalog(self) -> list[str]:
        found = self._json("/v2/_catalog?n=1000")
        return sorted((found[0].get("repositories") or []) if found else [])

    def tags(self, name: str) -> list[str]:
        found = self._json(f"/v2/{name}/tags/list")
        return sorted((found[0].get("tags") or []) if found else [])

    def manifest(self, name: str, reference: str) -> Optional[Manifest]:
        """The image manifest ``name:reference`` points to (for an index: its linux/amd64 entry)."""
        found = self._json(f"/v2/{name}/manifests/{reference}", ACCEPT)
        if found is None:
            return None
        body, headers = found
        digest = next((v for k, v in headers.items() if k.lower() == "docker-content-digest"), "")
        media = body.get("mediaType") or next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if media in (MANIFEST_LIST, OCI_INDEX):
            entries = body.get("manifests") or []
            pick = next((m for m in entries if (m.get("platform") or {}).get("os") == "linux" and
                         (m.get("platform") or {}).get("architecture") == "amd64"), entries[0] if entries else None)
            if pick is None:
                return None
            inner = self.manifest(name, pick["digest"])
            return Manifest(digest, media, inner.body) if inner else None
        return Manifest(digest, media, body)

    def config(self, name: str, manifest: Manifest) -> dict:
        """The image configuration blob (``config.Labels``, ``config.User``…)."""
        digest = (manifest.body.get("config") or {}).get("digest")
        if not digest:
            raise RegistryError("manifeste sans configuration (schéma v1 ?)")
        found = self._json(f"/v2/{name}/blobs/{digest}", "*/*")
        if found is None:
            raise RegistryError(f"blob de configuration {digest} absent")
        return found[0]

    def labels(self, name: str, reference: str) -> Optional[dict]:
        manifest = self.manifest(name, reference)
        if manifest is None:
            return None
        return (self.config(name, manifest).get("config") or {}).get("Labels") or {}


def wait_registry(api: RegistryApi, container, timeout: float = 30.0) -> None:
    """Wait until the registry in ``container`` answers ``GET /v2/`` (or fail with its logs)."""
    try:
        wait_until(api.ping, timeout, give_up=lambda: container_gone(container))
    except Timeout as exc:
        raise Fail("le registre du correcteur répond sur /v2/",
                   f"{exc.last if isinstance(exc.last, str) else f'pas de réponse en {int(timeout)} s'}\n"
                   f"Derniers journaux :\n{logs_tail(container)}",
                   "problème du correcteur : vérifiez que l'image registry:2 existe (`make images`) "
                   "et signalez-le à l'enseignant.") from None


# What an engine that verifies TLS by default (Podman, containers/image) says of a plain-HTTP registry.
PLAIN_HTTP_REFUSED = "HTTP response to HTTPS client"


def pull_plain_http(client, repo: str, tag: str) -> None:
    """``docker pull repo:tag`` from the grader's own registry (plain HTTP on loopback).

    Docker treats 127.0.0.0/8 registries as insecure by itself. Podman's Docker-compatible pull has
    no such rule and no ``tlsVerify`` parameter: where it refuses, the pull goes through Podman's
    own endpoint with ``tlsVerify=false``. Raises ``docker.errors.APIError`` as ``images.pull``."""
    import docker.errors

    try:
        client.images.pull(repo, tag=tag)
        return
    except docker.errors.APIError as exc:
        if PLAIN_HTTP_REFUSED not in str(exc.explanation or exc):
            raise
        first = exc
    api = client.api
    resp = api._post(api._url("/libpod/images/pull"), params={"reference": f"{repo}:{tag}", "tlsVerify": "false"},
                     stream=True)
    if resp.status_code == 404:  # not Podman after all: the first answer stands
        raise first
    api._raise_for_status(resp)
    for event in api._stream_helper(resp, decode=True):
        if isinstance(event, dict) and event.get("error"):
            raise docker.errors.APIError(str(event["error"]), response=resp, explanation=str(event["error"]))


def parse_rfc3339(value: str) -> Optional[datetime]:
    """The date of an RFC 3339 date-time (``2025-01-31T12:00:00Z``), or ``None`` when it is not one."""
    if not RFC3339.match(value or ""):
        return None
    try:
        return datetime.fromisoformat(value.replace("z", "Z").replace("t", "T").replace("Z", "+00:00"))
    except ValueError:
        return None


def recent(when: datetime, margin: timedelta = timedelta(days=1)) -> bool:
    now = datetime.now(timezone.utc)
    return now - margin <= when <= now + margin
