"""A Docker API allow-list proxy: untrusted code gets a `docker` command that can only do what a lab needs.

A student's script (``publier.sh``, a CI job…) must drive Docker, but the Docker
socket is root on the grading host. The grader therefore runs the script in a
throwaway container whose ``DOCKER_HOST`` is ``tcp://host.docker.internal:PORT``,
served by :class:`ApiProxy` (how that address is chosen on a Linux host, inside a
container or with Docker Desktop: :mod:`autograder.probes.scripts`). Only a client that
sends the job's secret token (header ``X-Autograder-Token``, which the docker CLI
adds from its ``config.json``) is served, and, where the network allows it to be
known, only from the script's own network. The proxy reads every HTTP request the
client sends (request line, headers, body by ``Content-Length`` or chunked
encoding, several requests per keep-alive connection) and asks a :class:`Policy`
what to do with it:

* forward it unchanged (``/_ping``, ``/version``, ``/info``, image listing and
  inspection),
* forward it rewritten: a build gets the grader's job label, memory limit and
  ``rm``/``forcerm`` forced; an image name outside the grader's registry written
  by a build or a tag is moved into the job's own namespace (``<job>/meteo:dev``),
  so that a script can never overwrite an image of the host (``python:3.13-slim``)
  nor collide with another grading running at the same time,
* or refuse it with ``403 {"message": "refusé par le correcteur: …"}``, which the
  docker CLI prints as ``Error response from daemon: refusé par le correcteur: …``.

Responses flow back from the daemon untouched. API paths may carry a version
prefix (``/v1.41/images/json``): it is ignored for matching and kept when
forwarding. The daemon is reached the way the grader reaches it (``DOCKER_HOST``:
a unix socket or plain TCP). Nothing here needs the docker SDK;
:func:`inspect_image` talks to the daemon with :mod:`http.client`.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
import threading
from typing import Optional

from autograder.engine.apiproxy_http import (MAX_DRAINED, SOCKET_TIMEOUT_S, BadRequest, Request, connect_upstream, copy_body,
                                             default_upstream, inspect_image, inspect_object, read_head, refusal)
from autograder.engine.apiproxy_policy import Decision, MAX_EXEC_BODY, Policy


# ---------------------------------------------------------------------------------------------
# The proxy
# ---------------------------------------------------------------------------------------------
TOKEN_HEADER = "X-Autograder-Token"
WILDCARDS = {"", "0.0.0.0", "::", "*"}


class ApiProxy:
    """Serve ``policy`` over TCP on ``host`` (a free port), forwarding what it allows to ``upstream``.

    Every request must carry the header ``X-Autograder-Token: <token>`` (the docker CLI sends it
    from its config file's ``HttpHeaders``): without it, or with another value, the answer is a
    403 and nothing reaches the daemon. The header is removed before forwarding. ``peers``, when
    given, are the networks (``ipaddress`` networks) a client may connect from; any other client
    is disconnected before it can send anything. A wildcard address (``0.0.0.0``) is refused: the
    proxy listens on one address only.

    Use as a context manager; ``address`` is ``(host, port)`` once started; ``decisions`` keeps
    ``(method path, allowed, reason)`` for feedback (bounded), ``refused`` the reasons of the
    refusals.
    """

    def __init__(self, policy: Policy, host: str = "127.0.0.1", upstream: Optional[str] = None,
                 token: Optional[str] = None, peers: Optional[list] = None, max_log: int = 500):
        if host in WILDCARDS:
            raise ValueError("the API proxy listens on one address, never on every interface")
        self.policy = policy
        self.host = host
        self.upstream = upstream or default_upstream()
        self.token = token or secrets.token_urlsafe(32)
        self.peers = [ipaddress.ip_network(p) for p in peers] if peers is not None else None
        if getattr(policy, "inspect", None) is None:
            policy.inspect = lambda name: inspect_image(self.upstream, name)
        if hasattr(policy, "fetch") and policy.fetch is None:
            policy.fetch = lambda path: inspect_object(self.upstream, path)
        self.decisions: list[tuple[str, bool, str]] = []
        self.max_log = max_log
        self.address: Optional[tuple[str, int]] = None
        self._server: Optional[socket.socket] = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    @property
    def refused(self) -> list[str]:
        return [reason for _, ok, reason in self.decisions if not ok]

    @property
    def http_headers(self) -> dict[str, str]:
        """What the docker CLI's ``config.json`` needs under ``HttpHeaders``."""
        return {TOKEN_HEADER: self.token}

    def __enter__(self) -> "ApiProxy":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        server = socket.socket(family, socket.SOCK_STREAM)
        try:
            server.bind((self.host, 0))
            server.listen(64)
        except OSError:
            server.close()
            raise
        self._server = server
        self.address = server.getsockname()[:2]
        threading.Thread(target=self._accept, name="apiproxy-accept", daemon=True).start()

    def stop(self) -> None:
        """Close the listener and every open connection (a running build is cancelled by the daemon)."""
        self._stopped.set()
        if self._server is not None:
            # shutdown first: a plain close leaves the listener open while accept() blocks on it
            _shutdown(self._server, socket.SHUT_RDWR)
            try:
                self._server.close()
            except OSError:
                pass
        with self._lock:
            sockets = list(self._sockets)
        for s in sockets:
            _close(s)

    def _track(self, s: socket.socket) -> None:
        with self._lock:
            self._sockets.add(s)
        if self._stopped.is_set():
            _close(s)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, peer = self._server.accept()
            except OSError:
                return
            if self.peers is not None and not any(ipaddress.ip_address(peer[0]) in n for n in self.peers):
                self._log(f"connexion de {peer[0]}", False, f"connexion refusée depuis {peer[0]} (hors du réseau "
                                                          "du script)")
                _close(client)
                continue
            self._track(client)
            threading.Thread(target=self._serve, args=(client,), name="apiproxy-conn", daemon=True).start()

    def _log(self, line: str, ok: bool, reason: str) -> None:
        with self._lock:
            if len(self.decisions) < self.max_log:
                self.decisions.append((line, ok, reason))

    def _authorised(self, req: Request) -> bool:
        sent = [v for k, v in req.headers if k.lower() == TOKEN_HEADER.lower()]
        return len(sent) == 1 and hmac.compare_digest(sent[0].encode("latin-1"), self.token.encode())

    def _serve(self, client: socket.socket) -> None:
        upstream: Optional[socket.socket] = None
        rfile = client.makefile("rb")
        try:
            while True:
                try:
                    req = read_head(rfile)
                except BadRequest as exc:
                    self._log("?", False, str(exc))
                    client.sendall(refusal(str(exc), 400))
                    return
                if req is None:
                    if upstream is not None:
                        _shutdown(upstream, socket.SHUT_WR)
                    return
                if not self._authorised(req):
                    decision = Decision(False, "jeton du correcteur absent ou faux : seul le script lancé par le "
                                               "correcteur peut utiliser ce point d'accès Docker")
                else:
                    req.headers = [(k, v) for k, v in req.headers if k.lower() != TOKEN_HEADER.lower()]
                    try:
                        decision = self.policy.decide(req)
                    except Exception as exc:  # noqa: BLE001 - a policy bug refuses, never forwards
                        decision = Decision(False, f"requête non comprise ({type(exc).__name__})")
                body: Optional[bytes] = None
                if decision.allowed and decision.check_body is not None:
                    if req.chunked() or req.content_length() > MAX_EXEC_BODY:
                        decision = Decision(False, "corps de requête trop long ou fragmenté")
                    else:
                        body = rfile.read(req.content_length())
                        if len(body) != req.content_length():
                            raise BadRequest("corps de requête tronqué")
                        try:
                            decision = decision.check_body(body)
                        except Exception as exc:  # noqa: BLE001 - a policy bug refuses, never forwards
                            decision = Decision(False, f"requête non comprise ({type(exc).__name__})")
                self._log(f"{req.method} {req.path}", decision.allowed, decision.reason)
                if not decision.allowed:
                    if body is None and "100-continue" not in (req.header("Expect") or "").lower():
                        try:  # read the body first: the client then reads the 403, not a broken pipe
                            copy_body(rfile, req, lambda data: None, limit=MAX_DRAINED)
                        except BadRequest:
                            pass
                    client.sendall(refusal(decision.reason))
                    if upstream is not None:  # no request is in flight: requests are not pipelined
                        _close(upstream)
                        upstream = None
                    return
                if upstream is None:
                    upstream = connect_upstream(self.upstream, SOCKET_TIMEOUT_S)
                    self._track(upstream)
                    threading.Thread(target=_pump, args=(upstream, client), name="apiproxy-pump",
                                     daemon=True).start()
                upstream.sendall(req.head_bytes(decision.target))
                if body is not None:
                    upstream.sendall(body)
                else:
                    copy_body(rfile, req, upstream.sendall)
                if decision.hijack:
                    # From here on the daemon speaks a raw stream (after its 101 answer): pipe the
                    # client's bytes (the command's stdin) and pass on its half-close.
                    while data := rfile.read1(1 << 16):
                        upstream.sendall(data)
                    _shutdown(upstream, socket.SHUT_WR)
                    return
        except (OSError, BadRequest):
            pass
        finally:
            if upstream is None:
                _close(client)
            else:
                # The pump closes both once the daemon has finished answering.
                _shutdown(client, socket.SHUT_RD)
            try:
                rfile.close()
            except OSError:
                pass


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(1 << 16):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        _close(src)
        _close(dst)


def _shutdown(s: socket.socket, how: int) -> None:
    try:
        s.shutdown(how)
    except OSError:
        pass


def _close(s: socket.socket) -> None:
    _shutdown(s, socket.SHUT_RDWR)
    try:
        s.close()
    except OSError:
        pass
