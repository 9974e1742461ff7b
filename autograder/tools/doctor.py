"""``python -m autograder doctor`` (``make doctor``): is this machine ready for the course?

One line per prerequisite, tagged ``[OK]``, ``[INFO]``, ``[WARN]``, ``[FAIL]`` or ``[SKIP]`` (not
checked because Docker does not answer), each problem followed by its fix, in French. A check is a
small declarative unit: a stable id, a French title and a function of the :class:`Context` that
returns a :class:`Finding` (status, what was observed, the fix). Everything that depends on the
machine (ports, folders, URL, disk threshold, images, ``docker info``) comes from
:class:`Settings` or the context, so the tests point a check at a taken port, a CRLF file, a
closed URL or a fake ``docker info``.

Profiles run a subset before other targets (``--for``):

* ``lab`` (``make lab``): engine, Compose, port 8888; only warns, never keeps JupyterLab from
  starting;
* ``check`` (``make check``): engine and Compose block (exit 2, as the grader itself would), an old
  engine or API, CRLF endings in the lab's folder and the course images only warn;
* ``preflight`` (``python -m autograder preflight``, ``make docker-ready``): engine and Compose,
  exit 2 when one fails.

The engine's lines (version and API, image store, builder, cgroups; OS and architecture beside
the architecture check) come from :func:`autograder.engine.imagefacts.engine_facts`. Course images are
sized by :func:`autograder.engine.imagefacts.stored_size`, never by inspect's ``Size`` (the packed size
under the containerd store); only ``make doctor`` measures them (~10 s for the course images).

Profiles print only what is not OK. Exit status: 0 nothing failed, 1 something failed (a profile:
2 when a blocking check failed, else 0), 2 the doctor itself cannot run (bad arguments).
"""

from __future__ import annotations

import argparse
import enum
import errno
import os
import platform
import re
import shutil
import socket
import subprocess
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import docker
import requests
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from autograder.engine.imagefacts import EngineFacts, ImageFactsError, engine_facts, engine_name, stored_size
from autograder.readers.images import STANDIN_LABEL, course_images
from autograder.registry import REPO_ROOT
from autograder.engine.runner import CRLF_FIX, has_crlf, is_text_source
from autograder.engine.sandbox import JOB_LABEL

# Ports the labs' instructions publish on the host, and what uses each.
LAB_PORTS: dict[int, str] = {
    5432: "PostgreSQL, TP 02, 03, 08, 09, 12",
    8000: "applications web, TP 01, 03, 04, 06, 12",
    8080: "frontal web, TP 03",
    8888: "JupyterLab, make lab",
    3000: "interface Dagster, TP 09",
    5000: "registre d'images, TP 04",
}
MIN_FREE_GB = 10.0
HUB_URL = "https://registry-1.docker.io/v2/"
# Folders never scanned for CRLF endings: tools' and editors' own files.
SKIP_DIRS = {".git", ".ipynb_checkpoints", ".venv", "venv", "node_modules", "__pycache__", "_travail"}
MAX_LISTED = 8
# The oldest engine the course supports: Docker 20.10 (API 1.41), the engine CI runs.
MIN_API = (1, 41)
MIN_ENGINE = (20, 10)
UPGRADE_FIX = ("mettez Docker à jour : Docker Desktop → « Check for updates » ; Linux : Docker Engine du dépôt "
               "apt de Docker (https://docs.docker.com/engine/install/) ou le paquet `docker.io` d'une version "
               "récente de votre distribution.")
PODMAN_FIX = ("rien à faire si tout passe : gardez le service API de Podman actif (`systemctl --user enable --now "
              "podman.socket`, ou `podman system service --time=0 unix://$XDG_RUNTIME_DIR/podman/podman.sock`) et "
              "`export DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock`. Ce qui change quand vous tapez `podman` "
              "vous-même (HEALTHCHECK, registre en HTTP, GPU) : chapitre 1/02, « Faire les TP avec Podman ». En cas "
              "d'écart avec la correction de l'enseignant, refaites l'essai avec Docker Desktop ou Docker Engine, "
              "la référence du cours.")
BUILDKIT_FIX = ("installez BuildKit : Docker Desktop l'inclut (mettez-le à jour) ; sous Linux, le plugin buildx, "
                "paquet `docker-buildx-plugin` (dépôt apt de Docker) ou `docker-buildx` (Debian, Ubuntu), puis "
                "vérifiez avec `docker buildx version`.")
IMAGES_FIX = ("lancez `make images` (télécharge les images, ou en construit des remplaçantes hors ligne "
              "à partir des paquets Debian) ; sans Internet, `make images-import` charge l'archive "
              "d'images fournie par l'enseignant.")


class Status(enum.Enum):
    OK = ("[OK]", "bold green")
    INFO = ("[INFO]", "cyan")
    WARN = ("[WARN]", "bold yellow")
    FAIL = ("[FAIL]", "bold red")
    SKIP = ("[SKIP]", "dim")

    @property
    def tag(self) -> str:
        return self.value[0]


@dataclass(frozen=True)
class Finding:
    status: Status
    observed: str
    fix: str = ""


@dataclass(frozen=True)
class Settings:
    """Every machine-dependent input of the checks (tests inject their own)."""

    ports: tuple[int, ...] = tuple(LAB_PORTS)
    paths: tuple[Path, ...] = (REPO_ROOT / "labs",)
    images: tuple[str, ...] = field(default_factory=course_images)
    min_free_gb: float = MIN_FREE_GB
    # Measured when Docker's data root is not on this machine (Docker Desktop's VM, a remote engine).
    disk_path: Path = REPO_ROOT
    hub_url: str = HUB_URL
    hub_timeout_s: float = 5.0
    docker_timeout_s: int = 15
    # Is there an NVIDIA GPU on the host? None: look for nvidia-smi.
    host_gpu: Optional[bool] = None
    # Measure each course image's stored size (reads a `docker save` of it: ~10 s for the four
    # course images on 2 cores); `make doctor` does, the profiles run before other targets do not.
    measure_sizes: bool = True


class DockerDown(Exception):
    def __init__(self, observed: str, fix: str):
        super().__init__(observed)
        self.observed = observed
        self.fix = fix


class Context:
    """What the checks share: the settings and one Docker connection (or why there is none)."""

    def __init__(self, settings: Settings, *, info: Optional[dict] = None, facts: Optional[EngineFacts] = None):
        self.settings = settings
        self._info = info
        self._facts = facts
        self._client: Optional[docker.DockerClient] = None
        self._down: Optional[DockerDown] = None

    def client(self) -> docker.DockerClient:
        if self._down is not None:
            raise self._down
        if self._client is None:
            try:
                client = docker.from_env(timeout=self.settings.docker_timeout_s)
                client.ping()
            except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
                self._down = DockerDown(f"Docker ne répond pas ({_engine_error(exc)})", engine_fix(exc))
                raise self._down from None
            self._client = client
        return self._client

    def client_or_none(self) -> Optional[docker.DockerClient]:
        try:
            return self.client()
        except DockerDown:
            return None

    def info(self) -> dict:
        """``docker info`` (injected, or asked once); :class:`DockerDown` without an engine."""
        if self._info is None:
            self._info = self.client().info()
        return self._info

    def facts(self) -> EngineFacts:
        """The engine's facts (injected, or asked once): engine, API, image store, builder, cgroup…"""
        if self._facts is None:
            self._facts = engine_facts(self.client())
        return self._facts

    def info_or_none(self) -> Optional[dict]:
        try:
            return self.info()
        except DockerDown:
            return None


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    run: Callable[[Context], Finding]


def _short(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _arch(name: str) -> str:
    """One spelling per architecture: uname's x86_64/aarch64 and Docker's amd64/arm64."""
    name = (name or "?").lower()
    return {"x86_64": "amd64", "x64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armhf": "arm",
            "i686": "386", "i386": "386"}.get(name, name)


# -- Docker engine and Compose -------------------------------------------------------------------
def _engine_error(exc: BaseException) -> str:
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    text = str(exc)
    if "Permission denied" in text or isinstance(exc, PermissionError):
        return f"accès refusé au socket {host}"
    if "No such file" in text or isinstance(exc, FileNotFoundError):
        return f"aucun moteur à {host}"
    if "Connection refused" in text:
        return f"connexion refusée par {host}"
    return f"{host} : {_short(exc, 120)}"


def engine_fix(exc: BaseException) -> str:
    text = str(exc)
    if "Permission denied" in text or isinstance(exc, PermissionError):
        return ("votre utilisateur n'a pas le droit d'utiliser le socket de Docker : "
                "`sudo usermod -aG docker $USER`, puis fermez et rouvrez votre session.")
    if shutil.which("docker") is None:
        return ("installez Docker : Docker Desktop (Windows, macOS) ou Docker Engine avec le plugin Compose "
                "(Linux, https://docs.docker.com/engine/install/).")
    elsewhere = _cli_context_host()
    if elsewhere and not os.environ.get("DOCKER_HOST"):
        return (f"la commande docker utilise un moteur sur {elsewhere} (contexte Docker Desktop, Colima, "
                f"OrbStack…) que le correcteur ne voit pas : `export DOCKER_HOST={elsewhere}`, ou activez "
                "le socket par défaut dans les réglages de Docker Desktop.")
    return ("démarrez Docker : lancez Docker Desktop (Windows, macOS) ou `sudo systemctl start docker` "
            "(Linux), attendez qu'il soit prêt, puis relancez.")


def _cli_context_host() -> Optional[str]:
    """The engine address of the docker CLI's current context, when it is not the default socket."""
    try:
        proc = subprocess.run(["docker", "context", "inspect", "--format", "{{.Endpoints.docker.Host}}"],
                              capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    host = proc.stdout.strip()
    return host if proc.returncode == 0 and host and host != "unix:///var/run/docker.sock" else None


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


# -- Registry, profiles, running -----------------------------------------------------------------
def checks(settings: Settings) -> list[Check]:
    """Every check, in the order they print."""
    return [
        Check("docker-engine", "Moteur Docker joignable", check_engine),
        Check("compose", "Docker Compose v2", check_compose),
        Check("engine-version", "Version du moteur et de son API", check_engine_version),
        Check("store", "Stockage des images", check_image_store),
        Check("builder", "Constructeur d'images (BuildKit)", check_builder),
        Check("cgroup", "Version des cgroups", check_cgroup),
        Check("disk", "Espace disque libre", check_disk),
        *(port_check(p, LAB_PORTS.get(p, "TP")) for p in settings.ports),
        Check("arch", "Architecture", check_arch),
        *(image_check(tag) for tag in settings.images),
        Check("crlf", "Fins de ligne des scripts, Dockerfiles et YAML", check_crlf),
        Check("nvidia", "Runtime NVIDIA (GPU, TP 11)", check_nvidia),
        Check("docker-hub", "Docker Hub joignable", check_hub),
    ]


@dataclass(frozen=True)
class Profile:
    """A subset of the checks run before another target (ids, or prefixes ending with ``-``)."""

    only: Optional[tuple[str, ...]]
    blocking: frozenset[str] = frozenset()
    quiet: bool = False


PROFILES: dict[str, Profile] = {
    "all": Profile(None),
    "lab": Profile(("docker-engine", "compose", "port-8888"), quiet=True),
    "check": Profile(("docker-engine", "compose", "engine-version", "crlf", "image-"),
                     blocking=frozenset({"docker-engine", "compose"}), quiet=True),
    "preflight": Profile(("docker-engine", "compose"), blocking=frozenset({"docker-engine", "compose"}), quiet=True),
}


def _matches(check: Check, name: str) -> bool:
    return check.id == name or (name.endswith("-") and check.id.startswith(name))


def select(all_checks: Sequence[Check], names: Optional[Iterable[str]], *, strict: bool = True) -> list[Check]:
    """The checks named (ids, or prefixes ending with ``-``), in order; ``strict``: ValueError
    for a name that matches none (a profile's names may match none: ``--port`` replaced 8888)."""
    if names is None:
        return list(all_checks)
    names = list(names)
    unknown = [n for n in names if not any(_matches(c, n) for c in all_checks)]
    if strict and unknown:
        raise ValueError(", ".join(unknown))
    return [c for c in all_checks if any(_matches(c, n) for n in names)]


def run_check(check: Check, ctx: Context) -> Finding:
    try:
        return check.run(ctx)
    except DockerDown:
        return Finding(Status.SKIP, "non vérifié : Docker ne répond pas")
    except Exception as exc:  # noqa: BLE001 - one broken probe must not hide the other lines
        return Finding(Status.WARN, f"vérification impossible ({type(exc).__name__} : {_short(exc)})")


def diagnose(selected: Sequence[Check], ctx: Context) -> list[tuple[Check, Finding]]:
    return [(c, run_check(c, ctx)) for c in selected]


def print_line(console: Console, status: Status, text: str, fix: str = "") -> None:
    """``[TAG]  text``, wrapped under the text (not under the tag) to the terminal's width, then
    ``→ fix`` on indented lines: readable in a narrow terminal, every line either tagged or indented."""
    indent = " " * (len("[INFO]") + 1)
    width = max(24, console.width - len(indent))
    lines = textwrap.wrap(text, width, break_on_hyphens=False) or [""]
    out = Text.assemble((status.tag.ljust(len(indent) - 1), status.value[1]), " ", lines[0])
    for line in lines[1:]:
        out.append("\n" + indent + line)
    for line in textwrap.wrap("→ " + fix, width, break_on_hyphens=False) if fix else ():
        out.append("\n" + indent)
        out.append(line, style="italic")
    console.print(out, soft_wrap=True, highlight=False)


def render(results: Sequence[tuple[Check, Finding]], console: Console, *, quiet: bool = False) -> None:
    """One tagged line per check (``quiet``: only WARN and FAIL), then a tagged summary."""
    for check, f in results:
        if not quiet or f.status in (Status.WARN, Status.FAIL):
            print_line(console, f.status, f"{check.title} : {f.observed}",
                       f.fix if f.status in (Status.WARN, Status.FAIL) else "")
    if quiet:
        return
    count = {s: sum(f.status is s for _, f in results) for s in Status}
    summary = "Bilan : " + ", ".join(f"{n} {s.name}" for s, n in count.items() if n)
    if count[Status.FAIL]:
        print_line(console, Status.FAIL, f"{summary} : corrigez les lignes [FAIL], puis relancez `make doctor`.")
    elif count[Status.WARN]:
        print_line(console, Status.WARN, f"{summary} : rien de bloquant ; lisez les lignes [WARN].")
    else:
        print_line(console, Status.OK, f"{summary} : cette machine est prête pour le cours.")


def exit_status(results: Sequence[tuple[Check, Finding]], profile: Profile, warn_only: bool) -> int:
    failed = {c.id for c, f in results if f.status is Status.FAIL}
    if warn_only or not failed:
        return 0
    if profile.only is None:
        return 1
    return 2 if failed & profile.blocking else 0


def downgraded(results, profile: Profile, warn_only: bool) -> list[tuple[Check, Finding]]:
    """In a profile, only blocking checks fail; the others (and all with --warn-only) warn."""
    if profile.only is None and not warn_only:
        return list(results)
    return [(c, Finding(Status.WARN, f.observed, f.fix)
             if f.status is Status.FAIL and (warn_only or c.id not in profile.blocking) else f)
            for c, f in results]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--for", dest="profile", choices=sorted(PROFILES), default="all",
                   help="n'exécuter que ce qui sert avant cette cible (make lab, make check)")
    p.add_argument("--only", action="append", metavar="ID",
                   help="n'exécuter que cette vérification (id, ou préfixe finissant par « - » : image-)")
    p.add_argument("--path", action="append", type=Path, metavar="DIR",
                   help="dossier où chercher les fins de ligne CRLF (défaut : labs/)")
    p.add_argument("--port", action="append", type=int, metavar="N", help="port à vérifier (défaut : ceux des TP)")
    p.add_argument("--min-free-gb", type=float, default=MIN_FREE_GB, metavar="GO",
                   help=f"espace disque libre minimal (défaut : {MIN_FREE_GB:g} Go)")
    p.add_argument("--hub-url", default=HUB_URL, help="adresse testée pour Docker Hub")
    p.add_argument("--warn-only", action="store_true", help="avertir sans jamais échouer (code 0)")


def main(args: argparse.Namespace, console: Optional[Console] = None, err: Optional[Console] = None) -> int:
    console = console or Console()
    err = err or Console(stderr=True)
    profile = PROFILES[args.profile]
    settings = Settings(
        ports=tuple(args.port) if args.port else Settings.ports,
        paths=tuple(args.path) if args.path else Settings.paths,
        min_free_gb=args.min_free_gb,
        hub_url=args.hub_url,
        measure_sizes=profile.only is None,
    )
    try:
        selected = select(checks(settings), profile.only, strict=False)
        if args.only:
            selected = select(selected, args.only)
    except ValueError as exc:
        err.print(f"[bold red]Vérification inconnue :[/] {escape(str(exc))}. Les vérifications : "
                  + ", ".join(c.id for c in checks(settings)))
        return 2
    try:
        results = downgraded(diagnose(selected, Context(settings)), profile, args.warn_only)
        render(results, console if not profile.quiet else err, quiet=profile.quiet)
    except Exception as exc:  # noqa: BLE001 - each check already reports its own errors
        err.print(f"[bold red]Le diagnostic lui-même a échoué :[/] {type(exc).__name__} : {escape(_short(exc))}",
                  markup=True, highlight=False)
        return 2
    return exit_status(results, profile, args.warn_only)
