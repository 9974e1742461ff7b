"""The doctor's vocabulary: the ports and limits it knows, a check's status and finding, the settings
and the shared context (one Docker client, the engine's facts read once), why an engine is
unreachable (see :mod:`autograder.tools.doctor`)."""

from __future__ import annotations

import enum
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional
import docker
import requests

from autograder.engine.imagefacts import EngineFacts, engine_facts
from autograder.readers.images import course_images
from autograder.registry import REPO_ROOT


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
