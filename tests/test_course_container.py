"""The course container (docker/course/): the image builds, runs JupyterLab as a non-root user with a
token, carries the pinned JupyterLab, the Docker CLI and Compose v2, reaches the host's daemon through
the mounted socket, and grades a lab from inside (`make check LAB=01` on the reference solution).

The repository is copied to a temporary folder owned by an unusual uid, so the test also shows that
the container's user takes the uid of the repository's owner. The build is cached after the first
run (about a minute cold, see docker/course/README.md)."""

import json
import os
import re
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import docker
import pytest
import yaml

from autograder.probes.waits import wait_until
from autograder.registry import get_lab
from autograder.engine.docker_api import JOB_LABEL
from cases import ROOT, SOLUTIONS, free_port

pytestmark = [pytest.mark.docker, pytest.mark.network]

COURSE = ROOT / "docker" / "course"
COMPOSE_FILE = COURSE / "compose.yaml"
OWNER_UID = 4321  # the repository copy's owner: the container's user must take this uid
USER = "etudiant"
# lab 01 publishes ports on the host; lab 08 runs the student's scripts in the grader's script container
GRADED_INSIDE = ("01", "08")
BUILD_TIMEOUT_S = 1200
STEP_TIMEOUT_S = 120
# Copied from the repository: what `make check` and JupyterLab need, never the host's venv or scratch.
IGNORED = shutil.ignore_patterns(".git", ".venv", "build", "__pycache__", ".pytest_cache", ".ipynb_checkpoints",
                                 "release", "submitted", "autograded", "feedback", "downloaded", "gradebook.db",
                                 "_travail", "*.egg-info")


def run(cmd, *, env=None, timeout=STEP_TIMEOUT_S, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if check:
        assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def compose_image() -> str:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]["jupyter"]["image"]


def pinned(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)", (ROOT / "requirements.txt").read_text(), re.M)
    assert match, f"{package} is not pinned in requirements.txt"
    return match.group(1)


@pytest.fixture(scope="module")
def image() -> str:
    """`make course-image`'s script; cached after the first build."""
    started = time.monotonic()
    proc = run(["bash", str(COURSE / "build.sh")], timeout=BUILD_TIMEOUT_S)
    print(f"course image built in {time.monotonic() - started:.0f} s: {proc.stdout.strip().splitlines()[-1]}")
    return compose_image()


@pytest.fixture(scope="module")
def course(image, tmp_path_factory):
    """The compose stack started on a copy of the repository (lab 01 holding its solution)."""
    base = tmp_path_factory.mktemp("course-container")
    repo = base / "repo"
    shutil.copytree(ROOT, repo, ignore=IGNORED, symlinks=True)
    for lab in GRADED_INSIDE:
        shutil.copytree(next(SOLUTIONS.glob(f"{lab}-*")), next((repo / "labs").glob(f"{lab}-*")),
                        dirs_exist_ok=True)
    if os.geteuid() == 0:
        run(["chown", "-R", f"{OWNER_UID}:{OWNER_UID}", str(repo)])
    owner = repo.stat().st_uid
    project = "course-test-" + secrets.token_hex(4)
    port, token = free_port(), secrets.token_hex(16)
    # The test's own label on what compose creates: the leftovers test catches it if it survives.
    override = base / "labels.yaml"
    override.write_text(yaml.safe_dump({"services": {"jupyter": {"labels": {JOB_LABEL: project}}}}))
    compose = ["docker", "compose", "-p", project, "-f", str(COMPOSE_FILE), "-f", str(override)]
    env = {"COURSE_DIR": str(repo), "COURSE_PORT": str(port), "JUPYTER_TOKEN": token}
    client = docker.from_env(timeout=30)
    try:
        run(compose + ["up", "-d"], env=env)
        container = client.containers.list(filters={"label": f"{JOB_LABEL}={project}"})[0]
        yield {"repo": repo, "owner": owner, "port": port, "token": token, "container": container,
               "compose": compose, "env": env}
    finally:
        run(compose + ["down", "--remove-orphans", "-t", "5"], env=env, check=False)
        for c in client.containers.list(all=True, filters={"label": f"{JOB_LABEL}={project}"}):
            c.remove(force=True)
        shutil.rmtree(base, ignore_errors=True)


def in_container(course, *cmd, user=USER, timeout=STEP_TIMEOUT_S) -> subprocess.CompletedProcess:
    return run(["docker", "exec", "-u", user, "-w", str(course["repo"]), course["container"].id, *cmd],
               timeout=timeout, check=False)


def http(course, path: str, token: str | None = None) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{course['port']}{path}")
    if token:
        req.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def ready(course):
    """JupyterLab answers on the host's 127.0.0.1 (deadline, no fixed sleep)."""
    container = course["container"]

    def exited():
        container.reload()
        if container.status == "exited":
            return "the course container exited: " + container.logs(tail=30).decode(errors="replace")
        return None

    wait_until(lambda: http(course, "/api") == 200, 90, give_up=exited)
    return course


def test_compose_file_is_valid_and_local_only(image):
    """`docker compose config` accepts the file; JupyterLab is on the host's loopback only; the
    repository is mounted at its own path; the image is pinned and never pulled."""
    repo = str(ROOT)
    proc = run(["docker", "compose", "-f", str(COMPOSE_FILE), "config", "--format", "json"],
               env={"COURSE_DIR": repo, "COURSE_PORT": "8888"})
    service = json.loads(proc.stdout)["services"]["jupyter"]
    assert service["image"] == image and not image.endswith(":latest") and ":" in image
    assert service["pull_policy"] == "never"
    assert service["network_mode"] == "host" and not service.get("ports")
    assert "--ip=127.0.0.1" in service["command"] and "--port=8888" in service["command"]
    binds = {v["target"]: v["source"] for v in service["volumes"]}
    assert binds[repo] == repo and service["working_dir"] == repo
    assert binds["/var/run/docker.sock"] == "/var/run/docker.sock"
    assert service["environment"]["TMPDIR"].startswith(repo + "/build/")


def test_image_is_labelled_with_its_version(image):
    labels = docker.from_env(timeout=30).images.get(image).labels
    assert labels["org.opencontainers.image.version"] == image.rsplit(":", 1)[1]
    assert labels["org.opencontainers.image.title"] == image.rsplit(":", 1)[0]


def test_wrong_mount_gets_a_french_message(image):
    client = docker.from_env(timeout=30)
    name = "course-test-" + secrets.token_hex(4)
    try:
        c = client.containers.run(image, ["true"], name=name, detach=True, labels={JOB_LABEL: name},
                                  environment={"COURSE_DIR": "/nulle-part"})
        assert c.wait(timeout=60)["StatusCode"] == 2
        assert "n'est pas monté" in c.logs().decode()
    finally:
        for c in client.containers.list(all=True, filters={"label": f"{JOB_LABEL}={name}"}):
            c.remove(force=True)


def test_runs_as_the_repository_owner_not_root(ready):
    expected = ready["owner"] if ready["owner"] != 0 else 1000
    assert in_container(ready, "id", "-u").stdout.strip() == str(expected) != "0"
    processes = ready["container"].top(ps_args="-eo pid,uid,args")["Processes"]
    jupyter = [p for p in processes if "jupyter-lab" in p[2]]
    assert jupyter and all(p[1] == str(expected) for p in jupyter), processes


def test_tools_match_the_pins(ready):
    assert in_container(ready, "jupyter", "lab", "--version").stdout.strip() == pinned("jupyterlab")
    client = in_container(ready, "docker", "version", "--format", "{{.Client.Version}}")
    assert re.match(r"\d+\.\d+", client.stdout), client.stderr
    # Compose v2 and buildx from Debian's packages, built for the image's architecture
    compose = in_container(ready, "docker", "compose", "version", "--short")
    packaged = in_container(ready, "dpkg-query", "-W", "-f", "${Version}", "docker-compose").stdout
    assert compose.stdout.strip().lstrip("v").startswith("2."), compose.stderr
    assert packaged.startswith(compose.stdout.strip().lstrip("v")), (packaged, compose.stdout)
    buildx = in_container(ready, "docker", "buildx", "version")
    assert buildx.returncode == 0 and re.search(r"buildx v?0\.\d+", buildx.stdout), buildx.stderr


def test_the_user_reaches_the_hosts_daemon(ready):
    info = in_container(ready, "docker", "info", "--format", "{{.ServerVersion}}")
    assert info.returncode == 0, info.stderr
    assert info.stdout.strip() == docker.from_env(timeout=30).version()["Version"]


def test_jupyterlab_answers_and_wants_the_token(ready):
    assert http(ready, "/api/contents/README.md", ready["token"]) == 200
    assert http(ready, "/api/contents/README.md") == 403
    assert http(ready, "/lab", ready["token"]) == 200


@pytest.mark.parametrize("lab", GRADED_INSIDE)
def test_make_check_grades_a_lab_from_inside(ready, lab):
    """The grader run in JupyterLab's terminal, as a normal user, grades on the host's daemon: paths
    it hands the daemon (its temporary copy) resolve on the host, ports published on the host's
    127.0.0.1 answer (lab 01), and the students' scripts run in the grader's script container can
    write their working folder (lab 08); the solution gets full marks."""
    proc = in_container(ready, "make", "check", f"LAB={lab}", timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    full = get_lab(lab).max_score
    assert re.search(rf"Note\s*:\s*{full:g}\s*/\s*{full:g}\b", proc.stdout), proc.stdout[-2000:]
    # the grader's copy went under the repository (same path on the host) and was removed
    scratch = ready["repo"] / "build" / "course-container" / "tmp"
    assert scratch.is_dir() and not any(scratch.iterdir())
