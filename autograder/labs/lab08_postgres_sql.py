"""Lab 08 — PostgreSQL : scripts SQL d'initialisation, variables d'environnement, sauvegarde et restauration.

Contract (see labs/08-postgres-sql/enonce.ipynb):

* services ``db`` (postgres:17, ``./initdb`` in ``/docker-entrypoint-initdb.d``: tables
  ``stations`` and ``mesures``, seed rows in ``stations``) and ``loader`` (built by the student,
  reads ``data/mesures.csv`` — header ``station,jour,temperature`` — and inserts it into ``mesures``);
* ``.env`` (untracked, listed in ``.gitignore``; ``.env.example`` committed) holds
  ``POSTGRES_USER``, ``POSTGRES_DB``, ``POSTGRES_PASSWORD``. The grader always writes its own
  ``.env`` in its copy (from the student's ``.env`` or ``.env.example``) with a random password,
  and later a new password and database name on a fresh stack;
* the password reaches the containers as a file (Compose ``secrets:`` + ``*_FILE``), never as an
  environment variable: the grader looks for it in ``docker inspect`` of the loader;
* ``backup.sh FILE`` writes a dump of the database to FILE, ``restore.sh FILE`` loads it into the
  (empty) database, both through ``docker compose exec -T db …``. They are untrusted: they run in a
  throwaway container (no outside network, no capabilities, read-only root) with the course's
  docker CLI and Compose plugin (:mod:`autograder.probes.scripts`), ``COMPOSE_PROJECT_NAME`` /
  ``COMPOSE_FILE`` set to the job and its effective file (copied in, like the dump, which is
  copied out after ``backup.sh`` and back in for ``restore.sh``), and ``DOCKER_HOST`` an
  :class:`~autograder.engine.apiproxy.ApiProxy` with an :class:`~autograder.engine.apiproxy_policy.ExecPolicy` (exec in
  this project's containers only).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import docker.errors

from autograder.probes import scripts
from autograder.engine.apiproxy_policy import ExecPolicy
from autograder.core import Fail, Lab, NotYet
from autograder.probes.containers import exec_ok, logs_tail
from autograder.probes.postgres import (env_file_write, env_hygiene, grader_env, grader_password, pg_credentials,
    pg_service_ready, pg_table_checksums, psql)
from autograder.engine.runner import Grading
from autograder.engine.docker_api import DockerStepError
from autograder.readers.answers import VALEUR, Faux, docker_command, mots, question, spec, valeur

LAB = Lab(
    id="08-postgres-sql",
    title="PostgreSQL : scripts SQL, variables d'environnement, sauvegarde et restauration",
    files=("compose.yaml", "initdb/01-schema.sql", "initdb/02-donnees.sql", "loader/Dockerfile",
           "loader/charger.py", ".env.example", ".gitignore", "backup.sh", "restore.sh"),
    budget_s=600,
)

SERVICES = ("db", "loader")
TABLES = ("stations", "mesures")
CSV = "data/mesures.csv"
IN_LAB = "/lab/08-postgres-sql"
# Paths under the script container's exchange volume (autograder.probes.scripts.IN_IO).
DUMPS = "sauvegardes/sauvegarde.sql"
COMPOSE_FILE = "compose/compose.json"
IN_DUMP = f"{scripts.IN_IO}/{DUMPS}"
IN_COMPOSE_FILE = f"{scripts.IN_IO}/{COMPOSE_FILE}"
SCRIPT_TIMEOUT_S = 90


# -- preparation ---------------------------------------------------------------------------------
def prepare(g: Grading) -> None:
    """The grader's own ``.env`` (random password) and a CSV row the student cannot know."""
    values, student_password = grader_env(g.workdir, {"POSTGRES_USER": "meteo", "POSTGRES_DB": "mesures"})
    row = None
    csv = g.workdir / CSV
    if csv.is_file():
        lines = [l for l in csv.read_text(errors="replace").splitlines() if l.strip()]
        if len(lines) >= 2:
            station = lines[-1].split(",")[0].strip()
            day = f"19{10 + secrets.randbelow(80)}-0{1 + secrets.randbelow(9)}-{10 + secrets.randbelow(18)}"
            row = (station, day)
            csv.write_text("\n".join(lines) + f"\n{station},{day},{secrets.randbelow(300) / 10}\n")
    g.once("prepared", lambda: (dict(values), student_password, row))


LAB.prepare = prepare


def prepared(g: Grading) -> tuple[dict, str, tuple | None]:
    return g.once("prepared", lambda: ({}, "", None))


def db(g: Grading):
    return g.compose().container("db")


def db_ready(g: Grading):
    """The db container once PostgreSQL accepts connections (after any down/up)."""
    return pg_service_ready(g, "db")


def up(g: Grading) -> None:
    g.once("up", lambda: _up(g))


def _up(g: Grading) -> None:
    g.compose().up("--build", "db", timeout=g.remaining(300))
    db_ready(g)


def run_loader(g: Grading) -> str:
    try:
        return g.compose().run("loader", "--rm", "--no-deps", timeout=g.remaining(120))
    except DockerStepError as exc:
        raise Fail("`docker compose run --rm loader` se termine avec le code 0",
                   exc.output[-1500:] or str(exc),
                   "lisez l'erreur : variable d'environnement manquante ? hôte `localhost` au lieu de `db` ? "
                   "fichier du mot de passe (DB_PASSWORD_FILE) non monté ?") from None


def count(g: Grading, table: str = "mesures") -> int:
    return int(psql(g.sandbox, db_ready(g), f"SELECT count(*) FROM {table}") or 0)


# -- static checks -------------------------------------------------------------------------------
@LAB.check("08-compose-valid", "compose.yaml valide : services db (postgres:17) et loader", 0.5, static=True)
def compose_valid(g: Grading):
    services = g.compose().services()
    missing = [s for s in SERVICES if s not in services]
    if missing:
        pl = "s" if len(missing) > 1 else ""
        raise Fail(f"les services {', '.join(SERVICES)}",
                   f"service{pl} manquant{pl} : {', '.join(missing)} (trouvés : {', '.join(services) or 'aucun'})",
                   "gardez exactement ces noms de services : le correcteur s'en sert.")
    image = str(services["db"].get("image") or "")
    if not re.fullmatch(r"(docker\.io/)?(library/)?postgres:17([.-][\w.-]*)?", image):
        raise Fail("l'image `postgres:17` (version majeure figée)", f"image : {image or '(aucune)'}",
                   "`latest` change de version majeure (et de format de données) sans prévenir : "
                   "écrivez `image: postgres:17`.")
    if not isinstance(services["loader"].get("build"), dict):
        raise Fail("le service loader construit depuis ./loader (`build:`)", "pas de clé `build:`",
                   "ajoutez `build: ./loader`.")


@LAB.check("08-no-committed-secret", "Aucun mot de passe dans les fichiers commités (.env ignoré par git)",
           1, static=True)
def no_committed_secret(g: Grading):
    found = env_hygiene(g.workdir, prepared(g)[1])
    for key, svc in g.compose().services().items():
        for name, value in (svc.get("environment") or {}).items():
            if re.search(r"PASS|SECRET", name, re.I) and not name.upper().endswith("_FILE") and value:
                found.append(f"compose.yaml : services.{key}.environment.{name}")
    if found:
        raise Fail("le mot de passe seulement dans .env (non commité), transmis en secret",
                   "\n".join(found[:8]),
                   "retirez-le : Compose lit `${POSTGRES_PASSWORD}` dans .env ; donnez-le aux conteneurs "
                   "par un secret (`secrets:` + POSTGRES_PASSWORD_FILE / DB_PASSWORD_FILE).", rule="CL-0020")


# -- the stack -----------------------------------------------------------------------------------
INITDB = "/docker-entrypoint-initdb.d"


@LAB.check("08-schema-seed", "Au premier démarrage, les scripts SQL créent les tables et les données de référence",
           1.5, requires=["08-compose-valid"])
def schema_seed(g: Grading):
    db = g.compose().services().get("db") or {}
    initdb = [v for v in db.get("volumes") or [] if str(v.get("target", "")).rstrip("/") == INITDB]
    if not initdb and not db.get("build"):  # an image of one's own may COPY the scripts there
        raise NotYet(f"les scripts de ./initdb exécutés au premier démarrage ({INITDB})",
                     f"./initdb n'est pas encore monté dans {INITDB} du service db",
                     f"écrivez les scripts SQL (TODO 2-3) et montez `./initdb:{INITDB}:ro` (TODO 6).")
    up(g)
    c = db_ready(g)
    missing = [t for t in TABLES if psql(g.sandbox, c, f"SELECT to_regclass('public.{t}') IS NOT NULL") != "t"]
    if missing:
        pl = "s" if len(missing) > 1 else ""
        raise Fail(f"les tables {', '.join(TABLES)} créées par les scripts de ./initdb",
                   f"table{pl} absente{pl} : {', '.join(missing)}\n{logs_tail(c)}",
                   "montez ./initdb dans /docker-entrypoint-initdb.d (lecture seule) ; les scripts ne "
                   "s'exécutent que si le volume est vide : `docker compose down -v` pour recommencer.")
    seeded = count(g, "stations")
    if seeded == 0:
        raise Fail("des stations insérées par initdb/02-donnees.sql", "la table stations est vide",
                   "ajoutez les INSERT dans un script exécuté APRÈS le schéma (ordre alphabétique : 02-…).")
    return f"{seeded} stations"


@LAB.check("08-loader-rows", "Le chargeur (loader) insère les lignes du CSV", 2, requires=["08-schema-seed"])
def loader_rows(g: Grading):
    out = g.once("loader1", lambda: run_loader(g))
    _, _, row = prepared(g)
    total = count(g)
    if total == 0:
        raise Fail(f"les lignes de {CSV} dans la table mesures", f"table mesures vide\n{out[-800:]}",
                   "le chargeur doit lire le CSV et faire les INSERT (puis valider la transaction : commit).")
    if row is not None:
        found = psql(g.sandbox, db_ready(g),
                     f"SELECT count(*) FROM mesures WHERE station = '{row[0]}' AND jour = '{row[1]}'")
        if found != "1":
            raise Fail(f"la ligne {row[0]},{row[1]} ajoutée par le correcteur à {CSV}",
                       f"absente ({total} lignes dans mesures)",
                       f"le chargeur doit lire {CSV} à chaque exécution (monté en volume ou copié dans "
                       "l'image), pas des valeurs écrites en dur.")
    return f"{total} lignes dans mesures"


@LAB.check("08-loader-idempotent", "Relancer le chargeur ne crée pas de doublons", 1,
           requires=["08-loader-rows"])
def loader_idempotent(g: Grading):
    before = count(g)
    run_loader(g)
    after = count(g)
    if after != before:
        raise Fail("le même nombre de lignes après un second `docker compose run --rm loader`",
                   f"{before} lignes avant, {after} après",
                   "ajoutez une clé primaire (station, jour) et `INSERT … ON CONFLICT DO NOTHING`.")
    return f"{after} lignes, inchangé"


@LAB.check("08-password-not-inspect", "Le mot de passe n'apparaît pas dans `docker inspect` (secret, *_FILE)",
           1, requires=["08-loader-rows"])
def password_not_inspect(g: Grading):
    values, _, _ = prepared(g)
    password = values.get("POSTGRES_PASSWORD", "")
    leaks = []
    for service in SERVICES:
        for c in g.compose().containers(service):
            try:
                c.reload()
            except docker.errors.NotFound:
                continue
            env = (c.attrs.get("Config") or {}).get("Env") or []
            leaks += [f"{service} : {e.split('=', 1)[0]}" for e in env if password and password in e]
    if not g.compose().containers("loader"):  # `run --rm` left nothing: look at one, without starting it
        try:
            cid = g.compose().run("loader", "--rm", "--no-deps", "--entrypoint", "env", timeout=g.remaining(60))
            leaks += [f"loader : {l.split('=', 1)[0]}" for l in cid.splitlines() if password and password in l]
        except DockerStepError:
            pass
    if leaks:
        raise Fail("le mot de passe lu dans un fichier (/run/secrets/…), pas dans une variable",
                   "visible dans Config.Env : " + ", ".join(sorted(set(leaks))),
                   "déclarez un secret Compose (`secrets: db_password: environment: POSTGRES_PASSWORD`), "
                   "montez-le dans les services et passez son chemin (POSTGRES_PASSWORD_FILE, DB_PASSWORD_FILE).",
                   rule="CIS 4.10, CL-0020")


# -- backup.sh / restore.sh, behind the proxy -----------------------------------------------------
def run_script(g: Grading, script: str, dumps: Path) -> tuple[int, str, list[str]]:
    """``script`` (backup.sh or restore.sh) on this job's project, `docker compose exec` only."""
    dump = dumps / "sauvegarde.sql"
    inputs = {COMPOSE_FILE: g.compose().effective_file(), **({DUMPS: dump} if dump.is_file() else {})}
    run = scripts.run_script(
        g, script, ExecPolicy(project=g.job), workdir=IN_LAB, args=(IN_DUMP,),
        prelude="rm -f .env", with_compose=True, timeout_s=SCRIPT_TIMEOUT_S,
        environment={"COMPOSE_PROJECT_NAME": g.job, "COMPOSE_FILE": IN_COMPOSE_FILE},
        inputs=inputs, outputs={DUMPS: dump})
    return run.code, run.log, run.refused


@LAB.check("08-backup-restore", "`backup.sh` puis `restore.sh` dans une base vide redonnent les mêmes données",
           2, requires=["08-loader-rows"])
def backup_restore(g: Grading):
    c = db_ready(g)
    before = pg_table_checksums(g.sandbox, c, TABLES)
    dumps = g.workdir.parent / "sauvegardes"
    dumps.mkdir(mode=0o777, exist_ok=True)
    os.chmod(dumps, 0o777)
    code, log, refused = run_script(g, "backup.sh", dumps)
    why = ("\nRefusé par le correcteur :\n" + "\n".join(f"- {r}" for r in refused[:5])) if refused else ""
    dump = dumps / "sauvegarde.sql"
    if code != 0 or not dump.is_file() or dump.stat().st_size == 0:
        raise Fail("`./backup.sh FICHIER` écrit une sauvegarde non vide dans FICHIER (code 0)",
                   f"code {code}, fichier {'vide ou absent'}\n{log[-1200:] or '(aucune sortie)'}{why}",
                   "`docker compose exec -T db pg_dump -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\" > \"$1\"` "
                   "(sans -T, la sortie passe par un pseudo-terminal et la commande échoue hors terminal).")
    user, name = pg_credentials(g.sandbox, c)
    exec_ok(g.sandbox, c, ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", "postgres", "-c",
                           f'DROP DATABASE "{name}" WITH (FORCE)', "-c",
                           f'CREATE DATABASE "{name}" OWNER "{user}"'], timeout=30)
    code, log, refused = run_script(g, "restore.sh", dumps)
    why = ("\nRefusé par le correcteur :\n" + "\n".join(f"- {r}" for r in refused[:5])) if refused else ""
    if code != 0:
        raise Fail("`./restore.sh FICHIER` se termine avec le code 0 dans une base vide",
                   f"code {code}\n{log[-1200:] or '(aucune sortie)'}{why}",
                   "`docker compose exec -T db psql -v ON_ERROR_STOP=1 -U \"$POSTGRES_USER\" "
                   "-d \"$POSTGRES_DB\" < \"$1\"` (l'entrée standard ne passe qu'avec -T).")
    after = pg_table_checksums(g.sandbox, c, TABLES)
    diff = [t for t in TABLES if before.get(t) != after.get(t)]
    if diff:
        raise Fail("les mêmes lignes (somme md5 de chaque table) après la restauration",
                   "différences : " + ", ".join(f"{t} ({before.get(t)} → {after.get(t)})" for t in diff),
                   "sauvegardez toute la base (schéma et données) avec pg_dump, et restaurez le fichier entier.")
    return ", ".join(f"{t} {before[t][1]} lignes" for t in TABLES)


@LAB.check("08-env-change", "Autres mot de passe et nom de base dans .env : tout fonctionne encore",
           1, requires=["08-loader-rows"])
def env_change(g: Grading):
    values, _, row = prepared(g)
    g.compose().down(volumes=True, timeout_s=3)
    new = {**values, "POSTGRES_DB": "base_" + secrets.token_hex(3), "POSTGRES_PASSWORD": grader_password()}
    env_file_write(g.workdir / ".env", new)
    g.compose().reset()
    g.forget("up")
    try:
        g.compose().up("db", timeout=g.remaining(180))
    except DockerStepError as exc:
        raise Fail("la pile démarre avec les nouvelles valeurs de .env", exc.output[-1200:],
                   "toutes les valeurs doivent venir de .env (`${POSTGRES_DB}`…), rien en dur.") from None
    c = db_ready(g)
    user, name = pg_credentials(g.sandbox, c)
    if name != new["POSTGRES_DB"]:
        raise Fail(f"la base « {new['POSTGRES_DB']} » (POSTGRES_DB du .env)", f"base « {name} »",
                   "écrivez `POSTGRES_DB: ${POSTGRES_DB}` : le nom ne doit pas être écrit en dur.")
    code, out = g.sandbox.exec(c, ["sh", "-c", 'PGPASSWORD="$1" psql -X -h 127.0.0.1 -U "$2" -d "$3" -tAc "SELECT 1"',
                                   "sh", new["POSTGRES_PASSWORD"], user, name], timeout=20)
    if code != 0:
        raise Fail("une connexion TCP avec le nouveau mot de passe du .env", out.strip()[-500:],
                   "le mot de passe doit venir de .env (secret Compose `environment: POSTGRES_PASSWORD`), "
                   "pas d'une valeur écrite en dur.")
    run_loader(g)
    total = count(g)
    if total == 0:
        raise Fail("les lignes du CSV chargées dans la nouvelle base", "table mesures vide",
                   "le chargeur doit lire la base et l'utilisateur dans l'environnement (DB_NAME, DB_USER…).")
    return f"base {name}, {total} lignes"


# ---------------------------------------------------------------------------------------------
# Questions de cours: this lab's quiz questions and their checkers, listed by autograder.registry and
# graded in the notebook by autograder.classroom.quiz (answers are parsed, never executed)
# ---------------------------------------------------------------------------------------------
def _initdb(r: str) -> None:
    v = valeur(r).rstrip("/")
    if v == "/docker-entrypoint-initdb.d" or v.rsplit("/", 1)[0] == "/docker-entrypoint-initdb.d":
        return
    if v.lstrip("./") == "docker-entrypoint-initdb.d":
        raise Faux("Il faut le chemin absolu, dans le conteneur.")
    if v.startswith("/var/lib/postgresql"):
        raise Faux("C'est le répertoire des données de la base, pas celui des scripts.")
    if v.lstrip("./").startswith("initdb"):
        raise Faux("`./initdb` est le dossier de votre machine (la source du montage) ; la question "
                   "demande la cible, dans le conteneur.")
    raise Faux("")


def _exec_t(r: str) -> None:
    toks = mots(r)
    if toks in (["-T"], ["--no-TTY"]):
        return
    if toks[:3] == ["docker", "compose", "exec"]:
        exec_options = spec(("-T --no-TTY", False), ("-i --interactive", False), ("-t --tty", False),
                            ("-u --user", True), ("-e --env", True), ("-w --workdir", True),
                            ("-d --detach", False), ("--privileged", False), ("--index", True))
        ligne = docker_command(r, {("compose", "exec"): exec_options})
        if ligne.has("--no-TTY") and not ligne.has("--tty") and not ligne.has("--detach"):
            return
    if toks in (["-t"], ["--tty"], ["-it"], ["-ti"]) or "-t" in toks or "-it" in toks:
        raise Faux("`-t` (minuscule) demande au contraire un pseudo-terminal : c'est lui qui corrompt "
                   "la sortie. La casse compte.")
    if toks in (["--no-tty"],):
        raise Faux("Les options sont sensibles à la casse : vérifiez l'orthographe exacte.")
    if toks in (["-d"], ["--detach"]):
        raise Faux("`-d` lance la commande en arrière-plan : sa sortie n'arrive plus dans le fichier.")
    raise Faux("")


QUESTIONS = [
    question("08-q-initdb",
             "Dans quel dossier **du conteneur** `postgres` faut-il monter les scripts SQL pour qu'ils "
             "s'exécutent au premier démarrage ?",
             "reponse_initdb", VALEUR,
             "le chemin absolu du dossier que le point d'entrée de l'image `postgres` parcourt quand le "
             "répertoire de données est vide. Voir la section 1, « Les scripts d'initialisation ».",
             _initdb),
    question("08-q-exec-t",
             "Quelle option de `docker compose exec` faut-il pour rediriger la sortie de `pg_dump` dans un "
             "fichier (`> sauvegarde.sql`) sans la corrompre ?",
             "reponse_exec_t", VALEUR,
             "l'option qui supprime le pseudo-terminal (la casse compte). Voir la section 3, « Sauvegarde "
             "et restauration ».",
             _exec_t),
]
