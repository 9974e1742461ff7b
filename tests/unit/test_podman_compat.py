"""Where Podman's Docker-compatible API differs from Docker's, without an engine: fakes answer as
Podman 5.8 and Docker 20.10–28 were seen answering (tests/engines/ runs the real ones)."""

from __future__ import annotations

from types import SimpleNamespace

import docker.errors
import pytest

from autograder.engine import builder
from autograder.engine.imagefacts import is_podman
from autograder.probes.images import image_healthcheck
from autograder.probes.registry_http import pull_plain_http

CHECK = {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000}


class Response:
    def __init__(self, status: int, body=None, events=()):
        self.status_code, self.body, self.events = status, body, list(events)

    def json(self):
        return self.body


class Api:
    """The low-level client: records the libpod requests, answers like Podman (or 404 like Docker)."""

    def __init__(self, podman: bool, image: dict | None = None, events=()):
        self.podman, self.image, self.events, self.calls = podman, image or {}, list(events), []

    def _url(self, path, *args):
        return path.format(*args)

    def _get(self, url, **kwargs):
        self.calls.append(("GET", url, kwargs))
        return Response(200, self.image) if self.podman else Response(404, {"message": "page not found"})

    def _post(self, url, params=None, stream=False):
        self.calls.append(("POST", url, params))
        return Response(200, events=self.events) if self.podman else Response(404)

    def _raise_for_status(self, resp):
        if resp.status_code >= 400:
            raise docker.errors.APIError("error", response=SimpleNamespace(status_code=resp.status_code))

    def _stream_helper(self, resp, decode=False):
        yield from resp.events


class Client:
    def __init__(self, api: Api, compat_image: dict, pull_error: str = "", components=()):
        self.api, self.compat_image, self.pull_error = api, compat_image, pull_error
        self.images = SimpleNamespace(get=self._get, pull=self._pull)
        self._components = list(components)

    def _get(self, ref):
        return SimpleNamespace(attrs=self.compat_image)

    def _pull(self, repo, tag=None):
        if self.pull_error:
            raise docker.errors.APIError("500 Server Error", explanation=self.pull_error)

    def version(self):
        return {"Components": self._components}


def sandbox(client):
    return SimpleNamespace(client=client)


def test_healthcheck_from_the_compatible_inspect_when_it_has_one():
    api = Api(podman=False)
    assert image_healthcheck(sandbox(Client(api, {"Config": {"Healthcheck": CHECK}})), "img") == CHECK
    assert api.calls == []


def test_healthcheck_from_podmans_own_image_endpoint_when_the_compatible_one_leaves_it_out():
    api = Api(podman=True, image={"Id": "x", "Healthcheck": CHECK})
    assert image_healthcheck(sandbox(Client(api, {"Config": {"Cmd": ["bash"]}})), "t:1") == CHECK
    assert api.calls[0][:2] == ("GET", "/libpod/images/t:1/json")


def test_no_healthcheck_on_docker_is_none():
    assert image_healthcheck(sandbox(Client(Api(podman=False), {"Config": {}})), "img") is None


def test_pull_goes_through_podmans_endpoint_with_tls_verify_off_only_when_refused():
    api = Api(podman=True, events=[{"stream": "Copying blob"}, {"images": ["abc"], "id": "abc"}])
    pull_plain_http(Client(api, {}, pull_error="http: server gave HTTP response to HTTPS client"),
                    "127.0.0.1:5555/meteo", "1.2.0")
    assert api.calls == [("POST", "/libpod/images/pull", {"reference": "127.0.0.1:5555/meteo:1.2.0",
                                                          "tlsVerify": "false"})]
    quiet = Api(podman=True)
    pull_plain_http(Client(quiet, {}), "127.0.0.1:5555/meteo", "1.2.0")
    assert quiet.calls == []


def test_pull_reports_podmans_error_and_keeps_other_errors():
    api = Api(podman=True, events=[{"error": "manifest unknown"}])
    with pytest.raises(docker.errors.APIError, match="manifest unknown"):
        pull_plain_http(Client(api, {}, pull_error="HTTP response to HTTPS client"), "127.0.0.1:5555/m", "9")
    other = Api(podman=True)
    with pytest.raises(docker.errors.APIError):
        pull_plain_http(Client(other, {}, pull_error="manifest unknown"), "127.0.0.1:5555/m", "9")
    assert other.calls == []
    # not Podman after all: the first refusal stands
    with pytest.raises(docker.errors.APIError) as exc:
        pull_plain_http(Client(Api(podman=False), {}, pull_error="HTTP response to HTTPS client"), "r/m", "1")
    assert "HTTPS client" in exc.value.explanation


def test_is_podman_reads_the_version_components():
    assert is_podman(Client(Api(True), {}, components=[{"Name": "Podman Engine", "Version": "5.8.6"}]))
    assert not is_podman(Client(Api(False), {}, components=[{"Name": "Engine", "Version": "28.5.2"}]))


@pytest.mark.parametrize("kind, buildkit", [("classic", "0"), ("buildx", None), ("buildkit", None)])
def test_compose_builds_the_way_the_grader_builds(monkeypatch, kind, buildkit):
    monkeypatch.setattr(builder, "detect", lambda: builder.Builder(kind))
    env = builder.compose_env()
    assert env["COMPOSE_BAKE"] == "false" and env.get("DOCKER_BUILDKIT") == buildkit


def test_build_secrets_travel_in_the_context_for_buildah(tmp_path):
    """Podman's POST /build takes ``secrets=["id=…,src=<file in the context>"]`` and moves each file
    out of the context before the build; .dockerignore still applies to the rest."""
    import json
    import tarfile

    from autograder.engine.sandbox import _context_with_secrets

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "app.py").write_text("print(1)\n")
    (ctx / ".env").write_text("TOKEN=x\n")
    (ctx / ".dockerignore").write_text("# local\n.env\n")
    outside = tmp_path / "Dockerfile.buildkit"
    outside.write_text("FROM x\nRUN --mount=type=secret,id=tok true\n")
    secret = tmp_path / "build-secret"
    secret.write_text("s3cr3t\n")
    where, params = _context_with_secrets(ctx, str(outside), {"tok": secret})
    [spec] = json.loads(params["secrets"])
    key, src = (dict(f.split("=", 1) for f in spec.split(",")) [k] for k in ("id", "src"))
    assert key == "tok" and where["custom_context"] is True
    with tarfile.open(fileobj=where["fileobj"]) as tar:
        names = tar.getnames()
        assert tar.extractfile(src).read() == b"s3cr3t\n"
        assert tar.extractfile(where["dockerfile"]).read().startswith(b"FROM x")
    assert "app.py" in names and ".env" not in names


def test_buildkit_command_passes_secrets(tmp_path):
    args, _ = builder.command(builder.Builder("buildx", "0.29"), tmp_path, tmp_path / "Dockerfile", "t:1", {},
                              tmp_path / "iid", {"tok": tmp_path / "s"})
    assert args[args.index("--secret") + 1] == f"id=tok,src={tmp_path / 's'}"
