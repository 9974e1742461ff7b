"""``make bench``: how far is each lab's grading from the Docker work it cannot avoid?

For each lab the reference solution is graded three times (``python -m autograder.tools.bench``):

1. a warm-up grading, *recorded*: every Docker Engine API request (docker SDK), every docker CLI
   command (``run_cli``: Compose, BuildKit builds) and every HTTP probe to a published port is
   kept, with a copy of the grading's work folder before each build or CLI command;
2. a timed grading (warm images and build cache): the **grading** time;
3. the **floor**: the essential operations of the recording replayed directly, without the
   grader's logic, under a new job label, and timed.

The floor is derived from the recording, never written by hand (:func:`derive_floor`):
bookkeeping requests are dropped (pings, version, lists, the disk guard's ``info``, ``compose
config``), an inspection is kept once between two operations that change something, an exec's
three requests (create, start, inspect) are one operation, and a run of identical operations
(a readiness poll) is one operation replayed until it gives the result the grading finally saw
(exit code, HTTP status, return code). What the floor cannot replay — a container that talks to
a service of the grader (the Docker API proxy of labs 04 and 08), an object the replay never
created — counts with its duration *as recorded* ("in situ"), so the floor is never empty of it.

Then the throughput: N copies of one submission graded by ``python -m autograder check DIR…
--jobs J --json`` (the instructors' path: ``make grade`` grades ahead the same way) for each J of
``--jobs`` (1, 2 and 3 by default), in gradings per hour.

Last, the class-size table (:func:`capacity`): per lab, gradings per hour on this machine and the
time to grade 30 and 150 hand-ins, at one job and at the best measured job count (the speed-up
measured on the copied lab applied to the others: an estimate, said so in the table's caption).

The results: tables on the terminal, ``build/bench/bench.json`` (with the machine: cores, Docker
versions, date), and the floor derived for each lab in ``build/bench/floor-NN.txt``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import docker
import docker.api.client
from rich import box
from rich.console import Console
from rich.table import Table

from autograder import registry

from autograder.engine import sandbox as sandbox_mod
from autograder.core import GraderUnavailable
from autograder.probes.waits import Timeout, wait_until
from autograder.report.progress import Steps
from autograder.probes.scripts import SERVICE_LABEL
from autograder.engine.runner import grade
from autograder.engine.sandbox import Sandbox, docker_client, run_cli, sweep

OUT_DIR = registry.REPO_ROOT / "build" / "bench"
HEX_ID = re.compile(r"(?:sha256:)?\b([0-9a-f]{64}|[0-9a-f]{12})\b")
VERSIONED = re.compile(r"^.*?/v\d+\.\d+(/.*)$")
# Requests that only look around: the grader's bookkeeping, not the lab's work.
BOOKKEEPING = re.compile(r"^/(_ping|version|info|events|system/df|(containers|images|networks|volumes)/json"
                         r"|networks|volumes)$")
INSPECT = re.compile(r"^/(containers/[^/]+/json|images/.+/(json|history)|networks/[^/]+|volumes/[^/]+"
                     r"|exec/[^/]+/json)$")
# Compose options followed by a value, before the subcommand.
COMPOSE_VALUE_OPTIONS = {"-p", "--project-name", "--project-directory", "-f", "--file", "--profile",
                         "--env-file", "--ansi", "--progress", "--parallel"}
DROPPED_COMPOSE = {"config", "version", "ls", "ps", "images"}
REPLAY_TIMEOUT_S = 600


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


# -- deriving the floor ------------------------------------------------------------------------
@dataclass
class Op:
    """One essential operation of the floor, or (``kind == "poll"``) a repeated block of them."""

    kind: str                 # api | exec | build | cli | http | poll
    event: dict               # the first recorded event (for exec: the create request)
    result: Any = None        # what the grading got (status, exit code, return code)
    recorded_s: float = 0.0   # its time in the recorded grading (first start → last end)
    in_situ: str = ""         # why it is not replayed (its recorded time counts instead)
    merged: int = 0           # in situ: the later operations on the same container merged into it
    steps: list["Op"] = field(default_factory=list)  # poll: one round of the repeated block
    rounds: int = 1           # poll: how many rounds the grading made
    until: list = field(default_factory=list)  # poll: the results of its last round

    @property
    def changing(self) -> bool:
        """A poll whose results changed: replayed until they are the last round's. One whose
        results never changed waited on something else (a file's content): replayed as long."""
        return [s.result for s in self.steps] != self.until

    def signature(self) -> str:
        e = self.event
        return json.dumps([self.kind, e.get("method"), e.get("path"), e.get("body"), e.get("params"),
                           e.get("args"), e.get("url"), e.get("kwargs")], sort_keys=True, default=str)

    def label(self) -> str:
        e = self.event
        if self.kind == "poll":
            how = f"until {self.until}" if self.changing else f"for {self.recorded_s:.1f} s"
            return f"poll ×{self.rounds} {how}: " + " ; ".join(s.label() for s in self.steps)
        if self.kind == "exec":
            cmd = (e.get("body") or {}).get("Cmd") or []
            text = f"exec {_short_ids(e['path'].split('/')[2])} {' '.join(map(str, cmd))}"
        elif self.kind == "cli":
            text = " ".join(_cli_words(e["args"]))
        elif self.kind == "build":
            text = f"build {e['kwargs'].get('tag', '')} ({e['kwargs'].get('dockerfile') or 'Dockerfile'})"
        elif self.kind == "http":
            text = f"{e['method']} {e['url']}"
        else:
            text = f"{e['method']} {_short_ids(e['path'])}"
        if self.merged:
            text += f"  [+{self.merged} operations]"
        return text[:160]


def _answer_id(event: dict) -> Optional[str]:
    answer = event.get("answer")
    return answer.get("Id") if isinstance(answer, dict) else None


def _key(ident: str) -> str:
    """An object id without its ``sha256:`` prefix."""
    return ident.split(":", 1)[-1]


def _short_ids(text: str) -> str:
    return HEX_ID.sub(lambda m: m.group(1)[:12], text)


def _cli_words(args: list[str]) -> list[str]:
    """The CLI command without the long paths (for the floor's listing)."""
    return [Path(a).name if a.startswith("/") else a for a in args]


def compose_subcommand(args: list[str]) -> Optional[str]:
    """``up`` in ``docker compose -p x -f f up -d``; ``None`` for anything but a Compose command."""
    if len(args) < 2 or args[1] != "compose":
        return None
    i = 2
    while i < len(args):
        word = args[i]
        if word in COMPOSE_VALUE_OPTIONS:
            i += 2
        elif word.startswith("-"):
            i += 1
        else:
            return word
    return None


def essential(event: dict) -> bool:
    """Is this recorded event part of the lab's work (not the grader's bookkeeping)?"""
    if event["kind"] == "api":
        return not (event["method"] == "GET" and BOOKKEEPING.match(event["path"]))
    if event["kind"] == "cli":
        return compose_subcommand(event["args"]) not in DROPPED_COMPOSE
    return True


def derive_floor(events: list[dict], max_block: int = 4) -> list[Op]:
    """The essential operations of a recorded grading, in order (see the module's docstring)."""
    return collapse_polls(essential_ops(events), max_block)


def _end(event: dict) -> float:
    return event.get("t1") or event["t0"]


def essential_ops(events: list[dict]) -> list[Op]:
    """One :class:`Op` per essential event (an exec's three requests are one), in order."""
    events = sorted(events, key=lambda e: e["t0"])
    execs: dict[str, dict] = {}  # exec id → {"start": event, "inspect": event}
    for e in events:
        m = re.match(r"^/exec/([^/]+)/(start|json)$", e.get("path", "")) if e["kind"] == "api" else None
        if m:
            execs.setdefault(m.group(1), {})["start" if m.group(2) == "start" else "inspect"] = e
    grader_containers = {_answer_id(e) for e in events if e.get("grader_service")} - {None}

    ops: list[Op] = []
    inspected: set[str] = set()
    for e in events:
        if not essential(e) or (e["kind"] == "api" and e["path"].startswith("/exec/")):
            continue
        if e["kind"] == "api" and e["method"] == "POST" and re.match(r"^/containers/[^/]+/exec$", e["path"]):
            parts = execs.get(_answer_id(e) or "", {})
            last = parts.get("inspect") or parts.get("start") or e
            code = (last.get("answer") or {}).get("ExitCode") if last is parts.get("inspect") else None
            op = Op("exec", e, result=code, recorded_s=_end(last) - e["t0"])
        else:
            op = Op(e["kind"], e, result=e.get("status"), recorded_s=_end(e) - e["t0"])
        if e["kind"] == "api" and e["method"] == "GET" and INSPECT.match(e["path"]):
            if e["path"] in inspected:
                continue
            inspected.add(e["path"])
        elif e["kind"] != "http":
            inspected.clear()  # something may have changed: the next inspection counts again
        if e.get("unreplayable"):
            op.in_situ = e["unreplayable"]
        elif e.get("grader_service") or any(cid in e.get("path", "") for cid in grader_containers):
            op.in_situ = "container using a service of the grader (Docker API proxy)"
        previous = ops[-1] if ops else None
        if previous is not None and op.in_situ and previous.in_situ:
            # a container the floor cannot run: its whole span, waits included, counts as recorded
            previous.recorded_s = _end(op.event) - previous.event["t0"]
            previous.merged += 1
            continue
        ops.append(op)
    return ops


def collapse_polls(ops: list[Op], max_block: int = 4) -> list[Op]:
    """Runs of a repeated block of operations (a readiness poll: exec, or inspect + HTTP + exec…)
    become one ``poll`` operation: one round of the block, how many rounds, the last results."""
    out: list[Op] = []
    i = 0
    while i < len(ops):
        poll = _poll_at(ops, i, max_block)
        out.append(poll or ops[i])
        i += poll.rounds * len(poll.steps) if poll else 1
    return out


def _poll_at(ops: list[Op], i: int, max_block: int) -> Optional[Op]:
    """The shortest block starting at ``i`` that repeats right after itself, as a poll."""
    for k in range(1, max_block + 1):
        block = ops[i:i + k]
        if len(block) < k or any(op.in_situ for op in block):
            return None
        sig = [op.signature() for op in block]
        rounds = 1
        while [op.signature() for op in ops[i + rounds * k:i + (rounds + 1) * k]] == sig:
            rounds += 1
        if rounds > 1:
            last = ops[i + (rounds - 1) * k:i + rounds * k]
            end = max(op.event["t0"] + op.recorded_s for op in last)
            return Op("poll", block[0].event, steps=block, rounds=rounds, until=[op.result for op in last],
                      recorded_s=end - block[0].event["t0"])
    return None


# -- replaying it ------------------------------------------------------------------------------
class Unreplayable(Exception):
    pass


@dataclass
class Floor:
    seconds: float = 0.0       # replayed time + in-situ time
    replayed_s: float = 0.0
    in_situ_s: float = 0.0
    replayed: int = 0
    in_situ: int = 0
    lines: list[str] = field(default_factory=list)  # one per operation: time, how, what

    def add(self, op: Op, seconds: Optional[float], why: str = "") -> None:
        if seconds is None:
            self.in_situ += 1
            self.in_situ_s += op.recorded_s
            self.lines.append(f"{op.recorded_s:8.3f}  in situ   {op.label()}  ({why})")
        else:
            self.replayed += 1
            self.replayed_s += seconds
            self.lines.append(f"{seconds:8.3f}  replayed  {op.label()}")
        self.seconds = self.replayed_s + self.in_situ_s


class Replayer:
    """Replays a derived floor under a new job label, then removes everything it made."""

    def __init__(self, events: list[dict], old_job: str, workspace: Path,
                 client: Optional[docker.DockerClient] = None):
        self.client = client or docker_client()
        self.api = docker.APIClient(timeout=REPLAY_TIMEOUT_S, version=self.client.api.api_version,
                                    **docker.utils.kwargs_from_env())
        self.old_job = old_job
        self.new_job = sandbox_mod.new_job_id()
        self.root = workspace / "replay"
        self.old_roots = sorted({e["snap"]["root"] for e in events if e.get("snap")}, key=len, reverse=True)
        self.current_snap: Optional[str] = None
        self.ids: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.ports: dict[str, tuple[str, str]] = {}  # old host port → (old container id, "8000/tcp")
        for e in events:
            answers = e.get("answer")
            for a in answers if isinstance(answers, list) else [answers] if answers else []:
                ident = a.get("Id") or a.get("ID")
                name = a.get("Name") or (a.get("Names") or [None])[0] or (a.get("RepoTags") or [None])[0]
                if ident and name:
                    self.names.setdefault(_key(ident), name.lstrip("/"))
                for cport, bindings in (a.get("Ports") or {}).items():
                    for b in bindings or []:
                        if ident and b.get("HostPort"):
                            self.ports[b["HostPort"]] = (ident, cport)
            if e["kind"] == "api" and e["path"] == "/containers/create" and _answer_id(e):
                self.names.setdefault(_key(e["answer"]["Id"]), (e.get("params") or {}).get("name") or "")

    # -- translating the recording ----------------------------------------------------------------
    def sub(self, text: str) -> str:
        text = text.replace(self.old_job, self.new_job)
        for old in self.old_roots:
            text = text.replace(old, str(self.root))
        return text

    def subj(self, value: Any) -> Any:
        return json.loads(self.sub(json.dumps(value))) if value is not None else None

    def resolve(self, old: str) -> str:
        short = {k[:12]: v for k, v in self.ids.items()}
        if old in self.ids or old in short:
            return self.ids.get(old) or short[old]
        name = self.names.get(old) or next((n for k, n in self.names.items() if k.startswith(old)), "")
        if name:
            return self.sub(name)
        raise Unreplayable(f"unknown object {old[:12]}")

    def path(self, path: str) -> str:
        path = HEX_ID.sub(lambda m: self.resolve(m.group(1)), path)
        return self.sub(path)

    def sync(self, snap: Optional[dict]) -> None:
        """The replay folder made to hold what the grading's folder held before this operation."""
        if not snap or snap["copy"] == self.current_snap:
            return
        if self.root.exists():
            shutil.rmtree(self.root)
        shutil.copytree(snap["copy"], self.root, symlinks=True)
        for path in list(self.root.iterdir()):  # the grader's own files (effective Compose file, copies)
            if self.old_job not in path.name:
                continue
            renamed = path.rename(path.with_name(path.name.replace(self.old_job, self.new_job)))
            if renamed.is_file():
                renamed.write_text(self.sub(renamed.read_text()))
        self.current_snap = snap["copy"]

    # -- replaying ----------------------------------------------------------------------------------
    def run(self, ops: list[Op]) -> Floor:
        floor = Floor()
        try:
            for op in ops:
                if op.in_situ:
                    floor.add(op, None, op.in_situ)
                    continue
                try:
                    self.sync(op.event.get("snap"))
                    seconds = self.replay(op)
                except Exception as exc:  # noqa: BLE001 - the floor counts it as recorded and goes on
                    floor.add(op, None, f"{type(exc).__name__}: {str(exc)[:120]}")
                    continue
                floor.add(op, seconds)
        finally:
            self.cleanup()
        return floor

    def replay(self, op: Op) -> float:
        """Seconds the operation took, replayed (a poll: until it gives what the grading saw)."""
        steps = op.steps if op.kind == "poll" else [op]
        prepared = [self.prepare(step) for step in steps]

        def one_round() -> list:
            return [getattr(self, f"_{step.kind}")(step, p) for step, p in zip(steps, prepared)]

        started = time.perf_counter()
        if op.kind == "api" or (op.kind != "poll" and op.result is None):
            one_round()
            return time.perf_counter() - started
        # An exec, HTTP probe or command is retried until it gives what the grading saw: the
        # replay runs ahead of the grading, and a service may not be up yet.
        until = op.until if op.kind == "poll" else [op.result]
        seen: list = []

        def done() -> bool:
            seen[:] = one_round()
            if op.kind != "poll" or op.changing:
                return seen == until
            return time.perf_counter() - started >= op.recorded_s

        try:
            wait_until(done, max(10.0, 2 * op.recorded_s + 5), interval=0.05, max_interval=0.25)
        except Timeout:
            raise Unreplayable(f"never gave {until} (last: {seen})") from None
        return time.perf_counter() - started

    def prepare(self, op: Op) -> dict:
        """Everything that is not the operation itself (untimed): ids, paths, ports."""
        e = op.event
        if op.kind in ("api", "exec"):
            return {"path": self.path(e["path"]), "params": self.subj(e.get("params")),
                    "body": self.subj(e.get("body"))}
        if op.kind == "build":
            kwargs = self.subj(e["kwargs"])
            kwargs.pop("decode", None)
            return {"kwargs": kwargs}
        if op.kind == "cli":
            return {"args": [self.sub(a) for a in e["args"]], "cwd": self.sub(e["cwd"]) if e.get("cwd") else None,
                    "env": {k: self.sub(v) for k, v in e.get("env", {}).items()}}
        url = urllib.parse.urlsplit(e["url"])
        port = str(url.port or 80)
        if port in self.ports:
            old_container, cport = self.ports[port]
            bindings = self.api.inspect_container(self.resolve(old_container))["NetworkSettings"]["Ports"]
            port = (bindings.get(cport) or [{}])[0].get("HostPort") or port
        return {"url": url._replace(netloc=f"{url.hostname}:{port}").geturl()}

    def _url(self, path: str) -> str:
        return f"{self.api.base_url}/v{self.api._version}{urllib.parse.quote(path, safe='/:')}"

    def _api(self, op: Op, p: dict) -> int:
        e = op.event
        kwargs: dict = {"params": p["params"], "stream": e.get("stream", False)}
        if p["body"] is not None:
            kwargs["data"] = json.dumps(p["body"])
            kwargs["headers"] = {"Content-Type": "application/json"}
        elif e.get("data") is not None:
            kwargs["data"] = e["data"]
        response = self.api.request(e["method"], self._url(p["path"]), timeout=REPLAY_TIMEOUT_S, **kwargs)
        for _ in response.iter_content(1 << 16):
            pass
        old_id = _answer_id(e)
        if old_id and response.ok and "json" in response.headers.get("Content-Type", ""):
            try:
                new = response.json()
            except ValueError:
                new = {}
            if isinstance(new, dict) and new.get("Id"):
                self.ids[_key(old_id)] = new["Id"]
        return response.status_code

    def _exec(self, op: Op, p: dict) -> Optional[int]:
        created = self.api._result(self.api._post_json(self._url(p["path"]), data=p["body"]), True)
        self.api.exec_start(created["Id"])
        code = self.api.exec_inspect(created["Id"])["ExitCode"]
        return code

    def _build(self, op: Op, p: dict) -> int:
        status = 0
        for chunk in self.api.build(decode=True, **p["kwargs"]):
            if "error" in chunk:
                status = 1
            if "ID" in (chunk.get("aux") or {}) and op.event.get("image_id"):
                self.ids[_key(op.event["image_id"])] = chunk["aux"]["ID"]
        return status

    def _cli(self, op: Op, p: dict) -> int:
        proc = run_cli(p["args"], timeout=REPLAY_TIMEOUT_S, cwd=Path(p["cwd"]) if p["cwd"] else None, env=p["env"])
        return proc.returncode

    def _http(self, op: Op, p: dict) -> int:
        e = op.event
        request = urllib.request.Request(p["url"], data=e.get("data"), method=e.get("method", "GET"),
                                         headers=e.get("headers") or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local URL
                response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = -1
        return status

    def cleanup(self) -> None:
        run_cli(["docker", "compose", "-p", self.new_job, "down", "--volumes", "--remove-orphans",
                 "--rmi", "local", "-t", "0"], timeout=180)
        sweep(self.client, self.new_job)
        self.api.close()
        shutil.rmtree(self.root, ignore_errors=True)


# -- the benchmark ------------------------------------------------------------------------------
@dataclass
class LabBench:
    lab: str
    grading_s: float
    floor_s: float
    replayed_s: float
    in_situ_s: float
    replayed_ops: int
    in_situ_ops: int
    score: float
    attainable: float

    @property
    def ratio(self) -> Optional[float]:
        return ratio(self.grading_s, self.floor_s)

    def to_json(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


@dataclass
class ParallelBench:
    lab: str
    copies: int
    wall_s: dict[int, float]       # jobs → wall time for the N copies
    all_full_marks: dict[int, bool]

    def speedup(self, jobs: int = 2) -> Optional[float]:
        """Throughput with ``jobs`` concurrent gradings over throughput with one."""
        return ratio(self.wall_s.get(1, 0.0), self.wall_s.get(jobs, 0.0)) if jobs in self.wall_s else None

    def per_hour(self, jobs: int) -> Optional[float]:
        wall = self.wall_s.get(jobs, 0.0)
        return round(self.copies * 3600 / wall, 1) if wall > 0 else None

    def best(self) -> int:
        """The job count with the highest throughput (1 when nothing faster was measured)."""
        return min(self.wall_s, key=lambda j: (self.wall_s[j], j)) if self.wall_s else 1

    def to_json(self) -> dict:
        return {"lab": self.lab, "copies": self.copies,
                "runs": [{"jobs": j, "wall_s": s, "per_grading_s": round(s / self.copies, 2),
                          "per_hour": self.per_hour(j), "speedup": self.speedup(j),
                          "all_full_marks": self.all_full_marks[j]} for j, s in sorted(self.wall_s.items())],
                "best_jobs": self.best()}


CLASS_SIZES = (30, 150)


def capacity(labs: list[LabBench], parallel: Optional[ParallelBench]) -> list[dict]:
    """Per lab: gradings per hour at one job and at the best job count, and the time (minutes) to
    grade each class size of :data:`CLASS_SIZES`. The speed-up is the one measured on the copied
    lab (1 when no throughput run)."""
    best = parallel.best() if parallel else 1
    gain = (parallel.speedup(best) or 1.0) if parallel and best != 1 else 1.0
    rows = []
    for b in labs:
        if b.grading_s <= 0:
            continue
        per_hour = 3600 / b.grading_s
        rows.append({"lab": b.lab, "grading_s": b.grading_s, "per_hour_1": round(per_hour, 1),
                     "jobs": best, "per_hour_best": round(per_hour * gain, 1),
                     **{f"minutes_{n}": round(n * b.grading_s / gain / 60, 1) for n in CLASS_SIZES}})
    return rows


def ratio(a: float, b: float) -> Optional[float]:
    return round(a / b, 2) if b > 0 else None


def bench_lab(lab_id: str, workspace: Path) -> tuple[LabBench, list[str]]:
    """Warm-up grading (recorded), timed grading, floor replayed; the floor's listing."""
    lab = registry.get_lab(lab_id)
    folder = registry.lab_dirs("solutions")[lab.id]
    workspace.mkdir(parents=True, exist_ok=True)
    with Recorder(workspace) as recorder:
        grade(lab, folder, sandbox_factory=recorder.sandbox_factory)
    started = time.monotonic()
    report = grade(lab, folder)
    grading_s = time.monotonic() - started
    ops = derive_floor(recorder.events)
    floor = Replayer(recorder.events, recorder.jobs[-1], workspace).run(ops)
    result = LabBench(lab.id, round(grading_s, 2), round(floor.seconds, 2), round(floor.replayed_s, 2),
                      round(floor.in_situ_s, 2), floor.replayed, floor.in_situ, report.score, report.attainable)
    return result, floor.lines


def grade_copies(folder: Path, copies: int, jobs: int, workspace: Path) -> tuple[float, bool]:
    """Wall time for ``python -m autograder check`` to grade ``copies`` copies of ``folder`` with
    ``--jobs jobs``; whether every copy got full marks."""
    dirs = []
    for k in range(copies):
        dest = workspace / f"copy-{jobs}-{k}" / folder.name
        shutil.copytree(folder, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        dirs.append(str(dest))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", *dirs, "--jobs", str(jobs), "--json"],
                          capture_output=True, text=True, timeout=1800 * copies, cwd=registry.REPO_ROOT)
    wall = time.monotonic() - started
    reports = []
    for line in proc.stdout.splitlines():
        try:
            reports.append(json.loads(line))
        except ValueError:
            continue
    full = (proc.returncode == 0 and len(reports) == copies
            and all(r.get("score") == r.get("attainable") for r in reports))
    return wall, full


def bench_parallel(lab_id: str, copies: int, workspace: Path, warm: bool,
                   jobs: tuple[int, ...] = (1, 2, 3)) -> ParallelBench:
    lab = registry.get_lab(lab_id)
    folder = registry.lab_dirs("solutions")[lab.id]
    if not warm:
        grade(lab, folder)
    walls, ok = {}, {}
    for j in sorted(set(jobs) | {1}):
        walls[j], ok[j] = grade_copies(folder, copies, j, workspace)
        walls[j] = round(walls[j], 2)
    return ParallelBench(lab.id, copies, walls, ok)


def machine(client: Optional[docker.DockerClient]) -> dict:
    info: dict[str, Any] = {"cores": os.cpu_count(), "platform": platform.platform(),
                            "python": platform.python_version(),
                            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    if client is not None:
        version = client.version()
        info["docker_engine"] = version.get("Version")
        info["docker_api"] = version.get("ApiVersion")
    proc = run_cli(["docker", "version", "--format", "{{.Client.Version}}"], timeout=30)
    info["docker_cli"] = proc.stdout.strip() or None
    proc = run_cli(["docker", "compose", "version", "--short"], timeout=30)
    info["compose"] = proc.stdout.strip() or None
    return info


# -- output ---------------------------------------------------------------------------------------
def _num(x: Optional[float], fmt: str = ".1f", suffix: str = "") -> str:
    return "—" if x is None else f"{x:{fmt}}{suffix}"


def labs_table(labs: list[LabBench]) -> Table:
    """Per lab: grading, floor, their ratio, operations replayed / in situ (fits 40 columns)."""
    table = Table(title="Grading vs floor (s)", box=box.SIMPLE, title_justify="left", pad_edge=False)
    table.add_column("Lab", no_wrap=True)
    table.add_column("Grade", justify="right", no_wrap=True)
    table.add_column("Floor", justify="right", no_wrap=True)
    table.add_column("×", justify="right", no_wrap=True)
    table.add_column("Ops r/i", justify="right", no_wrap=True)
    for b in labs:
        table.add_row(b.lab[:2], _num(b.grading_s), _num(b.floor_s), _num(b.ratio, ".2f"),
                      f"{b.replayed_ops}/{b.in_situ_ops}")
    if labs:
        total_g, total_f = sum(b.grading_s for b in labs), sum(b.floor_s for b in labs)
        table.add_row("all", _num(total_g), _num(total_f), _num(ratio(total_g, total_f), ".2f"), "",
                      style="bold")
    table.caption = "× = grade / floor; Ops r/i = replayed / in situ"
    return table


def parallel_table(p: ParallelBench) -> Table:
    table = Table(title=f"{p.copies} × lab {p.lab[:2]} (s)", box=box.SIMPLE, title_justify="left", pad_edge=False)
    table.add_column("Jobs", justify="right", no_wrap=True)
    table.add_column("Wall", justify="right", no_wrap=True)
    table.add_column("Each", justify="right", no_wrap=True)
    table.add_column("/h", justify="right", no_wrap=True)
    table.add_column("OK", no_wrap=True)
    for jobs, wall in sorted(p.wall_s.items()):
        table.add_row(str(jobs), _num(wall), _num(wall / p.copies), _num(p.per_hour(jobs), ".0f"),
                      "yes" if p.all_full_marks[jobs] else "NO")
    table.caption = "speed-up: " + ", ".join(f"{j} jobs {_num(p.speedup(j), '.2f', '×')}"
                                              for j in sorted(p.wall_s) if j > 1)
    return table


def capacity_table(rows: list[dict]) -> Table:
    """Gradings per hour and minutes for a class of 30 and 150 (the class-size table)."""
    table = Table(title="Class size (min)", box=box.SIMPLE, title_justify="left", pad_edge=False)
    table.add_column("Lab", no_wrap=True)
    table.add_column("/h", justify="right", no_wrap=True)
    table.add_column("/h best", justify="right", no_wrap=True)
    for n in CLASS_SIZES:
        table.add_column(str(n), justify="right", no_wrap=True)
    for r in rows:
        table.add_row(r["lab"][:2], _num(r["per_hour_1"], ".0f"), _num(r["per_hour_best"], ".0f"),
                      *(_num(r[f"minutes_{n}"], ".0f") for n in CLASS_SIZES))
    if rows:
        table.caption = (f"best = {rows[0]['jobs']} jobs, its speed-up measured on one lab")
    return table


def write_json(path: Path, info: dict, labs: list[LabBench], parallel: Optional[ParallelBench]) -> dict:
    data = {"machine": info, "labs": [b.to_json() for b in labs],
            "parallel": parallel.to_json() if parallel else None,
            "capacity": capacity(labs, parallel)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return data


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder.tools.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--labs", nargs="*", default=None, help="lab numbers (default: every lab)")
    p.add_argument("--n", type=int, default=4, help="copies graded for each job count (0: skip)")
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 3], help="job counts (1 is always measured)")
    p.add_argument("--lab", default="01", help="the lab whose solution is copied")
    p.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (bench.json, floor-NN.txt)")
    return p


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    console = Console()
    err = Console(stderr=True)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        client = docker_client()
        labs = [registry.get_lab(k) for k in args.labs] if args.labs else list(registry.all_labs())
        info = machine(client)
        results: list[LabBench] = []
        args.out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            with Steps(len(labs) + (1 if args.n > 0 else 0), err) as steps:
                for lab in labs:
                    with steps.step(f"lab {lab.id}") as step:
                        result, lines = bench_lab(lab.id, Path(tmp) / lab.number)
                        step.summary = f"grade {result.grading_s:.1f} s, floor {result.floor_s:.1f} s"
                        results.append(result)
                        (args.out / f"floor-{lab.number}.txt").write_text(
                            f"# Floor of lab {lab.id}: seconds, how, operation\n" + "\n".join(lines) + "\n")
                parallel = None
                if args.n > 0:
                    with steps.step(f"{args.n} copies of lab {args.lab}, jobs {' '.join(map(str, args.jobs))}") as step:
                        parallel = bench_parallel(args.lab, args.n, Path(tmp) / "copies",
                                                  warm=any(l.number == registry.get_lab(args.lab).number for l in labs),
                                                  jobs=tuple(args.jobs))
                        step.summary = " / ".join(f"{s:.1f} s" for _, s in sorted(parallel.wall_s.items()))
        write_json(args.out / "bench.json", info, results, parallel)
        if results:
            console.print(labs_table(results))
        if parallel:
            console.print(parallel_table(parallel))
        if results:
            console.print(capacity_table(capacity(results, parallel)))
        console.print(f"{args.out / 'bench.json'} ({info['cores']} cores, Docker {info.get('docker_engine')}, "
                      f"{info['date']})", markup=False, highlight=False)
        return 0
    except GraderUnavailable as exc:
        err.print(f"[bold red]Benchmark impossible:[/] {exc.en}")
        return 2
    except KeyboardInterrupt:
        err.print("[yellow]Benchmark interrupted; its containers were removed.[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
