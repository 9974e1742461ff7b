"""The benchmark's floor: the essential operations derived from a recorded grading, and their replay
without the grader's logic (see :mod:`autograder.tools.bench`)."""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
import docker
import docker.api.client

from autograder.engine import sandbox as sandbox_mod
from autograder.probes.waits import Timeout, wait_until
from autograder.engine.docker_api import docker_client, sweep
from autograder.engine.docker_cli import run_cli


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
