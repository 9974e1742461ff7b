"""Lab 06 — sécurité des images: harden the Dockerfile of a small stdlib-only data app.

What is graded, and why (ids of security.md's table):
- the base image is pinned (DL3006, DL3007, DS-0001): a moving tag rebuilds something else;
- the process is not root (CIS 4.1, DS-0002) *and* the app still writes its data as that user;
- no credential in ENV/ARG or the history (CIS 4.10, DL3064, DS-0031);
- no secret file in any layer (DKL-LI-0003): the grader plants its own `.env` and `.git/` with a
  fresh canary token, then reads every layer of `docker save` (a file deleted by a later layer is
  still there) and runs `trivy image --scanners secret`;
- a HEALTHCHECK that turns healthy (CIS 4.6, DS-0026);
- hadolint finds no error, trivy config no HIGH/CRITICAL misconfiguration.
Image signing (Docker Content Trust, cosign) needs a key service: taught, not graded.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from autograder.probes import scanners
from autograder.core import Fail, Lab, NotYet
from autograder.probes.diagnose import not_serving
from autograder.probes.health import run_with_service_down
from autograder.readers.dockerfile import base_images, final_base, require_pinned
from autograder.probes.containers import container_gone, logs_tail, user_id
from autograder.probes.http import wait_http_ok
from autograder.probes.image_secrets import history_secrets, secret_env
from autograder.probes.images import (image_attrs, image_healthcheck, image_history, layer_files, save_image,
    saved_layers)
from autograder.probes.waits import health_status
from autograder.engine.runner import Grading
from autograder.engine.docker_api import DockerStepError
from autograder.readers.answers import CHOIX, choix, question

LAB = Lab(
    id="06-securite-images",
    title="Sécurité des images : durcir un Dockerfile",
    files=("Dockerfile", ".dockerignore"),
    budget_s=600,
)

PORT = 8000
APP_FILE = "app.py"
HEALTH_DOWN_TIMEOUT_S = 20  # the student's HEALTHCHECK command, where no server runs
MOUNT = re.compile(r"^\s*RUN\b[^\n]*--mount=", re.M | re.I)
SECRET_ID = re.compile(r"--mount=[^\s]*type=secret[^\s]*", re.I)


# -- what the grader adds to its copy of the submission -----------------------------------------
def _token(prefix: str = "ghp_") -> str:
    # A GitHub-token shape: trivy's secret rules recognise it wherever it lands.
    return prefix + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))


def plant_canaries(g: Grading) -> None:
    """A `.env` and a `.git/config`, each holding a fresh canary token, in the build context."""
    canary = g.once("canary", _token)
    (g.workdir / ".env").write_text(f"# planté par le correcteur\nAPI_TOKEN={canary}\n")
    git = g.workdir / ".git"
    git.mkdir(exist_ok=True)
    (git / "config").write_text('[remote "origin"]\n'
                                f"\turl = https://x-access-token:{canary}@github.com/4data/releves.git\n")
    # A build secret, for Dockerfiles that mount one (`RUN --mount=type=secret,id=…`).
    (g.workdir.parent / "build-secret").write_text(canary + "\n")


LAB.prepare = plant_canaries


def dockerfile(g: Grading) -> Path:
    path = g.workdir / "Dockerfile"
    if not path.is_file():
        raise Fail("un fichier Dockerfile dans le dossier rendu", "Dockerfile introuvable",
                   "remettez le Dockerfile fourni et durcissez-le.")
    return path


def image(g: Grading):
    """The submission's image, built once: the classic builder, or BuildKit when the Dockerfile
    mounts something (`RUN --mount=…`: build secrets, caches), which only BuildKit understands."""
    def build():
        try:
            return g.image()
        except Fail:
            text = dockerfile(g).read_text(errors="replace")
            if not MOUNT.search(text):
                raise
        return _buildkit(g, text)

    return g.once("image06", build)


def _buildkit(g: Grading, text: str):
    ids = set()
    for opt in SECRET_ID.findall(text):
        fields = dict(f.split("=", 1) for f in opt.split("=", 1)[1].split(",") if "=" in f)
        ids.add(fields.get("id") or Path(fields.get("target", fields.get("dst", "secret"))).name)
    # A `# syntax=` line pulls a frontend image from a registry; the engine's own frontend
    # understands `--mount` already. The copy lives outside the build context.
    copy = g.workdir.parent / "Dockerfile.buildkit"
    copy.write_text(re.sub(r"^#\s*syntax\s*=.*\n", "", text, count=1, flags=re.I))
    try:
        return g.sandbox.build(g.workdir, "app", copy, timeout=g.remaining(600),
                               secrets={i: g.workdir.parent / "build-secret" for i in ids})
    except DockerStepError as exc:
        raise Fail("l'image se construit sans erreur (BuildKit, car le Dockerfile utilise "
                   "`RUN --mount=…`)", f"{exc}\n{exc.output}".strip(),
                   "lancez `docker build .` dans le dossier du TP et corrigez la première erreur ; "
                   "une ligne `# syntax=` demande d'accéder à un registre.") from None


def base_info(g: Grading) -> dict:
    """`docker inspect` of the final stage's base image (what the student did not write)."""
    def read():
        base = final_base(base_images(dockerfile(g)))
        attrs = image_attrs(g.sandbox, base.image) if base and base.image.lower() != "scratch" else None
        return attrs or {}

    return g.once("base06", read)


def container(g: Grading):
    """One container of the image, with the jeton given at run time (never in the image)."""
    def start():
        runtime = g.once("runtime-token", lambda: _token("run-"))
        return g.sandbox.run(image(g).tag, suffix="app", ports=[PORT], environment={"API_TOKEN": runtime})

    return g.once("container", start)


def saved(g: Grading) -> Path:
    """The image as `docker save` writes it: every layer, even files a later layer deletes."""
    return g.once("saved06", lambda: save_image(g.sandbox, image(g).tag, g.workdir.parent / "image.tar"))


def own_layers(g: Grading) -> list:
    """The layers the Dockerfile added on top of its base (all of them when the base is unknown)."""
    layers = saved_layers(saved(g))
    base_ids = set(base_info(g).get("RootFS", {}).get("Layers") or [])
    return [layer for layer in layers if layer.diff_id not in base_ids] or layers


def app_copied(g: Grading) -> bool:
    """Does a layer of the Dockerfile hold the application (app.py, found by its content)?"""
    def find() -> bool:
        app = g.workdir / APP_FILE
        if not app.is_file():  # nothing to compare with: the build says what is missing
            return True
        wanted = app.read_bytes().strip()
        return any(content is not None and content.strip() == wanted
                   for _, _, content, whiteout in layer_files(saved(g), own_layers(g),
                                                               lambda p, size: p.endswith(".py"))
                   if not whiteout)
    return g.once("app-copied", find)


def serving(g: Grading):
    """The app container, answering HTTP on /health; otherwise a Fail that says why, from evidence."""
    c = container(g)
    try:
        return c, wait_http_ok(c, PORT, "/health", timeout=g.remaining(40))
    except Fail:
        observed, hint = not_serving(g.sandbox, c, PORT, workdir=g.workdir, image=image(g).tag)
        raise Fail(f"le conteneur lancé sans argument répond HTTP 200 sur /health (port {PORT})",
                   observed, hint) from None


# -- checks ---------------------------------------------------------------------------------------


@LAB.check("06-base-pinned", "Image de base épinglée (étiquette précise ou digest, jamais latest)", 1,
           static=True)
def base_pinned(g: Grading):
    bases = require_pinned(base_images(dockerfile(g)), "python:3.13-slim")
    shown = ", ".join(f"{b.image}" for b in bases)
    return f"base : {shown}"


@LAB.check("06-build", "L'image se construit et contient l'application", 1)
def build(g: Grading):
    image(g)
    if not app_copied(g):
        raise NotYet(f"une image qui contient l'application ({APP_FILE})",
                     f"l'image se construit, mais aucune de ses couches ne contient {APP_FILE}",
                     f"copiez le seul fichier utile : `COPY {APP_FILE} .` après `WORKDIR /app` (TODO 3).")
    if MOUNT.search(dockerfile(g).read_text(errors="replace")):
        return f"construite avec BuildKit (le Dockerfile utilise `RUN --mount=…`) ; {APP_FILE} copié"
    return f"{APP_FILE} copié dans l'image"


@LAB.check("06-no-secret-env", "Aucun secret dans ENV, ARG ni l'historique de l'image", 1.5,
           requires=["06-build"])
def no_secret_env(g: Grading):
    built = image(g)
    attrs = image_attrs(g.sandbox, built.tag) or {}
    base = base_info(g)
    env_keys = secret_env(attrs.get("Config", {}).get("Env") or [], base.get("Config", {}).get("Env") or [])
    history = image_history(g.sandbox, built.tag)
    base_len = len(image_history(g.sandbox, base["Id"])) if base.get("Id") else 0
    own = history[: len(history) - base_len] if base_len else history
    steps = history_secrets(own)
    problems = [f"ENV {k}=… (docker inspect : Config.Env)" for k in env_keys]
    problems += [f"`{step[:100]}` (docker history --no-trunc) : {name}" for step, name in steps
                 if not (step.startswith("ENV") and name in env_keys)]
    if problems:
        raise Fail("aucune valeur secrète (mot de passe, jeton, clé) inscrite dans l'image : ni ENV, "
                   "ni ARG, ni argument de build visible dans l'historique",
                   "trouvé :\n- " + "\n- ".join(problems[:6]),
                   "supprimez ces ARG/ENV : le jeton se donne au lancement (`docker run -e API_TOKEN=…`, "
                   "`--env-file .env`, ou un secret monté sur /run/secrets/api_token, lu par "
                   "API_TOKEN_FILE). Un secret nécessaire au build passe par "
                   "`RUN --mount=type=secret,id=…` (BuildKit), jamais par ARG.",
                   rule="CIS Docker 4.10, DL3064, DS-0031")
    return "ni ENV, ni ARG, ni historique ne contiennent de secret"


@LAB.check("06-no-secret-files", "Aucun fichier secret dans les couches de l'image", 1.5,
           requires=["06-build"])
def no_secret_files(g: Grading):
    archive = saved(g)
    base_ids = set(base_info(g).get("RootFS", {}).get("Layers") or [])
    own = own_layers(g)
    canary = g.once("canary", _token).encode()
    found: list = []
    deleted: set[str] = set()
    for layer, path, content, whiteout in layer_files(archive, own, lambda p, size: size <= 4 << 20):
        if whiteout:
            deleted.add(path)
            continue
        name = path.rsplit("/", 1)[-1]
        if (content is not None and canary in content) or name == ".env" or "/.git/" in path + "/":
            found.append((layer, path))
    problems, seen = [], set()
    for layer, path in found:
        if "/.git/" in path + "/":  # one line for the whole .git folder
            path = path[: (path + "/").index("/.git/")] + "/.git/"
        if (layer.index, path) in seen:
            continue
        seen.add((layer.index, path))
        if any(path.rstrip("/") == d or path.startswith(d + "/") for d in deleted):
            where = "supprimé par une couche suivante, mais toujours présent dans la couche"
        else:
            where = "couche"
        problems.append(f"{path} — {where} {layer.index} ({layer.created_by or '?'})")
    trivy_ran = True
    try:
        hits = [f for f in scanners.trivy_image_secrets(archive, timeout=g.remaining(180), sandbox=g.sandbox)
                if f.layer not in base_ids]
    except scanners.ScannerError as exc:
        hits, trivy_ran = [], False
        g.notes.append(f"trivy image n'a pas pu analyser l'image : {exc} {exc.detail[:200]}")
    for f in hits:
        if not any(p.startswith(f.target + " ") for p in problems):
            problems.append(f"{f.target} — trivy {f.rule} ({f.message}), couche {f.created_by[:80]}")
    if problems:
        raise Fail("aucun fichier secret dans aucune couche de l'image (le correcteur ajoute un .env et "
                   "un dossier .git/ contenant un faux jeton à sa copie de votre dossier)",
                   "trouvé dans l'image :\n- " + "\n- ".join(problems[:6]),
                   "copiez seulement ce qui sert (`COPY app.py .`) et listez `.env` et `.git` dans "
                   ".dockerignore. Un `RUN rm` plus loin ne retire rien : la couche précédente garde le "
                   "fichier (`docker save` et `trivy image` le retrouvent).",
                   rule="DKL-LI-0003, CIS Docker 4.10")
    scanned = "trivy --scanners secret : rien" if trivy_ran else "trivy n'a pas tourné ici"
    pl = "s" if len(own) > 1 else ""
    return f"{len(own)} couche{pl} ajoutée{pl} lue{pl} : aucun secret ({scanned})"


def _request(url: str, method: str = "GET", body: dict | None = None, token: str = "") -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - local URL
            return resp.status, resp.read(4096).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(4096).decode("utf-8", "replace")


@LAB.check("06-non-root", "Le processus ne tourne pas en root", 1, requires=["06-build"])
def non_root(g: Grading):
    c = container(g)
    try:
        uid = None if container_gone(c) else user_id(g.sandbox, c)
    except Fail:
        if not container_gone(c):
            raise
        uid = None
    if uid is None:
        # The application stopped (06-data-writable says why): read the image's user in a container
        # of the same image kept alive, so the user step counts even before the command works.
        c = g.sandbox.run(image(g).tag, suffix="uid", entrypoint=["sleep", "60"])
        uid = user_id(g.sandbox, c)
    if uid == 0:
        configured = (image_attrs(g.sandbox, image(g).tag) or {}).get("Config", {}).get("User") or "(vide)"
        raise Fail("un utilisateur non privilégié (`id -u` différent de 0)",
                   f"`id -u` = 0 (root) ; USER de l'image : {configured}",
                   "créez un utilisateur système (`RUN useradd --system --uid 10001 app`) puis "
                   "`USER 10001` après les étapes qui ont besoin de root.",
                   rule="CIS Docker 4.1, DL3002, DS-0002")
    return f"uid {uid}"


@LAB.check("06-data-writable", "L'application écrit ses données en tant que cet utilisateur", 1,
           requires=["06-non-root"])
def data_writable(g: Grading):
    c, url = serving(g)
    url = url.rsplit("/", 1)[0]
    capteur = f"sonde-{g.job}"
    code, body = _request(url + "/releves", "POST", {"capteur": capteur, "valeur": 21.5},
                          token=g.once("runtime-token", lambda: ""))
    if code != 201:
        why = {
            500: "l'application n'a pas pu écrire sa base dans DATA_DIR (par défaut /app/data)",
            401: "le jeton passé au lancement (`-e API_TOKEN=…`) a été refusé : l'image en "
                 "impose-t-elle un autre ?",
            503: "aucun jeton : la variable API_TOKEN donnée au lancement n'arrive pas à l'application",
        }.get(code, "réponse inattendue")
        raise Fail("`POST /releves` (avec le jeton donné au lancement) répond 201 : l'utilisateur du "
                   "conteneur peut écrire dans le dossier de données",
                   f"HTTP {code} — {why}\nRéponse : {body.strip()[:300]}\nJournaux :\n{logs_tail(c, 6)}",
                   "donnez à l'utilisateur le seul dossier où l'application écrit, par exemple "
                   "`RUN install -d -o app -g app /app/data` (ou `mkdir` + `chown`) AVANT `USER` ; "
                   "le code, lui, peut rester à root en lecture seule.",
                   rule="CIS Docker 4.1")
    code, body = _request(url + "/releves")
    if code != 200 or capteur not in body:
        raise Fail("le relevé écrit se relit avec `GET /releves`", f"HTTP {code} : {body.strip()[:300]}",
                   "vérifiez que DATA_DIR désigne bien un dossier accessible en écriture.")
    return "relevé écrit puis relu (POST puis GET /releves)"


HEALTH_EXAMPLE = ("`HEALTHCHECK --interval=10s --timeout=3s CMD [\"python\", \"-c\", "
                  "\"import urllib.request as u; u.urlopen('http://127.0.0.1:8000/health', timeout=2)\"]` "
                  "(pas de curl dans l'image slim)")


@LAB.check("06-healthcheck", "HEALTHCHECK qui suit l'application : « healthy » quand elle répond, en échec "
           "quand elle est arrêtée", 1, requires=["06-build"])
def healthcheck(g: Grading):
    found = image_healthcheck(g.sandbox, image(g).tag) or {}
    test = found.get("Test")
    if test in (None, [], ["NONE"]):
        raise NotYet("une instruction HEALTHCHECK dans l'image",
                     "aucune instruction HEALTHCHECK (docker inspect : Config.Healthcheck vide)",
                     "ajoutez une sonde sur http://127.0.0.1:8000/health (TODO 6), par exemple "
                     f"{HEALTH_EXAMPLE}.")
    c = container(g)
    down = run_with_service_down(g.sandbox, c, timeout=HEALTH_DOWN_TIMEOUT_S)
    command = (down.command if down else " ".join(test[1:]))[:200]
    if down and down.succeeded:
        last = (down.output.strip().splitlines() or ["(aucun journal)"])[-1][:200]
        raise Fail("la sonde échoue (code différent de 0) quand le serveur ne tourne pas",
                   "dans un conteneur de la même image dont le serveur n'est pas démarré (et sans "
                   f"réseau), la commande `{command}` réussit quand même (code 0) : ce HEALTHCHECK "
                   "dirait « healthy » d'une application arrêtée" + (f"\nSortie : {last}" if last != "(aucun journal)" else ""),
                   "la sonde doit interroger l'application elle-même (http://127.0.0.1:8000/health) et "
                   "échouer si elle ne répond pas : pas de `|| true`, `|| exit 0` ni `CMD true`.",
                   rule="CIS Docker 4.6, DS-0026")
    try:
        health_status(c, timeout=g.remaining(90))
    except Fail as exc:
        if container_gone(c):
            observed, hint = not_serving(g.sandbox, c, PORT, workdir=g.workdir, image=image(g).tag)
            raise Fail("le conteneur devient « healthy »", observed, hint,
                       rule="CIS Docker 4.6, DS-0026") from None
        raise Fail(exc.expected, f"{exc.observed}\nCommande : {command}",
                   "lancez la commande du healthcheck à la main : `docker exec CONTENEUR <commande>` ; "
                   "elle doit viser 127.0.0.1:8000/health et réussir (code 0) en moins de --timeout.",
                   rule="CIS Docker 4.6, DS-0026") from None
    if down is None:
        return "healthy"
    stopped = "pas de réponse à temps" if down.exit_code is None else f"code {down.exit_code}"
    return f"healthy quand l'application répond ; serveur arrêté : la sonde échoue ({stopped})"


@LAB.check("06-hadolint", "hadolint : aucune erreur", 1, static=True)
def hadolint(g: Grading):
    findings = scanners.hadolint(dockerfile(g), timeout=scanners.HADOLINT_TIMEOUT_S)
    errors = scanners.at_least(findings, "error")
    others = [f for f in findings if f not in errors]
    if errors:
        raise Fail("aucune règle de niveau « error » de hadolint",
                   f"{len(errors)} erreur{'s' if len(errors) > 1 else ''} :\n" + scanners.summary(errors) +
                   (f"\nAvertissements :\n{scanners.summary(others, 4)}" if others else ""),
                   "lancez `hadolint Dockerfile` et corrigez chaque règle (la documentation de "
                   "DLxxxx est sur github.com/hadolint/hadolint/wiki/DLxxxx).", rule="hadolint")
    if others:
        return "aucune erreur ; à améliorer :\n" + scanners.summary(others, 6)
    return "aucune remarque"


@LAB.check("06-trivy-config", "trivy config : aucune mauvaise configuration HIGH ou CRITICAL", 1, static=True)
def trivy_config(g: Grading):
    findings = scanners.trivy_config(dockerfile(g), timeout=scanners.TRIVY_TIMEOUT_S, sandbox=g.sandbox)
    waived = [f for f in findings if scanners.path_not_secret(f)]
    findings = [f for f in findings if f not in waived]
    serious = scanners.at_least(findings, "HIGH")
    others = [f for f in findings if f not in serious]
    if serious:
        raise Fail("aucune mauvaise configuration HIGH ou CRITICAL selon `trivy config`",
                   f"{len(serious)} problème{'s' if len(serious) > 1 else ''} :\n" + scanners.summary(serious) +
                   (f"\nMoins graves :\n{scanners.summary(others, 4)}" if others else ""),
                   "lancez `trivy config .` dans le dossier du TP et corrigez chaque point "
                   "(documentation : avd.aquasec.com/misconfig/ds-00xx).", rule="trivy DS-xxxx")
    notes = []
    if waived:
        notes.append("ignoré : " + ", ".join(f"{f.rule} sur une variable *_FILE (un chemin, pas un secret)"
                                             for f in waived[:2]))
    if others:
        notes.append("à améliorer :\n" + scanners.summary(others, 4))
    return "; ".join(notes) or "aucune remarque"


# ---------------------------------------------------------------------------------------------
# Questions de cours: this lab's quiz questions and their checkers, listed by autograder.registry and
# graded in the notebook by autograder.classroom.quiz (answers are parsed, never executed)
# ---------------------------------------------------------------------------------------------
QUESTIONS = [
    question("06-q-secret-env",
             "Un jeton passé par `ARG API_TOKEN` puis `ENV API_TOKEN=$API_TOKEN` dans le `Dockerfile` : où "
             "peut-on le lire ? (toutes les bonnes réponses)",
             "reponse_secret_env", CHOIX,
             "les deux endroits où une valeur d'`ENV` reste : les métadonnées de l'image, et "
             "l'environnement des conteneurs qu'on en lance. Voir le point 2 de « Ce que vous devez faire ».",
             choix("A", "B", indices={"C": "L'image garde la valeur : elle ne disparaît pas à la fin du build.",
                                      "D": "Le jeton voyage avec l'image, sur toute machine qui la tire."}),
             [("A", "dans `docker history` et `docker image inspect` de l'image"),
              ("B", "dans l'environnement de tout conteneur lancé depuis l'image"),
              ("C", "nulle part : la valeur disparaît à la fin du build"),
              ("D", "seulement dans le cache de build de la machine qui a construit l'image")]),
    question("06-q-forme-exec",
             "Laquelle de ces instructions est une `CMD` en forme exec **qui fonctionne** ?",
             "reponse_forme_exec", CHOIX,
             "un tableau JSON dont chaque élément est un argument séparé (pas de shell intermédiaire, le "
             "processus reçoit les signaux). Voir le point 7 de « Ce que vous devez faire ».",
             choix("A", indices={"D": "Un seul élément : Docker chercherait un programme nommé `python app.py`.",
                                 "B": "Sans tableau, c'est la forme shell (`/bin/sh -c`)."}),
             [("A", '`CMD ["python", "app.py"]`'), ("B", "`CMD python app.py`"),
              ("C", "`CMD 'python', 'app.py'`"), ("D", '`CMD ["python app.py"]`')]),
]
