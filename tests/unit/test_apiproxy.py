"""The Docker API allow-list proxy, without Docker: HTTP framing, decisions, and the wire
(a fake daemon on a unix socket stands behind the proxy)."""

from __future__ import annotations

import http.client
import http.server
import io
import json
import socket
import socketserver
import threading
import urllib.parse

import pytest

from autograder.engine.apiproxy_http import (REFUSED_PREFIX, BadRequest, Request, copy_body, default_upstream,
    read_head)
from autograder.engine.apiproxy import TOKEN_HEADER, ApiProxy
from autograder.engine.apiproxy_policy import Policy, parse_reference

JOB = {"org.4data.autograder.job": "ag-test"}
REG = "127.0.0.1:5555"


def req(method: str, target: str, headers=()) -> Request:
    return Request(method, target, "HTTP/1.1", list(headers))


def query(target: str) -> dict:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(target).query, keep_blank_values=True))


@pytest.fixture
def images():
    """Images the fake daemon knows: name -> labels."""
    return {"python:3.13-slim": {}, "ag-test/meteo:dev": dict(JOB), "ag-test/meteo": dict(JOB)}


@pytest.fixture
def policy(images):
    return Policy(registries=(REG, "localhost:5555"), labels=dict(JOB), namespace="ag-test",
                  inspect=lambda name: images.get(name))


# -- framing ------------------------------------------------------------------------------------
def test_read_head_parses_several_requests_of_a_keep_alive_connection():
    stream = io.BytesIO(b"HEAD /_ping HTTP/1.1\r\nHost: api\r\n\r\n"
                        b"POST /v1.41/images/x/tag?repo=a&tag=b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                        b"GET /version HTTP/1.1\r\n\r\n")
    first = read_head(stream)
    assert (first.method, first.path, first.header("host")) == ("HEAD", "/_ping", "api")
    second = read_head(stream)
    assert second.path == "/images/x/tag" and second.prefix == "/v1.41" and dict(second.query) == {"repo": "a",
                                                                                                     "tag": "b"}
    out = bytearray()
    assert copy_body(stream, second, out.extend) == 3 and bytes(out) == b"abc"
    assert read_head(stream).path == "/version"
    assert read_head(stream) is None


def test_chunked_body_is_forwarded_byte_for_byte():
    body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
    stream = io.BytesIO(b"POST /build HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + body + b"GET /_ping HTTP/1.1\r\n\r\n")
    head = read_head(stream)
    out = bytearray()
    assert copy_body(stream, head, out.extend) == 11
    assert bytes(out) == body
    assert read_head(stream).path == "/_ping"


@pytest.mark.parametrize("raw", [
    b"GET /_ping\r\n\r\n",                                                     # no version
    b"GET /_ping HTTP/2\r\n\r\n",
    b"GET /_ping HTTP/1.1\r\nBad header\r\n\r\n",
    b"GET /_ping HTTP/1.1\r\n folded: x\r\n\r\n",
    b"POST /build HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",  # smuggling attempts
    b"POST /build HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST /build HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    b"GET /_ping HTTP/1.1\r\nHost: x",                                         # cut in the headers
])
def test_malformed_requests_are_rejected(raw):
    with pytest.raises(BadRequest):
        read_head(io.BytesIO(raw))


def test_truncated_or_oversized_bodies_are_rejected():
    head = read_head(io.BytesIO(b"POST /build HTTP/1.1\r\nContent-Length: 10\r\n\r\n"))
    with pytest.raises(BadRequest):
        copy_body(io.BytesIO(b"abc"), head, lambda d: None)
    with pytest.raises(BadRequest):
        copy_body(io.BytesIO(b"x" * 10), head, lambda d: None, limit=5)
    chunked = read_head(io.BytesIO(b"POST /build HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"))
    with pytest.raises(BadRequest):
        copy_body(io.BytesIO(b"zz\r\n"), chunked, lambda d: None)


def test_headers_past_the_limit_are_rejected():
    with pytest.raises(BadRequest):
        read_head(io.BytesIO(b"GET /_ping HTTP/1.1\r\n" + b"X: " + b"a" * 70000 + b"\r\n\r\n"))


@pytest.mark.parametrize("ref, expected", [
    ("meteo", ("", "meteo", "", "")),
    ("meteo:1.2.0", ("", "meteo", "1.2.0", "")),
    ("127.0.0.1:5555/meteo:abc", ("127.0.0.1:5555", "meteo", "abc", "")),
    ("localhost/meteo", ("localhost", "meteo", "", "")),
    ("user/meteo:v1", ("", "user/meteo", "v1", "")),
    ("ghcr.io/o/meteo@sha256:" + "a" * 64, ("ghcr.io", "o/meteo", "", "sha256:" + "a" * 64)),
])
def test_parse_reference(ref, expected):
    r = parse_reference(ref)
    assert (r.domain, r.path, r.tag, r.digest) == expected and str(r) == ref


# -- decisions ----------------------------------------------------------------------------------
@pytest.mark.parametrize("method, target", [
    ("GET", "/_ping"), ("HEAD", "/_ping"), ("GET", "/v1.41/version"), ("GET", "/info"),
    ("GET", "/v1.41/images/json"), ("GET", "/images/python:3.13-slim/json"),
    ("POST", f"/v1.41/images/{REG}/meteo/push?tag=1.2.0"), ("POST", f"/images/{REG}/meteo/push"),
    ("POST", "/images/localhost:5555/meteo/push?tag=x"), ("GET", f"/distribution/{REG}/meteo:1/json"),
])
def test_allowed(policy, method, target):
    assert policy.decide(req(method, target)).allowed


def test_push_to_the_job_registry_tells_podman_it_is_plain_http(policy):
    """The job's registry is plain HTTP on loopback: Docker allows it by itself, Podman only with
    tlsVerify=false. The image, its tag and the version prefix are kept."""
    decision = policy.decide(req("POST", f"/v1.41/images/{REG}/meteo/push?tag=1.2.0"))
    assert decision.target.startswith(f"/v1.41/images/{REG}/meteo/push?")
    assert query(decision.target) == {"tag": "1.2.0", "tlsVerify": "false"}


@pytest.mark.parametrize("method, target, why", [
    ("GET", "/containers/json", "GET /containers/json"),                       # docker ps
    ("POST", "/v1.41/containers/create", "POST /containers/create"),           # docker run
    ("POST", "/containers/x/exec", "POST /containers/x/exec"),
    ("GET", "/volumes", "GET /volumes"), ("POST", "/networks/create", "POST /networks/create"),
    ("POST", "/session", "POST /session"), ("POST", "/swarm/init", "POST /swarm/init"),
    ("POST", "/images/load", "POST /images/load"), ("GET", "/images/get?names=x", "GET /images/get"),
    ("POST", "/auth", "POST /auth"), ("POST", "/build/prune", "POST /build/prune"),
    ("POST", "/images/meteo/push?tag=1", "Docker Hub"),
    ("POST", "/images/localhost:5000/meteo/push?tag=1", "localhost:5000"),
    ("POST", "/images/create?fromImage=python&tag=3.13-slim", "seules les images du registre"),
    ("POST", f"/images/create?fromSrc=-&repo={REG}/x", "import"),
    ("DELETE", "/images/python:3.13-slim", "construites pendant cette étape"),
    ("GET", "/distribution/docker.io/library/python/json", "seul le registre"),
    ("GET", "/images/json/../../containers/json", "chemin"),
    ("GET", "/containers%2Fjson", "chemin"), ("GET", "//containers/json", "chemin"),
    ("POST", f"/images/create?fromImage=evil.example/x&fromImage={REG}/meteo", "répété"),
])
def test_refused(policy, method, target, why):
    decision = policy.decide(req(method, target))
    assert not decision.allowed and why in decision.reason


def test_build_gets_the_job_label_limits_and_cleanup(policy):
    labels = urllib.parse.quote(json.dumps({"org.opencontainers.image.version": "1.2.0",
                                            "org.4data.autograder.job": "forged"}))
    d = policy.decide(req("POST", f"/v1.41/build?t={REG}/meteo:1.2.0&t={REG}/meteo:abc&labels={labels}"
                                  "&memory=0&memswap=-1&rm=0&forcerm=0&networkmode=default&cgroupparent="
                                  "&remote=&buildargs=%7B%7D&version=1"))
    assert d.allowed and d.target.startswith("/v1.41/build?")
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(d.target).query, keep_blank_values=True)
    assert q["t"] == [f"{REG}/meteo:1.2.0", f"{REG}/meteo:abc"]
    assert json.loads(q["labels"][0]) == {"org.opencontainers.image.version": "1.2.0", **JOB}
    assert q["memory"] == q["memswap"] == [str(2 * 1024**3)] and q["rm"] == q["forcerm"] == ["1"]
    # no labels at all: the job label is still added
    q = query(policy.decide(req("POST", "/build?t=x")).target)
    assert json.loads(q["labels"]) == JOB


@pytest.mark.parametrize("params, why", [
    ("networkmode=host", "--network host"), ("networkmode=container:abc", "--network"),
    ("remote=https://example.com/ctx.tar", "distant"), ("cgroupparent=/", "cgroup-parent"),
    ("isolation=hyperv", "isolation"), ("session=abc", "BuildKit"), ("version=2", "BuildKit"),
    ("outputs=type%3Dlocal", "--output"), ("privileged=1", "inconnue"),
    ("t=localhost:5000/meteo:1", "localhost:5000"), ("t=ghcr.io/x/meteo", "ghcr.io"),
])
def test_build_options_reaching_outside_are_refused(policy, params, why):
    decision = policy.decide(req("POST", f"/build?{params}"))
    assert not decision.allowed and why in decision.reason


def test_local_names_go_to_the_job_namespace(policy, images):
    # built under a plain name: the tag lands in the job's namespace, never on a shared name
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(policy.decide(req("POST", "/build?t=meteo:dev&t=python:3.13-slim"))
                                                   .target).query)
    assert q["t"] == ["ag-test/meteo:dev", "ag-test/python:3.13-slim"]
    # `docker tag meteo:dev $REGISTRY/meteo:1` reads the namespaced copy
    d = policy.decide(req("POST", f"/images/meteo:dev/tag?repo={REG}/meteo&tag=1"))
    assert d.allowed and d.target.startswith("/images/ag-test/meteo:dev/tag?")
    assert query(d.target) == {"repo": f"{REG}/meteo", "tag": "1"}
    # retagging over a base image of the host is redirected into the namespace
    d = policy.decide(req("POST", "/images/meteo:dev/tag?repo=docker.io/library/python&tag=3.13-slim"))
    assert query(d.target) == {"repo": "ag-test/python", "tag": "3.13-slim"}
    # reading a name with no namespaced copy reads the host's image
    assert policy.decide(req("GET", "/images/python:3.13-slim/json")).target is None
    assert policy.decide(req("GET", "/images/meteo/json")).target == "/images/ag-test/meteo/json"
    # tag to a foreign registry: refused
    d = policy.decide(req("POST", "/images/meteo:dev/tag?repo=localhost:5000/meteo&tag=1"))
    assert not d.allowed and "localhost:5000" in d.reason


def test_without_namespace_only_registry_names_are_written():
    strict = Policy(registries=(REG,), labels=dict(JOB))
    assert strict.decide(req("POST", f"/build?t={REG}/meteo:1")).allowed
    assert not strict.decide(req("POST", "/build?t=meteo")).allowed


def test_only_the_jobs_images_may_be_deleted(policy):
    assert policy.decide(req("DELETE", "/images/meteo:dev")).target == "/images/ag-test/meteo:dev"
    assert not policy.decide(req("DELETE", "/images/python:3.13-slim?force=1")).allowed


def test_prune_only_sees_the_jobs_images(policy):
    filters = urllib.parse.quote(json.dumps({"dangling": {"true": True}}))
    d = policy.decide(req("POST", f"/images/prune?filters={filters}"))
    assert json.loads(query(d.target)["filters"]) == {"dangling": {"true": True},
                                                      "label": {"org.4data.autograder.job=ag-test": True}}
    d = policy.decide(req("POST", "/images/prune"))
    assert json.loads(query(d.target)["filters"]) == {"label": {"org.4data.autograder.job=ag-test": True}}


def test_pull_from_the_graders_registry(policy):
    d = policy.decide(req("POST", f"/images/create?fromImage={REG}/meteo&tag=1.2.0"))
    assert d.allowed and query(d.target) == {"fromImage": f"{REG}/meteo", "tag": "1.2.0"}


def test_a_policy_error_refuses():
    def broken(name):
        raise RuntimeError("boom")

    p = Policy(registries=(REG,), labels=dict(JOB), namespace="ag-test", inspect=broken)
    with pytest.raises(RuntimeError):
        p.decide(req("DELETE", "/images/x"))  # ApiProxy turns this into a refusal (see the wire test)


# -- the wire -------------------------------------------------------------------------------------
class FakeDaemon(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path):
        self.seen: list[tuple[str, str, bytes]] = []
        super().__init__(path, self.Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            if "chunked" in (self.headers.get("Transfer-Encoding") or ""):
                body = b""
                while (size := int(self.rfile.readline().split(b";")[0], 16)):
                    body += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
            else:
                body = self.rfile.read(length)
            self.server.seen.append((self.command, self.path, body))
            if self.path.startswith("/images/") and self.path.endswith("/json"):
                name = self.path[len("/images/"):-len("/json")]
                if name != "ag-test/meteo:dev":
                    self._reply(404, {"message": "No such image"})
                    return
                self._reply(200, {"Config": {"Labels": JOB}})
                return
            self._reply(200, {"ok": True, "path": self.path})

        def _reply(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_HEAD = handle_any

        def log_message(self, *args):
            pass


class ProxyHTTP(http.client.HTTPConnection):
    """An HTTP client of the proxy that sends the job's token, as the docker CLI does from its config."""

    def __init__(self, proxy, token=None):
        super().__init__(*proxy.address, timeout=10)
        self.token = proxy.token if token is None else token

    def putrequest(self, *args, **kwargs):
        super().putrequest(*args, **kwargs)
        if self.token:
            self.putheader(TOKEN_HEADER, self.token)


@pytest.fixture
def wire(tmp_path):
    daemon = FakeDaemon(str(tmp_path / "daemon.sock"))
    policy = Policy(registries=(REG,), labels=dict(JOB), namespace="ag-test")
    with ApiProxy(policy, "127.0.0.1", upstream=f"unix://{tmp_path / 'daemon.sock'}") as proxy:
        yield proxy, daemon
    daemon.shutdown()
    daemon.server_close()


def test_wire_forwards_rewrites_and_keeps_the_connection_alive(wire):
    proxy, daemon = wire
    conn = ProxyHTTP(proxy)
    conn.request("GET", "/v1.41/_ping")
    assert conn.getresponse().read() and True
    conn.request("POST", "/v1.41/build?t=meteo:dev", body=iter([b"tar", b"-context"]),
                 headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
    resp = conn.getresponse()
    assert resp.status == 200 and json.loads(resp.read())["path"].startswith("/v1.41/build?")
    # the namespaced image exists on the fake daemon: `docker tag meteo:dev` reads it
    conn.request("POST", f"/v1.41/images/meteo:dev/tag?repo={REG}/meteo&tag=1.0.0")
    assert conn.getresponse().read()
    conn.close()
    methods = [(m, urllib.parse.urlsplit(p).path) for m, p, _ in daemon.seen]
    assert ("GET", "/v1.41/_ping") in methods and ("POST", "/v1.41/build") in methods
    assert ("POST", "/v1.41/images/ag-test/meteo:dev/tag") in methods
    build = next(p for m, p, _ in daemon.seen if "/build" in p)
    assert json.loads(query(build)["labels"]) == JOB and query(build)["t"] == "ag-test/meteo:dev"
    assert next(b for m, p, b in daemon.seen if "/build" in p) == b"tar-context"


def test_wire_refuses_with_a_message_the_docker_cli_prints(wire):
    proxy, daemon = wire
    conn = ProxyHTTP(proxy)
    conn.request("POST", "/v1.41/containers/create", body=json.dumps({"HostConfig": {"Privileged": True}}),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    message = json.loads(resp.read())["message"]
    assert resp.status == 403 and message.startswith(REFUSED_PREFIX) and "/containers/create" in message
    conn.close()
    assert not any("/containers" in p for _, p, _ in daemon.seen)
    assert proxy.refused and "/containers/create" in proxy.refused[0]


def test_wire_answers_400_to_garbage(wire):
    proxy, _ = wire
    s = socket.create_connection(proxy.address, timeout=10)
    s.sendall(b"NOT HTTP\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 400")
    s.close()


@pytest.mark.parametrize("token", ["", "not-the-token"])
def test_wire_refuses_a_request_without_the_job_token(wire, token):
    """Anything else on the host or the network that finds the port gets a 403, and nothing of its
    request reaches the daemon."""
    proxy, daemon = wire
    conn = ProxyHTTP(proxy, token=token)
    conn.request("GET", "/v1.41/_ping")
    resp = conn.getresponse()
    message = json.loads(resp.read())["message"]
    assert resp.status == 403 and message.startswith(REFUSED_PREFIX) and "jeton" in message
    conn.close()
    assert daemon.seen == []


def test_wire_removes_the_token_before_forwarding(tmp_path):
    seen = []

    class Echo(FakeDaemon):
        class Handler(FakeDaemon.Handler):
            def handle_any(self):
                seen.append(dict(self.headers))
                super().handle_any()
            do_GET = handle_any

    daemon = Echo(str(tmp_path / "daemon.sock"))
    try:
        with ApiProxy(Policy(registries=(REG,)), "127.0.0.1", upstream=str(tmp_path / "daemon.sock")) as proxy:
            conn = ProxyHTTP(proxy)
            conn.request("GET", "/v1.41/_ping")
            assert conn.getresponse().status == 200
            conn.close()
    finally:
        daemon.shutdown()
        daemon.server_close()
    assert seen and all(TOKEN_HEADER.lower() not in {k.lower() for k in h} for h in seen)


def test_wire_drops_clients_from_outside_the_allowed_networks(tmp_path):
    daemon = FakeDaemon(str(tmp_path / "daemon.sock"))
    try:
        with ApiProxy(Policy(registries=(REG,)), "127.0.0.1", upstream=str(tmp_path / "daemon.sock"),
                      peers=["10.99.0.0/16"]) as proxy:
            s = socket.create_connection(proxy.address, timeout=10)
            s.sendall(f"GET /_ping HTTP/1.1\r\nHost: x\r\n{TOKEN_HEADER}: {proxy.token}\r\n\r\n".encode())
            try:
                assert s.recv(100) == b""
            except ConnectionResetError:
                pass
            s.close()
            assert any("127.0.0.1" in reason for reason in proxy.refused)
    finally:
        daemon.shutdown()
        daemon.server_close()
    assert daemon.seen == []


def test_the_proxy_never_listens_on_every_interface():
    for host in ("0.0.0.0", "", "::"):
        with pytest.raises(ValueError):
            ApiProxy(Policy(registries=(REG,)), host, upstream="unix:///nonexistent")


def test_stop_closes_the_listener(tmp_path):
    proxy = ApiProxy(Policy(registries=(REG,)), "127.0.0.1", upstream=str(tmp_path / "none.sock"))
    proxy.start()
    socket.create_connection(proxy.address, timeout=5).close()
    proxy.stop()
    with pytest.raises(OSError):
        socket.create_connection(proxy.address, timeout=5)


def test_upstream_over_tcp(tmp_path, monkeypatch):
    """A grader that reaches the engine over TCP (a relay, a remote engine) proxies to it too."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    assert default_upstream() == "tcp://127.0.0.1:1"
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    with pytest.raises(ValueError):
        default_upstream()
    monkeypatch.delenv("DOCKER_HOST")
    assert default_upstream() == "unix:///var/run/docker.sock"


# -- ExecPolicy (lab 08: `docker compose exec` on one project) ----------------------------------
from autograder.engine.apiproxy_policy import PROJECT_LABEL, ExecPolicy  # noqa: E402
from autograder.engine.apiproxy_http import Request as _Req  # noqa: E402


def _exec_policy():
    containers = {"mine": {"Config": {"Labels": {PROJECT_LABEL: "job1"}}},
                  "other": {"Config": {"Labels": {PROJECT_LABEL: "job2"}}}}
    execs = {"a" * 64: {"ContainerID": "mine"}, "b" * 64: {"ContainerID": "other"}}

    def fetch(path):
        kind, ident = path.split("/")[1:3]
        return (containers if kind == "containers" else execs).get(ident)
    return ExecPolicy(project="job1", fetch=fetch)


def _r(method, target, headers=()):
    return _Req(method, target, "HTTP/1.1", list(headers))


def test_exec_policy_allows_exec_in_own_project_only():
    p = _exec_policy()
    assert p.decide(_r("HEAD", "/_ping"))
    assert p.decide(_r("GET", "/v1.41/containers/mine/json"))
    assert not p.decide(_r("GET", "/v1.41/containers/other/json"))
    d = p.decide(_r("POST", "/v1.41/containers/mine/exec"))
    assert d and d.check_body is not None
    assert not p.decide(_r("POST", "/v1.41/containers/other/exec"))
    d = p.decide(_r("POST", "/v1.41/exec/" + "a" * 64 + "/start"))
    assert d and d.hijack
    assert not p.decide(_r("POST", "/v1.41/exec/" + "b" * 64 + "/start"))
    assert not p.decide(_r("POST", "/v1.41/containers/create"))
    assert not p.decide(_r("POST", "/v1.41/containers/mine/start"))
    assert not p.decide(_r("GET", "/v1.41/images/json"))


def test_exec_policy_refuses_privileged_and_unknown_exec_options():
    check = _exec_policy().decide(_r("POST", "/containers/mine/exec")).check_body
    assert check(json.dumps({"Cmd": ["pg_dump"], "AttachStdout": True, "Detach": False}).encode())
    assert not check(json.dumps({"Cmd": ["sh"], "Privileged": True}).encode())
    assert not check(json.dumps({"Cmd": ["sh"], "Unknown": 1}).encode())
    assert not check(b"not json")


def test_exec_policy_forces_the_project_filter_on_listing():
    d = _exec_policy().decide(_r("GET", "/v1.41/containers/json?all=1&filters=" + urllib.parse.quote(
        json.dumps({"label": ["com.docker.compose.service=db"]}))))
    query = dict(urllib.parse.parse_qsl(d.target.partition("?")[2]))
    labels = json.loads(query["filters"])["label"]
    assert labels == {"com.docker.compose.service=db": True, f"{PROJECT_LABEL}=job1": True}
