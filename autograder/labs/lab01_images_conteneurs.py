"""Lab 01 — images et conteneurs: containerise a small Flask app."""

from __future__ import annotations

import signal

from autograder.core import Fail, Lab, NotYet
from autograder.probes.diagnose import missing_command, not_serving, pid1, shell_pid1, shown
from autograder.readers.dockerfile import base_images, final_base, is_slim, require_pinned
from autograder.probes.containers import container_gone, pid1_catches, stop_duration, user_id
from autograder.probes.http import http_ok, wait_http_ok
from autograder.probes.images import install_steps, rebuild_after_touch
from autograder.probes.waits import Timeout, wait_until
from autograder.engine.runner import Grading
from autograder.readers.answers import CHOIX, COMMANDE, LS_CONTAINERS, Faux, choix, docker_command, question

LAB = Lab(
    id="01-images-conteneurs",
    title="Images et conteneurs : conteneuriser une application Python",
    files=("Dockerfile", ".dockerignore"),
    budget_s=600,
)

PORT = 8000
HEALTH = "/health"
APP_FILE = "app.py"
CANARY_ENV = "GRADER_CANARY_SECRET"
DEPENDENCY_INSTALL = ("pip install", "pip3 install", "pip sync", "uv pip", "uv sync", "poetry install",
                      "-m pip")


def plant_canaries(g: Grading) -> None:
    """Files a good .dockerignore keeps out of the image (planted before the one build)."""
    tag = g.job
    (g.workdir / ".env").write_text(f"{CANARY_ENV}={tag}\n")
    git = g.workdir / ".git"
    git.mkdir(exist_ok=True)
    (git / f"autograder-canary-{tag}").write_text("canary\n")
    cache = g.workdir / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / f"autograder_canary_{tag}.cpython-313.pyc").write_bytes(b"canary")


LAB.prepare = plant_canaries


def container(g: Grading):
    """One running container of the image, port 8000 published on 127.0.0.1 (shared by checks)."""
    return g.once("container", lambda: g.sandbox.run(g.image().tag, suffix="app", ports=[PORT]))


def image_files(g: Grading) -> dict[str, bytes | None]:
    """The image's files, with the content of those named app.py or .env (to find the application
    and the planted .env by content, not by name)."""
    return g.image_files(read=(APP_FILE, ".env"))


def own_command_or_not_yet(g: Grading) -> None:
    """NotYet when the Dockerfile has no CMD/ENTRYPOINT: the base image's command runs instead."""
    lacking = missing_command(g.sandbox, g.workdir, g.image().tag)
    if lacking:
        raise NotYet('une commande de démarrage en forme exec (`CMD ["python", "app.py"]`)', lacking,
                     'ajoutez `CMD ["python", "app.py"]` à la fin du Dockerfile (TODO 9).')


@LAB.check("01-base-image", "Image de base versionnée et légère", 1, static=True)
def base_image(g: Grading):
    path = g.workdir / "Dockerfile"
    if not path.is_file():
        raise NotYet("un Dockerfile", "Dockerfile introuvable", "créez le fichier Dockerfile.")
    require_pinned(base_images(path), "python:3.13-slim")
    final = final_base(base_images(path))
    if final and not is_slim(final):
        raise Fail("une image finale légère (variante -slim, -alpine ou distroless)",
                   f"`FROM {final.raw}` (ligne {final.line})",
                   "prenez `python:3.13-slim` : quelques dizaines de Mo au lieu de plus de 1 Go.",
                   rule="CIS Docker 4.3")


@LAB.check("01-build", "L'image se construit et contient l'application", 2)
def build(g: Grading):
    g.image()
    app = (g.workdir / APP_FILE).read_bytes() if (g.workdir / APP_FILE).is_file() else None
    if app is not None and app not in image_files(g).values():
        raise NotYet(f"une image qui contient l'application ({APP_FILE})",
                     f"l'image se construit, mais {APP_FILE} n'y est pas encore copié",
                     "copiez requirements.txt et installez les dépendances (TODO 5), puis copiez le code "
                     "avec `COPY . .` (TODO 6).")
    return f"{APP_FILE} présent dans l'image"


@LAB.check("01-http-health", f"Le conteneur répond HTTP 200 sur {HEALTH} (port {PORT})", 2,
           requires=["01-build"])
def http_health(g: Grading):
    url = wait_http_ok(container(g), PORT, HEALTH, timeout=g.remaining(40), sandbox=g.sandbox,
                       workdir=g.workdir, image=g.image().tag)
    return f"{HEALTH} répond 200 ({url.rsplit(':', 1)[0]})"


@LAB.check("01-non-root", "Le processus ne tourne pas en root", 1, requires=["01-build"])
def non_root(g: Grading):
    c = container(g)
    if container_gone(c):
        # The application stopped (01-http-health says why): read the image's user in a container
        # of the same image kept alive, so the user step counts even before the command works.
        c = g.sandbox.run(g.image().tag, suffix="uid", entrypoint=["sleep", "60"])
    uid = user_id(g.sandbox, c)
    if uid == 0:
        raise Fail("un utilisateur non privilégié (`id -u` différent de 0)", "`id -u` = 0 (root)",
                   "créez un utilisateur (`RUN useradd --create-home app`) puis `USER app` "
                   "après les installations.", rule="CIS Docker 4.1, DL3002")
    return f"uid {uid}"


@LAB.check("01-exec-form", "CMD en forme exec : `docker stop` est immédiat", 1, requires=["01-build"])
def exec_form(g: Grading):
    own_command_or_not_yet(g)
    c = g.sandbox.run(g.image().tag, suffix="stop", ports=[PORT])
    # Stop only once the app is up: it answers, or PID 1 already handles SIGTERM (an app that
    # listens elsewhere). Past the deadline, stop anyway: the measure still tells.
    try:
        wait_until(lambda: http_ok(c, PORT, HEALTH) or pid1_catches(g.sandbox, c, signal.SIGTERM),
                   g.remaining(20), give_up=lambda: container_gone(c))
    except Timeout as exc:
        if isinstance(exc.last, str):  # the container stopped by itself
            observed, hint = not_serving(g.sandbox, c, PORT, workdir=g.workdir, image=g.image().tag)
            raise Fail("l'application démarre et reste démarrée", observed, hint) from None
    argv = pid1(g.sandbox, c)
    seconds = stop_duration(c, grace=10)
    if seconds > 5:
        why = (f"le PID 1 est un shell, `{shown(argv)}` : il ne transmet pas SIGTERM à Python"
               if shell_pid1(argv) else
               f"le PID 1 (`{shown(argv)}`) n'a pas de gestionnaire de SIGTERM" if argv else
               "le signal n'atteint pas Python")
        raise Fail("`docker stop` en moins de 5 s (le processus Python est le PID 1 et reçoit SIGTERM)",
                   f"`docker stop` a pris {seconds:.1f} s : {why} ; Docker a dû tuer le conteneur "
                   "(SIGKILL) au bout du délai",
                   'écrivez CMD en forme exec : `CMD ["python", "app.py"]` et non `CMD python app.py` '
                   "(la forme shell lance /bin/sh qui garde le PID 1).", rule="DL3025")
    return f"arrêt en {seconds:.1f} s"


@LAB.check("01-layer-cache", "Dépendances installées avant le code (cache des couches)", 1.5,
           requires=["01-build"])
def layer_cache(g: Grading):
    steps = rebuild_after_touch(g, APP_FILE, f"# modification du correcteur {g.job}")
    installs = install_steps(steps, lambda s: any(k in s for k in DEPENDENCY_INSTALL))
    if not installs:
        raise NotYet("une instruction RUN qui installe les dépendances (pip install -r requirements.txt)",
                     "aucune étape `RUN pip install …` dans le build, donc aucun cache à garder",
                     "installez les dépendances dans l'image : "
                     "`RUN pip install --no-cache-dir -r requirements.txt` (TODO 5).")
    rerun = [s for s, cached in installs if not cached]
    if rerun:
        raise Fail("après une simple modification de app.py, l'étape d'installation des dépendances "
                   "est reprise du cache (« CACHED » avec BuildKit, « Using cache » avec l'ancien builder)",
                   f"l'étape `{rerun[0][:90]}` a été ré-exécutée",
                   "copiez d'abord requirements.txt seul, lancez pip install, et copiez le code "
                   "(`COPY . .`) seulement après.")
    return "étape pip reprise du cache"


@LAB.check("01-dockerignore", ".dockerignore efficace (.env, .git, __pycache__ exclus)", 1.5,
           requires=["01-build"])
def dockerignore(g: Grading):
    marker = g.job

    def leaked(path: str, content: bytes | None) -> bool:
        name = path.rsplit("/", 1)[-1]
        if f"canary-{marker}" in name or f"canary_{marker}" in name:
            return True
        return name == ".env" and content is not None and marker.encode() in content

    # 01-build passed: the build copies the application, so copying the folder is the subject here.
    found = sorted(p for p, content in image_files(g).items() if leaked(p, content))
    if found:
        kinds = sorted({".env" if p.endswith(".env") else ".git/" if "/.git/" in p else "__pycache__/"
                        for p in found})
        raise Fail("aucun des fichiers .env, .git/ et __pycache__/ du dossier dans l'image",
                   f"trouvé dans l'image : {', '.join(found[:4])}",
                   f"ajoutez à .dockerignore : {', '.join(kinds)} (un secret copié dans une couche "
                   "y reste, même supprimé plus tard).", rule="DKL-LI-0003")


# ---------------------------------------------------------------------------------------------
# Questions de cours: this lab's quiz questions and their checkers, listed by autograder.registry and
# graded in the notebook by autograder.classroom.quiz (answers are parsed, never executed)
# ---------------------------------------------------------------------------------------------
def _tous_conteneurs(r: str) -> None:
    ligne = docker_command(r, {("container", "ls"): LS_CONTAINERS})
    if ligne.args:
        raise Faux("Cette commande ne prend pas d'argument.")
    if not ligne.has("--all"):
        raise Faux("Sans `-a` (`--all`), seuls les conteneurs en cours d'exécution sont listés.")
    if ligne.has("--filter") or ligne.has("--last") or ligne.has("--latest"):
        raise Faux("Un filtre (`--filter`, `-n`, `-l`) ne garde qu'une partie des conteneurs.")


QUESTIONS = [
    question("01-q-tous-conteneurs",
             "Quelle commande liste **tous** les conteneurs de la machine, y compris ceux qui sont arrêtés ?",
             "reponse_tous_conteneurs", COMMANDE,
             "la commande qui liste les conteneurs, avec l'option qui ajoute les conteneurs arrêtés (forme "
             "courte ou `docker container …`). Voir « Essayez à la main » dans ce TP.",
             _tous_conteneurs),
    question("01-q-cache",
             "Pourquoi le `Dockerfile` copie-t-il `requirements.txt` et lance-t-il `pip install` **avant** de "
             "copier le code ?",
             "reponse_cache", CHOIX,
             "la raison liée au cache de construction : une étape est reprise du cache tant que ses entrées "
             "n'ont pas changé. Voir « Observez le cache » et l'étape 5 de « Ce que vous devez écrire ».",
             choix("B", indices={"C": "Copier dans un autre ordre ne change pas le contenu final de l'image."}),
             [("A", "Parce que `pip` refuse de s'exécuter quand le code est déjà dans le dossier."),
              ("B", "Pour qu'une modification du code ne relance pas l'installation des dépendances."),
              ("C", "Pour que l'image finale soit plus petite."),
              ("D", "Parce que Docker exécute les instructions `COPY` en parallèle.")]),
]
