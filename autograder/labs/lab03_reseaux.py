"""Lab 03 — réseaux: a three-tier Compose stack (front, api, PostgreSQL) on two networks.

The contract: ``front`` reaches ``api`` by its service name, ``api`` reaches ``db`` by its
service name, ``front`` cannot reach ``db`` at all, ``db`` publishes no port, and only
``front`` is published, on 127.0.0.1. The apps (``front/``, ``api/``) are handed out
complete; the student writes ``compose.yaml``.

How each part is graded:

- Port choices are read from the student's canonical configuration
  (``g.compose().config()``): while grading, :func:`autograder.engine.policy.rewrite` moves every
  published port to a free port on 127.0.0.1, so the running containers cannot tell.
- Reachability is asked from inside the running containers with the images' own tools
  (:func:`~autograder.probes.network.resolve_in`, :func:`~autograder.probes.network.tcp_connect_from`):
  names must resolve to the target container's addresses and TCP connections must open.
- Isolation is a negative probe with a control: PostgreSQL is first confirmed to accept
  connections, then ``db`` must not resolve in ``front`` and a TCP connection from
  ``front`` to each of db's addresses (on every network db is on) must not open.
- "The API reads its database host from an environment variable" is graded by
  behaviour, twice. First the running API's own ``/db`` route must reach PostgreSQL with
  the student's ``DB_HOST`` (``localhost`` there is the API container itself: refused
  connection). Then the grader changes the database's name under the API's feet: it
  re-creates the api service with ``docker compose run --no-deps -e DB_HOST=<name>``,
  where ``<name>`` is another name of the same database that the student could not have
  written (its container name, which Docker's embedded DNS resolves on every user-defined
  network the container is on, unique to this grading). The clone must reach PostgreSQL
  and report that very name: a host fixed in ``command``/``entrypoint`` or in a wrapper
  script is caught there. Giving ``db`` an extra network alias would need a
  disconnect/reconnect of the running database; its container name is an alias Docker
  already maintains, so nothing of the student's stack is disturbed.
- Start order is read from the canonical ``depends_on`` (what Compose executes), and the
  database's healthcheck must really turn ``healthy`` and fail where PostgreSQL is down
  (:mod:`autograder.probes.health`): one that always succeeds makes ``service_healthy`` wait for nothing.

The checks follow the starter's TODOs (front port, DB_HOST, networks, start order, db's port);
one whose subject is absent (no published port, no ``depends_on`` nor healthcheck) says « rien à
évaluer encore » (:class:`~autograder.core.NotYet`), and one that finds several problems lists
them all (:func:`listed`, capped).
"""

from __future__ import annotations

import ipaddress
import json
import re

from autograder.engine.compose import ComposeProject
from autograder.core import Fail, Lab, NotYet
from autograder.probes.health import run_with_service_down
from autograder.probes.containers import container_gone, container_env, logs_tail
from autograder.probes.http import wait_http_ok
from autograder.probes.network import (container_networks, http_get_from, is_loopback, published_ports, resolve_in,
    tcp_connect_from, wait_tcp_from)
from autograder.probes.postgres import wait_pg_ready
from autograder.probes.waits import Timeout, health_status, wait_until
from autograder.engine.runner import Grading
from autograder.engine.docker_api import DockerStepError
from autograder.readers.answers import (COMMANDE, INSPECT, LS_CONTAINERS, VALEUR, Faux, docker_command,
                                        question, spec, valeur)

LAB = Lab(
    id="03-reseaux",
    title="Réseaux : communication entre conteneurs",
    files=("compose.yaml",),
    budget_s=300,
)

FRONT, API, DB = "front", "api", "db"
SERVICES = (FRONT, API, DB)
FRONT_PORT, API_PORT, DB_PORT = 8080, 8000, 5432
ONEOFF_LABEL = "com.docker.compose.oneoff"
MAX_LISTED = 5  # problems listed in one message, at most
LOCALHOST_HINT = ("dans un conteneur, `localhost` (127.0.0.1) désigne le conteneur lui-même, pas la "
                  "machine ni les autres conteneurs : donnez à DB_HOST le nom du service de la base (`db`).")


def service(g: Grading, name: str):
    """The container of service ``name`` (never a ``docker compose run`` one-off)."""
    found = [c for c in g.compose().containers(name) if c.labels.get(ONEOFF_LABEL) != "True"]
    return found[0] if found else g.compose().container(name)


def config_service(g: Grading, name: str) -> dict:
    return g.compose().services().get(name) or {}


def port_text(p: dict) -> str:
    host = p.get("host_ip") or "0.0.0.0"
    published = p.get("published") or "(port aléatoire)"
    return f"{host}:{published}→{p.get('target')}"


def listed(problems: list[str]) -> str:
    """Every problem a check found, one per line, capped at :data:`MAX_LISTED`."""
    more = len(problems) - MAX_LISTED
    shown_ = problems[:MAX_LISTED] + ([f"… et {more} {'autres' if more > 1 else 'autre'}"] if more > 0 else [])
    return "\n".join(f"- {p}" for p in shown_) if len(problems) > 1 else (problems[0] if problems else "")


def net_name(g: Grading, network: str) -> str:
    """A network as the student named it (the grader runs it as ``<job>_<name>``)."""
    return network.removeprefix(f"{g.job}_")


def app_health(g: Grading, container, port: int, what: str) -> None:
    """Wait until the provided app answers on its /health route inside ``container``."""
    def answered() -> bool:
        return http_get_from(g.sandbox, container, f"http://127.0.0.1:{port}/health", timeout=2)[0] == 200

    try:
        wait_until(answered, g.remaining(40), give_up=lambda: container_gone(container))
    except Timeout as exc:
        observed = exc.last if isinstance(exc.last, str) else f"pas de réponse sur le port {port}"
        raise Fail(f"le service {what} démarré et qui répond sur le port {port}",
                   f"{observed}\nDerniers journaux :\n{logs_tail(container)}",
                   f"lisez `docker compose logs {what}` : l'erreur y est écrite (une variable "
                   "d'environnement manquante ?).") from None


@LAB.check("03-compose-valid", "compose.yaml valide avec les services front, api et db", 0.5, static=True)
def compose_valid(g: Grading):
    g.compose().require_services(SERVICES, "gardez exactement ces noms de services : ce sont aussi les noms "
                                           "DNS que les conteneurs utilisent entre eux.")


def front_ports(g: Grading, expected: str) -> list[dict]:
    """The front's published ports; NotYet while it publishes none (TODO 1 not done yet)."""
    ports = published_ports(config_service(g, FRONT))
    if not ports:
        raise NotYet(expected, "le service front ne publie encore aucun port (TODO 1)",
                     f'ajoutez au service front : `ports: ["127.0.0.1:{FRONT_PORT}:{FRONT_PORT}"]`.')
    return ports


@LAB.check("03-ports-loopback", "Le front est publié sur 127.0.0.1 seulement ; l'API n'est pas publiée",
           0.5, static=True, requires=["03-compose-valid"])
def ports_loopback(g: Grading):
    front = front_ports(g, f"le port {FRONT_PORT} du front publié sur 127.0.0.1")
    problems, hints, rule = [], [], ""
    open_ = [p for p in front if not is_loopback(p.get("host_ip"))]
    if open_:
        problems.append("front publie " + ", ".join(port_text(p) for p in open_) +
                        " : sans adresse, Docker écoute sur toutes les interfaces, donc pour tout le réseau")
        hints.append(f'préfixez l\'adresse : `"127.0.0.1:{FRONT_PORT}:{FRONT_PORT}"` (ou `host_ip: 127.0.0.1` '
                     "en syntaxe longue)")
        rule = "CIS Docker 5.14, CL-0005"
    api = published_ports(config_service(g, API))
    if api:
        problems.append("api publie " + ", ".join(port_text(p) for p in api) +
                        " : seul le front lui parle, par le réseau frontend")
        hints.append("supprimez `ports:` du service api ; pour la tester : "
                     f"`docker compose exec front python -c \"import urllib.request as u; "
                     f"print(u.urlopen('http://api:{API_PORT}/db').read())\"`")
    if problems:
        raise Fail("chaque port publié du front lié à 127.0.0.1, et aucun port publié pour l'API",
                   listed(problems), " ; ".join(hints) + ".", rule=rule)


@LAB.check("03-stack-up", "La pile démarre : la base accepte les connexions, api et front répondent", 0.5,
           requires=["03-compose-valid"])
def stack_up(g: Grading):
    def up() -> None:
        try:
            g.compose().up(timeout=g.remaining(300))
        except DockerStepError as exc:
            raise Fail("`docker compose up -d` démarre les trois services",
                       f"{exc}\n{exc.output}".strip() + stopped_logs(g),
                       "lancez `docker compose up -d` puis `docker compose ps -a` et `docker compose logs` : "
                       "un service « unhealthy » ou arrêté bloque ceux qui en dépendent.") from None

    g.once("up", up)
    g.once("ready", lambda: ready(g))


def stopped_logs(g: Grading) -> str:
    """The last log lines of each service whose container stopped (why ``up`` failed)."""
    out = []
    for name in SERVICES:
        for c in g.compose().containers(name):
            if c.status in ("exited", "dead"):
                code = c.attrs.get("State", {}).get("ExitCode")
                out.append(f"\n{name} s'est arrêté (code de sortie {code}), derniers journaux :\n"
                           f"{logs_tail(c, 6)}")
    return "".join(out)


def ready(g: Grading) -> None:
    wait_pg_ready(g.sandbox, service(g, DB), timeout=g.remaining(90))
    app_health(g, service(g, API), API_PORT, API)
    app_health(g, service(g, FRONT), FRONT_PORT, FRONT)


@LAB.check("03-front-http", "Depuis l'hôte, le front répond (HTTP 200) sur son port publié", 0.5,
           requires=["03-stack-up"])
def front_http(g: Grading):
    ports = front_ports(g, f"le front joignable depuis la machine sur son port publié ({FRONT_PORT})")
    if not any(str(p.get("target")) == str(FRONT_PORT) for p in ports):
        raise Fail(f"le port {FRONT_PORT} du conteneur front publié",
                   "front publie " + ", ".join(port_text(p) for p in ports) +
                   f" : l'application écoute sur {FRONT_PORT} dans le conteneur",
                   f'publiez le port du conteneur {FRONT_PORT} : `"127.0.0.1:{FRONT_PORT}:{FRONT_PORT}"` '
                   "(à gauche le port de la machine, à droite celui du conteneur).")
    # /health: the page itself waits for the API, whose own checks may be slow in a broken stack.
    url = wait_http_ok(service(g, FRONT), FRONT_PORT, "/health", timeout=g.remaining(30))
    return f"le front répond ({url.rsplit(':', 1)[0]}:…)"


def db_route(g: Grading, container) -> dict:
    """The API's own answer on /db, from inside ``container`` (once it listens)."""
    def answer():
        status, body = http_get_from(g.sandbox, container, f"http://127.0.0.1:{API_PORT}/db", timeout=6)
        if status == -1:
            return None
        try:
            return json.loads(body)
        except ValueError:
            return {"reachable": False, "error": f"HTTP {status} : {body[:200]}"}

    try:
        return wait_until(answer, g.remaining(30), give_up=lambda: container_gone(container))
    except Timeout as exc:
        raise Fail("l'API répond sur /db", f"{exc.last or 'pas de réponse'}\n{logs_tail(container)}",
                   f"lisez `docker compose logs {API}`.") from None


def loopback_host(value: str) -> bool:
    try:
        return ipaddress.ip_address(value).is_loopback or value == "0.0.0.0"
    except ValueError:
        return value.lower() in ("localhost", "localhost.localdomain", "ip6-localhost")


@LAB.check("03-api-db-env", "L'API trouve la base par la variable DB_HOST (nom de service, pas localhost)", 1,
           requires=["03-stack-up"])
def api_db_env(g: Grading):
    api = service(g, API)
    value = container_env(api).get("DB_HOST", "")
    result = db_route(g, api)
    if not result.get("reachable"):
        hint = (LOCALHOST_HINT if loopback_host(value) else
                "DB_HOST doit être un nom que l'API résout et joint : le nom du service de la base (`db`) "
                "ou un de ses alias, sur un réseau que l'API partage avec elle (voir 03-networks) ; "
                "jamais une adresse IP, qui change à chaque recréation du conteneur.")
        raise Fail("GET /db de l'API : la base est joignable avec DB_HOST",
                   f"DB_HOST={value or '(vide)'} → {result.get('error', 'injoignable')}", hint)
    # The grader renames the database: an API that follows DB_HOST follows the new name.
    other = service(g, DB).name
    project: ComposeProject = g.compose()
    try:
        out = project.run(API, "-d", "--no-deps", "-e", f"DB_HOST={other}", timeout=g.remaining(60))
    except DockerStepError as exc:
        raise Fail("`docker compose run api` démarre une copie de l'API", f"{exc}\n{exc.output}".strip(),
                   "vérifiez que `docker compose run --rm api` fonctionne.") from None
    names = out.split()
    if not names:
        raise Fail("`docker compose run -d api` affiche le conteneur créé", "aucune sortie",
                   "relancez la correction ; si cela se reproduit, signalez-le à l'enseignant.")
    clone = g.sandbox.client.containers.get(names[-1])
    moved = db_route(g, clone)
    if moved.get("db_host") != other or not moved.get("reachable"):
        raise Fail(f"avec DB_HOST={other} (un autre nom de la même base), l'API joint la base sous ce nom",
                   f"l'API a utilisé « {moved.get('db_host', '?')} » : "
                   f"{'joignable' if moved.get('reachable') else moved.get('error', 'injoignable')}",
                   "l'hôte de la base doit venir de la variable DB_HOST et de rien d'autre : ne le fixez pas "
                   "dans `command`, `entrypoint` ou un script de démarrage.")
    return f"DB_HOST={value} ; suit DB_HOST={other}"


@LAB.check("03-networks", "Deux réseaux : front–api d'un côté, api–db de l'autre", 1, requires=["03-stack-up"])
def networks(g: Grading):
    nets = {s: set(container_networks(service(g, s))) for s in SERVICES}
    shown = "; ".join(f"{s} sur {', '.join(sorted(net_name(g, n) for n in nets[s])) or 'aucun réseau'}"
                      for s in SERVICES)
    problems, hints = [], []
    shared = nets[FRONT] & nets[DB]
    if shared:
        problems.append(f"front et db partagent {', '.join(sorted(net_name(g, n) for n in shared))}")
        hints.append("déclarez deux réseaux (ex. `frontend` et `backend`) : front sur frontend, db sur "
                     "backend, api sur les deux. Sans `networks:`, tous les services sont sur le réseau "
                     "`default` du projet")
    for other, example in ((FRONT, "frontend"), (DB, "backend")):
        if not nets[API] & nets[other]:
            problems.append(f"api et {other} n'ont aucun réseau commun")
            hints.append(f"ajoutez le réseau de {other} (ex. `{example}`) à la liste `networks:` du service api")
    if problems:
        raise Fail("front et db sans réseau commun ; api sur un réseau avec chacun (elle fait le pont)",
                   f"{listed(problems)}\n({shown})", " ; ".join(hints) + ".")
    return shown


def expect_resolves(g: Grading, source: str, name: str, target: str) -> str:
    ips = resolve_in(g.sandbox, service(g, source), name)
    target_ips = {ip for ip in container_networks(service(g, target)).values() if ip}
    if not ips:
        raise Fail(f"le nom « {name} » résolu dans le conteneur {source}",
                   f"« {name} » est introuvable depuis {source} (DNS intégré de Docker, 127.0.0.11)",
                   f"mettez {source} et {target} sur un même réseau défini par l'utilisateur ; testez avec "
                   f"`docker compose exec {source} getent hosts {name}`.")
    if not set(ips) & target_ips:
        raise Fail(f"« {name} » résolu en l'adresse du conteneur {target} ({', '.join(sorted(target_ips))})",
                   f"« {name} » → {', '.join(ips)} depuis {source}",
                   f"le nom doit désigner le service {target} : retirez l'alias ou `extra_hosts` qui le "
                   "détourne.")
    return f"{name} → {', '.join(ips)}"


@LAB.check("03-dns-front-api", "Depuis front, le nom « api » se résout", 0.5, requires=["03-stack-up"])
def dns_front_api(g: Grading):
    return expect_resolves(g, FRONT, API, API)


@LAB.check("03-dns-api-db", "Depuis api, le nom « db » se résout", 0.5, requires=["03-stack-up"])
def dns_api_db(g: Grading):
    return expect_resolves(g, API, DB, DB)


@LAB.check("03-tcp-front-api", f"Connexion TCP de front vers api:{API_PORT}", 1, requires=["03-dns-front-api"])
def tcp_front_api(g: Grading):
    wait_tcp_from(g.sandbox, service(g, FRONT), API, API_PORT, timeout=g.remaining(20))


@LAB.check("03-tcp-api-db", f"Connexion TCP de api vers db:{DB_PORT}", 1, requires=["03-dns-api-db"])
def tcp_api_db(g: Grading):
    wait_tcp_from(g.sandbox, service(g, API), DB, DB_PORT, timeout=g.remaining(20))


@LAB.check("03-front-db-isolated", "Le front ne peut pas joindre la base (ni par son nom, ni par son adresse)",
           1.5, requires=["03-stack-up"])
def front_db_isolated(g: Grading):
    db, front = service(g, DB), service(g, FRONT)
    # Control: the database accepts connections now, so a failed connection means isolation.
    wait_pg_ready(g.sandbox, db, timeout=g.remaining(60))
    hint = ("ne branchez pas db sur le réseau du front (ni front sur celui de la base) : seule l'API est "
            "sur les deux réseaux.")
    ips = resolve_in(g.sandbox, front, DB)
    if ips:
        raise Fail("« db » introuvable depuis le front (aucun réseau commun)",
                   f"depuis front, « db » → {', '.join(ips)}", hint)
    opened = []
    for network, ip in sorted(container_networks(db).items()):
        if not ip:
            continue
        ok, _ = tcp_connect_from(g.sandbox, front, ip, DB_PORT, timeout=2.0)
        if ok:
            opened.append(f"front ouvre une connexion vers {ip}:{DB_PORT} (adresse de db sur "
                          f"{net_name(g, network)})")
    if opened:
        raise Fail("aucune connexion possible du front vers la base", listed(opened), hint)
    return "db introuvable et injoignable depuis front"


@LAB.check("03-start-order", "Ordre de démarrage : api attend que db soit « healthy », front attend api",
           0.5, requires=["03-stack-up"])
def start_order(g: Grading):
    api_deps = config_service(g, API).get("depends_on") or {}
    front_deps = config_service(g, FRONT).get("depends_on") or {}
    db_health = (config_service(g, DB).get("healthcheck") or {}).get("test")
    if not api_deps and not front_deps and not db_health:
        raise NotYet("api qui attend db « healthy », front qui attend api",
                     "aucun `depends_on` ni healthcheck dans le fichier (TODO 3, 6 et 9)",
                     "ajoutez `depends_on: {api: {condition: service_healthy}}` au front, "
                     "`depends_on: {db: {condition: service_healthy}}` à l'api et un healthcheck pg_isready à db.")
    problems, hints = [], []
    condition = (api_deps.get(DB) or {}).get("condition")
    if condition != "service_healthy":
        problems.append(f"api dépend de db avec la condition « {condition} »" if condition
                        else "api ne dépend pas de db")
        hints.append("PostgreSQL met quelques secondes à accepter les connexions : écrivez "
                     "`depends_on: {db: {condition: service_healthy}}` (forme longue) dans api")
    if API not in front_deps:
        problems.append("front ne dépend pas de api")
        hints.append("ajoutez `depends_on: {api: {condition: service_healthy}}` au service front "
                     "(l'image api a un HEALTHCHECK)")
    if not db_health:
        problems.append("db n'a pas de healthcheck : `condition: service_healthy` n'a rien à attendre")
        hints.append("ajoutez à db un healthcheck pg_isready (comme au TP 02)")
    if problems:
        raise Fail("api dépend de db avec `condition: service_healthy`, front dépend de api, db a un "
                   "healthcheck", listed(problems), " ; ".join(hints) + ".")
    db = service(g, DB)
    health_status(db, timeout=g.remaining(60))
    down = run_with_service_down(g.sandbox, db, timeout=g.remaining(20))
    if down is not None and down.succeeded:
        raise Fail("le healthcheck de db échoue (code ≠ 0) quand PostgreSQL ne tourne pas",
                   f"avec PostgreSQL arrêté, `{down.command}` répond quand même 0 (succès) : "
                   "`condition: service_healthy` n'attendrait rien",
                   "le test doit dépendre de la base : `pg_isready -U … -d …` tel quel, sans `|| true` "
                   "ni `exit 0`, et jamais `true` seul.")
    return "api attend db « healthy », front attend api ; le healthcheck de db échoue base arrêtée"


@LAB.check("03-db-not-published", "La base ne publie aucun port sur l'hôte", 1, static=True,
           requires=["03-compose-valid"])
def db_not_published(g: Grading):
    ports = published_ports(config_service(g, DB))
    if ports:
        raise Fail("aucune section `ports:` pour db : seule l'API parle à la base, par le réseau interne",
                   "db publie " + ", ".join(port_text(p) for p in ports) + " sur l'hôte",
                   "supprimez `ports:` du service db (l'exemple des diapositives publie 5432 pour tout le "
                   "réseau). Pour administrer la base : `docker compose exec db psql -U …`.")


# ---------------------------------------------------------------------------------------------
# Questions de cours: this lab's quiz questions and their checkers, listed by autograder.registry and
# graded in the notebook by autograder.classroom.quiz (answers are parsed, never executed)
# ---------------------------------------------------------------------------------------------
def _nom_db(r: str) -> None:
    v = valeur(r).lower()
    v = re.sub(r"^\w+://", "", v).split("/")[0].split("@")[-1]
    if v in ("db", "db:5432"):
        return
    if v.split(":")[0] in ("localhost", "127.0.0.1", "::1", "0.0.0.0", "[::1]"):
        raise Faux("Dans un conteneur, `localhost` désigne le conteneur lui-même : la base n'y est pas.")
    if "host.docker.internal" in v:
        raise Faux("`host.docker.internal` désigne votre machine, pas le conteneur de la base.")
    if re.fullmatch(r"172\.\d+\.\d+\.\d+(:\d+)?", v):
        raise Faux("Une adresse IP de conteneur change à chaque `up` : on utilise un nom.")
    if re.search(r"db[-_]\d+$", v):
        raise Faux("C'est le nom du conteneur, que Compose génère : le code utilise le nom stable "
                   "déclaré dans `compose.yaml`.")
    raise Faux("")


def _inspect_reseau(r: str) -> None:
    ligne = docker_command(r, {("network", "inspect"): spec(("-f --format", True), ("-v --verbose", False)),
                               ("inspect",): INSPECT, ("container", "ls"): LS_CONTAINERS,
                               ("network", "ls"): spec(("-q --quiet", False), ("--format", True),
                                                       ("-f --filter", True), ("--no-trunc", False))})
    if ligne.path == ("network", "ls"):
        raise Faux("`docker network ls` liste les réseaux, pas les conteneurs branchés sur l'un d'eux.")
    if ligne.path == ("container", "ls"):
        # `docker ps --filter network=…` lists exactly the containers on that network.
        if "network=03-reseaux_backend" in ligne.options.get("--filter", []):
            return
        raise Faux("`docker ps` liste les conteneurs, pas ceux d'un réseau donné (sauf avec le bon "
                   "`--filter`).")
    if ligne.path == ("inspect",) and ligne.options.get("--type", ["network"]) != ["network"]:
        raise Faux("`--type` doit être `network` : c'est un réseau que vous inspectez.")
    if ligne.args != ["03-reseaux_backend"]:
        raise Faux("Il faut nommer le réseau du back, `03-reseaux_backend`, et lui seul.")


QUESTIONS = [
    question("03-q-nom-db",
             "Avec `DB_HOST=localhost`, l'API de ce TP obtient *Connection refused* en joignant "
             "PostgreSQL. Quelle valeur faut-il donner à `DB_HOST` dans le `compose.yaml` du TP ?",
             "reponse_nom_db", VALEUR,
             "le nom que le DNS intégré de Docker résout sur le réseau commun : celui du service de la "
             "base dans `compose.yaml`, stable d'un `up` à l'autre (le port 5432 peut suivre). Voir la section 1, « Les réseaux Docker en "
             "bref », ses paragraphes sur le DNS intégré et sur `localhost` dans un conteneur.",
             _nom_db),
    question("03-q-inspect-reseau",
             "Quelle commande montre les conteneurs branchés sur le réseau `03-reseaux_backend` ?",
             "reponse_inspect_reseau", COMMANDE,
             "la commande qui inspecte ce réseau-là (elle liste ses conteneurs et leurs adresses), ou une "
             "liste de conteneurs filtrée sur ce réseau. Voir la section 7, « Inspecter les réseaux ».",
             _inspect_reseau),
]
