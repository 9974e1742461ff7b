"""Lab 12 — secrets et exécution durcie : une application et PostgreSQL sans mot de passe en clair.

Contract (see labs/12-secrets-durcissement/enonce.ipynb):

* services ``db`` (postgres:17) and ``app`` (built by the student from ``./app``: a small HTTP
  API on port 8000 — ``GET /sante`` runs ``SELECT 1``, ``POST /notes`` stores the body,
  ``GET /notes`` lists them as JSON);
* the database password is a Compose **secret** (file-based: ``secrets: NAME: file: …``), mounted
  at run time in ``/run/secrets/`` and read through ``POSTGRES_PASSWORD_FILE`` / ``DB_PASSWORD_FILE``.
  The grader writes its own random value in every file-based secret of its copy (and as
  ``POSTGRES_PASSWORD`` in its ``.env``, for secrets fed from the environment), so nothing
  hard-coded works; that value must appear in no ``docker inspect`` (Env, Labels, Cmd, Entrypoint)
  of any container, in no image history and in no image layer;
* the app runs hardened: root file system read-only (tmpfs where it writes), every capability
  dropped (effective and bounding sets empty: none is needed, the engine lets any user bind a port
  below 1024), ``no-new-privileges``, a non-root user; only the app publishes a port;
* ``.env`` and the real secret files are ignored by git (asked to ``git check-ignore`` itself, in a
  scratch repository holding the submission's ``.gitignore`` files); only ``*.example`` ship.

What is read from the canonical Compose configuration (the student's choices): the services, the
environment and build arguments, the published ports. What a service's ``environment:`` declares is
told apart from what its ``env_file`` brings by Compose itself (the canonical form with env files
left unresolved): a password in compose.yaml is a committed password, one in a git-ignored ``.env``
is not (it is judged where it lands: ``docker inspect``). Everything else is behaviour, observed in
the running containers (``/proc/1/status``, ``docker exec``, ``docker inspect``) and the images
(``docker history``, ``docker save``).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import docker.errors
from autograder.core import Fail, Lab, NotYet
from autograder.readers.compose_secrets import declared_secret_files
from autograder.readers.dockerfile import base_images, final_base
from autograder.readers.gitignore import git_ignored, normalise
from autograder.engine.policy import inside
from autograder.probes.containers import container_gone, host_port, logs_tail, token, user_id
from autograder.probes.compose_env import environment_sources, secret_value
from autograder.probes.images import image_attrs, image_history
from autograder.probes.layer_search import own_layer_hits
from autograder.probes.postgres import env_file_read, grader_env
from autograder.probes.proc_status import SECRETS_DIR, caps, proc_status as read_proc_status, secret_mounts
from autograder.probes.waits import Timeout, wait_running, wait_until
from autograder.engine.runner import Grading
from autograder.engine.docker_api import DockerStepError, engine_host
from autograder.readers.answers import CHOIX, VALEUR, Faux, choix, question, valeur

LAB = Lab(
    id="12-secrets-durcissement",
    title="Secrets et exécution durcie : aucun mot de passe en clair, conteneur verrouillé",
    files=("compose.yaml", "app/Dockerfile", "app/app.py", ".gitignore"),
    budget_s=420,
)

SERVICES = ("db", "app")
APP_PORT = 8000


# -- preparation ---------------------------------------------------------------------------------
def prepare(g: Grading) -> None:
    """The grader's own random secret, in its ``.env`` and in every file-based secret."""
    values, _ = grader_env(g.workdir, {})
    secret = values["POSTGRES_PASSWORD"]
    own: dict[str, str] = {}
    files: list[str] = []
    for rel in declared_secret_files(g.workdir):
        path = g.workdir / rel
        if not inside(path.parent if not path.exists() else path, g.workdir) or path.is_dir():
            continue  # the policy refuses it; the static checks say why
        if path.is_file():
            own[rel] = path.read_text(errors="replace").strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secret)  # no trailing newline: the value itself
        path.chmod(0o644)  # readable by the container's non-root user (the bind mount keeps the mode)
        files.append(rel)
    g.once("prepared", lambda: (secret, own, files))


LAB.prepare = prepare


def prepared(g: Grading) -> tuple[str, dict, list]:
    return g.once("prepared", lambda: ("", {}, []))


# -- helpers -------------------------------------------------------------------------------------
def services(g: Grading) -> dict:
    return g.compose().require_services(SERVICES)


def app_target_port(g: Grading) -> int:
    ports = [p for p in services(g)["app"].get("ports") or [] if isinstance(p, dict)]
    return int(ports[0].get("target") or APP_PORT) if ports else APP_PORT


def up(g: Grading) -> None:
    g.once("up", lambda: _up(g))


def _up(g: Grading) -> None:
    try:
        g.compose().up("--build", timeout=g.remaining(300))
    except DockerStepError as exc:
        raise Fail("`docker compose up -d --build` démarre la pile", exc.output[-1500:] or str(exc),
                   "lancez-le vous-même et lisez la première erreur : fichier secret absent "
                   "(copiez secrets/*.example), build de l'image, service db pas « healthy »…") from None


def app(g: Grading):
    return g.compose().container("app")


def running_app(g: Grading):
    """The app's container, the stack started (once) and the container still running."""
    up(g)
    c = app(g)
    wait_running(c, timeout=g.remaining(20))
    return c


def http(method: str, url: str, body: bytes | None = None, timeout: float = 5.0) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - local URL
            return resp.status, resp.read(100_000).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(2000).decode("utf-8", "replace")


def app_url(g: Grading) -> str:
    c = app(g)
    port = app_target_port(g)
    try:
        return f"http://{engine_host()}:{host_port(c, port)}"
    except Fail:
        raise Fail(f"le port {port} de l'application publié (`ports:`)", "aucune publication pour ce port",
                   f"publiez le port de l'API : `ports: [\"127.0.0.1:{APP_PORT}:{APP_PORT}\"]`.") from None


def wait_healthy_app(g: Grading, timeout: float = 60.0) -> str:
    """The app's base URL once ``GET /sante`` answers 200 (the app reached the database)."""
    c = app(g)
    url = app_url(g)
    last: list = [None]

    def ok() -> bool:
        last[0] = http("GET", url + "/sante", timeout=3)
        return last[0][0] == 200

    try:
        wait_until(ok, g.remaining(timeout), give_up=lambda: container_gone(c))
    except Timeout as exc:
        seen = last[0] or exc.last
        raise Fail("`GET /sante` répond 200 : l'application se connecte à la base",
                   f"{seen if seen is not None else 'aucune réponse'}\nDerniers journaux de app :\n{logs_tail(c)}"
                   f"\nDerniers journaux de db :\n{g.compose().logs('db', 8)}",
                   "l'application lit-elle le mot de passe dans le fichier du secret (DB_PASSWORD_FILE) ? "
                   "le secret est-il donné aux DEUX services (`secrets: [db_password]`) ? l'hôte est-il "
                   "`db` ? avec `read_only: true`, /tmp est-il un tmpfs ?") from None
    return url


def note_roundtrip(g: Grading) -> str:
    """POST a fresh note, read it back through GET /notes (both through the database)."""
    url = wait_healthy_app(g)
    text = token()
    code, body = http("POST", url + "/notes", text.encode())
    if code not in (200, 201):
        raise Fail("`POST /notes` enregistre la note (code 201)", f"code {code} : {body[:400]}",
                   "lisez `docker compose logs app` : l'application écrit-elle dans la base ?")
    code, body = http("GET", url + "/notes")
    if code != 200 or text not in body:
        raise Fail(f"la note « {text} » relue par `GET /notes`", f"code {code} : {body[:400]}",
                   "la note doit être écrite dans PostgreSQL puis relue.")
    return text


def proc_status(g: Grading, container) -> dict[str, str]:
    """``/proc/1/status`` of the container's main process, as a dict."""
    status = read_proc_status(g.sandbox, container)
    if status is None:
        raise Fail("pouvoir lire /proc/1/status dans le conteneur de app", "ni `cat` ni `python` ne répondent",
                   "gardez une image de base qui contient au moins `cat` ou `python`.")
    return status


# -- static checks -------------------------------------------------------------------------------
@LAB.check("12-compose-valid", "compose.yaml valide : services db (postgres:17) et app (construit)", 0.5,
           static=True)
def compose_valid(g: Grading):
    found = services(g)
    image = str(found["db"].get("image") or "")
    if not re.fullmatch(r"(docker\.io/)?(library/)?postgres:17([.-][\w.-]*)?", image):
        raise Fail("l'image `postgres:17` (version majeure figée)", f"image : {image or '(aucune)'}",
                   "écrivez `image: postgres:17`.")
    if not isinstance(found["app"].get("build"), dict):
        raise Fail("le service app construit depuis ./app (`build:`)", "pas de clé `build:`",
                   "ajoutez `build: ./app`.")


@LAB.check("12-no-plain-password", "Aucun mot de passe en clair dans compose.yaml (environment, build args, "
           "command) : un secret fichier", 1, static=True)
def no_plain_password(g: Grading):
    secret, _, files = prepared(g)
    found = []
    sources = environment_sources(g)
    for name, svc in services(g).items():
        declared, env_files = sources.get(name, (set(), []))
        environment = svc.get("environment") or {}
        places = [("environment", {k: v for k, v in environment.items() if k in declared}),
                  ("build.args", (svc.get("build") or {}).get("args") or {} if isinstance(svc.get("build"), dict)
                   else {}),
                  ("labels", svc.get("labels") or {})]
        for where, mapping in places:
            found += [f"services.{name}.{where}.{key}" for key, value in mapping.items()
                      if secret_value(key, value, secret)]
        # What an env file brings is written in compose.yaml only by name: it is committed when
        # git would commit that file (a git-ignored .env is not; its values are judged where they
        # land, in `docker inspect`).
        from_files = {k for k, v in environment.items() if k not in declared and secret_value(k, v, secret)}
        committed = [f for f in env_files if f is not None and (g.workdir / f).is_file()
                     and not git_ignored(g.workdir, [f])[f]]
        for rel in committed:
            keys = sorted(k for k in from_files if k in env_file_read(g.workdir / rel))
            found += [f"services.{name}.env_file ({rel}, commité par git) : {key}" for key in keys]
        for where in ("command", "entrypoint"):
            words = svc.get(where) or []
            if secret and secret in " ".join(map(str, words if isinstance(words, list) else [words])):
                found.append(f"services.{name}.{where}")
    if found:
        raise Fail("le mot de passe transmis seulement en fichier (secret Compose + variable *_FILE)",
                   "valeur secrète dans la configuration : " + ", ".join(found[:8]),
                   "remplacez POSTGRES_PASSWORD par `POSTGRES_PASSWORD_FILE: /run/secrets/db_password` et "
                   "donnez le secret aux services (`secrets: [db_password]`) ; jamais en argument de build, "
                   "ni dans un fichier `env_file` commité.",
                   rule="CIS 4.10, CL-0020, CL-0021")
    if not files:
        raise Fail("un secret déclaré avec une source fichier (`secrets: db_password: file: ./secrets/…`)",
                   "aucun secret `file:` dans compose.yaml",
                   "déclarez `secrets:` en bas du fichier, avec `file: ./secrets/db_password.txt`.")
    return "secret(s) fichier : " + ", ".join(files)


@LAB.check("12-gitignored", "`.env` et les fichiers secrets ignorés par git ; seuls les modèles *.example "
           "sont commités", 1, static=True)
def gitignored(g: Grading):
    _, own, files = prepared(g)
    if not files:
        if not git_ignored(g.workdir, [".env"])[".env"]:
            raise Fail("`.env` listé dans .gitignore (et les fichiers secrets, une fois déclarés)",
                       ".env n'est PAS ignoré ; aucun secret `file:` déclaré dans compose.yaml",
                       "dans .gitignore : `.env` et `secrets/*` puis `!secrets/*.example` ; vérifiez avec "
                       "`git check-ignore -v .env`.")
        raise NotYet("`.env` et les fichiers secrets ignorés par git",
                     "aucun secret `file:` déclaré dans compose.yaml (`.env` est bien ignoré)",
                     "déclarez le secret (`secrets: db_password: file: ./secrets/db_password.txt`) : le "
                     "correcteur vérifiera que git ignore ce fichier.")
    paths = [".env", *(normalise(g.workdir, f) for f in files)]
    examples = [p for p in (normalise(g.workdir, f) + ".example" for f in files) if (g.workdir / p).is_file()]
    verdict = git_ignored(g.workdir, paths + examples)
    problems = [f"{p} n'est PAS ignoré" for p in paths if not verdict[p]]
    note = "".join(f" ; attention : le modèle {p} est ignoré aussi (il ne sera pas commité)"
                   for p in examples if verdict[p])
    ignored = {p for p, v in verdict.items() if v}
    for rel, value in own.items():
        if len(value) < 4:
            continue
        for path in sorted(g.workdir.rglob("*")):
            r = str(path.relative_to(g.workdir))
            if not path.is_file() or r in ignored or ".git" in Path(r).parts or path.stat().st_size > 1_000_000 \
                    or r == normalise(g.workdir, rel) or path.name == ".env":
                continue
            if value in path.read_text(errors="replace") and not git_ignored(g.workdir, [r])[r]:
                problems.append(f"{r} contient la valeur de votre {rel}")
    if problems:
        raise Fail("`.env` et les fichiers secrets listés dans .gitignore, les modèles *.example commités",
                   "\n".join(problems[:8]),
                   "dans .gitignore : `.env` et `secrets/*` puis `!secrets/*.example` ; vérifiez avec "
                   "`git check-ignore -v secrets/db_password.txt`. Un secret déjà commité reste dans "
                   "l'historique : changez-le.")
    return "ignorés : " + ", ".join(paths) + note


@LAB.check("12-ports", "Seule l'application publie un port (la base reste sur le réseau du projet)", 0.5,
           static=True)
def ports(g: Grading):
    found = services(g)
    extra = [f"{name} : {p.get('published') or '?'}:{p.get('target')}" for name, svc in found.items()
             if name != "app" for p in svc.get("ports") or [] if isinstance(p, dict)]
    mine = [p for p in found["app"].get("ports") or [] if isinstance(p, dict)]
    if len(mine) > 1:
        extra.append("app : " + ", ".join(f"{p.get('published') or '?'}:{p.get('target')}" for p in mine[1:]))
    if extra:
        raise Fail("un seul port publié, celui de l'API (les autres services joignables par le réseau du projet)",
                   "ports publiés en trop : " + "; ".join(extra),
                   "retirez `ports:` du service db : l'application la joint par `db:5432` sur le réseau du "
                   "projet ; pour une console SQL, `docker compose exec db psql`.", rule="CIS 5.14, CL-0005")
    if not mine:
        return "aucun port publié"
    host_ip = str(mine[0].get("host_ip") or "0.0.0.0")
    local = host_ip.startswith("127.") or host_ip == "::1"
    return f"app : {host_ip}:{mine[0].get('published')}" + ("" if local else
                                                          " (conseil : 127.0.0.1 pour un usage local)")


# -- the running stack ---------------------------------------------------------------------------
@LAB.check("12-app-connects", "L'application se connecte à la base avec le secret (écrit et relit une note)",
           1.5, requires=["12-compose-valid"])
def app_connects(g: Grading):
    up(g)
    text = g.once("note", lambda: note_roundtrip(g))
    mounts = secret_mounts(app(g))
    if not mounts:
        raise Fail(f"le secret monté au démarrage dans {SECRETS_DIR}/ du conteneur app",
                   "aucun montage sous /run/secrets (docker inspect : Mounts)",
                   "donnez le secret au service : `secrets: [db_password]` ; ne le copiez pas dans l'image.")
    return f"note {text} écrite et relue ; secret monté : {', '.join(mounts)}"


@LAB.check("12-no-secret-leak", "Le secret n'apparaît ni dans `docker inspect` (Env, Labels, Cmd), ni dans "
           "l'historique ou les couches des images", 1.5, requires=["12-compose-valid"])
def no_secret_leak(g: Grading):
    secret = prepared(g)[0]
    running_app(g)
    leaks = []
    images = {}
    for c in g.compose().all_containers():
        try:
            c.reload()
        except docker.errors.NotFound:
            continue
        service = (c.labels or {}).get("com.docker.compose.service", c.name)
        cfg = c.attrs.get("Config") or {}
        for field in ("Env", "Cmd", "Entrypoint"):
            if any(secret in str(v) for v in cfg.get(field) or []):
                leaks.append(f"{service} : Config.{field}")
        if any(secret in f"{k}={v}" for k, v in (cfg.get("Labels") or {}).items()):
            leaks.append(f"{service} : Config.Labels")
        if secret in " ".join(map(str, c.attrs.get("Args") or [])):
            leaks.append(f"{service} : Args")
        if isinstance(services(g).get(service, {}).get("build"), dict):
            images[service] = c.attrs.get("Image")
    for service, ref in images.items():
        if any(secret in line for line in image_history(g.sandbox, ref)):
            leaks.append(f"image de {service} : docker history")
        attrs = image_attrs(g.sandbox, ref) or {}
        if secret in json.dumps((attrs.get("Config") or {}).get("Env") or []) + \
                json.dumps((attrs.get("Config") or {}).get("Labels") or {}):
            leaks.append(f"image de {service} : Config.Env / Labels")
        leaks += [f"image de {service} : fichier {p} (couche {i})" for i, p in layer_leaks(g, service, ref, secret)]
    if leaks:
        raise Fail("le secret seulement dans le fichier monté à l'exécution (/run/secrets/…)",
                   "valeur secrète trouvée dans : " + "; ".join(sorted(set(leaks))[:8]),
                   "pas de mot de passe en variable d'environnement, en argument de build (ARG), ni copié dans "
                   "l'image (le fichier secret hors du contexte de build, ou exclu par .dockerignore). Pour un "
                   "secret utile au build : `RUN --mount=type=secret`.", rule="CIS 4.10, DL3064, DS-0031")
    if not g.compose().config().get("secrets"):
        # Nothing leaks, but no secret circulates either (no password at all, `trust`…).
        raise NotYet("le mot de passe de la base transmis en secret Compose, sans fuite",
                     "aucun secret déclaré dans compose.yaml (`secrets:` en bas du fichier)",
                     "déclarez `secrets: db_password: file: ./secrets/db_password.txt` et donnez-le aux "
                     "services (`POSTGRES_PASSWORD_FILE`, `DB_PASSWORD_FILE`).")
    return f"{len(g.compose().all_containers())} conteneur(s), {len(images)} image(s) construites : rien"


def layer_leaks(g: Grading, service: str, ref: str, secret: str) -> list[tuple[int, str]]:
    """``(layer, path)`` of the files of ``ref``'s own layers (above its base) holding ``secret``."""
    build = services(g).get(service, {}).get("build") or {}
    context = Path(str(build.get("context") or g.workdir))
    dockerfile = context / str(build.get("dockerfile") or "Dockerfile")
    base = final_base(base_images(dockerfile)) if inside(dockerfile, g.workdir) and dockerfile.is_file() else None
    return own_layer_hits(g.sandbox, ref, base.image if base else None, secret.encode(),
                          g.workdir.parent / f"image-{service}.tar")


@LAB.check("12-read-only", "Racine du conteneur app en lecture seule (même root ne peut y écrire), "
           "l'application fonctionne", 1.5, requires=["12-compose-valid"])
def read_only(g: Grading):
    c = running_app(g)
    probe = "/.ecriture-correcteur"
    try:
        code, out = g.sandbox.exec(c, ["sh", "-c", f"echo x > {probe} && rm -f {probe}"], timeout=15, user="0")
    except DockerStepError:
        code, out = 127, ""
    if code in (126, 127):  # no shell in the image
        code, out = g.sandbox.exec(c, ["python", "-c", f"open('{probe}', 'w').write('x')"], timeout=15, user="0")
    if code == 0:
        g.sandbox.exec(c, ["rm", "-f", probe], timeout=10, user="0")
        raise Fail("écrire dans / échoue (« Read-only file system »), même en root",
                   f"`docker exec -u 0 app sh -c 'echo x > {probe}'` a réussi",
                   "ajoutez `read_only: true` au service app, et `tmpfs: [/tmp]` pour les fichiers "
                   "temporaires de l'application.", rule="CIS 5.13, CL-0007")
    ro = bool((c.attrs.get("HostConfig") or {}).get("ReadonlyRootfs"))
    if not ro:
        raise Fail("HostConfig.ReadonlyRootfs à true (`read_only: true`)",
                   f"l'écriture a échoué ({out.strip()[-200:]}) mais la racine n'est pas en lecture seule",
                   "ajoutez `read_only: true` au service app.", rule="CIS 5.13, CL-0007")
    text = note_roundtrip(g)
    code, body = http("GET", app_url(g) + "/notes.csv")
    extra = "" if code == 200 else f" (export /notes.csv : code {code})"
    return f"écriture refusée ({out.strip()[-80:] or 'lecture seule'}), note {text} écrite et relue" + extra


@LAB.check("12-capabilities", "Aucune capacité Linux dans le conteneur app (CapEff et CapBnd vides)", 1,
           requires=["12-compose-valid"])
def capabilities(g: Grading):
    """Both sets must be empty, as the title and the instructions say: the app needs no capability,
    not even NET_BIND_SERVICE (Docker, since 20.10, sets net.ipv4.ip_unprivileged_port_start=0 in a
    container's network namespace: any user binds a port below 1024). Both sets are read because
    engines differ on where a `cap_add` lands for a non-root process: Docker keeps it in the bounding
    set only, Podman also raises it into the effective (and ambient) sets."""
    status = proc_status(g, running_app(g))
    eff, bnd = caps(status.get("CapEff", "0")), caps(status.get("CapBnd", "0"))
    if eff or bnd:
        bind = "NET_BIND_SERVICE" in eff + bnd
        raise Fail("/proc/1/status : CapEff et CapBnd à 0000000000000000 (aucune capacité)",
                   f"CapEff {status.get('CapEff')} ({', '.join(eff) or 'aucune'}), CapBnd {status.get('CapBnd')} "
                   f"({', '.join(bnd) or 'aucune'})",
                   "ajoutez `cap_drop: [ALL]` au service app, sans `cap_add` : une API sur le port 8000 n'a "
                   "besoin d'aucune capacité"
                   + (" (même pas NET_BIND_SERVICE : dans un conteneur Docker, tout utilisateur peut écouter sur un "
                      "port < 1024)" if bind else "") + ".", rule="CIS 5.4, CL-0006")
    return f"CapEff {status.get('CapEff')}, CapBnd {status.get('CapBnd')}"


@LAB.check("12-no-new-privileges", "no-new-privileges actif pour app (NoNewPrivs: 1)", 0.5,
           requires=["12-compose-valid"])
def no_new_privileges(g: Grading):
    status = proc_status(g, running_app(g))
    if status.get("NoNewPrivs") != "1":
        raise Fail("/proc/1/status : NoNewPrivs: 1", f"NoNewPrivs: {status.get('NoNewPrivs', '(absent)')}",
                   "ajoutez `security_opt: [\"no-new-privileges:true\"]` au service app : un binaire setuid "
                   "ne pourra plus élever les privilèges.", rule="CIS 5.26, CL-0003")
    return "NoNewPrivs: 1"


@LAB.check("12-non-root", "L'application tourne sous un utilisateur non root", 1, requires=["12-compose-valid"])
def non_root(g: Grading):
    c = running_app(g)
    status = proc_status(g, c)
    uids = (status.get("Uid") or "0").split()
    uid = user_id(g.sandbox, c)
    if uid == 0 or "0" in uids:
        raise Fail("un utilisateur non root (uid ≠ 0) pour le processus principal et `docker exec`",
                   f"processus 1 : Uid {' '.join(uids)} ; `id -u` : {uid}",
                   "ajoutez `USER 10001:10001` à la fin du Dockerfile (ou `user: \"10001:10001\"` dans "
                   "compose.yaml) ; l'utilisateur doit pouvoir lire le fichier secret.", rule="CIS 4.1, DS-0002")
    return f"uid {uids[0]}"


# ---------------------------------------------------------------------------------------------
# Questions de cours: this lab's quiz questions and their checkers, listed by autograder.registry and
# graded in the notebook by autograder.classroom.quiz (answers are parsed, never executed)
# ---------------------------------------------------------------------------------------------
def _chemin_secret(r: str) -> None:
    v = valeur(r).rstrip("/")
    # /var/run is a link to /run in the Debian-based images of the course: the same file.
    if v in ("/run/secrets/db_password", "/var/run/secrets/db_password"):
        return
    if v in ("/run/secrets", "/var/run/secrets"):
        raise Faux("C'est le dossier ; la question demande le chemin du fichier du secret.")
    if v.startswith("/run/secrets/") or v.startswith("/var/run/secrets/"):
        raise Faux("Le fichier monté porte le nom du secret (la clé de `secrets:`), pas celui du "
                   "fichier source.")
    if "secrets/db_password.txt" in v:
        raise Faux("C'est le fichier de votre machine (la source du secret) ; la question demande où il "
                   "apparaît dans le conteneur.")
    if v.startswith("$") or "DB_PASSWORD" in v.upper() and "/" not in v:
        raise Faux("Un secret Compose n'est pas une variable d'environnement : c'est un fichier monté.")
    raise Faux("")


QUESTIONS = [
    question("12-q-chemin-secret",
             "Un service qui déclare `secrets: [db_password]` : à quel chemin du conteneur Compose "
             "monte-t-il ce secret ?",
             "reponse_chemin_secret", VALEUR,
             "le fichier monté en lecture seule dans le dossier des secrets du conteneur, au nom du secret "
             "(c'est ce chemin que reçoit `POSTGRES_PASSWORD_FILE`). Voir la section 1, « Secrets Compose ».",
             _chemin_secret),
    question("12-q-durcir",
             "Lesquelles de ces lignes d'un service Compose durcissent son exécution ? (toutes les bonnes "
             "réponses)",
             "reponse_durcir", CHOIX,
             "les réglages du TP : racine en lecture seule, aucune capacité Linux, pas de gain de "
             "privilèges. Voir la section 3, « Durcir l'exécution ».",
             choix("A", "B", "D", indices={"C": "`privileged: true` donne au contraire presque tous les droits de l'hôte.",
                                           "E": "`network_mode: host` retire l'isolation réseau."}),
             [("A", "`read_only: true`"), ("B", "`cap_drop: [ALL]`"), ("C", "`privileged: true`"),
              ("D", "`security_opt: [\"no-new-privileges:true\"]`"), ("E", "`network_mode: host`")]),
]
