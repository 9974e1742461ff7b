"""Lab 11 — ressources : CPU, mémoire, PIDs et GPU pour les conteneurs.

Contract (see labs/11-ressources-gpu/enonce.ipynb):

* service ``traitement``, built from ``./traitement`` (python:3.13-slim, not root), runs
  ``traiter.py`` on ``/donnees/ventes.csv`` (the grader writes its own CSV before the build, so
  mounting ``./donnees`` or copying it into the image both work) and prints
  ``lignes=N total=X``; its limits are exactly memory 256 MiB, 0.5 CPU and 64 PIDs, written as
  ``deploy.resources.limits`` (memory, cpus, pids) or as ``mem_limit`` / ``cpus`` / ``pids_limit``;
* service ``gpu`` reserves NVIDIA GPUs: ``deploy.resources.reservations.devices`` (driver nvidia,
  count or device_ids, capabilities [gpu]) or the service-level ``gpus:`` key.

How it is graded:

* the declared limits are read in the canonical configuration, and in ``docker inspect`` of the
  created (never started) ``traitement`` container (``HostConfig.Memory``, ``NanoCpus``,
  ``PidsLimit``). The grader imposes its own limits on every service (1 GiB, 1 CPU, 512 PIDs by
  default) and keeps a student's lower ones, so the asked values differ from its defaults on
  purpose: a file without limits shows the defaults and fails;
* enforcement: a one-off container of ``traitement`` (``docker compose run -d``, not removed
  until inspected) allocates 400 MB in 16 MB steps: it must end ``OOMKilled`` (exit 137); the
  service's own command must exit 0 under the limit with the right totals;
* the ``gpu`` container is created without being started (this works without a GPU) and its
  ``HostConfig.DeviceRequests`` must ask for the ``gpu`` capability through the NVIDIA driver;
* only where ``docker info`` lists the ``nvidia`` runtime is the ``gpu`` service started, and
  ``nvidia-smi -L`` must list a GPU; elsewhere that check is skipped with the reason (never passed).
"""

from __future__ import annotations

import random
import re
import time
from decimal import Decimal
from pathlib import Path

from autograder.core import Fail, Lab, NotYet, Skip
from autograder.probes.diagnose import missing_command
from autograder.engine.imagefacts import is_podman
from autograder.engine.policy import DEFAULT_CPUS, DEFAULT_MEMORY, DEFAULT_PIDS
from autograder.probes.compose_oneoff import create, created, oneoff, run_fail
from autograder.probes.compose_resources import declared_limits, device_requests, gpu_problem, shown_cpus, shown_memory
from autograder.engine.runner import Grading
from autograder.engine.docker_api import DockerStepError
from autograder.readers.answers import (COMMANDE, INSPECT, LS_CONTAINERS, VALEUR, Faux, docker_command,
                                        question, spec, valeur)

LAB = Lab(
    id="11-ressources-gpu",
    title="Ressources : limites CPU, mémoire, PIDs et GPU pour les conteneurs",
    files=("compose.yaml", "traitement/Dockerfile"),
    budget_s=300,
)

SERVICES = ("traitement", "gpu")
CSV = "donnees/ventes.csv"
ROWS = 60_000
MEMORY = 256 * 1024**2
NANO_CPUS = 500_000_000
PIDS = 64
ASKED = "mémoire 256M, cpus 0.5, pids 64"
assert MEMORY != DEFAULT_MEMORY and NANO_CPUS != int(DEFAULT_CPUS * 1e9) and PIDS != DEFAULT_PIDS
ALLOC_MB, STEP_MB = 400, 16
# Pages really touched (a str of "x"), the size reached printed at each step.
ALLOCATE = ("python", "-c",
            "b = []\nfor _ in range(%d):\n    b.append('x' * (%d << 20))\n    print(%d * len(b), flush=True)"
            % (ALLOC_MB // STEP_MB, STEP_MB, STEP_MB))


# -- preparation ---------------------------------------------------------------------------------
def prepare(g: Grading) -> None:
    """A CSV of the grader's own (its totals unknown to the student), written before any build."""
    rng = random.Random()
    regions = ("Nord", "Sud", "Est", "Ouest", "Centre")
    total = Decimal(0)
    lines = ["id,region,produit,montant"]
    for i in range(1, ROWS + 1):
        amount = Decimal(rng.randint(100, 99_999)) / 100
        total += amount
        lines.append(f"{i},{rng.choice(regions)},P{rng.randint(1, 40):03d},{amount}")
    path = g.workdir / CSV
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o644)
    path.parent.chmod(0o755)
    g.once("expected", lambda: (ROWS, f"{total:.2f}"))


LAB.prepare = prepare


def expected(g: Grading) -> tuple[int, str]:
    return g.once("expected", lambda: (0, ""))


def limit_mismatches(memory, nano, pids, reserved=None) -> list[str]:
    out = []
    if memory != MEMORY:
        extra = (f" (mais une *réservation* de {shown_memory(reserved)} : ce n'est pas une limite)"
                 if reserved and not memory else "")
        out.append(f"mémoire : {shown_memory(memory)}{extra} au lieu de 256 Mio")
    if nano != NANO_CPUS:
        out.append(f"cpus : {shown_cpus(nano)} au lieu de 0.5")
    if pids != PIDS:
        out.append(f"pids : {pids or 'aucune'} au lieu de 64")
    return out


LIMITS_HINT = ("sous `traitement:` écrivez `deploy: resources: limits: {memory: 256M, cpus: \"0.5\", pids: 64}` "
               "(ou `mem_limit: 256m`, `cpus: 0.5`, `pids_limit: 64`). `reservations` est un minimum garanti, "
               "pas un plafond.")


LIMITS_FIRST = "TODO 3 : " + LIMITS_HINT


def limits_or_not_yet(g: Grading) -> dict:
    """The limits declared for traitement; NotYet when it declares none at all (TODO 3 not begun)."""
    found = declared_limits(g.compose().services()["traitement"])
    if not any(found.values()):
        raise NotYet(f"des limites pour traitement ({ASKED})",
                     "traitement ne déclare encore aucune limite ni réservation (ni deploy.resources, ni "
                     "mem_limit / cpus / pids_limit)", LIMITS_FIRST)
    return found


def command_or_not_yet(g: Grading) -> None:
    """NotYet when neither the Dockerfile of traitement nor compose.yaml gives it a command: the base
    image's default command (python3, an interpreter that exits at once) would run instead."""
    svc = g.compose().services()["traitement"]
    build = svc.get("build") if isinstance(svc.get("build"), dict) else {}
    if svc.get("command") or svc.get("entrypoint") or not build.get("context"):
        return
    image = created(g, "traitement").attrs.get("Image") or ""
    lacking = missing_command(g.sandbox, Path(build["context"]), image, build.get("dockerfile") or "Dockerfile")
    if lacking:
        raise NotYet("une commande qui lance le traitement (`CMD` en forme exec)", lacking,
                     "copiez traiter.py dans /app puis ajoutez `CMD [\"python\", \"traiter.py\", "
                     "\"/donnees/ventes.csv\"]` au Dockerfile de traitement (TODO 2).")


# -- static checks -------------------------------------------------------------------------------
@LAB.check("11-compose-valid", "compose.yaml valide : services traitement (construit) et gpu", 1, static=True)
def compose_valid(g: Grading):
    services = g.compose().require_services(SERVICES)
    if not isinstance(services["traitement"].get("build"), dict):
        raise Fail("le service traitement construit depuis ./traitement (`build:`)", "pas de clé `build:`",
                   "ajoutez `build: ./traitement`.")
    if not (services["gpu"].get("image") or services["gpu"].get("build")):
        raise Fail("le service gpu avec une image (`image: debian:trixie-slim`)", "ni `image:` ni `build:`",
                   "ajoutez `image: debian:trixie-slim` (dans la vraie vie : `nvidia/cuda:12.x-base-…`).")


@LAB.check("11-service-runs", "traitement tourne sous la limite (non root) et calcule les bons totaux", 1.5,
           requires=["11-compose-valid"])
def service_runs(g: Grading):
    create(g, "traitement")
    command_or_not_yet(g)
    try:
        attrs, logs = oneoff(g, "traitement")
    except DockerStepError as exc:
        raise run_fail("`docker compose run traitement` démarre", exc,
                        "lancez `docker compose run --rm traitement` et lisez l'erreur.") from None
    state = attrs.get("State") or {}
    user = str((attrs.get("Config") or {}).get("User") or "")
    if state.get("OOMKilled"):
        raise Fail("le traitement tient sous 256 Mio", f"tué par le noyau (OOMKilled, code {state.get('ExitCode')})",
                   "traiter.py lit le CSV par blocs : ne le chargez pas en entier, et gardez la limite à 256M.")
    if state.get("ExitCode") != 0:
        missing = re.search(r"can't open file '([^']+)'", logs)
        raise Fail("`traitement` se termine avec le code 0", f"code {state.get('ExitCode')}\n{logs}",
                   f"le fichier {missing.group(1)} n'existe pas dans le conteneur : copiez le script "
                   "dans l'image (`WORKDIR /app` puis `COPY traiter.py .`) avant la commande."
                   if missing else
                   "l'image doit lancer `python traiter.py /donnees/ventes.csv` (CMD) et le fichier doit "
                   "être dans le conteneur (volume `./donnees:/donnees:ro` ou COPY).")
    rows, total = expected(g)
    m = re.search(r"lignes=(\d+)\s+total=([\d.]+)", logs)
    if not m or (int(m.group(1)), m.group(2)) != (rows, total):
        raise Fail(f"`lignes={rows} total={total}` (le CSV écrit par le correcteur dans {CSV})",
                   logs[-800:] if logs.strip() and logs != "(aucun journal)" else "aucune sortie",
                   f"le service doit lire {CSV} au moment où il tourne (monté en volume ou copié à la "
                   "construction), pas un autre fichier." if m else
                   "l'image doit lancer `python traiter.py /donnees/ventes.csv` (CMD en forme exec) : sans "
                   "CMD, python:3.13-slim ouvre l'interpréteur interactif, qui ne fait rien.")
    if user.split(":")[0] in ("", "0", "root"):
        raise Fail("un utilisateur non root (`USER` dans le Dockerfile ou `user:` dans compose.yaml)",
                   f"Config.User = {user or '(vide : root)'}",
                   "ajoutez `RUN useradd --create-home --uid 10001 app` puis `USER app` au Dockerfile.",
                   rule="CIS 4.1")
    return f"lignes={rows} total={total}, utilisateur {user}"


@LAB.check("11-limits-declared", "Limites déclarées pour traitement : mémoire 256M, 0,5 CPU, 64 PIDs",
           1.5, requires=["11-compose-valid"], static=True)
def limits_declared(g: Grading):
    found = limits_or_not_yet(g)
    wrong = limit_mismatches(found["memory"], found["nano_cpus"], found["pids"], found["reserved_memory"])
    if wrong:
        raise Fail(f"les limites demandées ({ASKED}) dans compose.yaml", "\n".join(wrong), LIMITS_HINT,
                   rule="CIS 5.11, 5.12, 5.29")
    return ASKED


# -- the created containers ----------------------------------------------------------------------
@LAB.check("11-limits-applied", "`docker inspect` : Memory, NanoCpus et PidsLimit sont ceux demandés",
           1.5, requires=["11-compose-valid"])
def limits_applied(g: Grading):
    limits_or_not_yet(g)
    host = created(g, "traitement").attrs.get("HostConfig") or {}
    memory, nano, pids = host.get("Memory") or 0, host.get("NanoCpus") or 0, host.get("PidsLimit") or 0
    wrong = limit_mismatches(memory, nano, pids)
    if wrong:
        defaults = " (ce sont les valeurs par défaut imposées par le correcteur : aucune limite de votre part)" \
            if memory == DEFAULT_MEMORY or nano == int(DEFAULT_CPUS * 1e9) or pids == DEFAULT_PIDS else ""
        raise Fail(f"HostConfig.Memory = {MEMORY}, NanoCpus = {NANO_CPUS}, PidsLimit = {PIDS}",
                   f"Memory = {memory}, NanoCpus = {nano}, PidsLimit = {pids}{defaults}\n" + "\n".join(wrong),
                   LIMITS_HINT + " Vérifiez avec `docker inspect -f '{{.HostConfig.Memory}}' <conteneur>`.",
                   rule="CIS 5.11, 5.12, 5.29")
    return f"Memory={memory}, NanoCpus={nano}, PidsLimit={pids}"


@LAB.check("11-oom-killed", "Limite appliquée : allouer 400 Mo dans traitement finit tué (OOMKilled, code 137)",
           2, requires=["11-compose-valid"])
def oom_killed(g: Grading):
    if not limits_or_not_yet(g)["memory"]:
        raise NotYet("une limite de mémoire pour traitement (256M) que le noyau fasse respecter",
                     "traitement ne déclare aucune limite de mémoire (une réservation n'en est pas une)",
                     LIMITS_FIRST)
    create(g, "traitement")
    started = time.monotonic()
    try:
        attrs, logs = oneoff(g, "traitement", ALLOCATE)
    except DockerStepError as exc:
        raise run_fail("un conteneur ponctuel de traitement démarre (`docker compose run`)", exc,
                        "l'image doit contenir python (FROM python:3.13-slim).") from None
    state = attrs.get("State") or {}
    code = state.get("ExitCode")
    steps = re.findall(r"^(\d+)$", logs, re.M)
    reached = f"{steps[-1]} Mo alloués" if steps else "aucune allocation affichée"
    if not state.get("OOMKilled"):
        if code == 137 and steps and int(steps[-1]) < ALLOC_MB:
            # SIGKILL mid-allocation, from nobody but the kernel: Podman on cgroup v1 does not
            # always record OOMKilled (conmon misses the cgroup's OOM event); Docker does.
            return (f"tué après {reached} (code 137, SIGKILL ; le moteur n'a pas noté OOMKilled, "
                    f"{time.monotonic() - started:.1f} s)")
        if code == 0:
            raise Fail(f"le noyau tue le processus avant {ALLOC_MB} Mo (limite 256 Mio)",
                       f"{reached} sans être tué (code 0) : la limite est absente ou trop haute",
                       LIMITS_HINT, rule="CIS 5.11")
        raise Fail("OOMKilled = true (code 137)", f"OOMKilled = false, code {code}, {reached}\n{logs[-600:]}",
                   "l'image doit pouvoir lancer `python -c …` : gardez python:3.13-slim et pas d'ENTRYPOINT "
                   "qui ignore la commande.")
    return f"tué après {reached} (OOMKilled, code {code}, {time.monotonic() - started:.1f} s)"


# -- GPU -----------------------------------------------------------------------------------------
GPU_HINT = ("sous `gpu:` écrivez `deploy: resources: reservations: devices: [{driver: nvidia, count: 1, "
            "capabilities: [gpu]}]` (ou `count: all`, ou `device_ids: [\"0\"]`).")


@LAB.check("11-gpu-reservation",
           "Le service gpu réserve un GPU NVIDIA (DeviceRequests, conteneur créé sans démarrer)", 1.5,
           requires=["11-compose-valid"])
def gpu_reservation(g: Grading):
    gpu = g.compose().services()["gpu"]
    if not device_requests(gpu):
        runtime = str(gpu.get("runtime") or "")
        if not runtime:
            raise NotYet("une réservation de GPU pour le service gpu",
                         "le service gpu ne demande encore aucun périphérique (ni deploy.resources.reservations"
                         ".devices, ni `gpus:`)", "réservez un GPU NVIDIA (TODO 4) : " + GPU_HINT)
        # Judged before creating: a runtime this engine lacks refuses the container outright.
        unknown = runtime not in (g.sandbox.client.info().get("Runtimes") or {})
        raise Fail("une réservation de GPU : driver nvidia, capacité gpu, count ou device_ids",
                   f"`runtime: {runtime}` seul, sans réservation : Compose ne crée aucune DeviceRequest "
                   "(HostConfig.DeviceRequests serait vide)" + (" ; ce moteur ne connaît d'ailleurs pas ce "
                                                                 "runtime" if unknown else ""),
                   GPU_HINT + f" `runtime: {runtime}` est l'ancienne syntaxe (Compose 2.3) : retirez-la.")
    note = ""
    try:
        host = created(g, "gpu").attrs.get("HostConfig") or {}
        requests = host.get("DeviceRequests") or []
        if not requests and is_podman(g.sandbox.client):
            # Podman's Docker-compatible API drops DeviceRequests (GPUs go through CDI there):
            # what Compose asked for is judged from its canonical form.
            requests = device_requests(g.compose().services()["gpu"])
            note = " (Podman ignore DeviceRequests : lu dans la configuration canonique de Compose)"
    except Fail as exc:
        if not re.search(r"pull|not found|manifest|resolve|no such image", exc.observed, re.I):
            raise
        # The image cannot be fetched here (offline): judge the same request from the canonical form.
        requests = device_requests(g.compose().services()["gpu"])
        note = " (image absente ici : lu dans la configuration canonique)"
    problem = gpu_problem(requests)
    if problem:
        legacy = str(g.compose().services()["gpu"].get("runtime") or "") == "nvidia"
        raise Fail("une réservation de GPU : driver nvidia, capacité gpu, count ou device_ids", problem,
                   GPU_HINT + (" `runtime: nvidia` seul est l'ancienne syntaxe (Compose 2.3) : elle ne crée "
                               "aucune DeviceRequest." if legacy else ""))
    req = next(r for r in requests if not gpu_problem([r]))
    count = "tous" if req.get("Count") == -1 else (req.get("Count") or f"ids {req.get('DeviceIDs')}")
    return f"driver {req.get('Driver') or 'nvidia (choisi par la capacité gpu)'}, GPU : {count}{note}"


@LAB.check("11-gpu-runtime", "Sur un hôte avec le runtime nvidia : `nvidia-smi -L` dans gpu liste un GPU", 1,
           requires=["11-gpu-reservation"])
def gpu_runtime(g: Grading):
    runtimes = g.sandbox.client.info().get("Runtimes") or {}
    if "nvidia" not in runtimes:
        raise Skip("cette machine n'a pas de GPU NVIDIA utilisable par Docker (`docker info` ne liste pas le "
                   f"runtime nvidia ; runtimes : {', '.join(sorted(runtimes)) or 'aucun'}) : le service gpu "
                   "n'est pas démarré. Aucun point attribué ni retiré ; sur une machine avec GPU et le NVIDIA "
                   "Container Toolkit, le correcteur lance `nvidia-smi -L` dans le service gpu.")
    try:
        attrs, logs = oneoff(g, "gpu", ("nvidia-smi", "-L"))
    except DockerStepError as exc:
        raise run_fail("le service gpu démarre avec un GPU", exc,
                        "vérifiez `docker run --rm --gpus all debian:trixie-slim nvidia-smi -L` sur cette "
                        "machine, puis la réservation du service gpu.") from None
    code = (attrs.get("State") or {}).get("ExitCode")
    gpus = re.findall(r"^GPU \d+: .*$", logs, re.M)
    if code != 0 or not gpus:
        raise Fail("`nvidia-smi -L` liste au moins un GPU (« GPU 0: … ») et se termine avec le code 0",
                   f"code {code}\n{logs[-800:]}", GPU_HINT)
    return "; ".join(gpus[:4])


# ---------------------------------------------------------------------------------------------
# Questions de cours: this lab's quiz questions and their checkers, listed by autograder.registry and
# graded in the notebook by autograder.classroom.quiz (answers are parsed, never executed)
# ---------------------------------------------------------------------------------------------
def _code_oom(r: str) -> None:
    v = re.sub(r"^(exit\s+)?(code\s*(de sortie)?\s*:?\s*)", "", valeur(r).lower()).strip()
    if v == "137":
        return
    hints = {"9": "9 est le numéro du signal (`SIGKILL`) ; le code de sortie vaut 128 + ce numéro.",
             "139": "139 = 128 + 11 (`SIGSEGV`, une erreur de segmentation).",
             "143": "143 = 128 + 15 (`SIGTERM`, un arrêt demandé poliment) : le tueur OOM ne prévient pas.",
             "1": "1 est l'erreur ordinaire d'un programme qui a pu s'arrêter lui-même."}
    raise Faux(hints.get(v, ""))


def _oomkilled(r: str) -> None:
    ligne = docker_command(r, {("inspect",): INSPECT, ("container", "ls"): LS_CONTAINERS,
                               ("logs",): spec(("-f --follow", False), ("-n --tail", True)),
                               ("stats",): spec(("--no-stream", False), ("-a --all", False), ("--format", True))})
    if ligne.path == ("container", "ls"):
        raise Faux("`docker ps -a` montre le code de sortie, pas sa cause : 137 peut aussi venir d'un "
                   "`docker kill`.")
    if ligne.path == ("logs",):
        raise Faux("Tué par `SIGKILL`, le processus n'a rien pu écrire : les journaux ne le disent pas.")
    if ligne.path == ("stats",):
        raise Faux("`docker stats` montre la consommation des conteneurs en cours, pas la cause d'un arrêt.")
    if ligne.options.get("--type", ["container"]) != ["container"]:
        raise Faux("`--type` doit être `container`.")
    if ligne.args != ["gourmand"]:
        raise Faux("Il faut nommer le conteneur `gourmand`, et lui seul.")
    fmt = ligne.options.get("--format")
    if fmt and not any(".State.OOMKilled" in f for f in fmt):
        raise Faux("Votre `--format` n'affiche pas le champ qui dit si le tueur OOM est passé.")


QUESTIONS = [
    question("11-q-code-oom",
             "Un conteneur limité à 256 Mo dépasse sa limite et le tueur OOM l'arrête. Quel est son code "
             "de sortie ?",
             "reponse_code_oom", VALEUR,
             "le code d'un processus tué par `SIGKILL` : 128 plus le numéro de ce signal. Voir la section 2, "
             "sur le tueur OOM.",
             _code_oom),
    question("11-q-oomkilled",
             "Quelle commande dit si le conteneur arrêté `gourmand` a été tué par le tueur OOM ?",
             "reponse_oomkilled", COMMANDE,
             "l'inspection du conteneur, qui contient le champ d'état posé par Docker quand le noyau l'a "
             "tué pour la mémoire (un `--format` peut n'afficher que lui). Voir la section 2, "
             "« Le tueur OOM et le code 137 ».",
             _oomkilled),
]
