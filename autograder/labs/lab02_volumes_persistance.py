"""Lab 02 — volumes et persistance: PostgreSQL on a named volume, a shared volume, an init script.

The checks follow the starter's TODOs in order (password, volumes, healthcheck, producer and
consumer). Each one is judged on its subject: while the thing it is about is absent (no init
mount, no data volume, no healthcheck, no shared volume, no command), it says « rien à évaluer
encore » (:class:`~autograder.core.NotYet`) instead of passing or failing on something else.

- Persistence counts only the student's own volume: with no volume on the data directory,
  PostgreSQL writes into the image's anonymous volume, which ``up --force-recreate``
  re-attaches (the rows « survive » by accident, until the next ``down``).
- The healthcheck is read from Compose's canonical form (its four timing keys) and run where
  PostgreSQL is down (:mod:`autograder.probes.health`): one that always succeeds fails there.
- « S'arrêtent tout de suite sur SIGTERM » is measured: ``docker stop`` of producer and consumer,
  explained by PID 1 (a shell?) and its signal mask (SigCgt: a SIGTERM handler or not).
"""

from __future__ import annotations

import signal
from pathlib import PurePosixPath

from autograder.core import Fail, Lab, NotYet
from autograder.probes.diagnose import SHELLS, pid1, shown
from autograder.probes.health import run_with_service_down
from autograder.probes.containers import container_env, exec_ok, logs_tail, mount_at, pid1_catches, stop_duration, token
from autograder.probes.postgres import pg_has_token, pg_service_ready, pg_write_token, psql
from autograder.probes.waits import health_status
from autograder.engine.runner import Grading
from autograder.readers.answers import CHOIX, COMMANDE, Faux, choix, docker_command, mots, question, spec

LAB = Lab(
    id="02-volumes-persistance",
    title="Volumes et persistance : PostgreSQL et Docker Compose",
    files=("compose.yaml", "initdb/01-schema.sql"),
    budget_s=600,
)

DB, PRODUCER, CONSUMER = "db", "producteur", "consommateur"
SERVICES = (DB, PRODUCER, CONSUMER)
INITDB = "/docker-entrypoint-initdb.d"
INIT_TABLE = "stations"
DEFAULT_PGDATA = "/var/lib/postgresql/data"
HEALTH_KEYS = ("interval", "timeout", "retries", "start_period")
# `docker stop` gives this many seconds before SIGKILL; a service that handles SIGTERM stops in
# well under STOP_LIMIT_S (the instructions: « une ou deux secondes, pas dix »).
STOP_GRACE_S = 6
HAVE_NOT = {False: "n'a", True: "n'ont"}
STOP_LIMIT_S = 3.0


def db(g: Grading):
    return g.compose().container(DB)


def db_ready(g: Grading):
    """The db container once PostgreSQL accepts connections (after any down/up)."""
    return pg_service_ready(g, DB)


def config_service(g: Grading, name: str) -> dict:
    return g.compose().services().get(name) or {}


@LAB.check("02-compose-valid", "compose.yaml valide avec les services db, producteur, consommateur",
           0.5, static=True)
def compose_valid(g: Grading):
    g.compose().require_services(SERVICES)


@LAB.check("02-stack-up", "La pile démarre et PostgreSQL accepte les connexions", 0.5,
           requires=["02-compose-valid"])
def stack_up(g: Grading):
    g.once("up", lambda: g.compose().up(timeout=g.remaining(300)))
    db_ready(g)


def init_mounts(g: Grading) -> list[dict]:
    """The db container's mounts in (or under) /docker-entrypoint-initdb.d; NotYet when none."""
    c = db(g)
    c.reload()
    mounts = [m for m in c.attrs.get("Mounts", [])
              if m["Destination"].rstrip("/") == INITDB or m["Destination"].startswith(INITDB + "/")]
    if not mounts:
        raise NotYet(f"le script ./initdb/01-schema.sql monté dans {INITDB}/",
                     f"aucun montage dans {INITDB} (TODO 2)",
                     f"ajoutez aux volumes du service db : `./initdb/01-schema.sql:{INITDB}/01-schema.sql:ro`.")
    return mounts


@LAB.check("02-init-script", "Le script d'initialisation a créé les tables au premier démarrage", 1,
           requires=["02-stack-up"])
def init_script(g: Grading):
    init_mounts(g)
    exists = psql(g.sandbox, db_ready(g), f"SELECT to_regclass('public.{INIT_TABLE}') IS NOT NULL")
    if exists != "t":
        raise Fail(f"la table « {INIT_TABLE} » créée par initdb/01-schema.sql",
                   f"la table « {INIT_TABLE} » n'existe pas dans la base",
                   f"montez ./initdb dans {INITDB}/ ; les scripts ne s'exécutent que si le volume "
                   "de données est vide (sinon `docker compose down -v` pour repartir de zéro).")


@LAB.check("02-init-readonly", "Le script d'initialisation est monté en lecture seule", 0.5,
           requires=["02-stack-up"])
def init_readonly(g: Grading):
    writable = [m["Destination"] for m in init_mounts(g) if m.get("RW", True)]
    if writable:
        raise Fail(f"{', '.join(writable)} en lecture seule",
                   f"{', '.join(writable)} {'montés' if len(writable) > 1 else 'monté'} en lecture-écriture",
                   "ajoutez `:ro` à la fin du montage (ou `read_only: true` en syntaxe longue) : "
                   "le conteneur n'a pas à modifier vos scripts.")


def data_mount(g: Grading) -> tuple[str, dict, str | None]:
    """``(PGDATA, the mount holding it, its key under top-level volumes: or None)``.

    NotYet when the student mounts nothing there: the data then sit in the image's anonymous
    volume (or in the container), which is not the student's work."""
    c = db(g)
    pgdata = container_env(c).get("PGDATA") or DEFAULT_PGDATA
    mount = mount_at(c, pgdata)
    key = g.compose().volume_key(mount.get("Name", "")) if mount and mount["Type"] == "volume" else None
    own = [v for v in config_service(g, DB).get("volumes") or []
           if not str(v.get("target", "")).startswith(INITDB)]
    if (mount is None or (mount["Type"] == "volume" and key is None)) and not own:
        raise NotYet(f"un volume nommé monté sur le répertoire de données ({pgdata})",
                     "le service db ne monte encore aucun volume : PostgreSQL écrit dans le volume "
                     "anonyme de l'image, qu'un `docker compose down` abandonne (TODO 2 et 6)",
                     f"déclarez un volume (`volumes:` puis `pgdata:` en bas du fichier) et montez-le "
                     f"dans db : `pgdata:{pgdata}`.")
    return pgdata, mount, key


@LAB.check("02-named-volume", "Les données sont dans un volume nommé déclaré dans le fichier", 1,
           requires=["02-stack-up"])
def named_volume(g: Grading):
    pgdata, mount, key = data_mount(g)
    if mount is None:
        raise Fail(f"un volume nommé monté sur le répertoire de données ({pgdata})",
                   "aucun volume : les données vivent dans la couche du conteneur",
                   f"déclarez un volume (ex. `pgdata:`) et montez-le : `pgdata:{pgdata}`.")
    if mount["Type"] != "volume":
        raise Fail(f"un volume nommé sur {pgdata}", f"un montage de type {mount['Type']}",
                   "utilisez un volume nommé géré par Docker plutôt qu'un dossier de l'hôte.")
    if key is None:
        raise Fail(f"un volume nommé, déclaré sous `volumes:`, monté sur {pgdata}",
                   f"un volume anonyme ({mount.get('Name', '?')[:12]}…) monté sur {mount['Destination']}",
                   f"montez votre volume exactement sur {pgdata} (pour postgres:17), et déclarez-le "
                   "dans la section `volumes:` de premier niveau.")
    return f"volume « {key} » sur {mount['Destination']}"


def rows_survive(g: Grading, action, what: str) -> None:
    """Insert a row, run ``action`` (tear down, re-create…), read the row back.

    Only the student's own mount counts: rows kept by the image's anonymous volume (which
    ``--force-recreate`` re-attaches) survive by accident."""
    pgdata, mount, key = data_mount(g)
    if mount is None or (mount["Type"] == "volume" and key is None):
        raise Fail(f"les données dans un volume de votre fichier, monté sur {pgdata}",
                   f"{pgdata} est dans un volume anonyme : votre volume est monté ailleurs, et ce qui "
                   "semble persister ne tient qu'au volume anonyme de l'image",
                   f"montez votre volume nommé exactement sur {pgdata} (pour postgres:17).")
    value = pg_write_token(g.sandbox, db_ready(g))
    action()
    if not pg_has_token(g.sandbox, db_ready(g), value):
        raise Fail(f"la ligne insérée par le correcteur toujours là après {what}",
                   f"la ligne a disparu après {what} : les données vivaient dans le conteneur "
                   "(ou dans un volume anonyme abandonné)",
                   "montez un volume nommé sur le répertoire de données de PostgreSQL "
                   "(/var/lib/postgresql/data pour postgres:17).")


@LAB.check("02-survives-down-up", "Les données survivent à `docker compose down` puis `up`", 1.5,
           requires=["02-stack-up"])
def survives_down_up(g: Grading):
    def down_up():
        g.compose().down(volumes=False, timeout_s=10)
        g.compose().up(timeout=g.remaining(300))

    rows_survive(g, down_up, "`docker compose down` (sans -v) puis `up -d`")


@LAB.check("02-survives-recreate", "Les données survivent à la re-création du conteneur", 1,
           requires=["02-stack-up"])
def survives_recreate(g: Grading):
    rows_survive(g, lambda: g.compose().up("--force-recreate", timeout=g.remaining(300)),
                 "`docker compose up -d --force-recreate`")


def healthcheck_config(g: Grading) -> dict:
    """db's healthcheck in Compose's canonical form; NotYet when there is none."""
    hc = config_service(g, DB).get("healthcheck") or {}
    if not hc.get("test") and not hc.get("disable"):
        raise NotYet("un healthcheck pour le service db (pg_isready, interval, timeout, retries, "
                     "start_period)", "le service db n'a pas encore de `healthcheck:` (TODO 3)",
                     'ajoutez au service db un bloc `healthcheck:` : `test: ["CMD-SHELL", "pg_isready '
                     '-U $${POSTGRES_USER} -d $${POSTGRES_DB}"]`, puis interval, timeout, retries et '
                     "start_period.")
    if hc.get("disable") or hc.get("test") in (["NONE"], "NONE"):
        raise Fail("un healthcheck actif pour db", "le healthcheck est désactivé (`disable: true` ou NONE)",
                   "retirez `disable: true` et écrivez un test pg_isready.")
    return hc


@LAB.check("02-db-healthy", "Healthcheck de la base : le conteneur devient « healthy »", 1,
           requires=["02-stack-up"])
def db_healthy(g: Grading):
    healthcheck_config(g)
    health_status(db(g), timeout=g.remaining(120))


# Not `static`: it reads only the file, but a refused file must fail it with the refusal, like the
# other checks that come after the stack is up.
@LAB.check("02-healthcheck-timing", "Le healthcheck précise interval, timeout, retries et start_period",
           0.5, requires=["02-compose-valid"])
def healthcheck_timing(g: Grading):
    hc = healthcheck_config(g)
    missing = [k for k in HEALTH_KEYS if hc.get(k) in (None, "")]
    if missing:
        raise Fail("les quatre réglages du healthcheck : " + ", ".join(HEALTH_KEYS),
                   "absent(s) : " + ", ".join(missing) + " (sans eux, Docker attend 30 s entre deux "
                   "tests et n'accorde aucun délai de démarrage)",
                   "ajoutez sous `healthcheck:` par exemple `interval: 3s`, `timeout: 3s`, "
                   "`retries: 10`, `start_period: 30s`.")
    return ", ".join(f"{k}={hc[k]}" for k in HEALTH_KEYS)


@LAB.check("02-healthcheck-detects-down", "Le healthcheck échoue quand PostgreSQL ne tourne pas", 0.5,
           requires=["02-stack-up"])
def healthcheck_detects_down(g: Grading):
    healthcheck_config(g)
    run = run_with_service_down(g.sandbox, db(g), timeout=g.remaining(20))
    if run is None:
        raise NotYet("un healthcheck pour le service db", "le conteneur db n'a pas de healthcheck",
                     "ajoutez un bloc `healthcheck:` au service db (TODO 3).")
    if run.succeeded:
        raise Fail("le test du healthcheck échoue (code ≠ 0) quand le serveur PostgreSQL est arrêté",
                   f"avec PostgreSQL arrêté, `{run.command}` répond quand même 0 (succès) : ce test "
                   "déclarerait « healthy » une base en panne",
                   "le test doit dépendre de la base : appelez `pg_isready -U … -d …` tel quel, sans "
                   "`|| true` ni `exit 0`, et jamais `true` seul.")
    ended = f"code {run.exit_code}" if run.exit_code is not None else "délai dépassé"
    return f"base arrêtée : le test échoue ({ended})"


def commandless(g: Grading, names) -> list[str]:
    return [n for n in names if not config_service(g, n).get("command")
            and not config_service(g, n).get("entrypoint")]


@LAB.check("02-shared-volume", "Un fichier écrit par producteur est lu par consommateur", 1,
           requires=["02-stack-up"])
def shared_volume(g: Grading):
    bare = [n for n in (PRODUCER, CONSUMER) if not config_service(g, n).get("volumes")]
    if bare:
        raise NotYet("un même volume nommé monté dans producteur et dans consommateur",
                     f"{' et '.join(bare)} ne {'montent' if len(bare) > 1 else 'monte'} encore aucun "
                     "volume (TODO 4 et 5)",
                     "déclarez un volume (ex. `partage:`) et montez-le dans les deux services "
                     "(`partage:/partage`, en lecture seule côté consommateur).")
    producer, consumer = g.compose().container(PRODUCER), g.compose().container(CONSUMER)
    for c in (producer, consumer):
        c.reload()
        if c.status != "running":
            raise Fail(f"le service {c.labels.get('com.docker.compose.service')} en cours d'exécution",
                       f"état « {c.status} »\n{logs_tail(c)}",
                       "sa commande doit tourner en continu (une boucle), pas se terminer.")
    produced = {m["Name"]: m for m in producer.attrs.get("Mounts", []) if m["Type"] == "volume"}
    shared = [(produced[m["Name"]], m) for m in consumer.attrs.get("Mounts", [])
              if m["Type"] == "volume" and m["Name"] in produced]
    if not shared:
        raise Fail("un même volume nommé monté dans producteur et dans consommateur",
                   "aucun volume commun aux deux services",
                   "déclarez un volume (ex. `partage:`) et montez-le dans les deux services.")
    value = token()
    errors = []
    for p_mount, c_mount in shared:
        name = f".{value}"
        code, out = g.sandbox.exec(producer, ["sh", "-c", f'echo {value} > "$1"', "sh",
                                              f"{p_mount['Destination']}/{name}"], timeout=15)
        if code != 0:
            errors.append(f"écriture impossible dans {p_mount['Destination']} : {out.strip()[:200]}")
            continue
        try:
            read = exec_ok(g.sandbox, consumer, ["cat", f"{c_mount['Destination']}/{name}"], timeout=15)
        except Fail as exc:
            errors.append(exc.observed)
            continue
        finally:
            g.sandbox.exec(producer, ["rm", "-f", f"{p_mount['Destination']}/{name}"], timeout=15)
        if read.strip() == value:
            if PRODUCER not in (config_service(g, CONSUMER).get("depends_on") or {}):
                raise Fail("consommateur dépend de producteur (`depends_on`)",
                           "le volume est bien partagé, mais consommateur ne dépend pas de producteur : "
                           "Compose peut le démarrer avant qu'un message existe",
                           "ajoutez au service consommateur `depends_on: [producteur]` (ou la forme "
                           "longue avec `condition: service_healthy` si le producteur a un healthcheck).")
            return f"partagé via {p_mount['Destination']} → {c_mount['Destination']}"
    raise Fail("le fichier écrit par producteur lisible par consommateur",
               "; ".join(errors) or "contenu différent", "le producteur doit pouvoir écrire dans le volume "
               "partagé (montez-le en lecture seule seulement côté consommateur).")


def why_slow(g: Grading, container) -> str:
    """Evidence read before the stop: PID 1's command line and whether it handles SIGTERM."""
    argv = pid1(g.sandbox, container)
    catches = pid1_catches(g.sandbox, container, signal.SIGTERM)
    line = " ".join(shown(argv).split()) if argv else ""
    who = f"PID 1 : `{line[:100]}{'…' if len(line) > 100 else ''}`" if argv else "PID 1 illisible"
    if catches:
        return (f"{who}, qui gère SIGTERM (SigCgt) mais ne sort pas aussitôt : il attend la fin d'une "
                "commande au premier plan (`sleep` ?)")
    shell = " est un shell, qui" if argv and PurePosixPath(argv[0]).name in SHELLS else ""
    return f"{who}{shell} n'a aucun gestionnaire pour SIGTERM (SigCgt) : en PID 1, le signal est ignoré"


@LAB.check("02-stop-fast", "producteur et consommateur s'arrêtent tout de suite sur SIGTERM", 1,
           requires=["02-stack-up"])
def stop_fast(g: Grading):
    bare = commandless(g, (PRODUCER, CONSUMER))
    if bare:
        raise NotYet("producteur et consommateur arrêtés en moins de "
                     f"{STOP_LIMIT_S:g} s par `docker stop`",
                     f"{' et '.join(bare)} {HAVE_NOT[len(bare) > 1]} pas encore de commande "
                     "(TODO 4 et 5)",
                     "écrivez la boucle du producteur (et du consommateur) dans `command:`, avec "
                     "`trap 'exit 0' TERM` en tête, ou `init: true`.")
    problems, times = [], []
    for name in (PRODUCER, CONSUMER):
        c = g.compose().container(name)
        c.reload()
        if c.status != "running":
            problems.append(f"{name} ne tourne pas (état « {c.status} ») : rien à arrêter")
            continue
        evidence = why_slow(g, c)
        seconds = stop_duration(c, grace=STOP_GRACE_S)
        times.append(f"{name} {seconds:.1f} s")
        if seconds > STOP_LIMIT_S:
            problems.append(f"{name} : `docker stop` a pris {seconds:.1f} s (tué par SIGKILL au bout du "
                            f"délai) ; {evidence}")
    if problems:
        raise Fail(f"`docker stop` de chaque service en moins de {STOP_LIMIT_S:g} s (SIGTERM traité)",
                   "\n".join(problems),
                   "ajoutez `init: true` au service (un mini-init transmet SIGTERM), ou écrivez "
                   "`trap 'exit 0' TERM` en tête du script et `sleep 2 & wait $$!` dans la boucle.")
    return "arrêt : " + ", ".join(times)


# ---------------------------------------------------------------------------------------------
# Questions de cours: this lab's quiz questions and their checkers, listed by autograder.registry and
# graded in the notebook by autograder.classroom.quiz (answers are parsed, never executed)
# ---------------------------------------------------------------------------------------------
def _volumes(r: str) -> None:
    toks = mots(r)
    if toks[:2] in (["docker", "volumes"], ["docker", "volume"]) and len(toks) <= 2:
        raise Faux("`docker volume` est la commande de gestion ; il lui faut une action.")
    if toks[:3] == ["docker", "compose", "volumes"]:
        raise Faux("`docker compose volumes` ne montre que les volumes d'un projet, pas ceux de la machine.")
    if toks[:3] == ["docker", "volume", "inspect"]:
        raise Faux("`inspect` détaille un volume que vous nommez ; il ne les liste pas.")
    ligne = docker_command(r, {("volume", "ls"): spec(("-q --quiet", False), ("--format", True),
                                                      ("-f --filter", True), ("--cluster", False))})
    if ligne.args:
        raise Faux("`docker volume ls` ne prend pas d'argument (un filtre passe par `--filter`).")


QUESTIONS = [
    question("02-q-volumes",
             "Quelle commande liste les volumes Docker de la machine (tous projets confondus) ?",
             "reponse_volumes", COMMANDE,
             "la commande de gestion des volumes suivie de l'action qui les liste (options `-q`, "
             "`--format`, `--filter` permises). Voir la section 11, « Arrêter : `down` ou `down -v` ? ».",
             _volumes),
    question("02-q-down-v",
             "Que supprime `docker compose down -v` **en plus** de ce que supprime `docker compose down` ? "
             "(toutes les bonnes réponses)",
             "reponse_down_v", CHOIX,
             "ce que `down` laisse en place et que `-v` efface : les deux sortes de volumes gérés par Docker, "
             "mais jamais vos fichiers. Voir la section 1, « Trois façons de donner un stockage à un conteneur », "
             "et le tableau de la section 11, « Arrêter : `down` ou `down -v` ? ».",
             choix("C", "D", indices={
                 "A": "Les conteneurs, `down` les supprime déjà.",
                 "B": "Le réseau du projet, `down` le supprime déjà.",
                 "C": "Les volumes nommés survivent à `down`, pas à `down -v`.",
                 "D": "Les volumes anonymes aussi sont supprimés par `-v`.",
                 "E": "Les fichiers d'un bind mount sont à vous : Docker n'y touche jamais."}),
             [("A", "les conteneurs du projet"), ("B", "le réseau du projet"),
              ("C", "les volumes nommés du projet (la base)"),
              ("D", "les volumes anonymes des conteneurs du projet"),
              ("E", "les fichiers de votre machine montés en bind mount (`./initdb/…`)")]),
]
