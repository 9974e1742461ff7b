"""Lab 13 — de Compose à Kubernetes : des manifestes lancés pour de vrai par Podman.

Contract (see labs/13-kubernetes-podman/enonce.ipynb): lab 03's api and a PostgreSQL, as
Kubernetes manifests in ``k8s/*.yaml`` (any split into files):

* ``Deployment db``: a container named ``db`` (postgres:17; Podman's DNS answers to container
  names, as a cluster's to the Service ``db``), its data on a ``PersistentVolumeClaim`` mounted at
  ``/var/lib/postgresql/data``, the password read from the file of the Secret ``db-credentials``
  (key ``password``) mounted as a volume, through ``POSTGRES_PASSWORD_FILE``; limits 512Mi / 500m;
* ``Deployment api``: 2 replicas, a container ``api`` from the image ``tp13-api:1.0`` (built from
  ``api/``, provided), ``DB_HOST``/``DB_PORT`` from a ConfigMap, port 8000 published on
  ``127.0.0.1:8080`` (``hostPort``/``hostIP``); limits 128Mi / 250m;
* readiness and liveness probes and requests/limits on both; ``Service`` ``db`` and ``api``;
  every pod non-root; no password in any manifest (the Secret lives in git-ignored ``secrets/``).

How it is graded: the manifests are validated against Kubernetes 1.34's schemas
(:mod:`autograder.readers.kube`) and read for what cannot run (Services, replicas, declared
values); then the grader writes its own Secret (a random password), builds ``api/`` in Podman,
and plays the job-scoped manifests with ``podman kube play`` (:mod:`autograder.engine.kube_policy`
refuses hostPath, privileged, host namespaces… first). It runs the probes itself, calls the api
through its published port, inspects the limits, looks for the password in every inspect, runs
``id -u`` in every container, and writes a row, plays ``kube down`` then ``kube play`` again, and
reads it back. Without Podman the runtime checks are skipped with the reason.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.error
import urllib.request

from autograder.core import Fail, Lab, NotYet, several
from autograder.engine.docker_api import DockerStepError, engine_host
from autograder.engine.kube_policy import KubeRefused, review, rewrite
from autograder.engine.runner import Grading
from autograder.probes.containers import host_port, user_id
from autograder.probes.kube import Played, each_container, elapsed, play, podman, wait_ready
from autograder.probes.postgres import psql
from autograder.readers.answers import VALEUR, Faux, question, valeur
from autograder.readers.kube import (Doc, containers, env_value, find, load, memory_bytes, nano_cpus, pod_spec,
                                     schema_errors, template_labels)

LAB = Lab(
    id="13-kubernetes-podman",
    title="De Compose à Kubernetes : pods, Deployment, Service, volume et Secret lancés par Podman",
    files=("k8s/db.yaml", "k8s/api.yaml"),
    budget_s=480,
    engine="podman",
)

SECRET, SECRET_KEY = "db-credentials", "password"
API_IMAGES = ("tp13-api:1.0", "localhost/tp13-api:1.0")
LIMITS = {"db": (512 * 2**20, 500_000_000, "512Mi", "500m"), "api": (128 * 2**20, 250_000_000, "128Mi", "250m")}
HOST_PORT, API_PORT, DB_PORT = 8080, 8000, 5432
PASSWORDISH = re.compile(r"pass(word|wd)?|secret|token", re.I)
READY_S = 120


def docs(g: Grading) -> list[Doc]:
    return g.once("kube-docs", lambda: load(g.workdir))


def deployment(g: Grading, name: str) -> Doc:
    found = find(docs(g), "Deployment", name)
    if not found:
        raise NotYet(f"un Deployment `{name}`", f"aucun `kind: Deployment` nommé `{name}` dans k8s/",
                     f"écrivez le Deployment {name} (TODO du squelette).")
    return found[0]


def main_container(doc: Doc) -> dict:
    """The container named like the Deployment (``db``, ``api``), else its first one."""
    cs = containers(pod_spec(doc.obj), init=False)
    return next((c for c in cs if c.get("name") == doc.name), cs[0] if cs else {})


def review_manifests(g: Grading):
    """What the grader refuses in the manifests (runtime checks then fail with it); None if none."""
    try:
        found = review(docs(g))
    except Fail:
        return None  # missing or invalid manifests: the static checks say so
    if not found:
        return None
    return KubeRefused(found)


LAB.review = review_manifests


def prepare(g: Grading) -> None:
    g.once("password", lambda: secrets.token_urlsafe(18))


LAB.prepare = prepare


# -- static checks --------------------------------------------------------------------------------
REQUIRED = (("Deployment", "db"), ("Deployment", "api"), ("Service", "db"), ("Service", "api"))


@LAB.check("13-manifests-valid", "Manifestes valides pour Kubernetes 1.34 : Deployments, Services et volume",
           1, static=True)
def manifests_valid(g: Grading):
    found = docs(g)
    errors = [e for d in found for e in schema_errors(d)]
    if errors:
        raise Fail("des manifestes que Kubernetes 1.34 accepte (schémas officiels, mode strict)",
                   "\n".join(errors[:8]) + (f"\n… et {len(errors) - 8} autres" if len(errors) > 8 else ""),
                   "corrigez le champ signalé (nom, niveau d'indentation, type) ; `apiVersion: apps/v1` pour un "
                   "Deployment, `v1` pour Service, ConfigMap, Secret et PersistentVolumeClaim.")
    missing = [f"{kind} {name}" for kind, name in REQUIRED if not find(found, kind, name)]
    if not find(found, "PersistentVolumeClaim"):
        missing.append("PersistentVolumeClaim (le volume de la base)")
    if missing:
        raise NotYet("les objets du contrat : Deployment db et api, Service db et api, un PersistentVolumeClaim",
                     "il manque " + ", ".join(missing), "complétez les TODO de k8s/db.yaml et k8s/api.yaml.")
    kinds = sorted({d.kind for d in found})
    return f"{len(found)} objets valides ({', '.join(kinds)})"


@LAB.check("13-no-password", "Aucun mot de passe dans les manifestes (le Secret reste hors du dépôt)", 1,
           requires=["13-manifests-valid"], static=True)
def no_password(g: Grading):
    found = docs(g)
    problems = []
    for d in find(found, "Secret"):
        if d.obj.get("data") or d.obj.get("stringData"):
            problems.append(Fail("aucun Secret avec des valeurs dans k8s/", f"{d.where} contient des valeurs",
                                 "déplacez ce Secret dans secrets/db-credentials.yaml (ignoré par git) : "
                                 "`podman kube play secrets/db-credentials.yaml k8s/*.yaml`."))
    for d in find(found, "ConfigMap"):
        for key in (d.obj.get("data") or {}):
            if PASSWORDISH.search(str(key)):
                problems.append(Fail("aucun mot de passe dans un ConfigMap (il est lisible par tous)",
                                     f"{d.where} : clé {key}",
                                     "un mot de passe va dans un Secret, pas dans un ConfigMap."))
    for d in find(found, "Deployment") + find(found, "Pod"):
        for c in containers(pod_spec(d.obj)):
            for item in c.get("env") or []:
                if isinstance(item, dict) and "value" in item and PASSWORDISH.search(str(item.get("name"))) \
                        and not str(item.get("name")).endswith("_FILE"):
                    problems.append(Fail("aucun mot de passe écrit en clair dans `env:`",
                                         f"{d.where} : conteneur {c.get('name')} : {item.get('name')} = …",
                                         "lisez-le du fichier du Secret monté : `POSTGRES_PASSWORD_FILE: "
                                         "/run/secrets/db/password`."))
    if problems:
        raise several(problems)
    db = main_container(deployment(g, "db"))
    names = {str(i.get("name")) for i in db.get("env") or [] if isinstance(i, dict)}
    if not any(n.startswith("POSTGRES_PASSWORD") for n in names):
        raise NotYet("le mot de passe de la base donné par le Secret db-credentials",
                     "le conteneur db ne reçoit encore ni POSTGRES_PASSWORD_FILE ni POSTGRES_PASSWORD",
                     "montez le Secret db-credentials (volume `secret:`) et pointez POSTGRES_PASSWORD_FILE "
                     "sur son fichier password (TODO 3 de k8s/db.yaml).")
    return "aucune valeur secrète dans k8s/ ; la base lit le Secret db-credentials"


@LAB.check("13-deployment-spec", "Deployments : 2 répliques d'api, sélecteurs, sondes, requêtes et limites",
           1, requires=["13-manifests-valid"], static=True)
def deployment_spec(g: Grading):
    problems = []
    api, db = deployment(g, "api"), deployment(g, "db")
    replicas = (api.obj.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 2:
        shown = replicas if replicas is not None else "absent (1)"
        problems.append(Fail("`replicas: 2` (au moins) pour api", f"replicas = {shown}",
                             "ajoutez `replicas: 2` sous `spec:` du Deployment api."))
    for d in (db, api):
        selector = ((d.obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        labels = template_labels(d.obj)
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            problems.append(Fail(f"{d.name} : `selector.matchLabels` inclus dans les labels du modèle de pod",
                                 f"selector {selector or '(vide)'}, labels du modèle {labels or '(aucun)'}",
                                 "mettez le même label (ex. `app: " + d.name + "`) dans les deux."))
        c = main_container(d)
        for probe in ("readinessProbe", "livenessProbe"):
            if not isinstance(c.get(probe), dict):
                problems.append(Fail(f"{d.name} : une {probe}", f"le conteneur {c.get('name')} n'en a pas",
                                     "db : `exec: {command: [pg_isready, -h, 127.0.0.1, -U, boutique]}` ; api : "
                                     "`httpGet: {path: /health, port: 8000}`."))
        res = c.get("resources") or {}
        want_mem, want_cpu, mem_txt, cpu_txt = LIMITS[d.name]
        limits, requests = res.get("limits") or {}, res.get("requests") or {}
        if memory_bytes(limits.get("memory")) != want_mem or nano_cpus(limits.get("cpu")) != want_cpu:
            problems.append(Fail(f"{d.name} : `limits: {{memory: {mem_txt}, cpu: {cpu_txt}}}`",
                                 f"limits = {limits or '(aucune)'}", f"sous `resources:` du conteneur {d.name}."))
        if not requests.get("memory") or not requests.get("cpu"):
            problems.append(Fail(f"{d.name} : des `requests` (memory et cpu)", f"requests = {requests or '(aucune)'}",
                                 "les requests réservent une part du nœud pour l'ordonnanceur (ex. 64Mi, 100m)."))
    if problems:
        raise several(problems)
    return f"api : {replicas} répliques ; sondes, requests et limits présentes"


@LAB.check("13-services", "Services db (5432) et api (8000) qui sélectionnent bien leurs pods", 0.5,
           requires=["13-manifests-valid"], static=True)
def services(g: Grading):
    problems = []
    for name, port in (("db", DB_PORT), ("api", API_PORT)):
        svc = find(docs(g), "Service", name)[0].obj.get("spec") or {}
        labels = template_labels(deployment(g, name).obj)
        selector = svc.get("selector") or {}
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            problems.append(Fail(f"le Service {name} sélectionne les pods du Deployment {name}",
                                 f"selector {selector or '(vide)'} ; labels des pods {labels or '(aucun)'}",
                                 f"`selector: {{app: {name}}}` si les pods portent `app: {name}`."))
        c = main_container(deployment(g, name))
        named = {p.get("name"): p.get("containerPort") for p in c.get("ports") or [] if isinstance(p, dict)}
        targets = {named.get(p.get("targetPort"), p.get("targetPort") or p.get("port")) for p in svc.get("ports") or []}
        if port not in targets:
            problems.append(Fail(f"le Service {name} mène au port {port} des pods",
                                 f"ports cibles : {sorted(map(str, targets)) or 'aucun'}",
                                 f"`ports: [{{port: {port}, targetPort: {port}}}]`."))
    if problems:
        raise several(problems)
    return "db → 5432, api → 8000"


# -- the manifests, played ------------------------------------------------------------------------
def grader_secret(g: Grading) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": SECRET}, "type": "Opaque",
            "stringData": {SECRET_KEY: g.once("password", lambda: secrets.token_urlsafe(18))}}


def played(g: Grading) -> Played:
    """Built, played and ready once per grading."""
    def make() -> Played:
        sandbox = podman(g)
        theirs = [d for d in docs(g) if not (d.kind == "Secret" and d.name == SECRET)]
        built = g.build("api", context="api") if (g.workdir / "api" / "Dockerfile").is_file() else None
        images = {name: built.tag for name in API_IMAGES} if built else {}
        manifest, ports, notes = rewrite(theirs, g.job, sandbox.labels, images, extra=[grader_secret(g)])
        g.notes.extend(n for n in notes if n not in g.notes)
        result = Played(manifest, ports, theirs)
        play(g, result, timeout=g.remaining(180))
        for name in ("db", "api"):
            wait_ready(g, deployment(g, name), timeout=g.remaining(READY_S))
        return result
    return g.once("kube-played", make)


def running(g: Grading, name: str) -> dict:
    played(g)
    return wait_ready(g, deployment(g, name), timeout=g.remaining(30))


def main_running(g: Grading, name: str, found: dict | None = None):
    """The running main container of Deployment ``name`` (named ``name`` or not: :func:`main_container`)."""
    found = running(g, name) if found is None else found
    return found[main_container(deployment(g, name)).get("name")]


@LAB.check("13-pods-ready", "`podman kube play` : les pods db et api démarrent et leurs sondes réussissent",
           1.5, requires=["13-manifests-valid"])
def pods_ready(g: Grading):
    since = time.monotonic()
    played(g)
    return f"pods {g.job}-db-pod et {g.job}-api-pod prêts ({elapsed(since)})"


@LAB.check("13-api-published", "L'api répond sur 127.0.0.1:8080 et joint la base d'un autre pod", 1,
           requires=["13-pods-ready"])
def api_published(g: Grading):
    c = main_container(deployment(g, "api"))
    ports = [p for p in c.get("ports") or [] if isinstance(p, dict) and p.get("containerPort") == API_PORT]
    if not ports or ports[0].get("hostPort") != HOST_PORT:
        raise NotYet(f"le port {API_PORT} de api publié sur l'hôte ({HOST_PORT})",
                     f"ports déclarés : {c.get('ports') or 'aucun'}",
                     f"`ports: [{{containerPort: {API_PORT}, hostPort: {HOST_PORT}, hostIP: 127.0.0.1}}]`.")
    if str(ports[0].get("hostIP") or "") != "127.0.0.1":
        raise Fail("une publication sur l'interface locale seulement (`hostIP: 127.0.0.1`)",
                   f"hostIP = {ports[0].get('hostIP') or 'absent : toutes les interfaces'}",
                   "ajoutez `hostIP: 127.0.0.1` : sans lui, l'api est joignable depuis tout le réseau.",
                   rule="CIS 5.14")
    declared = env_value(c, docs(g), "DB_HOST")
    services = sorted(d.name for d in find(docs(g), "Service"))
    if declared and declared not in services and declared not in ("localhost", "127.0.0.1", "::1"):
        raise Fail("DB_HOST nomme le Service de la base (`db`) : le même nom marche avec Podman et dans un cluster",
                   f"DB_HOST = `{declared}`, qui n'est aucun Service des manifestes ({', '.join(services) or 'aucun'})",
                   "Podman répond aussi au nom du pod (`db-pod`), mais un cluster n'a que le Service : mettez "
                   "`DB_HOST: db` et nommez `db` le conteneur de la base (Podman répond au nom des conteneurs).")
    ct = main_running(g, "api")
    port = host_port(ct, API_PORT)
    url = f"http://{engine_host()}:{port}/db"
    try:
        with urllib.request.urlopen(url, timeout=8) as resp:  # noqa: S310 - the job's own port
            body = json.loads(resp.read(65536) or b"{}")
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read(65536) or b"{}") if exc.code == 503 else {"error": f"HTTP {exc.code}"}
    except (OSError, ValueError) as exc:
        raise Fail("GET /db répond par le port publié", f"{url} : {exc}",
                   "vérifiez que l'api écoute sur 8000 (`podman logs`).") from None
    if not body.get("reachable"):
        declared = env_value(c, docs(g), "DB_HOST")
        local = declared in ("localhost", "127.0.0.1", "::1")
        raise Fail("l'api joint PostgreSQL (`GET /db` : reachable true)", json.dumps(body, ensure_ascii=False),
                   (f"DB_HOST vaut `{declared}` : dans un conteneur, c'est le conteneur lui-même (le pod de "
                    "l'api), pas la base. " if local else "") +
                   "Podman ne crée pas de Service : son DNS répond au nom des pods, de leur hostname et de "
                   "leurs conteneurs. Nommez le conteneur de la base `db` et mettez `DB_HOST: db` dans le "
                   "ConfigMap de l'api (le même nom que le Service db dans un cluster).")
    return f"GET /db → {body.get('db_host')} joint ({body.get('address')})"


@LAB.check("13-limits-applied", "Limites appliquées aux conteneurs (inspect) : db 512Mi/0,5 CPU, api 128Mi/0,25",
           1, requires=["13-pods-ready"])
def limits_applied(g: Grading):
    problems, seen = [], []
    for name in ("db", "api"):
        ct = main_running(g, name)
        host = ct.attrs.get("HostConfig") or {}
        memory = host.get("Memory") or 0
        nano = host.get("NanoCpus") or (host.get("CpuQuota") or 0) * 10**9 // (host.get("CpuPeriod") or 100000)
        want_mem, want_cpu, mem_txt, cpu_txt = LIMITS[name]
        seen.append(f"{name} : Memory={memory}, CPU={nano / 1e9:g}")
        if memory != want_mem or nano != want_cpu:
            problems.append(Fail(f"{name} : Memory = {want_mem}, {want_cpu / 1e9:g} CPU",
                                 f"Memory = {memory}, {nano / 1e9:g} CPU",
                                 f"`resources: limits: {{memory: {mem_txt}, cpu: {cpu_txt}}}` dans le conteneur "
                                 f"{name} ; sans limite, le correcteur impose 1 Gio et 1 CPU."))
    if problems:
        raise several(problems)
    return "; ".join(seen)


@LAB.check("13-secret-file",
           "Le mot de passe arrive en fichier (Secret monté), absent de l'environnement et d'inspect", 1,
           requires=["13-pods-ready"])
def secret_file(g: Grading):
    password = g.once("password", lambda: "")
    sandbox = podman(g)
    db = main_running(g, "db")
    for name in ("db", "api"):
        ct = main_running(g, name)
        if password in json.dumps(ct.attrs):
            raise Fail("le mot de passe absent de `podman inspect` (Env, Cmd, Labels…)",
                       f"le mot de passe du Secret apparaît dans l'inspect du conteneur {name}",
                       "ne passez pas le Secret par `env: valueFrom: secretKeyRef` : montez-le en volume "
                       "(`secret: {secretName: db-credentials}`) et lisez-le avec POSTGRES_PASSWORD_FILE.")
    env = dict(e.split("=", 1) for e in (db.attrs.get("Config") or {}).get("Env") or [] if "=" in e)
    path = env.get("POSTGRES_PASSWORD_FILE", "")
    if not path:
        raise Fail("POSTGRES_PASSWORD_FILE : le chemin du fichier du Secret",
                   "POSTGRES_PASSWORD_FILE absent de l'environnement du conteneur db",
                   "montez le Secret db-credentials dans /run/secrets/db et mettez "
                   "`POSTGRES_PASSWORD_FILE: /run/secrets/db/password`.")
    code, out = sandbox.exec(db, ["cat", path])
    if code != 0 or out.strip() != password:
        raise Fail(f"{path} contient le mot de passe du Secret db-credentials (clé password)",
                   f"code {code} : {out.strip()[-200:] if password not in out else '(autre contenu)'}",
                   "le volume `secret:` monte une clé par fichier : le dossier monté contient `password`.")
    user = env.get("POSTGRES_USER", "postgres")
    code, out = sandbox.exec(db, ["sh", "-c", f'PGPASSWORD="$(cat "{path}")" psql -X -h 127.0.0.1 -U "{user}" '
                                                f'-d "${{POSTGRES_DB:-{user}}}" -tAc "select 1"'])
    if code != 0 or out.strip() != "1":
        raise Fail("PostgreSQL accepte ce mot de passe (connexion TCP avec lui)", f"code {code} : {out.strip()[-300:]}",
                   "la base a peut-être été initialisée avec un autre mot de passe : le volume garde "
                   "l'ancien ; `podman kube down --force` efface le volume.")
    return f"{path} monté depuis le Secret ; absent d'Env et d'inspect ; connexion acceptée"


@LAB.check("13-non-root", "Tous les conteneurs des pods tournent sans être root (`id -u`)", 1,
           requires=["13-pods-ready"])
def non_root(g: Grading):
    sandbox = podman(g)

    def uid(label, ct, spec) -> str:
        return f"{label} : uid {user_id(sandbox, ct)}"

    played(g)
    found = each_container(g, [deployment(g, "db"), deployment(g, "api")], uid)
    root = [f for f in found if f.endswith(" uid 0")]
    if root:
        raise Fail("un uid différent de 0 dans chaque conteneur", "; ".join(found),
                   "`securityContext: {runAsNonRoot: true, runAsUser: …}` dans le modèle de pod : 999 "
                   "(l'utilisateur postgres de l'image) pour db, 65534 (nobody) pour api.", rule="CIS 4.1")
    return "; ".join(found)


@LAB.check("13-data-survives", "Les données survivent à `kube down` puis `kube play` (le volume du claim)", 1,
           requires=["13-pods-ready"])
def data_survives(g: Grading):
    sandbox = podman(g)
    result = played(g)
    token = secrets.token_hex(6)
    db = main_running(g, "db")
    psql(sandbox, db, f"CREATE TABLE IF NOT EXISTS correcteur (jeton text); INSERT INTO correcteur VALUES ('{token}')")
    try:
        sandbox.down(result.manifest, timeout=g.remaining(90))
    except DockerStepError as exc:
        raise Fail("`podman kube down` retire les pods", str(exc), "relancez `podman kube down k8s/…`.") from None
    play(g, result, timeout=g.remaining(120))
    db = main_running(g, "db", wait_ready(g, deployment(g, "db"), timeout=g.remaining(READY_S)))
    table = psql(sandbox, db, "SELECT to_regclass('correcteur') IS NOT NULL")  # gone with an emptyDir
    rows = psql(sandbox, db, f"SELECT count(*) FROM correcteur WHERE jeton = '{token}'") if table == "t" else "0"
    if rows.strip() != "1":
        raise Fail("la ligne écrite avant `kube down` est encore là après `kube play`",
                   "aucune ligne avec ce jeton" if rows.strip() in ("", "0") else f"{rows.strip()} lignes",
                   "montez le PersistentVolumeClaim db-data sur /var/lib/postgresql/data (là où PostgreSQL "
                   "écrit) : un `emptyDir` disparaît avec le pod.")
    return "ligne relue après kube down + kube play"


# ---------------------------------------------------------------------------------------------
# Questions de cours: this lab's quiz questions and their checkers, listed by autograder.registry and
# graded in the notebook by autograder.classroom.quiz (answers are parsed, never executed)
# ---------------------------------------------------------------------------------------------
def _pvc(r: str) -> None:
    v = valeur(r).replace(" ", "")
    if v == "PersistentVolumeClaim":
        return
    hints = {"persistentvolumeclaim": "Le `kind` s'écrit avec ses majuscules : `PersistentVolumeClaim`.",
             "pvc": "« PVC » est l'abréviation : le champ `kind` veut le nom complet.",
             "persistentvolume": "Un PersistentVolume est le stockage fourni par le cluster ; l'application en "
                                 "*demande* un.",
             "volume": "`volumes:` est une clé du pod, pas un `kind`."}
    raise Faux(hints.get(v.lower(), ""))


def _pod_dns(r: str) -> None:
    v = valeur(r).lower()
    if v == "api-pod":
        return
    hints = {"api": "Dans un cluster, le Service `api` porte ce nom ; Podman ne crée pas de Service.",
             "api-pod-api": "C'est le nom du *conteneur* pour Podman (pod + conteneur), pas celui du pod."}
    raise Faux(hints.get(v, ""))


QUESTIONS = [
    question("13-q-pvc",
             "Quel `kind` Kubernetes une application écrit-elle pour demander un volume persistant (que "
             "`podman kube play` transforme en volume nommé) ?",
             "reponse_pvc", VALEUR,
             "la *demande* de stockage, avec ses majuscules. Voir la section 2, « Le volume de la base ».",
             _pvc),
    question("13-q-pod-dns",
             "`podman kube play` lance un `Deployment` nommé `api`. Quel est le nom du pod qu'il crée ?",
             "reponse_pod_dns", VALEUR,
             "Podman ajoute un suffixe au nom du Deployment. Voir la section 3, « Ce que Podman fait (et ne fait "
             "pas) ».",
             _pod_dns),
]
