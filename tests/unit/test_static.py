"""Static readers: Dockerfile bases and the legacy builder's log."""

from autograder.readers.dockerfile import base_images, final_base, is_slim
from autograder.engine.sandbox import BuildResult


def write(tmp_path, text):
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    return path


def test_base_images_follow_stages_and_args(tmp_path):
    path = write(tmp_path, "ARG PY=3.13\nFROM --platform=linux/amd64 python:${PY}-slim AS build\n"
                           "RUN true\nFROM build AS test\nFROM gcr.io/distroless/python3:nonroot\n"
                           "FROM test\n")
    bases = base_images(path)
    assert [b.image for b in bases] == ["python:3.13-slim", "build", "gcr.io/distroless/python3:nonroot",
                                        "test"]
    assert [b.stage_ref for b in bases] == [False, True, False, True]
    final = final_base(bases)
    assert final.image == "python:3.13-slim" and is_slim(final)
    assert bases[0].tag == "3.13-slim" and bases[0].name == "python"


def test_tags_latest_and_registry_ports(tmp_path):
    bases = base_images(write(tmp_path, "FROM localhost:5000/team/app\nFROM python:latest\n"
                                        "FROM python@sha256:abc\n"))
    assert bases[0].tag is None and bases[0].name == "localhost:5000/team/app"
    assert bases[1].tag == "latest"
    assert bases[2].digest == "sha256:abc" and bases[2].tag is None
    assert not is_slim(bases[1])


def test_cached_steps_from_legacy_builder_log():
    log = ["Step 1/4 : FROM python:3.13-slim", " ---> 1234", "Step 2/4 : COPY requirements.txt .",
           " ---> Using cache", " ---> abcd", "Step 3/4 : RUN pip install -r requirements.txt",
           " ---> Using cache", "Step 4/4 : COPY . .", " ---> 9876"]
    steps = BuildResult("t", "id", log).cached_steps()
    assert steps == [("FROM python:3.13-slim", False), ("COPY requirements.txt .", True),
                     ("RUN pip install -r requirements.txt", True), ("COPY . .", False)]
