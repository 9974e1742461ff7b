"""Lab 02 — volumes et persistance: PostgreSQL on a named volume, a shared volume, an init script."""

from __future__ import annotations

from ..core import Fail, Lab
from ..probes import (container_env, exec_ok, health_status, logs_tail, mount_at, pg_has_token,
                      pg_service_ready, pg_write_token, psql, token)
from ..runner import Grading

LAB = Lab(
    id="02-volumes-persistance",
    title="Volumes et persistance : PostgreSQL et Docker Compose",
    files=("compose.yaml", "initdb/01-schema.sql"),
    budget_s=600,
)

SERVICES = ("db", "producteur", "consommateur")
INITDB = "/docker-entrypoint-initdb.d"
INIT_TABLE = "stations"


def db(g: Grading):
    return g.compose().container("db")


def db_ready(g: Grading):
    """The db container once PostgreSQL accepts connections (after any down/up)."""
    return pg_service_ready(g, "db")


@LAB.check("02-compose-valid", "compose.yaml valide avec les services db, producteur, consommateur",
           0.5, static=True)
def compose_valid(g: Grading):
    g.compose().require_services(SERVICES)


@LAB.check("02-stack-up", "La pile démarre et PostgreSQL accepte les connexions", 0.5,
           requires=["02-compose-valid"])
def stack_up(g: Grading):
    g.once("up", lambda: g.compose().up(timeout=g.remaining(300)))
    db_ready(g)


@LAB.check("02-db-healthy", "Healthcheck de la base : le conteneur devient « healthy »", 1.5,
           requires=["02-stack-up"])
def db_healthy(g: Grading):
    health_status(db(g), timeout=g.remaining(120))


@LAB.check("02-init-script", "Le script d'initialisation a créé les tables au premier démarrage", 1.5,
           requires=["02-stack-up"])
def init_script(g: Grading):
    exists = psql(g.sandbox, db_ready(g), f"SELECT to_regclass('public.{INIT_TABLE}') IS NOT NULL")
    if exists != "t":
        raise Fail(f"la table « {INIT_TABLE} » créée par initdb/01-schema.sql",
                   f"la table « {INIT_TABLE} » n'existe pas dans la base",
                   f"montez ./initdb dans {INITDB}/ ; les scripts ne s'exécutent que si le volume "
                   "de données est vide (sinon `docker compose down -v` pour repartir de zéro).")


@LAB.check("02-init-readonly", "Le script d'initialisation est monté en lecture seule", 0.5,
           requires=["02-stack-up"])
def init_readonly(g: Grading):
    c = db(g)
    c.reload()
    mounts = [m for m in c.attrs.get("Mounts", [])
              if m["Destination"].rstrip("/") == INITDB or m["Destination"].startswith(INITDB + "/")]
    if not mounts:
        raise Fail(f"un montage dans {INITDB}", "aucun montage à cet endroit",
                   f"ajoutez `./initdb:{INITDB}:ro` aux volumes du service db.")
    writable = [m["Destination"] for m in mounts if m.get("RW", True)]
    if writable:
        raise Fail(f"le montage {writable[0]} en lecture seule",
                   f"{writable[0]} est monté en lecture-écriture",
                   "ajoutez `:ro` à la fin du montage (ou `read_only: true` en syntaxe longue) : "
                   "le conteneur n'a pas à modifier vos scripts.")


@LAB.check("02-named-volume", "Les données sont dans un volume nommé déclaré dans le fichier", 1,
           requires=["02-stack-up"])
def named_volume(g: Grading):
    c = db(g)
    pgdata = container_env(c).get("PGDATA") or "/var/lib/postgresql/data"
    mount = mount_at(c, pgdata)
    if mount is None:
        raise Fail(f"un volume nommé monté sur le répertoire de données ({pgdata})",
                   "aucun volume : les données vivent dans la couche du conteneur",
                   f"déclarez un volume (ex. `pgdata:`) et montez-le : `pgdata:{pgdata}`.")
    if mount["Type"] != "volume":
        raise Fail(f"un volume nommé sur {pgdata}", f"un montage de type {mount['Type']}",
                   "utilisez un volume nommé géré par Docker plutôt qu'un dossier de l'hôte.")
    key = g.compose().volume_key(mount.get("Name", ""))
    if key is None:
        raise Fail(f"un volume nommé, déclaré sous `volumes:`, monté sur {pgdata}",
                   f"un volume anonyme ({mount.get('Name', '?')[:12]}…) monté sur {mount['Destination']}",
                   f"montez votre volume exactement sur {pgdata} (pour postgres:17), et déclarez-le "
                   "dans la section `volumes:` de premier niveau.")
    return f"volume « {key} » sur {mount['Destination']}"


def rows_survive(g: Grading, action, what: str) -> None:
    """Insert a row, run ``action`` (tear down, re-create…), read the row back."""
    value = pg_write_token(g.sandbox, db_ready(g))
    action()
    if not pg_has_token(g.sandbox, db_ready(g), value):
        raise Fail(f"la ligne insérée par le correcteur toujours là après {what}",
                   f"la ligne a disparu après {what} : les données vivaient dans le conteneur "
                   "(ou dans un volume anonyme abandonné)",
                   "montez un volume nommé sur le répertoire de données de PostgreSQL "
                   "(/var/lib/postgresql/data pour postgres:17).")


@LAB.check("02-survives-down-up", "Les données survivent à `docker compose down` puis `up`", 2,
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


@LAB.check("02-shared-volume", "Un fichier écrit par producteur est lu par consommateur", 1.5,
           requires=["02-stack-up"])
def shared_volume(g: Grading):
    producer, consumer = g.compose().container("producteur"), g.compose().container("consommateur")
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
            return f"partagé via {p_mount['Destination']} → {c_mount['Destination']}"
    raise Fail("le fichier écrit par producteur lisible par consommateur",
               "; ".join(errors) or "contenu différent", "le producteur doit pouvoir écrire dans le volume "
               "partagé (montez-le en lecture seule seulement côté consommateur).")
