"""The builder choice and BuildKit's plain progress, without Docker."""

from __future__ import annotations

import sys

import pytest

from autograder.engine import builder
from autograder.engine.sandbox import BuildResult

# A real `docker buildx build --progress=plain` log (buildx 0.13, engine 20.10), the second build
# after a code change: the dependency step is cached, the code step is not.
PLAIN = """\
#0 building with "default" instance using docker driver

#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 232B done
#1 DONE 0.0s

#2 [internal] load .dockerignore
#2 transferring context: 82B done
#2 DONE 0.0s

#3 [internal] load metadata for docker.io/library/python:3.13-slim
#3 DONE 0.0s

#4 [1/5] FROM docker.io/library/python:3.13-slim
#4 DONE 0.0s

#5 [internal] load build context
#5 transferring context: 1.02kB done
#5 DONE 0.0s

#6 [2/5] WORKDIR /app
#6 CACHED

#7 [3/5] COPY requirements.txt .
#7 CACHED

#8 [4/5] RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt
#8 CACHED

#9 [5/5] COPY . .
#9 DONE 0.1s

#10 exporting to image
#10 exporting layers 0.1s done
#10 writing image sha256:296b9b2e9819d457f4b6187f8ad7bf44d8d2a83df9431d283a87d01e4edfa7a2 done
#10 naming to docker.io/library/ag-1234-app:grading done
#10 DONE 0.1s
"""

# Multi-stage: BuildKit numbers each stage's steps on its own, and runs stages in parallel.
MULTI = """\
#4 [build 1/3] FROM docker.io/library/debian:trixie-slim
#5 [stage-1 1/2] FROM docker.io/library/debian:trixie-slim
#6 [build 2/3] RUN \x1b[32mapt-get update && apt-get install -y gcc\x1b[0m
#7 [build 3/3] RUN gcc -o /hello hello.c
#6 CACHED
#7 0.2 compiling
#7 DONE 0.3s
#8 [stage-1 2/2] COPY --from=build /hello /hello
#8 DONE 0.0s
"""


def test_plain_progress_gives_instructions_and_cache_state():
    steps = builder.parse_plain(PLAIN.splitlines())
    assert steps == [
        ("FROM docker.io/library/python:3.13-slim", False),
        ("WORKDIR /app", True),
        ("COPY requirements.txt .", True),
        ("RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt", True),
        ("COPY . .", False),
    ]


def test_plain_progress_multi_stage_and_colours():
    steps = dict(builder.parse_plain(MULTI.splitlines()))
    assert steps["RUN apt-get update && apt-get install -y gcc"] is True
    assert steps["RUN gcc -o /hello hello.c"] is False
    assert steps["COPY --from=build /hello /hello"] is False
    assert not any(s.startswith("exporting") or "internal" in s for s in steps)


def test_build_result_reads_the_log_of_its_builder():
    bk = BuildResult("t", "id", [], step_lines=PLAIN.splitlines(), builder="buildx")
    assert ("COPY . .", False) in bk.cached_steps()
    legacy = BuildResult("t", "id", ["Step 1/2 : FROM x", "Step 2/2 : RUN pip install a", " ---> Using cache"])
    assert legacy.cached_steps() == [("FROM x", False), ("RUN pip install a", True)]
    # Podman's Buildah through the Docker API
    buildah = BuildResult("t", "id", ["STEP 1/3: FROM python:3.13-slim", "STEP 2/3: RUN pip install a",
                                      "--> Using cache 1f2e3d4c5b6a", "--> 1f2e3d4c5b6a", "STEP 3/3: COPY . .",
                                      "--> 9a8b7c6d5e4f"])
    assert buildah.cached_steps() == [("FROM python:3.13-slim", False), ("RUN pip install a", True),
                                      ("COPY . .", False)]
    # Buildah names the stage of a multi-stage build in front of each step
    stages = BuildResult("t", "id", ["[1/2] STEP 1/2: FROM debian:trixie-slim AS build",
                                     "[1/2] STEP 2/2: RUN apt-get install -y gcc", "--> Using cache 1f2e3d4c5b6a",
                                     "[2/2] STEP 1/2: FROM debian:trixie-slim",
                                     "[2/2] STEP 2/2: COPY --from=build /hello /hello", "--> 9a8b7c6d5e4f"])
    assert stages.cached_steps() == [("FROM debian:trixie-slim AS build", False),
                                     ("RUN apt-get install -y gcc", True), ("FROM debian:trixie-slim", False),
                                     ("COPY --from=build /hello /hello", False)]


ERROR = """\
#3 resolve image config for docker.io/docker/dockerfile:1
#3 ERROR: failed to do request: Head "https://registry-1.docker.io/v2/docker/dockerfile/manifests/1": dial tcp: lookup registry-1.docker.io: no such host
ERROR: failed to solve: rpc error: code = Unknown desc = failed to solve with frontend dockerfile.v0: failed to solve with frontend gateway.v0: failed to do request
"""


def test_syntax_directive_is_dropped_only_when_its_frontend_is_unreachable():
    text = "# syntax=docker/dockerfile:1\n# escape=\\\nFROM python:3.13-slim\nRUN echo ok\n"
    errors = builder.error_lines(ERROR.splitlines())
    stripped = builder.frontend_unreachable(text, errors)
    assert stripped is not None and "syntax=" not in stripped.lower()
    assert stripped.splitlines()[1:] == text.splitlines()[1:]  # line numbers kept for error messages
    # another error (a typo in an instruction) is the student's: nothing is changed
    assert builder.frontend_unreachable(text, "dockerfile parse error line 4: unknown instruction: RNU") is None
    # no directive, or a directive after the first instruction (then it is a plain comment)
    assert builder.frontend_unreachable("FROM x\n# syntax=docker/dockerfile:1\n", errors) is None
    assert builder.syntax_directive("# syntax = docker.io/docker/dockerfile:1.7\nFROM x\n") == (0, "docker.io/docker/dockerfile:1.7")


# Engine 28.5 (containerd store) through buildx 0.29: no gateway.v0, no "resolve image config" in the ERROR lines.
ERROR_28 = """#2 resolve image config for docker-image://docker.io/docker/dockerfile:1
#2 ERROR: failed to do request: Head "https://registry-1.docker.io/v2/docker/dockerfile/manifests/1": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host
ERROR: failed to build: failed to solve: failed to resolve source metadata for docker.io/docker/dockerfile:1: failed to do request: Head "https://registry-1.docker.io/v2/docker/dockerfile/manifests/1": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host
"""


def test_unreachable_frontend_is_recognised_with_engine_28():
    text = "# syntax=docker/dockerfile:1\nFROM python:3.13-slim\n"
    stripped = builder.frontend_unreachable(text, builder.error_lines(ERROR_28.splitlines()))
    assert stripped is not None and "syntax=" not in stripped.lower()


def test_error_lines_keep_buildkit_errors():
    assert "no such host" in builder.error_lines(ERROR.splitlines())
    assert builder.error_lines(["#5 1.0 some output", "last"]) == "#5 1.0 some output\nlast"


@pytest.mark.parametrize("kind", builder.KINDS)
def test_forced_builder(monkeypatch, kind):
    monkeypatch.setenv("AUTOGRADER_BUILDER", kind)
    assert builder.detect().kind == kind
    assert builder.detect().describe()


def fake_docker(monkeypatch, tmp_path, *, buildx: bool, client: str, server: str = "{}"):
    """A `docker` on PATH answering `buildx version` and `version --format …` like a real CLI."""
    script = tmp_path / "docker"
    script.write_text(f"""#!/bin/sh
case "$1 $2" in
  "buildx version") {"echo 'github.com/docker/buildx v0.29.1 abc'; exit 0" if buildx else "echo 'docker: unknown command: docker buildx' >&2; exit 1"} ;;
  "version --format") case "$3" in *Server*) echo '{server}' ;; *) echo '{client}' ;; esac ;;
esac
""")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}")
    monkeypatch.delenv("AUTOGRADER_BUILDER", raising=False)
    monkeypatch.setenv("DOCKER_HOST", f"unix:///{tmp_path}/{buildx}{client}{server}.sock")  # a fresh cache key


def test_buildx_plugin_first(monkeypatch, tmp_path):
    fake_docker(monkeypatch, tmp_path, buildx=True, client="29.0.1")
    found = builder.detect()
    assert found.kind == "buildx" and found.version == "v0.29.1" and "BuildKit" in found.describe()


def test_old_cli_uses_the_engines_buildkit(monkeypatch, tmp_path):
    fake_docker(monkeypatch, tmp_path, buildx=False, client="20.10.24+dfsg1")
    assert builder.detect().kind == "buildkit"


def test_new_cli_without_buildx_and_podman_use_the_classic_builder(monkeypatch, tmp_path):
    fake_docker(monkeypatch, tmp_path, buildx=False, client="28.2.2")
    assert builder.detect().kind == "classic"
    fake_docker(monkeypatch, tmp_path, buildx=True, client="28.2.2", server='{"Platform":{"Name":"Podman Engine"}}')
    assert builder.detect().kind == "classic" and "Podman" in builder.detect().describe()


def test_command_for_each_kind(tmp_path):
    args, env = builder.command(builder.Builder("buildx"), tmp_path, tmp_path / "Dockerfile", "t:1",
                                {"k": "v"}, tmp_path / "iid")
    assert args[:4] == ["docker", "buildx", "build", "--load"] and "--label" in args and args[-1] == str(tmp_path)
    assert env["BUILDX_NO_DEFAULT_ATTESTATIONS"] == "1"
    args, env = builder.command(builder.Builder("buildkit"), tmp_path, tmp_path / "Dockerfile", "t:1", {},
                                tmp_path / "iid")
    assert args[:2] == ["docker", "build"] and env["DOCKER_BUILDKIT"] == "1"


def test_run_build_is_bounded_and_killed_at_its_deadline():
    flood = [sys.executable, "-c", "import time\nfor i in range(5000): print(f'#7 {i} line')\n"
                                   "print('#7 [2/2] RUN x')\nprint('#7 DONE 0.1s')"]
    done = builder.run_build(flood, {}, 30, keep=10)
    assert done.returncode == 0 and not done.timed_out
    assert done.lines[:2] == ["#7 [2/2] RUN x", "#7 DONE 0.1s"] and len(done.lines) == 12
    slow = builder.run_build([sys.executable, "-c", "import time; print('#1 [1/1] RUN x', flush=True); time.sleep(60)"],
                             {}, 1)
    assert slow.timed_out and slow.returncode != 0


def test_run_build_can_be_aborted():
    from contextlib import contextmanager

    @contextmanager
    def abort_now(kill):
        kill()
        yield

    done = builder.run_build([sys.executable, "-c", "import time; time.sleep(60)"], {}, 30, abortable=abort_now)
    assert done.returncode != 0 and not done.timed_out
