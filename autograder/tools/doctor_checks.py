"""The doctor's checks, one function each: engine, Compose, engine version, image store, builder,
cgroups, disk, ports, architecture, course images, line endings, NVIDIA runtime, Docker Hub
(see :mod:`autograder.tools.doctor`)."""

from __future__ import annotations

import errno
import os
import platform
import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Iterable, Optional
import docker
import requests

from autograder.engine.imagefacts import ImageFactsError, engine_name, stored_size
from autograder.readers.images import STANDIN_LABEL
from autograder.registry import REPO_ROOT
from autograder.engine.runner import CRLF_FIX, has_crlf, is_text_source
from autograder.engine.docker_api import JOB_LABEL
from autograder.tools.doctor_base import (BUILDKIT_FIX, Check, Context, DockerDown, Finding, IMAGES_FIX, MAX_LISTED,
                                          MIN_API, MIN_ENGINE, PODMAN_FIX, SKIP_DIRS, Status, UPGRADE_FIX, _arch,
                                          _short)


# -- Docker engine and Compose -------------------------------------------------------------------


def check_engine(ctx: Context) -> Finding:
    try:
        client = ctx.client()
    except DockerDown as exc:
        return Finding(Status.FAIL, exc.observed, exc.fix)
    v = client.version()
    name = engine_name(v, ctx.info())
    return Finding(Status.OK, f"{name} {v.get('Version', '?')} (API {v.get('ApiVersion', '?')}, "
                              f"{v.get('Os', '?')}/{v.get('Arch', '?')})")


def check_compose(ctx: Context) -> Finding:
    fix = ("installez le plugin Compose v2. Docker Desktop (macOS Intel ou Apple Silicon, Windows avec WSL2) "
           "l'inclut : installez-le ou mettez-le à jour. Sous Linux : paquet `docker-compose-plugin` du dépôt "
           "apt de Docker, ou paquet Debian `docker-compose` 2.x (trixie et suivantes). macOS sans Docker "
           "Desktop (Homebrew) : `brew install docker-compose`, puis ajoutez son dossier à "
           "`cliPluginsExtraDirs` dans ~/.docker/config.json. L'ancien `docker-compose` v1 n'est plus maintenu.")
    try:
        proc = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True,
                              timeout=30, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return Finding(Status.FAIL, "commande `docker` introuvable", fix)
    except subprocess.TimeoutExpired:
        return Finding(Status.FAIL, "`docker compose version` ne répond pas (> 30 s)", fix)
    version = proc.stdout.strip().lstrip("v")
    if proc.returncode != 0 or not version:
        return Finding(Status.FAIL, "`docker compose version` échoue : " + _short(proc.stderr or "sans message"), fix)
    if not version.startswith("2."):
        return Finding(Status.FAIL, f"Docker Compose {version} : le cours demande la version 2", fix)
    return Finding(Status.OK, f"Docker Compose {version}")


# -- What the engine is: version, image store, builder, cgroups ---------------------------------------
def _version(text: str) -> tuple[int, ...]:
    """(major, minor) of ``20.10.24+dfsg1``, ``1.41``; () when it has none."""
    m = re.match(r"\s*v?(\d+)\.(\d+)", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else ()


def check_engine_version(ctx: Context) -> Finding:
    f = ctx.facts()
    observed = f"{f.engine} {f.server_version}, API {f.api_version}"
    api = _version(f.api_version)
    if api and api < MIN_API:
        return Finding(Status.FAIL, observed + " : le cours demande l'API 1.41 ou plus récente (Docker 20.10+)",
                       UPGRADE_FIX)
    engine = _version(f.server_version)
    if f.engine != "Podman" and engine and engine < MIN_ENGINE:
        return Finding(Status.FAIL, observed + " : le cours demande Docker 20.10 ou plus récent", UPGRADE_FIX)
    if f.engine == "Podman":
        return Finding(Status.WARN, observed + " : pris en charge à travers son socket compatible Docker "
                                               "(la référence du cours reste Docker)", PODMAN_FIX)
    return Finding(Status.OK, observed)


def check_image_store(ctx: Context) -> Finding:
    f = ctx.facts()
    if f.containerd_store:
        return Finding(Status.OK, "containerd (stockage d'images containerd) : les tailles d'images sont mesurées "
                                  "sur leurs couches décompressées, pas sur le champ Size de `docker image inspect`")
    if f.engine == "Podman":
        return Finding(Status.OK, f"{f.image_store}, le stockage propre à Podman")
    if f.image_store == "vfs":
        return Finding(Status.WARN, "vfs : chaque couche est copiée en entier, lent et gourmand en disque",
                       "passez au pilote overlay2 : `\"storage-driver\": \"overlay2\"` dans /etc/docker/daemon.json, "
                       "puis redémarrez Docker (les images sont à reconstruire).")
    return Finding(Status.OK, f"{f.image_store} (pilote de stockage de Docker)")


def check_builder(ctx: Context) -> Finding:
    f = ctx.facts()
    if f.builder in ("buildx", "buildkit"):
        return Finding(Status.OK, f.builder_description)
    if f.engine == "Podman":
        return Finding(Status.INFO, "Buildah, le constructeur de Podman : il comprend `RUN --mount` et les "
                                    "heredocs, mais n'affiche pas la sortie de BuildKit")
    if f.builder == "classic" and "AUTOGRADER_BUILDER" in f.builder_description:
        return Finding(Status.WARN, f.builder_description, "retirez la variable AUTOGRADER_BUILDER "
                                                           "(`unset AUTOGRADER_BUILDER`) pour construire avec BuildKit.")
    if f.builder == "classic":
        return Finding(Status.WARN, f"{f.builder_description} : pas de BuildKit, les Dockerfiles qui utilisent "
                                    "sa syntaxe (`RUN --mount`, `FROM --platform`, `RUN <<EOF`) ne se construiront pas",
                       BUILDKIT_FIX)
    return Finding(Status.INFO, f.builder_description or "constructeur non déterminé")


def check_cgroup(ctx: Context) -> Finding:
    f = ctx.facts()
    observed = f"cgroup v{f.cgroup_version} (pilote {f.cgroup_driver})"
    if f.cgroup_version == "1":
        return Finding(Status.INFO, observed + " : fonctionne pour le cours ; cgroup v2 est la norme des "
                                               "systèmes récents (limites mémoire et CPU plus fiables)")
    return Finding(Status.OK, observed)


# -- Disk ------------------------------------------------------------------------------------------
def check_disk(ctx: Context) -> Finding:
    s = ctx.settings
    info = ctx.info_or_none()
    root = Path(info["DockerRootDir"]) if info and info.get("DockerRootDir") else None
    if root is not None and root.exists():
        path, where = root, f"{root} (données de Docker)"
    else:
        path = s.disk_path
        where = f"{path} (disque du dépôt" + (" ; celui de Docker n'est pas sur cette machine)" if info else ")")
    try:
        free_gb = shutil.disk_usage(path).free / 1e9
    except OSError as exc:
        return Finding(Status.WARN, f"espace libre non mesurable sur {path} ({_short(exc)})")
    observed = f"{free_gb:.1f} Go libres sur {where} ; il en faut au moins {s.min_free_gb:g} Go"
    if free_gb >= s.min_free_gb:
        return Finding(Status.OK, observed)
    return Finding(Status.FAIL, observed,
                   "libérez de la place : `docker system df` montre ce qu'occupe Docker ; `make clean-docker` "
                   "retire ce que le correcteur a laissé ; `docker image prune` et `docker builder prune` retirent "
                   "images et cache inutilisés. Docker Desktop : Settings > Resources > Disk usage limit.")


# -- Ports ---------------------------------------------------------------------------------------
def bind_error(port: int) -> Optional[OSError]:
    """Why this port cannot be published on the host (None when it is free).

    Tries the wildcard addresses (what ``docker run -p`` binds) and 127.0.0.1 (macOS lets a
    wildcard bind beside a program that listens on the loopback address only).
    """
    for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::")):
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:  # no IPv6 on this machine
            continue
        with sock:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if os.name != "nt":  # on Windows SO_REUSEADDR would let us steal the port
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                    continue
                return exc
    return None


def port_holder(ctx: Context, port: int) -> tuple[str, str]:
    """(who holds the port, how to free it): a container, a program, or how to find out."""
    client = ctx.client_or_none()
    if client is not None:
        try:
            containers = client.containers.list()
        except docker.errors.DockerException:
            containers = []
        for c in containers:
            if any(str(b.get("HostPort")) == str(port) for bs in (c.ports or {}).values() for b in bs or ()):
                labels = c.labels or {}
                who = f"le conteneur « {c.name} » ({c.attrs.get('Config', {}).get('Image', '?')})"
                if JOB_LABEL in labels:
                    return who, "un reste de correction : `make clean-docker`."
                project = labels.get("com.docker.compose.project")
                if project:
                    folder = labels.get("com.docker.compose.project.working_dir", "?")
                    return who, (f"arrêtez sa pile Compose : `docker compose -p {project} down` "
                                 f"(lancée depuis {folder}).")
                return who, f"`docker stop {c.name}` (puis `docker rm {c.name}` s'il ne sert plus)."
    try:
        import psutil

        for conn in psutil.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                name = psutil.Process(conn.pid).name()
                return f"le programme « {name} » (PID {conn.pid})", _program_fix(name, conn.pid, port)
    except Exception:  # noqa: BLE001 - psutil missing, or not allowed to see other users' sockets
        pass
    hint = "AirPlay (macOS) occupe souvent ce port : désactivez Récepteur AirPlay dans les Réglages. " \
        if port == 5000 else ""
    return "un autre programme", (f"{hint}trouvez-le avec `sudo ss -ltnp 'sport = :{port}'` (Linux), "
                                  f"`lsof -nP -iTCP:{port} -sTCP:LISTEN` (macOS) ou "
                                  f"`netstat -ano | findstr :{port}` (Windows), puis arrêtez-le.")


def _program_fix(name: str, pid: int, port: int) -> str:
    low = name.lower()
    if "postgres" in low:
        return ("un PostgreSQL installé sur la machine : arrêtez-le le temps des TP "
                "(`sudo systemctl stop postgresql`, macOS : `brew services stop postgresql`).")
    if port == 8888 or "jupyter" in low:
        return ("un autre JupyterLab tourne déjà : fermez-le, ou lancez `make lab JUPYTER_ARGS=--port=8889`.")
    return f"arrêtez ce programme (fermez-le, ou `kill {pid}`)."


def port_check(port: int, use: str) -> Check:
    def run(ctx: Context) -> Finding:
        err = bind_error(port)
        if err is None:
            return Finding(Status.OK, "libre")
        who, fix = port_holder(ctx, port)
        return Finding(Status.FAIL, f"occupé par {who} ({_short(err, 60)})", fix)

    return Check(f"port-{port}", f"Port {port} libre ({use})", run)


# -- Architecture and images ---------------------------------------------------------------------
def check_arch(ctx: Context) -> Finding:
    host = platform.machine()
    info = ctx.info_or_none()
    if info is None:
        return Finding(Status.OK, f"machine {host} ({_arch(host)}) ; moteur Docker non joignable")
    engine = info.get("Architecture", "?")
    system = ", ".join(x for x in (info.get("OperatingSystem"), info.get("KernelVersion") and
                                   f"noyau {info['KernelVersion']}") if x)
    observed = f"machine {host}, moteur Docker {engine} ({_arch(engine)})" + (f" sur {system}" if system else "")
    if _arch(host) != _arch(engine):
        return Finding(Status.WARN, observed + " : Python tourne en émulation (Rosetta ?)",
                       "installez la version de Python native de votre machine ; les images, elles, suivent "
                       "le moteur Docker.")
    return Finding(Status.OK, observed)


def image_check(tag: str) -> Check:
    def run(ctx: Context) -> Finding:
        client = ctx.client()
        try:
            attrs = client.api.inspect_image(tag)
        except docker.errors.ImageNotFound:
            return Finding(Status.FAIL, "absente", IMAGES_FIX)
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        origin = "remplaçante hors ligne" if labels.get(STANDIN_LABEL) == "true" else "image officielle"
        arch = _arch(attrs.get("Architecture", "?"))
        engine = _arch(ctx.info().get("Architecture", "?"))
        # Not inspect's Size: the containerd store gives the packed size there (see imagefacts).
        size = ""
        if ctx.settings.measure_sizes:
            try:
                size = f", {stored_size(client, tag) // 1_000_000} Mo"
            except ImageFactsError as exc:
                size = f", taille non mesurée : {exc}"
        observed = f"présente ({attrs.get('Os', '?')}/{arch}, {origin}{size})"
        if arch != engine:
            return Finding(Status.WARN, observed + f", mais le moteur est {engine} : émulation lente ou "
                                                   "« exec format error »",
                           f"`REBUILD={tag} make images` la remplace par une image {engine}.")
        return Finding(Status.OK, observed)

    return Check(f"image-{tag}", f"Image {tag}", run)


# -- Line endings --------------------------------------------------------------------------------
def crlf_files(roots: Iterable[Path]) -> list[Path]:
    """Scripts, Dockerfiles, YAML… under ``roots`` with Windows (CRLF) line endings."""
    found = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if not path.is_symlink() and is_text_source(path) and has_crlf(path):
                    found.append(path)
    return found


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def check_crlf(ctx: Context) -> Finding:
    roots = ctx.settings.paths
    missing = [r for r in roots if not r.is_dir()]
    if missing:
        return Finding(Status.WARN, "dossier introuvable : " + ", ".join(map(str, missing)))
    found = [_shown(p) for p in crlf_files(roots)]
    where = ", ".join(_shown(r) + "/" for r in roots)
    if not found:
        return Finding(Status.OK, f"aucun fichier CRLF dans {where}")
    listed = ", ".join(found[:MAX_LISTED]) + (f" et {len(found) - MAX_LISTED} autres" if len(found) > MAX_LISTED else "")
    quoted = " ".join(f"'{f}'" for f in found[:MAX_LISTED])
    return Finding(Status.FAIL,
                   f"fins de ligne Windows (CRLF) dans {listed} : un script échouera dans un conteneur Linux "
                   "(« bad interpreter », « exec format error »)",
                   f"`sed -i 's/\\r$//' {quoted}` (ou `dos2unix`) ; pour les prochains checkouts, "
                   "`git config --global core.autocrlf input`. " + CRLF_FIX)


# -- NVIDIA runtime and Docker Hub ---------------------------------------------------------------
def check_nvidia(ctx: Context) -> Finding:
    runtimes = ctx.info().get("Runtimes") or {}
    if "nvidia" in runtimes:
        return Finding(Status.OK, "runtime nvidia présent : la partie GPU du TP 11 est évaluable ici")
    gpu = ctx.settings.host_gpu if ctx.settings.host_gpu is not None else bool(shutil.which("nvidia-smi"))
    skipped = "la partie GPU du TP 11 sera marquée « non évaluable ici » ; rien d'autre n'en a besoin"
    if not gpu:
        return Finding(Status.INFO, f"pas de GPU NVIDIA ni de runtime nvidia : {skipped}")
    return Finding(Status.WARN, f"GPU NVIDIA présent, mais pas le runtime nvidia de Docker : {skipped}",
                   "installez le NVIDIA Container Toolkit, puis `sudo nvidia-ctk runtime configure --runtime=docker` "
                   "et redémarrez Docker.")


def check_podman(ctx: Context) -> Finding:
    """Lab 13 runs Kubernetes manifests with Podman: is one reachable, and recent enough?"""
    from autograder.engine.podman import find_podman  # noqa: PLC0415 - asks the podman command, if any
    from autograder.probes.kube import MIN_PODMAN  # noqa: PLC0415

    engine = find_podman()
    least = ".".join(map(str, MIN_PODMAN))
    if engine is None:
        return Finding(Status.INFO, "aucun Podman joignable : les pods du TP 13 seront « non évaluables ici » ; "
                                    "aucun autre TP n'en a besoin",
                       f"pour le TP 13 : Podman ≥ {least} (Podman Desktop, ou le paquet `podman`), puis "
                       "`podman machine start` (macOS, Windows) ou `systemctl --user start podman.socket` (Linux).")
    numbers = tuple(int(n) for n in re.findall(r"\d+", engine.version)[:2])
    if numbers and numbers < MIN_PODMAN:
        return Finding(Status.WARN, f"Podman {engine.version} ({engine.found}) : trop ancien pour le TP 13",
                       f"mettez Podman à jour (≥ {least}).")
    return Finding(Status.OK, f"Podman {engine.version} ({engine.found}) : le TP 13 est évaluable ici")


def _network_error(exc: requests.RequestException, timeout: float) -> str:
    """The cause of a failed request in a few French words, not urllib3's whole chain."""
    text = str(exc)
    if isinstance(exc, requests.exceptions.Timeout):
        return f"pas de réponse en {timeout:g} s"
    if any(k in text for k in ("NameResolution", "Name or service not known", "getaddrinfo",
                               "Temporary failure in name resolution", "nodename nor servname")):
        return "nom introuvable : pas de DNS ou pas d'Internet"
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "connexion refusée"
    if "ProxyError" in text or isinstance(exc, requests.exceptions.ProxyError):
        return "le proxy refuse la connexion"
    return _short(exc, 100)


def check_hub(ctx: Context) -> Finding:
    s = ctx.settings
    offline = ("sans Docker Hub, prenez les images du cours ailleurs : `make images` construit des remplaçantes "
               "hors ligne (paquets Debian) ; `make images-import` charge l'archive de l'enseignant (faite par "
               "`make images-export` sur une machine connectée). Même remède quand une classe entière atteint "
               "la limite de téléchargements de Docker Hub.")
    try:
        resp = requests.get(s.hub_url, timeout=s.hub_timeout_s, allow_redirects=False)
    except requests.exceptions.SSLError as exc:
        return Finding(Status.WARN, f"joignable, mais certificat TLS refusé (proxy d'entreprise ?) : {_short(exc, 100)}",
                       offline)
    except requests.RequestException as exc:
        return Finding(Status.WARN, f"{s.hub_url} injoignable ({_network_error(exc, s.hub_timeout_s)})", offline)
    ms = int(resp.elapsed.total_seconds() * 1000)
    if resp.status_code in (200, 401):  # 401: the registry answers and asks for a token
        return Finding(Status.OK, f"joignable (HTTP {resp.status_code} en {ms} ms)")
    return Finding(Status.WARN, f"réponse inattendue (HTTP {resp.status_code}) : un proxy filtre-t-il ?", offline)
