"""A Compose service's containers for a check: created without being started, or run once to their end and inspected.

:func:`create` / :func:`created`: ``docker compose create --build SERVICE`` once per grading (the
container exists, nothing runs: its ``docker inspect`` shows the limits and devices Compose asked
for). :func:`oneoff`: a one-off container of the service (``docker compose run -d``, so with the
service's limits and devices), waited for with a deadline, inspected, then removed.
"""

from __future__ import annotations

import docker.errors

from autograder.core import Fail
from autograder.engine.runner import Grading
from autograder.engine.docker_api import DockerStepError
from autograder.probes.containers import logs_tail
from autograder.probes.waits import Timeout, wait_until

ONEOFF = "com.docker.compose.oneoff"


def create(g: Grading, service: str) -> None:
    """``docker compose create --build SERVICE`` once: the container exists, nothing runs (refused
    submissions never get here: ``create`` is guarded like ``up``)."""
    def make() -> None:
        try:
            g.compose().create(service, timeout=g.remaining(300))
        except DockerStepError as exc:
            raise Fail(f"`docker compose create {service}` réussit (le conteneur est créé sans être démarré)",
                       exc.output[-1500:] or str(exc),
                       "lancez `docker compose create " + service + "` (ou `docker compose build`) et corrigez "
                       "la première erreur affichée.") from None
    g.once(f"create:{service}", make)


def created(g: Grading, service: str):
    """The service's created container (not a one-off), reloaded."""
    create(g, service)
    found = [c for c in g.compose().containers(service) if c.labels.get(ONEOFF) != "True"]
    if not found:
        raise Fail(f"un conteneur créé pour le service « {service} »", "aucun conteneur",
                   f"vérifiez que `docker compose create {service}` fonctionne chez vous.")
    found[0].reload()
    return found[0]


def oneoff(g: Grading, service: str, command: tuple = (), timeout: float = 30) -> tuple[dict, str]:
    """A one-off container of ``service`` (``docker compose run -d``: the service's limits and
    devices), ``command`` replacing its entrypoint and command when given; waited for with a
    deadline, inspected, then removed: (its inspect attributes, the tail of its logs)."""
    before = {c.id for c in g.compose().containers(service)}
    options = ["-d", "--no-deps", "--interactive=false", "-T"] + (["--entrypoint", command[0]] if command else [])
    g.compose().run(service, *options, command=tuple(command[1:]), timeout=g.remaining(180))
    new = [c for c in g.compose().containers(service) if c.id not in before]
    if not new:
        raise DockerStepError(f"`docker compose run -d {service}` n'a créé aucun conteneur")
    c = new[0]
    try:
        def exited():
            c.reload()
            return c.status in ("exited", "dead")
        try:
            wait_until(exited, g.remaining(timeout))
        except Timeout:
            raise Fail(f"le conteneur se termine en moins de {int(timeout)} s",
                       f"toujours en cours après {int(timeout)} s\n{logs_tail(c)}",
                       "la commande doit traiter le fichier puis s'arrêter (pas de boucle sans fin).") from None
        c.reload()
        return c.attrs, logs_tail(c, 40)
    finally:
        try:
            c.remove(force=True)
        except docker.errors.DockerException:
            pass


def run_fail(what: str, exc: DockerStepError, hint: str) -> Fail:
    """The :class:`Fail` for a one-off that could not start: Docker's message and output's tail."""
    return Fail(what, f"{exc}\n{exc.output[-1200:]}".strip(), hint)
