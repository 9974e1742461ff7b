"""The engines the matrix grades on ("lanes"): the host's engine, and Docker Engine 28.5 with the
containerd image store run as Docker-in-Docker from a debootstrapped Debian sid rootfs.

A lane is a context manager: entering sets the engine up (timed), leaving tears it down whatever
happened. ``lane.command(args)`` and ``lane.env`` are how a grader process reaches the engine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ocilayout import convert, layer_media_types  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "engines"      # caches (rootfs, image archives) and matrix.json
# A run's scratch (cases, the grader's TMPDIR, the inner engines' data) lives outside the
# repository: tests that walk the checkout must not meet an engine's storage changing under them.
SCRATCH = Path(os.environ.get("ENGINES_SCRATCH", "/var/tmp"))
IMAGES_TXT = ROOT / "docker" / "images.txt"
LABEL = "org.4data.autograder.engines"
MIRROR = os.environ.get("ENGINES_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SID_PACKAGES = ("docker.io", "docker-cli", "docker-buildx", "docker-compose", "containerd", "runc",
                "iptables", "ca-certificates", "mount", "procps")
# Tests alias python:3.13-slim as python:latest for `FROM python:latest` mutants (tests/grader/test_labs.py).
ALIASES = {"python:latest": "python:3.13-slim"}


class LaneError(RuntimeError):
    """A lane could not be set up (the message says which step and why)."""


def log(msg: str) -> None:
    print(f"[engines {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(args: list[str], *, timeout: float, env: dict | None = None, check: bool = True,
       **kw) -> subprocess.CompletedProcess:
    """Run a command with a timeout; raise :class:`LaneError` with its stderr when it fails."""
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})}, **kw)
    except subprocess.TimeoutExpired:
        raise LaneError(f"{' '.join(args[:4])}… did not finish in {timeout:.0f} s") from None
    if check and proc.returncode != 0:
        raise LaneError(f"{' '.join(args[:4])}… exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return proc


def wait_until(condition: Callable[[], bool], deadline_s: float, what: str, interval: float = 0.5) -> None:
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            raise LaneError(f"{what}: not ready after {deadline_s:.0f} s")
        time.sleep(interval)


def course_images() -> list[str]:
    return [line.strip() for line in IMAGES_TXT.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


class Lane:
    name = "?"

    def __init__(self, work: Path):
        self.work = work                 # the run's scratch folder: cases, the grader's TMPDIR, engine state
        self.tmp = work / f"tmp-{self.name}"
        self.setup_s = 0.0
        self.facts: dict = {}
        self.env: dict[str, str] = {}

    def command(self, args: list[str]) -> list[str]:
        return args

    def docker(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        return sh(["docker", *args], timeout=timeout, env=self.env, check=check)

    def __enter__(self) -> "Lane":
        start = time.monotonic()
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.env["TMPDIR"] = str(self.tmp)
        try:
            self.setup()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.setup_s = round(time.monotonic() - start, 1)
        info = json.loads(self.docker("info", "--format", "{{json .}}", timeout=30).stdout)
        self.facts.update(engine=info.get("ServerVersion"), driver=info.get("Driver"),
                          store="containerd" if "io.containerd.snapshotter" in json.dumps(info.get("DriverStatus"))
                          else info.get("Driver"), cgroup=info.get("CgroupVersion"))
        log(f"lane {self.name}: ready in {self.setup_s} s ({self.facts})")
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.teardown()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def setup(self) -> None:
        self._aliases: set[str] = set()
        self.ensure_aliases()

    def ensure_aliases(self) -> None:
        """Tag the aliases that are missing (called before each grading: on a shared engine another
        test session may remove ``python:latest`` when it ends). Only those tagged here go at the end."""
        self._aliases |= {alias for alias, target in ALIASES.items() if self._tag_if_absent(alias, target)}

    def teardown(self) -> None:
        for alias in sorted(getattr(self, "_aliases", ())):
            self.docker("image", "rm", "--no-prune", alias, check=False)

    def _tag_if_absent(self, alias: str, target: str) -> bool:
        if self.docker("image", "inspect", alias, check=False).returncode == 0:
            return False
        return self.docker("tag", target, alias, check=False).returncode == 0


class HostLane(Lane):
    """The engine DOCKER_HOST (or the default socket) points at."""

    name = "host"


class DinDLane(Lane):
    """An engine from a debootstrapped Debian sid rootfs, run in a container on the host's engine.

    ``--privileged`` is refused on this machine (its bounding set lacks CAP_SYS_RESOURCE): all other
    capabilities, unconfined seccomp/AppArmor/system paths, every device, and /sys plus the cgroup
    hierarchies remounted read-write inside replace it. The inner engine serves the Docker API on a
    socket in a host folder; the grader runs in the container's network namespace (``nsenter
    --net``) so that the ports the inner engine publishes on 127.0.0.1 are the grader's 127.0.0.1.
    What the grader bind-mounts into containers (its TMPDIR, the docker CLI, the Compose plugin) is
    mounted into the lane at the same paths. The rootfs tarball is cached under build/engines/ and
    imported once as ``autograder-engines-<lane>:<key>`` (label ``org.4data.autograder.engines``,
    removed by ``make engines-clean``); the engine's data is a folder removed at the end.
    """

    packages: tuple[str, ...] = ()
    data_dir = ""        # where the inner engine keeps its data (a host folder: no overlay on overlay)
    daemon = ""          # shell lines that configure and exec the engine on /run/lane/docker.sock
    ready_s = 120
    run_files: dict[str, str] = {}  # written into /run/lane before the engine starts

    def __init__(self, work: Path):
        super().__init__(work)
        self.key = hashlib.sha256(f"sid|{MIRROR}|{','.join(self.packages)}".encode()).hexdigest()[:12]
        self.rootfs_tar = BUILD / f"{self.name}-rootfs-{self.key}.tar"
        self.image = f"autograder-engines-{self.name}:{self.key}"
        self.state = work / self.name
        self.container = f"autograder-engines-{self.name}-{os.getpid()}"
        self.pid = 0

    def command(self, args: list[str]) -> list[str]:
        return ["nsenter", f"--net=/proc/{self.pid}/ns/net", "--", *args]

    # -- set-up ----------------------------------------------------------------------------
    def setup(self) -> None:
        self._host_env = {}  # the host engine: whatever DOCKER_HOST this process was given
        BUILD.mkdir(parents=True, exist_ok=True)  # absent from a clean clone (CI)
        self._ensure_image()
        self._start()
        images = self.load_images()
        super().setup()
        self.facts["images"] = images

    def _host_docker(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        return sh(["docker", *args], timeout=timeout, env=self._host_env, check=check)

    def _ensure_image(self) -> None:
        if self._host_docker("image", "inspect", self.image, check=False).returncode == 0:
            self.facts["rootfs"] = f"{self.image} (cached)"
            return
        if not self.rootfs_tar.is_file():
            if shutil.which("debootstrap") is None:
                raise LaneError("debootstrap is missing (apt-get install debootstrap)")
            tree = self.work / f"rootfs-{self.name}"
            shutil.rmtree(tree, ignore_errors=True)
            log(f"lane {self.name}: debootstrap sid ({', '.join(self.packages)})")
            try:
                sh(["debootstrap", "--variant=minbase", f"--include={','.join(self.packages)}", "sid",
                    str(tree), MIRROR], timeout=900)
                # sid's Release file may be past its Valid-Until date: let apt inside accept it.
                (tree / "etc/apt/apt.conf.d/99no-check-valid-until").write_text(
                    'Acquire::Check-Valid-Until "false";\n')
                partial = self.rootfs_tar.with_suffix(".part")
                sh(["tar", "-C", str(tree), "-cf", str(partial), "."], timeout=600)
                partial.rename(self.rootfs_tar)
            finally:
                shutil.rmtree(tree, ignore_errors=True)
        log(f"lane {self.name}: docker import {self.rootfs_tar.name} as {self.image}")
        self._host_docker("import", "--change", f"LABEL {LABEL}={self.name}", str(self.rootfs_tar), self.image,
                          timeout=600)
        self.facts["rootfs"] = f"{self.image} (imported)"

    def _start(self) -> None:
        shutil.rmtree(self.state, ignore_errors=True)
        run, data = self.state / "run", self.state / "data"
        run.mkdir(parents=True)
        data.mkdir(parents=True)
        for name, text in self.run_files.items():
            (run / name).write_text(text)
        start = self.state / "start.sh"
        start.write_text(
            "set -e\n"
            "mount -o remount,rw /sys\n"
            # Each cgroup hierarchy is a read-only bind mount: only a bind remount makes it writable.
            "for d in /sys/fs/cgroup /sys/fs/cgroup/*; do\n"
            "  if mountpoint -q \"$d\"; then mount -o remount,bind,rw \"$d\"; fi\n"
            "done\n" + self.daemon)
        mounts = {str(data): self.data_dir, str(run): "/run/lane", str(start): "/start.sh:ro",
                  str(self.work): str(self.work)}
        cli = shutil.which("docker")
        sys.path.insert(0, str(ROOT))
        from autograder.engine.compose import compose_plugin
        for path in (Path(cli).resolve() if cli else None, compose_plugin()):
            if path is not None:
                mounts[str(path)] = f"{path}:ro"
        args = ["run", "-d", "--name", self.container, "--label", f"{LABEL}={self.name}", "--init",
                "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
                "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                "--security-opt", "systempaths=unconfined",
                "--device-cgroup-rule", "c *:* rmw", "--device-cgroup-rule", "b *:* rmw",
                "--tmpfs", "/run", "--tmpfs", "/tmp"]
        for src, dst in mounts.items():
            args += ["-v", f"{src}:{dst}"]
        self._host_docker(*args, self.image, "sh", "/start.sh")
        self.env["DOCKER_HOST"] = f"unix://{run / 'docker.sock'}"

        def up() -> bool:
            state = self._host_docker("inspect", "-f", "{{.State.Running}}", self.container, check=False)
            if state.stdout.strip() != "true":
                logs = self._host_docker("logs", "--tail", "30", self.container, check=False)
                raise LaneError(f"the {self.name} engine's container stopped:\n{logs.stdout}{logs.stderr}")
            return self.docker("info", timeout=10, check=False).returncode == 0

        wait_until(up, self.ready_s, f"the {self.name} engine (docker info)")
        self.pid = int(self._host_docker("inspect", "-f", "{{.State.Pid}}", self.container).stdout)

    def saved_images(self) -> tuple[list[str], Path]:
        """The course images saved from the host (cached by tags and ids): (tags, archive)."""
        tags = course_images()
        ids = self._host_docker("image", "inspect", "-f", "{{.Id}}", *tags).stdout.split()
        key = hashlib.sha256(" ".join(tags + ids).encode()).hexdigest()[:12]
        return tags, BUILD / f"images-saved-{key}.tar"

    def load_images(self) -> dict:
        raise NotImplementedError

    # -- tear-down -------------------------------------------------------------------------
    def teardown(self) -> None:
        # The inner engine, its containers and mounts die with the container; its data is a folder.
        self._host_docker("rm", "-f", "-v", self.container, timeout=120, check=False)
        shutil.rmtree(self.state, ignore_errors=True)


class SidLane(DinDLane):
    """Docker Engine 28.5 from Debian sid, containerd image store and BuildKit."""

    name = "sid"
    packages = SID_PACKAGES
    data_dir = "/var/lib/docker"
    daemon = ("mkdir -p /etc/docker\n"
              "echo '{\"features\": {\"containerd-snapshotter\": true}}' > /etc/docker/daemon.json\n"
              "exec dockerd -H unix:///run/lane/docker.sock\n")

    def load_images(self) -> dict:
        """Every course image, moved with gzip layers as after a pull; returns host vs lane sizes."""
        tags, cached = self.saved_images()
        archive = cached.with_name(cached.name.replace("images-saved-", "images-gzip-"))
        saved = self.work / "images-saved.tar"  # transient: only the gzip archive is kept
        if not archive.is_file():
            for stale in BUILD.glob("images-gzip-*.tar"):
                stale.unlink()
            log(f"lane sid: docker save {' '.join(tags)} and gzip the layers")
            try:
                self._host_docker("save", "-o", str(saved), *tags, timeout=600)
                convert(saved, archive, scratch=self.work)
            finally:
                saved.unlink(missing_ok=True)
        types = set(layer_media_types(archive))
        if types != {"application/vnd.oci.image.layer.v1.tar+gzip"}:
            raise LaneError(f"{archive.name}: layers are {types}, not gzip")
        self.docker("load", "-i", str(archive), timeout=600)
        sizes = {}
        for tag in tags:
            host = int(self._host_docker("image", "inspect", "-f", "{{.Size}}", tag).stdout)
            lane = int(self.docker("image", "inspect", "-f", "{{.Size}}", tag).stdout)
            sizes[tag] = {"host_size": host, "lane_size": lane}
            log(f"lane sid: {tag:<20} inspect Size {host / 1e6:7.1f} MB on the host, "
                f"{lane / 1e6:7.1f} MB in the lane (packed, gzip)")
            if lane >= host:
                raise LaneError(f"{tag}: the lane's Size ({lane}) is not the packed size (host: {host})")
        return sizes


LANES = {"host": HostLane, "sid": SidLane}


PODMAN_PACKAGES = ("podman", "runc", "conmon", "netavark", "aardvark-dns", "catatonit", "iptables", "nftables",
                   "ca-certificates", "mount", "procps")


class PodmanLane(DinDLane):
    """Podman 5 from Debian sid through its Docker-compatible API (``podman system service``).

    crun fails on this host's hybrid cgroups: runc and cgroupfs; the lane lacks CAP_SYS_RESOURCE, so
    the default ulimits are the lane's own hard limits. Images are loaded as ``docker save`` wrote them: Podman's storage keeps
    layers unpacked whatever their compression, so gzip would change nothing there.
    """

    name = "podman"
    packages = PODMAN_PACKAGES
    data_dir = "/var/lib/containers"
    daemon = ("mkdir -p /etc/containers\n"
              # Buildah raises RLIMIT_NOFILE/NPROC to 1048576 unless told otherwise, which needs
              # CAP_SYS_RESOURCE: the lane's own hard limits become the default ones.
              "nofile=$(awk '/^Max open files/ {print $5}' /proc/self/limits)\n"
              "nproc=$(awk '/^Max processes/ {print $4}' /proc/self/limits)\n"
              "cat > /etc/containers/containers.conf <<CONF\n"
              "[containers]\n"
              "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]\n"
              "[engine]\n"
              "runtime = \"runc\"\n"
              "cgroup_manager = \"cgroupfs\"\n"
              "events_logger = \"file\"\n"
              "CONF\n"
              "export PODMAN_IGNORE_CGROUPSV1_WARNING=1\n"
              "bash /run/lane/health-timers.sh &\n"
              "exec podman system service --time=0 unix:///run/lane/docker.sock\n")
    # Podman runs each container's healthcheck from a systemd timer (`podman healthcheck run`
    # every interval); without systemd as init it starts none and every status stays "starting".
    # The lane has no systemd, so this loop plays the timers' part, as on a distribution without
    # systemd: each running container with a healthcheck gets `podman healthcheck run` once per
    # Config.Healthcheck.Interval (rounded up to the second), never two at once.
    run_files = {"health-timers.sh": r"""
declare -A due running seen
while :; do
  now=$(date +%s)
  seen=()
  while read -r id interval; do
    [ -n "$interval" ] || continue
    seen[$id]=1
    interval=$(awk -v s="$interval" 'BEGIN { v = int(s); if (v < s) v++; if (v < 1) v = 30; print v }')
    if [ -z "${due[$id]:-}" ]; then due[$id]=$((now + interval)); continue; fi
    busy=${running[$id]:-}
    if [ "$now" -ge "${due[$id]}" ] && { [ -z "$busy" ] || ! kill -0 "$busy" 2>/dev/null; }; then
      podman healthcheck run "$id" >/dev/null 2>&1 &
      running[$id]=$!
      due[$id]=$((now + interval))
    fi
  done < <(podman ps -q --no-trunc | xargs -r podman inspect --format \
             '{{.ID}} {{if .Config.Healthcheck}}{{.Config.Healthcheck.Interval.Seconds}}{{end}}' 2>/dev/null)
  for id in "${!due[@]}"; do [ -n "${seen[$id]:-}" ] || unset "due[$id]" "running[$id]"; done
  sleep 1
done
"""}


    def load_images(self) -> dict:
        tags, saved = self.saved_images()
        if not saved.is_file():
            for stale in BUILD.glob("images-saved-*.tar"):
                stale.unlink()
            log(f"lane podman: docker save {' '.join(tags)}")
            partial = saved.with_suffix(".part")
            self._host_docker("save", "-o", str(partial), *tags, timeout=600)
            partial.rename(saved)
        self.docker("load", "-i", str(saved), timeout=600)
        return {tag: {"lane_size": int(self.docker("image", "inspect", "-f", "{{.Size}}", tag).stdout)}
                for tag in tags}


LANES["podman"] = PodmanLane
