"""The benchmark's recording: a grading's Docker Engine API requests, docker CLI commands and HTTP
probes, with a copy of the work folder before each build or CLI command (see :mod:`autograder.tools.bench`)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Optional
import docker
import docker.api.client

from autograder.engine import sandbox as sandbox_mod
from autograder.probes.scripts import SERVICE_LABEL
from autograder.engine.sandbox import Sandbox
from autograder.tools.bench_floor import VERSIONED


# -- recording ---------------------------------------------------------------------------------
def grading_root(path: Optional[str]) -> Optional[Path]:
    """The runner's temporary folder (``$TMPDIR/autograder-…``) holding ``path``, if any."""
    if not path:
        return None
    tmp = Path(tempfile.gettempdir()).resolve()
    p = Path(path).resolve()
    for candidate in (p, *p.parents):
        if candidate.parent == tmp and candidate.name.startswith("autograder-"):
            return candidate
    return None


def _no_specials(folder: str, names: list[str]) -> list[str]:
    """copytree ``ignore``: sockets and other special files (a live API proxy socket) stay out."""
    skipped = []
    for name in names:
        try:
            mode = os.lstat(os.path.join(folder, name)).st_mode
        except OSError:
            skipped.append(name)
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            skipped.append(name)
    return skipped


def _holds_socket(path: str) -> bool:
    """Is ``path`` a socket, or a folder with one (a grader service bind-mounted in a container)?"""
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            return True
        return os.path.isdir(path) and any(stat.S_ISSOCK(os.lstat(os.path.join(path, n)).st_mode)
                                           for n in os.listdir(path))
    except OSError:
        return False


def _answer(path: str, body: Any) -> Any:
    """The part of an API answer the replay needs: ids, names, tags, published ports, exit code."""
    if isinstance(body, list):
        return [_answer(path, item) for item in body if isinstance(item, dict)]
    if not isinstance(body, dict):
        return None
    kept = {k: body[k] for k in ("Id", "ID", "Name", "Names", "RepoTags", "ExitCode") if k in body}
    ports = (body.get("NetworkSettings") or {}).get("Ports")
    if ports:
        kept["Ports"] = ports
    return kept


class Recorder:
    """Records what a grading asks of Docker (see the module's docstring). A context manager:
    the docker SDK, ``run_cli`` and ``urllib`` are patched only inside it."""

    def __init__(self, workspace: Path):
        self.workspace = workspace
        self.events: list[dict] = []
        self.jobs: list[str] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._t0 = time.monotonic()
        self._snap_key: Optional[tuple] = None
        self._snap_dir: Optional[str] = None
        self._undo: list = []

    # the clock of the events: seconds since the recording started
    def now(self) -> float:
        return time.monotonic() - self._t0

    def add(self, event: dict) -> dict:
        with self._lock:
            self.events.append(event)
        return event

    def snapshot(self, *paths: Optional[str], folder: Optional[str] = None) -> Optional[dict]:
        """A copy of the grading's work folder as it is now (reused while it is unchanged); of
        ``folder`` when it lies elsewhere (a build context a check made for itself)."""
        root = next((r for r in map(grading_root, paths) if r is not None), None)
        if root is None and folder and os.path.isdir(folder):
            root = Path(folder).resolve()
        if root is None:
            return None
        key = tuple(sorted((str(p), p.lstat().st_size, p.lstat().st_mtime_ns)
                           for p in root.rglob("*") if not p.is_dir()))
        if key != self._snap_key or self._snap_dir is None:
            dest = self.workspace / f"snap-{len(self.events):04d}"
            shutil.copytree(root, dest, symlinks=True, ignore=_no_specials)
            self._snap_key, self._snap_dir = key, str(dest)
        return {"root": str(root), "copy": self._snap_dir}

    # -- the patches ----------------------------------------------------------------------------
    def __enter__(self) -> "Recorder":
        api_cls = docker.api.client.APIClient
        for method in ("_post", "_get", "_put", "_delete"):
            original = getattr(api_cls, method)
            setattr(api_cls, method, self._api_wrapper(method[1:].upper(), original))
            self._undo.append((api_cls, method, original))
        original_build = api_cls.build
        setattr(api_cls, "build", self._build_wrapper(original_build))
        self._undo.append((api_cls, "build", original_build))
        original_urlopen = urllib.request.urlopen
        urllib.request.urlopen = self._http_wrapper(original_urlopen)
        self._undo.append((urllib.request, "urlopen", original_urlopen))
        sandbox_mod.CLI_OBSERVERS.append(self._cli)
        return self

    def __exit__(self, *exc) -> None:
        if self._cli in sandbox_mod.CLI_OBSERVERS:
            sandbox_mod.CLI_OBSERVERS.remove(self._cli)
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()

    def sandbox_factory(self) -> Sandbox:
        box_ = Sandbox()
        self.jobs.append(box_.job)
        return box_

    def _api_wrapper(self, verb: str, original):
        recorder = self

        def wrapper(api, url, **kwargs):
            if getattr(recorder._local, "quiet", False):
                return original(api, url, **kwargs)
            m = VERSIONED.match(url)
            path = urllib.parse.unquote(m.group(1) if m else urllib.parse.urlsplit(url).path)
            data = kwargs.get("data")
            body = None
            if isinstance(data, str):
                try:
                    body = json.loads(data)
                except ValueError:
                    body = None
            event = {"kind": "api", "method": verb, "path": path, "params": dict(kwargs.get("params") or {}),
                     "body": body, "stream": bool(kwargs.get("stream")), "t0": recorder.now()}
            if isinstance(data, bytes) and len(data) <= 64 * 1024**2:
                event["data"] = data
            elif data is not None and body is None:
                event["unreplayable"] = "request body not kept"
            if verb == "POST" and path == "/containers/create" and body:
                binds = [b.split(":", 1)[0] for b in (body.get("HostConfig") or {}).get("Binds") or []]
                binds += [mnt.get("Source", "") for mnt in (body.get("HostConfig") or {}).get("Mounts") or []]
                if any(_holds_socket(b) for b in binds) or SERVICE_LABEL in (body.get("Labels") or {}):
                    event["grader_service"] = True
            try:
                response = original(api, url, **kwargs)
            except Exception as exc:
                event.update(status=-1, t1=recorder.now(), error=type(exc).__name__)
                recorder.add(event)
                raise
            event.update(status=response.status_code, t1=recorder.now())
            if not event["stream"] and "json" in response.headers.get("Content-Type", ""):
                try:
                    event["answer"] = _answer(path, response.json())
                except ValueError:
                    pass
            recorder.add(event)
            return response

        return wrapper

    def _build_wrapper(self, original):
        recorder = self

        def build(api, *args, **kwargs):
            event = {"kind": "build", "kwargs": {k: v for k, v in kwargs.items()
                                                 if isinstance(v, (str, int, float, bool, dict, list, type(None)))},
                     "t0": recorder.now(),
                     "snap": recorder.snapshot(kwargs.get("path"), folder=kwargs.get("path"))}
            if args or not isinstance(kwargs.get("path"), str) or kwargs.get("fileobj") is not None:
                event["unreplayable"] = "build from a file object"
            recorder._local.quiet = True
            try:
                stream = original(api, *args, **kwargs)
            except Exception:
                event.update(t1=recorder.now(), status=-1)
                recorder.add(event)
                raise
            finally:
                recorder._local.quiet = False
            recorder.add(event)

            def watched():
                try:
                    for chunk in stream:
                        if isinstance(chunk, dict) and "ID" in (chunk.get("aux") or {}):
                            event["image_id"] = chunk["aux"]["ID"]
                        if isinstance(chunk, dict) and "error" in chunk:
                            event["status"] = 1
                        yield chunk
                finally:
                    event["t1"] = recorder.now()
                    event.setdefault("status", 0)

            return watched()

        return build

    def _http_wrapper(self, original):
        recorder = self

        def urlopen(url, *args, **kwargs):
            target = url.full_url if isinstance(url, urllib.request.Request) else str(url)
            host = urllib.parse.urlsplit(target).hostname
            if host not in ("127.0.0.1", "localhost"):
                return original(url, *args, **kwargs)
            event = {"kind": "http", "url": target, "t0": recorder.now(),
                     "method": url.get_method() if isinstance(url, urllib.request.Request) else "GET"}
            if isinstance(url, urllib.request.Request):
                event["headers"] = dict(url.header_items())
                if isinstance(url.data, bytes):
                    event["data"] = url.data
            try:
                response = original(url, *args, **kwargs)
                event["status"] = response.status
                return response
            except urllib.error.HTTPError as exc:
                event["status"] = exc.code
                raise
            except Exception:
                event["status"] = -1
                raise
            finally:
                event["t1"] = recorder.now()
                recorder.add(event)

        return urlopen

    def _cli(self, phase: str, event: dict) -> None:
        if phase == "start":
            event["_bench"] = self.add({"kind": "cli", "args": list(event["args"]), "cwd": event["cwd"],
                                        "env": dict(event["env"]), "t0": self.now(),
                                        "snap": self.snapshot(event["cwd"], *event["args"])})
        elif "_bench" in event:
            event.pop("_bench").update(status=event["returncode"], t1=self.now())
