"""Lab 09 — le pipeline conteneurisé : PostgreSQL, dbt et Dagster.

Contract (see labs/09-pipeline-dbt-dagster/enonce.ipynb):

* ``compose.yaml`` with services ``db`` (postgres:17, ``./initdb`` in
  ``/docker-entrypoint-initdb.d``: the given raw table ``brut.ventes``), ``dbt`` (built; its default
  command runs ``dbt build``; one-shot, kept out of ``up`` by a profile or awaited by another
  service), ``code`` (Dagster user code, gRPC server), ``webserver`` (Dagster UI, container port
  3000 published). A ``daemon`` is optional (needed with the default queued run coordinator);
* the dbt project turns ``brut.ventes`` into a staging model ``stg_ventes`` (paid sales only,
  product names trimmed and lower-cased, ``montant = quantite * prix_unitaire``) and two mart
  tables: ``ventes_par_jour (jour, nb_ventes, montant_total)`` and ``ventes_par_produit (produit,
  quantite_totale, montant_total)``, with dbt data tests; ``profiles.yml`` reads ``env_var()``
  (read by dbt's own renderer, :mod:`autograder.readers.dbt_profile`, with the dbt service's environment:
  a ``target:`` that is itself ``{{ env_var(…) }}`` is dbt's business, not a hand reading's);
* Dagster keeps its runs in PostgreSQL (dagster-postgres) and launches them with the default run
  launcher (a Docker-socket mount is refused by the policy);
* ``.env`` (untracked) holds POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD: the grader writes its
  own with a random password.

The grader inserts raw rows the student cannot know before ``dbt build`` and before the Dagster
run, and computes the expected marts itself from ``brut.ventes``.
"""

from __future__ import annotations

import re
import secrets
import time

from autograder.core import Fail, Lab, NotYet, Skip
from autograder.readers import requirements
from autograder.readers.dbt_profile import ALIASES, ProfileUnavailable, build_summary, for_service, raw_output, strip_ansi
from autograder.probes import dagster
from autograder.probes.pg_rows import cell, find_relation, query_rows, rows_diff
from autograder.probes.containers import host_port, logs_tail
from autograder.probes.postgres import env_hygiene, grader_env, pg_service_ready, pg_table_checksums, psql
from autograder.engine.runner import Grading
from autograder.engine.docker_api import DockerStepError, engine_host
from autograder.readers.answers import CHOIX, COMMANDE, Faux, choix, docker_command, mots, question, spec

LAB = Lab(
    id="09-pipeline-dbt-dagster",
    title="Pipeline conteneurisé : PostgreSQL, dbt et Dagster",
    files=("compose.yaml", ".env.example", ".gitignore", "initdb/02-dagster.sql",
           "dbt_project/Dockerfile", "dbt_project/requirements.txt", "dbt_project/profiles.yml",
           "dbt_project/models/staging/stg_ventes.sql", "dbt_project/models/staging/stg_ventes.yml",
           "dbt_project/models/marts/ventes_par_jour.sql", "dbt_project/models/marts/marts.yml",
           "dbt_project/models/marts/ventes_par_produit.sql", "dagster_project/Dockerfile",
           "dagster_project/requirements.txt", "dagster_project/definitions.py", "dagster_project/dagster.yaml",
           "dagster_project/workspace.yaml"),
    budget_s=900,
)

SERVICES = ("db", "dbt", "code", "webserver")
MARTS = {"ventes_par_jour": ("jour", "nb_ventes", "montant_total"),
         "ventes_par_produit": ("produit", "quantite_totale", "montant_total")}
MODELS = ("stg_ventes", *MARTS)
# What the marts must hold, computed by the grader from the raw table (the lab's cleaning rules).
EXPECTED = {
    "ventes_par_jour": "SELECT vendu_le::date, count(*), sum(quantite * prix_unitaire) FROM brut.ventes "
                       "WHERE statut = 'payee' GROUP BY 1",
    "ventes_par_produit": "SELECT lower(trim(produit)), sum(quantite), sum(quantite * prix_unitaire) "
                          "FROM brut.ventes WHERE statut = 'payee' GROUP BY 1",
}
REQUIREMENTS = ("dagster_project/requirements.txt", "dbt_project/requirements.txt")
UP_TIMEOUT_S = 420
RUN_TIMEOUT_S = 240
QUEUED_GIVE_UP_S = 60  # a daemon dequeues within seconds: a run still queued after this will stay so


# -- preparation ---------------------------------------------------------------------------------
def prepare(g: Grading) -> None:
    values, student_password = grader_env(g.workdir, {"POSTGRES_USER": "pipeline", "POSTGRES_DB": "entrepot"})
    g.once("prepared", lambda: (dict(values), student_password))


LAB.prepare = prepare


def db_ready(g: Grading):
    """The db container once PostgreSQL accepts connections (started alone when the stack is not up)."""
    def start() -> None:
        try:
            g.compose().up("--wait", "db", timeout=g.remaining(180))
        except DockerStepError as exc:
            raise Fail("le service db démarre (`docker compose up -d --wait db`)", exc.output[-1200:],
                       "lisez l'erreur : image postgres:17, variables POSTGRES_* lues dans .env, healthcheck.") \
                from None
    if not g.compose().containers("db"):
        g.once("db-up", start)
    return pg_service_ready(g, "db")


def raw_rows(g: Grading, day: str, rows: list[tuple[str, int, str, str]]) -> None:
    """Insert sales of ``day`` into brut.ventes: ``(produit, quantite, prix, statut)``."""
    values = ", ".join(f"('{day} {10 + i}:{secrets.randbelow(60):02d}', '{p.replace(chr(39), chr(39) * 2)}', "
                       f"{q}, {price}, '{status}')"
                       for i, (p, q, price, status) in enumerate(rows))
    psql(g.sandbox, db_ready(g), "INSERT INTO brut.ventes (vendu_le, produit, quantite, prix_unitaire, statut) "
                                 f"VALUES {values}")


def random_day(decade: int) -> str:
    return f"{decade + secrets.randbelow(10)}-{1 + secrets.randbelow(12):02d}-{10 + secrets.randbelow(18)}"


def rows_of(g: Grading, sql: str) -> set[tuple]:
    return query_rows(g.sandbox, db_ready(g), sql)


def mart_relation(g: Grading, name: str) -> tuple[str, str] | None:
    """``(schema-qualified name, relkind)`` of the relation ``name`` outside pg_catalog, or ``None``."""
    return find_relation(g.sandbox, db_ready(g), name)


def mart_diff(g: Grading, mart: str) -> str:
    """"" when ``mart`` holds exactly the expected rows, else what differs (French)."""
    found = mart_relation(g, mart)
    if found is None:
        return f"{mart} : table introuvable"
    columns = ", ".join(MARTS[mart])
    try:
        got = rows_of(g, f"SELECT {columns} FROM {found[0]}")
    except DockerStepError as exc:
        return f"{mart} : colonnes attendues {columns} ({exc.output.strip()[-200:]})"
    want = rows_of(g, EXPECTED[mart])
    return "" if got == want else f"{mart} : {rows_diff(got, want)}"


# -- static checks -------------------------------------------------------------------------------
@LAB.check("09-compose-valid", "compose.yaml valide : db (postgres:17), dbt, code, webserver (port 3000)", 0.5,
           static=True)
def compose_valid(g: Grading):
    services = g.compose().require_services(SERVICES)
    image = str(services["db"].get("image") or "")
    if not re.fullmatch(r"(docker\.io/)?(library/)?postgres:17([.-][\w.-]*)?", image):
        raise Fail("l'image `postgres:17` (version majeure figée)", f"image : {image or '(aucune)'}",
                   "`latest` change de version majeure (et de format de données) sans prévenir : "
                   "écrivez `image: postgres:17`.")
    targets = [int(p.get("target") or 0) for p in services["webserver"].get("ports") or []]
    if 3000 not in targets:
        raise Fail("le port 3000 du webserver publié (interface Dagster)",
                   f"ports du conteneur publiés : {', '.join(map(str, targets)) or 'aucun'}",
                   "ajoutez `ports: [\"3000:3000\"]` au service webserver (dagster-webserver -p 3000).")
    missing = [s for s in ("dbt", "code") if not isinstance(services[s].get("build"), dict)
               and not any(isinstance(o.get("build"), dict) and o.get("image") == services[s].get("image")
                           for o in services.values())]
    if missing:
        raise Fail("les images de dbt et de Dagster construites depuis vos Dockerfile (`build:`)",
                   f"sans `build:` : {', '.join(missing)}",
                   "ajoutez `build: ./dbt_project` au service dbt et `build: {context: ., dockerfile: "
                   "dagster_project/Dockerfile}` au service code.")


@LAB.check("09-pins", "Versions épinglées ; Dagster 1.N.x avec ses bibliothèques 0.(16+N).x ; dbt-core < 1.12",
           0.5, static=True)
def pins(g: Grading):
    problems, versions = [], {}
    for rel in REQUIREMENTS:
        path = g.workdir / rel
        if not path.is_file():
            problems.append(f"{rel} introuvable")
            continue
        found, loose = requirements.pip_pins(path.read_text(errors="replace"))
        problems += [f"{rel} : « {l} » sans version exacte" for l in loose]
        versions.update(found)
    core = versions.get("dagster", "")
    if not core:
        problems.append("dagster absent (ou sans version exacte) de dagster_project/requirements.txt")
    for name, found, want in requirements.dagster_mismatches(versions, ("dagster-webserver", "dagster-postgres",
                                                                        "dagster-dbt")):
        problems.append(f"{name} absent de dagster_project/requirements.txt" if found is None
                        else f"{name}=={found} ne va pas avec dagster=={core} (attendu {want})")
    dbt = versions.get("dbt-core", "")
    if not dbt:
        problems.append("dbt-core absent (ou sans version exacte)")
    elif tuple(int(x) for x in re.findall(r"\d+", dbt)[:2]) >= (1, 12):
        problems.append(f"dbt-core=={dbt} : 1.12 et plus téléchargent un composant depuis GitHub à "
                        "l'installation (échoue hors ligne) ; restez en 1.11")
    if problems:
        raise Fail("chaque dépendance en `paquet==version`, la famille Dagster cohérente",
                   "\n".join(problems[:8]),
                   "Dagster numérote ses bibliothèques 0.(16+N).x à côté du cœur 1.N.x : dagster==1.13.27 va avec "
                   "dagster-postgres==0.29.27 et dagster-dbt==0.29.27. Sans version, pip choisit de vieilles "
                   "bibliothèques incompatibles.")
    return f"dagster {core}, dbt-core {dbt}"


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def dbt_reading(g: Grading) -> dict:
    """dbt's own reading of dbt_project/profiles.yml (profile, target, credentials), rendered with
    the environment Compose gives the dbt service, and its ``--target``/``--profile`` (or
    DBT_TARGET/DBT_PROFILE, which dbt's command line reads too)."""
    def read() -> dict:
        try:
            service = g.compose().services().get("dbt") or {}
        except Fail:
            service = {}
        try:
            return for_service(g.workdir / "dbt_project", service, timeout=g.remaining(120))
        except ProfileUnavailable as exc:
            raise Skip(f"profiles.yml n'a pas pu être lu par dbt ici : {exc}.") from None
    return g.once("dbt-reading", read)


def profile_output(g: Grading) -> tuple[dict, dict]:
    """``(dbt's reading, the raw output of the target dbt chose)``: where each value comes from is
    read in the file as written; which profile and target dbt uses, and the values, from dbt."""
    path = g.workdir / "dbt_project" / "profiles.yml"
    if not path.is_file():
        raise Fail("dbt_project/profiles.yml", "fichier introuvable",
                   "créez profiles.yml à côté de dbt_project.yml (DBT_PROFILES_DIR pointe sur ce dossier).")
    reading = dbt_reading(g)
    if "error" in reading:
        raise Fail("un profiles.yml que dbt accepte, dont le profil est celui de dbt_project.yml (`profile:`)",
                   "dbt refuse le profil :\n" + "\n".join(reading["error"].splitlines()[:14])[:1200],
                   "lisez l'erreur de dbt (indentation YAML, `profile:` de dbt_project.yml qui nomme un profil de "
                   "profiles.yml, `target:` qui nomme une sortie de `outputs:`) ; vérifiez avec "
                   "`docker compose run --rm dbt debug`.")
    return reading, raw_output(path, reading["profile"], reading["target"])


@LAB.check("09-profiles-env", "profiles.yml lit la connexion avec env_var() ; .env non commité", 0.5,
           static=True)
def profiles_env(g: Grading):
    reading, raw = profile_output(g)
    where = f"profiles.yml, cible « {reading['target']} »"
    problems = [f"{where} : {k} écrit en dur" for k in ("host", "user", "password", "dbname")
                if not any("env_var(" in str(raw.get(alias, "")) for alias in ALIASES.get(k, (k,)))]
    host = str((reading.get("credentials") or {}).get("host") or "")
    if host in LOCAL_HOSTS:
        problems.append(f"{where} : dbt lit host « {host} » (dans un conteneur, c'est le conteneur lui-même)")
    problems += env_hygiene(g.workdir, g.once("prepared", lambda: ({}, ""))[1])[:6]
    if problems:
        raise Fail("host, user, password et dbname lus par `{{ env_var('…') }}`, aucun mot de passe commité",
                   "\n".join(problems),
                   "écrivez par exemple `password: \"{{ env_var('DBT_PASSWORD') }}\"` et passez les valeurs "
                   "du .env aux services dans compose.yaml ; host = le nom du service (`db`).")
    missing = reading.get("placeholders") or []
    return (f"dbt lit le profil « {reading['profile']} », cible « {reading['target']} », hôte {host}"
            + (f" (variables que le service dbt ne donne pas : {', '.join(missing)})" if missing else ""))


# -- the stack -----------------------------------------------------------------------------------
def stack(g: Grading) -> float:
    return g.once("stack", lambda: _stack(g))


def _stack(g: Grading) -> float:
    t0 = time.monotonic()
    try:
        g.compose().up("--build", "--wait", "--wait-timeout", str(int(g.remaining(UP_TIMEOUT_S))),
                       timeout=g.remaining(UP_TIMEOUT_S + 60))
    except DockerStepError as exc:
        broken = [f"{s} : {c.status}\n{logs_tail(c, 8)}" for s in SERVICES[2:] + ("db",)
                  for c in g.compose().containers(s) if c.status != "running"]
        raise Fail(f"`docker compose up -d --build --wait` réussit en moins de {UP_TIMEOUT_S} s",
                   (exc.output[-1000:] + ("\n" + "\n".join(broken) if broken else ""))[-2500:],
                   "lancez `docker compose up --build --wait` et lisez `docker compose logs code webserver` : "
                   "dépendance manquante, dagster.yaml illisible, base `dagster` absente (initdb), "
                   "service ponctuel (dbt) sans profil…") from None
    return time.monotonic() - t0


@LAB.check("09-stack-up", "`docker compose up --wait` : la pile démarre, saine, en un temps borné", 1.5,
           requires=["09-compose-valid"])
def stack_up(g: Grading):
    took = stack(g)
    services = g.compose().services()
    missing = [s for s in ("db", "code", "webserver") if not (services[s].get("healthcheck") or {}).get("test")
               and not g.compose().container(s).attrs["Config"].get("Healthcheck")]
    if missing:
        raise Fail("un healthcheck sur db, code et webserver (sans lui, `--wait` n'attend que le démarrage)",
                   f"sans healthcheck : {', '.join(missing)}",
                   "db : `pg_isready` ; code : `dagster api grpc-health-check -p 4000` ; webserver : une requête "
                   "sur http://127.0.0.1:3000/server_info.")
    unhealthy = {s: state for s in ("db", "code", "webserver")
                 if (state := health(g.compose().container(s))) != "healthy"}
    if unhealthy:
        raise Fail("db, code et webserver « healthy »", ", ".join(f"{s} : {st}" for s, st in unhealthy.items()),
                   "lisez `docker compose ps` et les journaux du service concerné.")
    return f"pile prête en {took:.0f} s"


def health(container) -> str:
    container.reload()
    return (container.attrs["State"].get("Health") or {}).get("Status", container.status)


def dbt_part(g: Grading) -> None:
    """The dbt part's subject: services db and dbt (the Dagster services may not exist yet: the
    instructions build the database, then dbt, then Dagster, and dbt's work is judged as it comes)."""
    services = g.compose().services()
    missing = [s for s in ("db", "dbt") if s not in services]
    if missing:
        pl = "s" if len(missing) > 1 else ""
        raise NotYet("les services db et dbt dans compose.yaml", f"service{pl} absent{pl} : {', '.join(missing)}",
                     "écrivez le service db puis le service dbt (`build: ./dbt_project`).")


def dbt_build(g: Grading) -> tuple[int, str]:
    """Grader rows in brut.ventes, then the dbt service's own command (once per grading)."""
    dbt_part(g)

    def run() -> tuple[int, str]:
        raw_rows(g, random_day(2040), [("Croissant ", 2, "1.40", "payee"), ("CAFE", 1, "3.20", "annulee"),
                                        ("the", 3, "2.80", "payee")])
        try:
            return 0, g.compose().run("dbt", "--rm", timeout=g.remaining(240))
        except DockerStepError as exc:
            return 1, exc.output or str(exc)
    code, out = g.once("dbt-build", run)
    return code, strip_ansi(out)


@LAB.check("09-dbt-build", "`docker compose run --rm dbt` : dbt build (modèles + tests) réussit", 1.5)
def dbt_build_ok(g: Grading):
    code, out = dbt_build(g)
    tail = "\n".join(out.strip().splitlines()[-15:]) or "(aucune sortie)"
    if code != 0:
        hint = ("dbt s'arrête sans message (code 2) quand il ne peut pas écrire target/ ou logs/ : le dossier du "
                "projet doit appartenir à l'utilisateur de l'image." if not out.strip() or "Running with dbt" not in out
                else "lisez la première erreur : connexion (host = `db`, variables DBT_*), modèle SQL, ou un "
                     "test dbt qui échoue (les données ne respectent pas une règle).")
        raise Fail("`docker compose run --rm dbt` se termine avec le code 0", tail, hint)
    summary, models, tests = build_summary(out)
    if not summary or tests == 0 or models < len(MODELS):
        raise Fail(f"`dbt build` : au moins {len(MODELS)} modèles et des tests dbt exécutés",
                   f"« {summary or 'pas de résumé Finished running'} »\n{tail}",
                   "la commande par défaut du service dbt doit être `dbt build` (pas `dbt run`, qui ne teste "
                   "rien) ; déclarez des `data_tests` (unique, not_null…) dans les fichiers .yml des modèles.")
    return summary


@LAB.check("09-mart-rows", "Les tables du mart contiennent les lignes attendues (requêtes du correcteur)", 1.5)
def mart_rows(g: Grading):
    dbt_build(g)
    problems = [d for d in (mart_diff(g, m) for m in MARTS) if d]
    views = [m for m in MARTS if (mart_relation(g, m) or ("", "r"))[1] != "r"]
    if problems:
        raise Fail("ventes_par_jour et ventes_par_produit égales au calcul du correcteur sur brut.ventes "
                   "(ventes payées, produits normalisés)", "\n".join(problems),
                   "staging : `where statut = 'payee'`, `lower(trim(produit))`, `quantite * prix_unitaire` ; "
                   "marts : un `group by` par jour et par produit. Le correcteur ajoute ses propres lignes "
                   "brutes avant `dbt build` : rien ne doit être écrit en dur.")
    if views:
        raise Fail("les marts matérialisés en tables", f"vues : {', '.join(views)}",
                   "dans dbt_project.yml : `marts: +materialized: table` (une vue recalcule tout à chaque lecture).")
    return ", ".join(f"{m} {len(rows_of(g, EXPECTED[m]))} lignes" for m in MARTS)


# -- Dagster -------------------------------------------------------------------------------------
def dagster_url(g: Grading) -> str:
    return f"http://{engine_host()}:{host_port(g.compose().container('webserver'), 3000)}"


def code_location(g: Grading) -> dict:
    """``{location, repository, assets: {key path tuple: job names}, jobs}`` of the first loaded location."""
    def read() -> dict:
        found, workspace_error, errors = dagster.code_location(dagster_url(g))
        if workspace_error is not None:
            raise Fail("l'espace de travail Dagster chargé", workspace_error,
                       "vérifiez workspace.yaml (grpc_server: host: code, port: 4000).")
        if found is None:
            raise Fail("une code location chargée, avec les modèles dbt comme assets",
                       "\n".join(errors) or "aucune code location dans workspace.yaml",
                       "la code location vient du serveur gRPC du service code (workspace.yaml : grpc_server) ; "
                       "definitions.py déclare les modèles avec `@dbt_assets(manifest=…)`.")
        return found
    return g.once("location", read)


@LAB.check("09-dagster-ui", "L'interface Dagster répond (/server_info) et liste la code location et les assets dbt",
           1, requires=["09-stack-up"])
def dagster_ui(g: Grading):
    try:
        info = dagster.server_info(dagster_url(g))
    except (OSError, ValueError) as exc:
        raise Fail("GET /server_info répond en JSON (dagster-webserver)", f"{type(exc).__name__} : {exc}",
                   "le service webserver lance `dagster-webserver -h 0.0.0.0 -p 3000 -w workspace.yaml`.") from None
    loc = code_location(g)
    names = {path[-1] for path in loc["assets"]}
    missing = [m for m in MODELS if m not in names]
    if missing:
        raise Fail(f"les modèles dbt {', '.join(MODELS)} comme assets de la code location",
                   f"assets : {', '.join(sorted(names)) or 'aucun'} ; absents : {', '.join(missing)}",
                   "reconstruisez le manifest (`dbt parse` dans le Dockerfile de Dagster) après avoir ajouté "
                   "les modèles ; `@dbt_assets(manifest=projet.manifest_path)`.")
    return (f"Dagster {info.get('dagster_webserver_version', '?')}, code location « {loc['location']} », "
            f"{len(names)} assets")


def launch_materialisation(g: Grading) -> tuple[str, str]:
    """Launch every materialisable asset of the code location; ``(run id, final status)``."""
    url = dagster_url(g)
    try:
        run_id = dagster.launch_assets(url, code_location(g))
    except dagster.LaunchRefused as exc:
        raise Fail("le lancement d'une matérialisation des assets dbt accepté", str(exc)[:600],
                   "vérifiez que les modèles dbt sont des assets d'un même job (`define_asset_job` ou job implicite).") \
            from None
    return run_id, dagster.wait_run(url, run_id, g.remaining(RUN_TIMEOUT_S), QUEUED_GIVE_UP_S)


@LAB.check("09-dagster-run", "Une matérialisation lancée par Dagster réussit et met le mart à jour", 1.5,
           requires=["09-dagster-ui"])
def dagster_run(g: Grading):
    day = random_day(2050)
    raw_rows(g, day, [("Sandwich", 2, "6.50", "payee"), ("jus d'orange", 1, "3.90", "payee")])
    run_id, status = g.once("run", lambda: launch_materialisation(g))
    if status == "QUEUED":
        raise Fail("le run démarré par le démon", f"toujours QUEUED (en file d'attente) après {QUEUED_GIVE_UP_S} s",
                   "les runs lancés depuis l'interface attendent dans la file du QueuedRunCoordinator : il faut le "
                   "service daemon (`dagster-daemon run`) et la même instance partout (dagster.yaml : stockage "
                   "PostgreSQL), ou `run_coordinator: DefaultRunCoordinator` sans démon.")
    if status != "SUCCESS":
        raise Fail("le run Dagster en SUCCESS", f"statut {status}\n{dagster.run_errors(dagster_url(g), run_id)}"[:1500],
                   "ouvrez le run dans l'interface (http://localhost:3000/runs) : dbt joignable depuis le service "
                   "code (variables DBT_*), dossier du projet dbt accessible en écriture.")
    got = rows_of(g, f"SELECT {', '.join(MARTS['ventes_par_jour'])} FROM {mart_relation(g, 'ventes_par_jour')[0]} "
                     f"WHERE jour = '{day}'") if mart_relation(g, "ventes_par_jour") else set()
    if got != {(cell(day), cell("2"), cell("16.90"))}:
        raise Fail(f"le jour {day} (ajouté par le correcteur avant le run) dans ventes_par_jour : 2 ventes, 16.90",
                   f"lignes de ce jour : {sorted(got, key=str) or 'aucune'}",
                   "la matérialisation doit reconstruire les modèles dbt (`dbt build`) dans la base du service db.")
    return f"run {run_id[:8]} SUCCESS, mart à jour"


@LAB.check("09-dagster-storage", "Dagster garde ses runs dans PostgreSQL (dagster-postgres)", 0.5,
           requires=["09-dagster-run"])
def dagster_storage(g: Grading):
    run_id, _ = g.once("run", lambda: launch_materialisation(g))
    name, databases = dagster.run_database(g.sandbox, db_ready(g), run_id)
    if name:
        return f"run {run_id[:8]} dans la base « {name} »"
    raise Fail("le run lancé par le correcteur dans la table runs d'une base du service db",
               f"introuvable (bases : {', '.join(databases)})",
               "sans `storage: postgres:` dans dagster.yaml (DAGSTER_HOME), Dagster écrit dans des fichiers "
               "SQLite du conteneur : perdus à sa recréation, et non partagés entre webserver, démon et code.")


@LAB.check("09-db-restart", "Les données survivent à la recréation du conteneur de la base", 1)
def db_restart(g: Grading):
    """The raw table (with the grader's rows, unknown to the init scripts) and the marts that exist."""
    if "db" not in g.compose().services():
        raise NotYet("les données du service db gardées dans un volume", "aucun service db",
                     "écrivez le service db (postgres:17) avec son volume de données.")
    try:
        dbt_build(g)  # the grader's rows, then the marts
    except NotYet:  # no dbt service yet: the database part is judged on the grader's rows alone
        if psql(g.sandbox, db_ready(g), "SELECT to_regclass('brut.ventes') IS NOT NULL") != "t":
            raise NotYet("les données brutes (brut.ventes) gardées dans un volume",
                         "la table brut.ventes n'existe pas : ./initdb n'est pas monté",
                         "montez `./initdb:/docker-entrypoint-initdb.d:ro` et un volume nommé sur "
                         "/var/lib/postgresql/data (service db).") from None
        raw_rows(g, random_day(2050), [("pain", 1, "1.10", "payee")])
    tables = ["brut.ventes", *(found[0] for m in MARTS if (found := mart_relation(g, m)))]
    before = pg_table_checksums(g.sandbox, db_ready(g), tables)
    try:
        g.compose().remove("db", timeout=g.remaining(60))
        g.compose().up("--wait", "--no-deps", "db", timeout=g.remaining(180))
    except DockerStepError as exc:
        raise Fail("la base redémarre après `docker compose rm -sf db` puis `up -d db`", exc.output[-1000:],
                   "lisez `docker compose logs db`.") from None
    c = db_ready(g)
    after = {}
    for t in tables:
        try:
            after.update(pg_table_checksums(g.sandbox, c, [t]))
        except DockerStepError:
            after[t] = ("", "table absente, 0")
    lost = [t for t in tables if before[t] != after[t]]
    if lost:
        raise Fail("les mêmes lignes après la recréation du conteneur db",
                   ", ".join(f"{t} ({before[t][1]} → {after[t][1]} lignes)" for t in lost),
                   "montez un volume nommé sur le dossier de données : `pgdata:/var/lib/postgresql/data` "
                   "(et `volumes: pgdata:` en bas du fichier).")
    return ", ".join(f"{t} {before[t][1]} lignes" for t in tables)


# ---------------------------------------------------------------------------------------------
# Questions de cours: this lab's quiz questions and their checkers, listed by autograder.registry and
# graded in the notebook by autograder.classroom.quiz (answers are parsed, never executed)
# ---------------------------------------------------------------------------------------------
RUN_OPTIONS = spec(("--rm", False), ("-T --no-TTY", False), ("-e --env", True), ("--build", False),
                   ("--quiet-pull", False), ("--remove-orphans", False), ("--name", True),
                   ("-i --interactive", False), ("--pull", True), ("-u --user", True),
                   ("-w --workdir", True), ("--use-aliases", False), ("--entrypoint", True),
                   ("-d --detach", False), ("--no-deps", False))


def _run_dbt(r: str) -> None:
    toks = mots(r)
    if toks[:2] == ["docker", "run"]:
        raise Faux("`docker run` lance une image par son nom, sans Compose : ni le service `dbt`, ni son "
                   "réseau, ni sa base.")
    ligne = docker_command(r, {("compose", "run"): RUN_OPTIONS,
                               ("compose", "up"): spec(("-d --detach", False), ("--wait", False),
                                                       ("--build", False), ("--profile", True))})
    if ligne.path == ("compose", "up"):
        raise Faux("`up` démarre les services pour qu'ils tournent ; un service ponctuel se lance avec "
                   "une autre sous-commande, qui lui passe aussi des arguments.")
    if ligne.args[:1] != ["dbt"]:
        raise Faux("Le service à lancer s'appelle `dbt`.")
    if not ligne.has("--rm"):
        raise Faux("Sans `--rm`, chaque lancement laisse un conteneur arrêté derrière lui.")
    if ligne.has("--no-deps"):
        raise Faux("`--no-deps` empêche de démarrer la base dont dbt a besoin.")
    if ligne.has("--detach"):
        raise Faux("En arrière-plan (`-d`), vous ne voyez ni la sortie ni le code de retour de dbt.")


QUESTIONS = [
    question("09-q-ponctuel",
             "dbt est un service ponctuel : il s'arrête une fois son travail fait, et `docker compose up "
             "--wait` échoue alors. Quelles solutions le TP propose-t-il ? (toutes les bonnes réponses)",
             "reponse_ponctuel", CHOIX,
             "les deux façons de ne pas faire attendre `up --wait` sur un service qui se termine. Voir "
             "la section 4, « L'image dbt et le service ponctuel », et « Pièges fréquents ».",
             choix("A", "B", indices={"C": "`restart: always` relancerait dbt en boucle après chaque succès.",
                                      "D": "Un `healthcheck` ne change rien : le conteneur s'arrête quand même."}),
             [("A", "le mettre dans un profil (`profiles: [\"outils\"]`) et le lancer à part"),
              ("B", "le faire attendre par un autre service avec `condition: service_completed_successfully`"),
              ("C", "ajouter `restart: always` au service dbt"),
              ("D", "ajouter un `healthcheck` au service dbt")]),
    question("09-q-run-dbt",
             "Quelle commande lance une fois le service ponctuel `dbt` (avec ce dont il dépend) et "
             "supprime son conteneur quand il a fini ?",
             "reponse_run_dbt", COMMANDE,
             "la sous-commande de Compose v2 qui exécute un service une fois, avec l'option qui supprime "
             "le conteneur à la fin, suivie du nom du service. Voir la section 4, « L'image dbt et le "
             "service ponctuel ».",
             _run_dbt),
]
