"""Image probes (size, history, build tools, cache) judged without Docker, on fake data."""

import docker.errors
import pytest

from autograder.probes.images import (HistoryStep, added_steps, consecutive_runs, history_instruction, install_steps,
    is_build_tool)


@pytest.mark.parametrize("created_by, instruction", [
    ("/bin/sh -c #(nop)  ENV A=1", "ENV"),
    ("/bin/sh -c #(nop) COPY file:04769 in /usr/local/bin/csvstat ", "COPY"),
    ("/bin/sh -c #(nop)  ENTRYPOINT [\"/csvstat\"]", "ENTRYPOINT"),
    ("/bin/sh -c apt-get update && apt-get install -y libcsv3", "RUN"),
    ("|1 TAG=x /bin/sh -c make", "RUN"),
    ("sh -c make", "RUN"),  # legacy builder, exec-form RUN
    ("RUN /bin/sh -c make # buildkit", "RUN"),
    ("COPY src/ ./ # buildkit", "COPY"),
    ("WORKDIR /src", "WORKDIR"),
    ("", ""),  # imported base layer
])
def test_history_instruction_reads_legacy_and_buildkit_lines(created_by, instruction):
    assert history_instruction(created_by) == instruction


def test_short_shows_the_instruction_as_written():
    assert HistoryStep("RUN", "/bin/sh -c apt-get update", 1).short() == "RUN apt-get update"
    assert HistoryStep("COPY", "/bin/sh -c #(nop) COPY file:abc in /x ", 1).short() == "COPY file:abc in /x"
    assert HistoryStep("RUN", "RUN /bin/sh -c make # buildkit", 1).short() == "RUN make"
    assert HistoryStep("RUN", "/bin/sh -c " + "x" * 200, 1).short(20).endswith("…")


def step(instruction, size=0):
    return HistoryStep(instruction, instruction, size)


def test_consecutive_runs_catches_only_runs_that_follow_each_other():
    assert consecutive_runs([step("RUN"), step("COPY"), step("RUN"), step("USER")]) == []
    pairs = consecutive_runs([step("RUN"), step("RUN"), step("RUN"), step("COPY")])
    assert len(pairs) == 2
    assert consecutive_runs([step("RUN"), step("ENV"), step("RUN")]) == []


class FakeApi:
    def __init__(self, histories):
        self.histories = histories

    def history(self, ref):
        if ref not in self.histories:
            raise docker.errors.NotFound("no such image")
        return [{"CreatedBy": c, "Size": s} for c, s in reversed(self.histories[ref])]  # newest first


class FakeSandbox:
    def __init__(self, histories):
        self.client = type("Client", (), {"api": FakeApi(histories)})()


def test_added_steps_leaves_out_the_base_image_history():
    base = [("", 78), ("/bin/sh -c set -eux; build python", 40), ("/bin/sh -c ln -s", 0)]
    image = base + [("/bin/sh -c apt-get update", 1), ("/bin/sh -c #(nop) COPY file:a in /x ", 2)]
    sandbox = FakeSandbox({"app": image, "python:3.13-slim": base})
    added = added_steps(sandbox, "app", "python:3.13-slim")
    assert [s.instruction for s in added] == ["RUN", "COPY"]
    assert consecutive_runs(added) == []  # the base's own consecutive RUNs are not the student's
    assert [s.instruction for s in added_steps(sandbox, "app", "scratch")] == ["", "RUN", "RUN", "RUN", "COPY"]


@pytest.mark.parametrize("path", [
    "usr/bin/gcc", "usr/bin/gcc-14", "usr/bin/x86_64-linux-gnu-gcc-14", "usr/bin/cc", "usr/bin/cpp",
    "usr/bin/make", "usr/bin/ld", "usr/bin/ld.bfd", "usr/bin/as", "usr/local/bin/cmake",
    "usr/libexec/gcc/x86_64-linux-gnu/14/cc1", "usr/lib/gcc/aarch64-linux-gnu/14/collect2",
    "usr/share/doc/build-essential/copyright", "./usr/bin/aarch64-linux-gnu-gcc",
])
def test_build_tools_are_recognised(path):
    assert is_build_tool(path)


@pytest.mark.parametrize("path", [
    "usr/bin/ld.so", "usr/bin/ldd", "usr/sbin/ldconfig", "usr/share/doc/gcc-14-base/copyright",
    "usr/lib/x86_64-linux-gnu/libgcc_s.so.1", "usr/local/bin/csvstat", "usr/bin/make-first-existing-target",
    "etc/alternatives/cc", "usr/share/make/readme", "usr/bin/python3", "usr/bin/dash",
])
def test_runtime_files_are_not_build_tools(path):
    assert not is_build_tool(path)


def test_install_steps_finds_package_installs_once():
    steps = [("RUN apt-get update && apt-get install -y gcc", True), ("COPY src/ ./", False),
             ("RUN make", False), ("RUN apt-get -y --no-install-recommends install libcsv3", True),
             ("RUN pip install --no-cache-dir -r requirements.txt", True), ("RUN apk add --no-cache gcc", False),
             ("RUN apt-get update && apt-get install -y gcc", True)]  # the log's tail repeats steps
    assert install_steps(steps) == [steps[0], steps[3], steps[4], steps[5]]
    assert install_steps(steps, lambda s: "pip" in s) == [steps[4]]
