"""Questions de cours: the autograded question cells of the lab notebooks.

Each lab module (``autograder/labs/labNN_*.py``) ends with its two questions (``QUESTIONS``) and
their checkers; :func:`autograder.registry.all_questions` derives the list from the lab modules, as
the list of labs is derived. A question (:class:`autograder.readers.answers.Question`) has a stable
id (``NN-q-slug``, never reused), a French prompt, the name of the answer variable, its points, its
kind (a command, a multiple choice, a short value), a French explanation shown when the answer is
wrong (what was expected, in words, and where the lab explains it) and a checker.

:mod:`autograder.classroom.nbgrade` generates, for each question, a prompt cell, an nbgrader answer cell
(``reponse_xxx = ""``, the student writes there) and a locked grade cell::

    from autograder.classroom.quiz import corriger
    corriger("02-q-volumes", reponse_volumes)

Answers are graded on their meaning, not their text (:mod:`autograder.readers.answers`): a command
is split with :mod:`shlex` and every valid spelling passes (``docker volume ls`` or ``list``,
``docker ps -a`` or ``docker container ls --all``, with ``-q`` or ``--format``…); a multiple choice
is a set of letters in any order, case or separator. The student's answer is never executed. The
reference answers live in the tests (``tests/nbgrader/quiz_answers.toml``), not in the notebooks.
"""

from __future__ import annotations

import json
import re

from autograder.readers.answers import (CHOIX, COMMANDE, INSPECT, LS_CONTAINERS, POINTS, VALEUR, Faux, Question,
                                        choix, docker_command, mots, question, spec, texte, valeur)
from autograder.registry import all_questions

__all__ = ["CHOIX", "COMMANDE", "POINTS", "QUESTIONS", "VALEUR", "Faux", "Question", "corriger", "evaluer",
           "get", "questions", "total"]


def __getattr__(name: str):
    """``QUESTIONS``: every lab's questions, derived from the lab modules when first asked for (so
    that importing this module does not import the labs)."""
    if name == "QUESTIONS":
        return _all()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# TRANSITIONAL (issue 18): the questions of labs whose module does not hold them yet.
def _all() -> tuple[Question, ...]:
    moved = all_questions()
    done = {q.lab for q in moved}
    return tuple(sorted(moved + tuple(q for q in _LEGACY if q.lab not in done), key=lambda q: q.lab))


# ---------------------------------------------------------------------------------------------
# Checkers that need more than a letter set
# ---------------------------------------------------------------------------------------------
def _tous_conteneurs(r: str) -> None:
    ligne = docker_command(r, {("container", "ls"): LS_CONTAINERS})
    if ligne.args:
        raise Faux("Cette commande ne prend pas d'argument.")
    if not ligne.has("--all"):
        raise Faux("Sans `-a` (`--all`), seuls les conteneurs en cours d'exécution sont listés.")
    if ligne.has("--filter") or ligne.has("--last") or ligne.has("--latest"):
        raise Faux("Un filtre (`--filter`, `-n`, `-l`) ne garde qu'une partie des conteneurs.")


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


def _semver(r: str) -> None:
    v = valeur(r).lower().removeprefix("v")
    if v == "2.0.0":
        return
    hints = {"1.3.0": "`1.3.0` annonce une nouveauté compatible ; supprimer une route ne l'est pas.",
             "1.2.1": "`1.2.1` annonce une correction de bug.",
             "2": "Écrivez les trois nombres MAJEUR.MINEUR.CORRECTIF.",
             "2.0": "Écrivez les trois nombres MAJEUR.MINEUR.CORRECTIF."}
    if v in hints:
        raise Faux(hints[v])
    if re.fullmatch(r"2\.\d+\.\d+", v):
        raise Faux("Quand MAJEUR augmente, MINEUR et CORRECTIF repartent à 0.")
    raise Faux("")


def _copy_from(r: str) -> None:
    s = r.strip()
    m = re.match(r"^(\w+)\s+(.*)$", s)
    if not m:
        raise Faux("")
    instr, rest = m.group(1).upper(), m.group(2)
    if instr == "RUN":
        raise Faux("`RUN cp` ne voit que le système de fichiers de l'étape en cours, pas l'étape `build`.")
    if instr == "ADD":
        raise Faux("`ADD` n'a pas d'option pour lire une autre étape (et on lui préfère `COPY`).")
    if instr != "COPY":
        raise Faux("C'est une instruction `COPY` qu'il faut.")
    flags: dict[str, str] = {}
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        name, eq, value = flag.partition("=")
        if name not in ("--from", "--chown", "--chmod", "--link"):
            raise Faux(f"Option inattendue ici : `{name}`.")
        if name != "--link" and not eq:
            raise Faux(f"Dans un Dockerfile, une option s'écrit `{name}=valeur`.")
        flags[name] = value
        rest = rest.strip()
    if rest.startswith("["):
        try:
            paths = json.loads(rest)
        except ValueError:
            raise Faux("La forme tableau JSON est mal écrite.") from None
    else:
        paths = mots(rest)
    if "--from" not in flags:
        raise Faux("Sans `--from`, `COPY` lit le contexte de build (votre dossier), pas l'étape `build`.")
    if flags["--from"] != "build":
        raise Faux("`--from` doit nommer l'étape de compilation.")
    if len(paths) != 2 or paths[0].rstrip("/") != "/src/csvstat" or \
            paths[1] not in ("/usr/local/bin/csvstat", "/usr/local/bin/", "/usr/local/bin"):
        raise Faux("La source est le binaire compilé, la destination `/usr/local/bin/csvstat` (ou le dossier).")


def _no_cache_dir(r: str) -> None:
    toks = mots(r)
    if "--no-cache-dir" in toks:
        if toks in (["--no-cache-dir"],) or toks[:2] in (["pip", "install"], ["pip3", "install"]) or \
                toks[1:4] == ["-m", "pip", "install"]:
            return
    if "--no-cache" in toks:
        raise Faux("`--no-cache` est une option de `docker build` (reconstruire sans le cache de Docker), "
                   "pas de pip.")
    if any(t.startswith("PIP_NO_CACHE_DIR") for t in toks):
        raise Faux("C'est la variable d'environnement équivalente ; la question demande l'option de "
                   "`pip install`.")
    raise Faux("")


def _verrou(r: str) -> None:
    v = valeur(r).rstrip("/").split("/")[-1]
    if v == "poetry.lock":
        return
    if v.lower() == "poetry.lock":
        raise Faux("Les noms de fichiers sont sensibles à la casse.")
    hints = {"pyproject.toml": "`pyproject.toml` déclare des bornes (`>=2.9,<3.0`), il ne verrouille rien.",
             "requirements.txt": "`requirements.txt` est le fichier de pip, et il ne fixe pas les hashes "
                                 "sans outil de plus.",
             "environment.yml": "`environment.yml` est le fichier de conda."}
    raise Faux(hints.get(v, ""))


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


def _short_sha(r: str) -> None:
    v = valeur(r)
    v = re.sub(r"^\$\{?([A-Za-z_]+)\}?$", r"\1", v)
    if v == "CI_COMMIT_SHORT_SHA":
        return
    if v.upper() == "CI_COMMIT_SHORT_SHA":
        raise Faux("Les noms de variables sont sensibles à la casse.")
    hints = {"CI_COMMIT_SHA": "`CI_COMMIT_SHA` est le commit complet (40 caractères) ; la question "
                              "demande la forme courte.",
             "CI_COMMIT_REF_NAME": "C'est le nom de la branche ou du tag git : il désigne un état qui change.",
             "CI_COMMIT_BRANCH": "C'est le nom de la branche : il désigne un état qui change.",
             "latest": "`latest` n'est pas traçable : c'est justement le piège."}
    raise Faux(hints.get(v, ""))


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


# ---------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------
_q = question


_LEGACY: list[Question] = [
    # 01 — images et conteneurs
    _q("01-q-tous-conteneurs",
       "Quelle commande liste **tous** les conteneurs de la machine, y compris ceux qui sont arrêtés ?",
       "reponse_tous_conteneurs", COMMANDE,
       "la commande qui liste les conteneurs, avec l'option qui ajoute les conteneurs arrêtés (forme "
       "courte ou `docker container …`). Voir « Essayez à la main » dans ce TP.",
       _tous_conteneurs),
    _q("01-q-cache",
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
    # 02 — volumes
    _q("02-q-volumes",
       "Quelle commande liste les volumes Docker de la machine (tous projets confondus) ?",
       "reponse_volumes", COMMANDE,
       "la commande de gestion des volumes suivie de l'action qui les liste (options `-q`, "
       "`--format`, `--filter` permises). Voir la section 11, « Arrêter : `down` ou `down -v` ? ».",
       _volumes),
    _q("02-q-down-v",
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
    # 03 — réseaux
    _q("03-q-nom-db",
       "Avec `DB_HOST=localhost`, l'API de ce TP obtient *Connection refused* en joignant "
       "PostgreSQL. Quelle valeur faut-il donner à `DB_HOST` dans le `compose.yaml` du TP ?",
       "reponse_nom_db", VALEUR,
       "le nom que le DNS intégré de Docker résout sur le réseau commun : celui du service de la "
       "base dans `compose.yaml`, stable d'un `up` à l'autre (le port 5432 peut suivre). Voir la section 1, « Les réseaux Docker en "
       "bref », ses paragraphes sur le DNS intégré et sur `localhost` dans un conteneur.",
       _nom_db),
    _q("03-q-inspect-reseau",
       "Quelle commande montre les conteneurs branchés sur le réseau `03-reseaux_backend` ?",
       "reponse_inspect_reseau", COMMANDE,
       "la commande qui inspecte ce réseau-là (elle liste ses conteneurs et leurs adresses), ou une "
       "liste de conteneurs filtrée sur ce réseau. Voir la section 7, « Inspecter les réseaux ».",
       _inspect_reseau),
    # 04 — registre
    _q("04-q-digest",
       "Laquelle de ces références désigne **toujours** exactement la même image, quoi qu'on pousse "
       "ensuite ?",
       "reponse_digest", CHOIX,
       "la référence par empreinte du manifeste, immuable ; une étiquette, même précise, est un nom "
       "mobile. Voir « Étiquette ou digest ? » et « Pourquoi `latest` est un piège ».",
       choix("C", indices={"A": "`latest` est une étiquette comme une autre : un push la déplace.",
                           "B": "Une étiquette de version peut être repoussée avec un autre contenu.",
                           "D": "Sans étiquette, c'est `latest` qui est pris."}),
       [("A", "`registre/meteo:latest`"), ("B", "`registre/meteo:1.2.0`"),
        ("C", "`registre/meteo@sha256:3f1c…` (64 caractères hexadécimaux)"),
        ("D", "`registre/meteo`")]),
    _q("04-q-semver",
       "L'image `meteo` est publiée en `1.2.0`. Vous supprimez une route de l'API. Quel est le "
       "numéro de la prochaine version (SemVer) ?",
       "reponse_semver", VALEUR,
       "un changement incompatible fait monter le MAJEUR et remet les deux autres nombres à zéro. "
       "Voir « Versionnement sémantique (SemVer) ».",
       _semver),
    # 05 — optimisation
    _q("05-q-copy-from",
       "Dans un `Dockerfile` multi-étapes dont l'étape de compilation s'appelle `build`, écrivez "
       "l'instruction qui copie le binaire `/src/csvstat` de cette étape vers "
       "`/usr/local/bin/csvstat` de l'image finale.",
       "reponse_copy_from", COMMANDE,
       "une instruction `COPY` avec l'option qui lit dans une autre étape, nommée par son nom, puis la "
       "source et la destination. Voir « Pourquoi plusieurs étapes ? ».",
       _copy_from),
    _q("05-q-couches",
       "Pourquoi un `RUN apt-get purge -y gcc` à la fin d'une image en une seule étape ne la fait-il "
       "pas maigrir ?",
       "reponse_couches", CHOIX,
       "la raison tient aux couches : une suppression masque un fichier sans le retirer de la couche "
       "qui l'a créé. Voir la fin de « Pourquoi plusieurs étapes ? ».",
       choix("A"),
       [("A", "Les fichiers supprimés restent stockés (et téléchargés) dans la couche qui les a créés."),
        ("B", "`apt-get purge` ne supprime pas les fichiers des paquets."),
        ("C", "Docker rajoute `gcc` à la fin de chaque construction."),
        ("D", "Le cache de construction de Docker garde une copie de `gcc` dans l'image.")]),
    # 06 — sécurité
    _q("06-q-secret-env",
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
    _q("06-q-forme-exec",
       "Laquelle de ces instructions est une `CMD` en forme exec **qui fonctionne** ?",
       "reponse_forme_exec", CHOIX,
       "un tableau JSON dont chaque élément est un argument séparé (pas de shell intermédiaire, le "
       "processus reçoit les signaux). Voir le point 7 de « Ce que vous devez faire ».",
       choix("A", indices={"D": "Un seul élément : Docker chercherait un programme nommé `python app.py`.",
                           "B": "Sans tableau, c'est la forme shell (`/bin/sh -c`)."}),
       [("A", '`CMD ["python", "app.py"]`'), ("B", "`CMD python app.py`"),
        ("C", "`CMD 'python', 'app.py'`"), ("D", '`CMD ["python app.py"]`')]),
    # 07 — dépendances
    _q("07-q-no-cache-dir",
       "Quelle option de `pip install` évite de laisser le cache de téléchargement de pip dans la "
       "couche de l'image ?",
       "reponse_no_cache_dir", VALEUR,
       "l'option de pip qui désactive son répertoire de cache (hadolint DL3042). Voir la règle 2 de "
       "« Trois règles pour le Dockerfile ».",
       _no_cache_dir),
    _q("07-q-verrou",
       "Avec Poetry, quel fichier fixe les versions exactes, dépendances indirectes et empreintes "
       "(hash) comprises, et se versionne avec le code ?",
       "reponse_verrou", VALEUR,
       "le fichier de verrou que Poetry écrit à côté de `pyproject.toml`. Voir « pip, Poetry, conda : "
       "que choisir ? ».",
       _verrou),
    # 08 — PostgreSQL
    _q("08-q-initdb",
       "Dans quel dossier **du conteneur** `postgres` faut-il monter les scripts SQL pour qu'ils "
       "s'exécutent au premier démarrage ?",
       "reponse_initdb", VALEUR,
       "le chemin absolu du dossier que le point d'entrée de l'image `postgres` parcourt quand le "
       "répertoire de données est vide. Voir la section 1, « Les scripts d'initialisation ».",
       _initdb),
    _q("08-q-exec-t",
       "Quelle option de `docker compose exec` faut-il pour rediriger la sortie de `pg_dump` dans un "
       "fichier (`> sauvegarde.sql`) sans la corrompre ?",
       "reponse_exec_t", VALEUR,
       "l'option qui supprime le pseudo-terminal (la casse compte). Voir la section 3, « Sauvegarde "
       "et restauration ».",
       _exec_t),
    # 09 — pipeline
    _q("09-q-ponctuel",
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
    _q("09-q-run-dbt",
       "Quelle commande lance une fois le service ponctuel `dbt` (avec ce dont il dépend) et "
       "supprime son conteneur quand il a fini ?",
       "reponse_run_dbt", COMMANDE,
       "la sous-commande de Compose v2 qui exécute un service une fois, avec l'option qui supprime "
       "le conteneur à la fin, suivie du nom du service. Voir la section 4, « L'image dbt et le "
       "service ponctuel ».",
       _run_dbt),
    # 10 — CI/CD
    _q("10-q-socket",
       "Pourquoi le correcteur refuse-t-il qu'un job monte `/var/run/docker.sock` de l'hôte ? (toutes "
       "les bonnes réponses)",
       "reponse_socket", CHOIX,
       "ce que donne le pilotage du démon de la machine du runner : les droits de root sur l'hôte et "
       "la main sur les conteneurs des autres jobs. Voir la section 2, « Construire une image "
       "dans un job : dind ou la socket de l'hôte ? ».",
       choix("A", "B", indices={"C": "C'est au contraire rapide (le cache est partagé).",
                                "D": "`docker build` y fonctionne très bien : c'est le problème."}),
       [("A", "qui pilote ce démon est root sur l'hôte"),
        ("B", "le job peut voir, inspecter et arrêter les conteneurs des autres jobs"),
        ("C", "c'est plus lent que Docker-in-Docker"),
        ("D", "`docker build` ne fonctionne pas avec la socket de l'hôte")]),
    _q("10-q-short-sha",
       "Quelle variable prédéfinie de GitLab CI donne l'étiquette **traçable** d'une image : le "
       "commit court ?",
       "reponse_short_sha", VALEUR,
       "la variable de GitLab qui contient les 8 premiers caractères du commit. Voir la section 3, "
       "« Tags et `latest` ».",
       _short_sha),
    # 11 — ressources
    _q("11-q-code-oom",
       "Un conteneur limité à 256 Mo dépasse sa limite et le tueur OOM l'arrête. Quel est son code "
       "de sortie ?",
       "reponse_code_oom", VALEUR,
       "le code d'un processus tué par `SIGKILL` : 128 plus le numéro de ce signal. Voir la section 2, "
       "sur le tueur OOM.",
       _code_oom),
    _q("11-q-oomkilled",
       "Quelle commande dit si le conteneur arrêté `gourmand` a été tué par le tueur OOM ?",
       "reponse_oomkilled", COMMANDE,
       "l'inspection du conteneur, qui contient le champ d'état posé par Docker quand le noyau l'a "
       "tué pour la mémoire (un `--format` peut n'afficher que lui). Voir la section 2, "
       "« Le tueur OOM et le code 137 ».",
       _oomkilled),
    # 12 — secrets
    _q("12-q-chemin-secret",
       "Un service qui déclare `secrets: [db_password]` : à quel chemin du conteneur Compose "
       "monte-t-il ce secret ?",
       "reponse_chemin_secret", VALEUR,
       "le fichier monté en lecture seule dans le dossier des secrets du conteneur, au nom du secret "
       "(c'est ce chemin que reçoit `POSTGRES_PASSWORD_FILE`). Voir la section 1, « Secrets Compose ».",
       _chemin_secret),
    _q("12-q-durcir",
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

def questions(lab: str) -> list[Question]:
    """The questions of ``lab`` (its number or its id), in its module's order."""
    return [q for q in _all() if q.lab == lab[:2]]


def total(lab: str) -> float:
    return sum(q.points for q in questions(lab))


def get(question_id: str) -> Question:
    for q in _all():
        if q.id == question_id:
            return q
    raise KeyError(question_id)


def _fmt(x: float) -> str:
    """A number as French text writes it: 1,5 (decimal comma), 10."""
    return f"{x:g}".replace(".", ",")


def evaluer(question_id: str, reponse) -> tuple[bool, str]:
    """(right, French message) for ``reponse``; the answer is parsed, never executed."""
    q = get(question_id)
    head = f"{q.id} ({_fmt(q.points)} pt)"
    s = texte(reponse)
    if not s:
        return False, (f"{head} : pas de réponse. Écrivez-la entre les guillemets de "
                       f"`{q.variable} = \"\"` dans la cellule au-dessus, exécutez-la, puis celle-ci.")
    try:
        q.check(s)
    except Faux as exc:
        lines = [f"{head} : réponse incorrecte.", f"Votre réponse : {s}"]
        if str(exc):
            lines.append(str(exc))
        lines.append(f"Attendu : {q.explanation}")
        return False, "\n".join(lines)
    return True, f"✔ {head} : bonne réponse."


def corriger(question_id: str, reponse) -> None:
    """What a question's grade cell calls: print one ✔ line when right; raise AssertionError with
    the French explanation otherwise. Nothing goes to stderr."""
    ok, message = evaluer(question_id, reponse)
    if not ok:
        raise AssertionError(message)
    print(message)
