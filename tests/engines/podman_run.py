"""Run a command beside a real Podman: the engines' Podman lane (Podman 5 from Debian sid, in a
container on the host's engine, see lanes.py), for the tests of the Podman lab (lab 13) in
`make test`.

    python tests/engines/podman_run.py -- python -m pytest tests/grader/test_labs.py -k 13-kubernetes

The command runs in the lane's network namespace (the ports Podman publishes on 127.0.0.1 are
its 127.0.0.1) with ``PODMAN_HOST`` and ``DOCKER_HOST`` on Podman's API: the grader then sees what
a Podman-only student's machine shows. Afterwards, whatever the command left in Podman (pods,
containers, volumes, secrets, networks) fails the run, as `tests/test_zz_no_leftovers.py` does for
Docker. Exit status: the command's, 1 when something was left, 75 (EX_TEMPFAIL) when the lane could
not be set up (Debian sid uninstallable that day, or the engine did not start).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]
from lanes import SCRATCH, LaneError, PodmanLane, log  # noqa: E402

LIBPOD = "/v4.0.0/libpod"
LANE_UNAVAILABLE = 75
OBJECTS = {"pods": "/pods/json", "containers": "/containers/json?all=true", "volumes": "/volumes/json",
           "secrets": "/secrets/json", "networks": "/networks/json"}


def inventory(url: str) -> dict[str, set[str]]:
    """Names (or ids) of every Podman object of each kind, through its libpod API."""
    import docker  # noqa: PLC0415 - the venv's docker SDK, only to speak HTTP over the socket

    api = docker.APIClient(base_url=url, version="1.41", timeout=60)
    out = {}
    try:
        for kind, path in OBJECTS.items():
            response = api.get(api.base_url + LIBPOD + path, timeout=60)
            response.raise_for_status()
            out[kind] = {str(i.get("Name") or (i.get("Names") or [""])[0] or (i.get("Spec") or {}).get("Name")
                             or i.get("name") or i.get("Id") or i.get("ID")) for i in response.json() or []}
    finally:
        api.close()
    return out


def main(argv: list[str]) -> int:
    if "--" not in argv or not argv[argv.index("--") + 1:]:
        print(__doc__, file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1:]
    work = SCRATCH / f"autograder-podman-run-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        with PodmanLane(work) as lane:
            before = inventory(lane.env["DOCKER_HOST"])
            env = {**os.environ, **lane.env, "PODMAN_HOST": lane.env["DOCKER_HOST"]}
            log(f"podman {lane.facts.get('engine')}: {' '.join(command)}")
            started = time.monotonic()
            rc = subprocess.run(lane.command(command), env=env, check=False).returncode
            log(f"command exited {rc} after {time.monotonic() - started:.0f} s")
            after = inventory(lane.env["DOCKER_HOST"])
            left = {kind: sorted(after[kind] - before[kind]) for kind in after if after[kind] - before[kind]}
            if left:
                log(f"left behind in Podman: {left}")
                return rc or 1
            log("nothing left behind in Podman")
            return rc
    except LaneError as exc:
        log(f"the Podman lane could not be set up: {exc}")
        return LANE_UNAVAILABLE
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
