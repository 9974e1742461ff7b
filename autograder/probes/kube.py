"""Kubernetes manifests run for real by Podman (``kube play``), and the kubelet's part played by
the grader: it runs each container's probes itself (Podman turns a liveness probe into a health
check and ignores readiness probes) and reads the pods Podman made.

One play per grading (:func:`played`), reused by every check; :func:`replay` tears the pods down
(volumes kept) and plays the same manifests again.
"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass
from typing import Callable, Optional

from autograder.core import Fail, Skip
from autograder.engine.docker_api import DockerStepError
from autograder.engine.podman import PodmanSandbox
from autograder.probes.containers import logs_tail
from autograder.probes.waits import Timeout, wait_until
from autograder.readers.kube import Doc, containers, pod_name, pod_spec

NO_PODMAN = ("aucun Podman joignable par le correcteur : les manifestes n'ont pas été lancés (aucun point "
             "attribué ni retiré ici). Installez Podman ≥ 4.9 (Podman Desktop sur macOS et Windows, le "
             "paquet `podman` sous Linux), démarrez son API (`podman machine start`, ou "
             "`systemctl --user start podman.socket` sous Linux) puis relancez `make check LAB=13` ; "
             "le correcteur la trouve seul, ou par la variable PODMAN_HOST.")


# Secrets played from YAML, `secret` volumes and a pod-level securityContext: Podman 4.3 (Debian 12)
# has none of them; 4.9 is the oldest a current distribution ships (Ubuntu 24.04); tested with 5.8.
MIN_PODMAN = (4, 9)


def podman(g) -> PodmanSandbox:
    """The grading's Podman sandbox; :class:`Skip` when no Podman answered, or one too old."""
    if not isinstance(g.sandbox, PodmanSandbox):
        raise Skip(NO_PODMAN)
    version = g.sandbox.engine.version if g.sandbox.engine else ""
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    if numbers and numbers < MIN_PODMAN:
        raise Skip(f"Podman {version} ({g.sandbox.engine.found}) est trop ancien pour ce TP : il faut Podman "
                   f"≥ {'.'.join(map(str, MIN_PODMAN))} (Secret dans les manifestes, volumes `secret:`, "
                   "securityContext de pod). Mettez Podman à jour (Podman Desktop, ou le paquet de votre "
                   "distribution) ; aucun point attribué ni retiré ici.")
    return g.sandbox


@dataclass
class Played:
    manifest: str           # the YAML played (job-scoped)
    ports: list[int]        # container ports the grader published
    docs: list[Doc]         # the student's documents


def play(g, played: Played, timeout: float) -> None:
    sandbox = podman(g)
    publish = [f"127.0.0.1::{p}" for p in played.ports]
    from autograder.engine.docker_api import engine_host
    if engine_host() != "127.0.0.1":
        publish += [f"{engine_host()}::{p}" for p in played.ports]
    try:
        sandbox.play(played.manifest, network=sandbox.network(), publish=publish, timeout=timeout)
    except DockerStepError as exc:
        raise Fail("`podman kube play` crée les pods de vos manifestes", str(exc),
                   "lancez vous-même `podman kube play secrets/db-credentials.yaml k8s/*.yaml` et lisez "
                   "l'erreur : image absente, nom d'objet référencé qui n'existe pas (claimName, "
                   "secretName, configMapRef…), champ que Podman ne sait pas lire.") from None


def pod_containers(g, doc: Doc) -> dict:
    """The running containers of ``doc``'s pod, by their name in the manifest ({} when no pod)."""
    sandbox = podman(g)
    wanted = f"{g.job}-{pod_name(doc)}"
    for pod in sandbox.pods():
        if pod.get("Name") == wanted:
            out = {}
            for member in pod.get("Containers") or []:
                name = str(member.get("Names") or "")
                prefix = f"{wanted}-"
                if name.startswith(prefix):
                    out[name[len(prefix):]] = sandbox.client.containers.get(member["Id"])
            return out
    return {}


# -- the kubelet's part ---------------------------------------------------------------------------
def probe_command(probe: dict, container: dict) -> Optional[list[list[str]]]:
    """Commands that run ``probe`` inside the container (alternatives, first found wins), or None
    for a kind the grader does not run (grpc)."""
    if isinstance(probe.get("exec"), dict):
        return [[str(a) for a in probe["exec"].get("command") or []]]
    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports") or [] if isinstance(p, dict)}
    for kind in ("httpGet", "tcpSocket"):
        spec = probe.get(kind)
        if not isinstance(spec, dict):
            continue
        port = spec.get("port")
        port = ports.get(port, port)
        if kind == "tcpSocket":
            code = f"import socket; socket.create_connection(('127.0.0.1', {int(port)}), 3).close()"
            return [["python3", "-c", code], ["python", "-c", code],
                    ["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{int(port)}"]]   # dash has no /dev/tcp
        scheme = str(spec.get("scheme") or "HTTP").lower()
        url = f"{scheme}://127.0.0.1:{int(port)}{spec.get('path') or '/'}"
        code = f"import urllib.request; urllib.request.urlopen({url!r}, timeout=3)"
        return [["python3", "-c", code], ["python", "-c", code], ["wget", "-q", "-O", "/dev/null", url],
                ["curl", "-fsS", "-o", "/dev/null", url]]
    return None


def run_probe(sandbox, container, probe: dict, spec: dict) -> tuple[bool, str]:
    """(passed, what it said) for one try of ``probe`` in ``container``."""
    commands = probe_command(probe, spec)
    if not commands:
        return True, "sonde non exécutée par le correcteur (gRPC)"
    code, out, ran = 127, "", commands[0]
    for cmd in commands:
        code, out = sandbox.exec(container, cmd, timeout=float(probe.get("timeoutSeconds") or 5) + 5)
        ran = cmd
        if code not in (126, 127) and "executable file not found" not in out:
            break
    shown = shlex.join(ran)
    return code == 0, f"`{shown}` → code {code} {out.strip()[-300:]}".strip()


def wait_ready(g, doc: Doc, timeout: float) -> dict:
    """Wait until every container of ``doc``'s pod runs and passes its readiness probe (its
    liveness probe when it has none); the containers by name. :class:`Fail` at the deadline."""
    sandbox = podman(g)
    spec = pod_spec(doc.obj)
    wanted = {c.get("name"): c for c in containers(spec, init=False)}
    last: dict[str, str] = {}

    def ready() -> Optional[dict]:
        found = pod_containers(g, doc)
        for name, c in wanted.items():
            ct = found.get(name)
            if ct is None:
                last[name] = "conteneur absent du pod"
                return None
            ct.reload()
            if ct.status != "running":
                last[name] = f"conteneur {ct.status} (code {ct.attrs['State'].get('ExitCode')})"
                if ct.status == "exited" and (ct.attrs.get("RestartCount") or 0) >= 3:
                    raise Timeout(last[name])
                return None
            probe = c.get("readinessProbe") or c.get("livenessProbe")
            if probe:
                ok, said = run_probe(sandbox, ct, probe, c)
                last[name] = said
                if not ok:
                    return None
        return found

    try:
        return wait_until(ready, timeout, interval=1.0, max_interval=2.0)
    except Timeout:
        found = pod_containers(g, doc)
        detail = "\n".join(f"{n} : {last.get(n, '?')}" for n in wanted)
        logs = "\n".join(f"--- {n}\n{logs_tail(ct)}" for n, ct in found.items())
        raise Fail(f"le pod {pod_name(doc)} prêt en moins de {int(timeout)} s (conteneurs en marche, "
                   "sondes de disponibilité réussies)", f"{detail}\n{logs}".strip(),
                   f"lancez `podman kube play …` puis `podman pod ps` et `podman logs {pod_name(doc)}-<conteneur>` ; "
                   "vérifiez la commande de la sonde (readinessProbe) en la lançant avec `podman exec`.") from None


def each_container(g, docs: list[Doc], fn: Callable[[str, object, dict], Optional[str]]) -> list[str]:
    """``fn(label, container, spec)`` for every running container of every workload in ``docs``."""
    out = []
    for doc in docs:
        specs = {c.get("name"): c for c in containers(pod_spec(doc.obj), init=False)}
        for name, ct in pod_containers(g, doc).items():
            said = fn(f"{doc.name}/{name}", ct, specs.get(name) or {})
            if said:
                out.append(said)
    return out


def elapsed(since: float) -> str:
    return f"{time.monotonic() - since:.1f} s"
