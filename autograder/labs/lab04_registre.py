"""Lab 04 — registre: tag, version, push, pull.

The student writes ``publier.sh``, which builds the provided image, tags it with the
semantic version read from ``VERSION`` and an immutable tag (the short commit,
``CI_COMMIT_SHORT_SHA``), adds the OCI labels and pushes to the registry named by
``REGISTRY``. The grader starts its own ``registry:2`` on a free 127.0.0.1 port,
writes a random version into ``VERSION``, picks a random commit, runs the script and
judges what arrived through the registry's HTTP API, then pulls the image back and runs it.

The script is untrusted code that drives Docker: it runs in a throwaway container
(no outside network, no capabilities, read-only root, limits, the job label) where ``docker``
comes from the course's CLI image and ``DOCKER_HOST`` is :class:`~autograder.engine.apiproxy.ApiProxy`,
an allow-list of the Docker API (build, tag, push and pull to the grader's registry only); see
:mod:`autograder.probes.scripts`. The daemon pushes to the registry as ``127.0.0.1:PORT`` (a registry
the engine trusts over plain HTTP); the grader reads it where it reaches published ports
(:func:`~autograder.engine.docker_api.engine_host`).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

import docker.errors

from autograder.engine.apiproxy_policy import Policy
from autograder.core import Fail, Lab
from autograder.engine.imagefacts import is_podman
from autograder.probes.containers import host_port
from autograder.probes.http import wait_http_ok
from autograder.probes.scripts import run_script
from autograder.probes.registry_http import RegistryApi, RegistryError, parse_rfc3339, pull_plain_http, recent, wait_registry
from autograder.engine.runner import Grading
from autograder.engine.docker_api import DockerStepError, engine_host
from autograder.readers.answers import CHOIX, VALEUR, Faux, choix, question, valeur

LAB = Lab(
    id="04-registre",
    title="Registre d'images : étiqueter, versionner, pousser, tirer",
    files=("publier.sh",),
    budget_s=300,
)

IMAGE = "meteo"
SCRIPT = "publier.sh"
VERSION_FILE = "VERSION"
PORT = 8000
HEALTH = "/health"
REGISTRY_IMAGE = "registry:2"
IN_LAB = "/lab/04-registre"
# The script works on a copy in memory: what it writes is bounded and never reaches the host's disk.
LAB_TMPFS = "mode=1777,size=256m"
SCRIPT_TIMEOUT_S = 180
LABEL_VERSION = "org.opencontainers.image.version"
LABEL_SOURCE = "org.opencontainers.image.source"
LABEL_CREATED = "org.opencontainers.image.created"


@dataclass
class Publication:
    api: RegistryApi
    version: str
    commit: str
    code: int = 0
    timed_out: bool = False
    limit_s: float = SCRIPT_TIMEOUT_S
    log: str = ""
    refused: list[str] = field(default_factory=list)
    registry: str = ""  # the registry as the daemon and the script name it (127.0.0.1:PORT)

    @property
    def host(self) -> str:
        return self.registry or self.api.host


def remove_host_tags(sandbox, prefixes: tuple[str, ...]) -> None:
    """Host tags under the grader's registry or the job's namespace (run when the sandbox closes).

    Images built through the proxy carry the job label and go with the sandbox's sweep (children
    first), but a script may also have tagged an image it did not build.
    """
    client = sandbox.client
    try:
        images = client.images.list()
    except docker.errors.DockerException:
        return
    for image in images:
        for tag in image.tags or []:
            if tag.startswith(prefixes):
                try:
                    client.images.remove(tag, noprune=True)
                except docker.errors.DockerException:
                    pass


def prepare(g: Grading) -> None:
    """A version and a commit the script cannot know in advance."""
    version = f"{2 + secrets.randbelow(8)}.{10 + secrets.randbelow(90)}.{secrets.randbelow(100)}"
    commit = secrets.token_hex(4)
    (g.workdir / VERSION_FILE).write_text(version + "\n")
    g.once("ids", lambda: (version, commit))


LAB.prepare = prepare


def registry(g: Grading) -> RegistryApi:
    """The grader's own registry, on a free 127.0.0.1 port, its storage in memory."""
    def start() -> RegistryApi:
        try:
            c = g.sandbox.run(REGISTRY_IMAGE, suffix="registry", ports=[5000],
                              tmpfs={"/var/lib/registry": ""})
        except DockerStepError as exc:
            raise Fail("le registre du correcteur démarre", str(exc),
                       "problème du correcteur : vérifiez que l'image registry:2 existe (`make images`).") from None
        port = host_port(c, 5000, "127.0.0.1")  # where the daemon pushes
        prefixes = (f"127.0.0.1:{port}/", f"localhost:{port}/", f"{g.job}/")
        g.sandbox.on_close(lambda: remove_host_tags(g.sandbox, prefixes))
        g.once("registry-name", lambda: f"127.0.0.1:{port}")
        api = RegistryApi(f"http://{engine_host()}:{host_port(c, 5000)}")
        wait_registry(api, c, g.remaining(30))
        return api

    return g.once("registry", start)


def publish(g: Grading) -> Publication:
    """Run ``publier.sh`` once per grading, behind the API proxy, with ``REGISTRY`` set."""
    return g.once("publish", lambda: _publish(g))


def _publish(g: Grading) -> Publication:
    api = registry(g)
    version, commit = g.once("ids", lambda: ("0.0.0", "0"))
    name = g.once("registry-name", lambda: api.host)
    port = name.rsplit(":", 1)[1]
    policy = Policy(registries=(name, f"localhost:{port}"), labels=dict(g.sandbox.labels), namespace=g.job)
    run = run_script(g, SCRIPT, policy, workdir=IN_LAB, work_tmpfs=LAB_TMPFS, timeout_s=SCRIPT_TIMEOUT_S,
                     environment={"REGISTRY": name, "CI_COMMIT_SHORT_SHA": commit, "DOCKER_BUILDKIT": "0"})
    return Publication(api, version, commit, code=run.code, timed_out=run.timed_out, limit_s=run.limit_s,
                       log=run.log, refused=run.refused, registry=name)


def _refusals(pub: Publication) -> str:
    if not pub.refused:
        return ""
    return "\nRefusé par le correcteur :\n" + "\n".join(f"- {r}" for r in pub.refused[:5])


@LAB.check("04-publish-runs", f"`{SCRIPT}` s'exécute sans erreur", 1)
def publish_runs(g: Grading):
    pub = publish(g)
    if pub.timed_out:
        raise Fail(f"{SCRIPT} se termine en moins de {int(pub.limit_s)} s",
                   f"toujours en cours, arrêté par le correcteur\n{pub.log[-1500:]}{_refusals(pub)}",
                   "le script (ou une étape RUN du build) attend-il une saisie, comme un `docker login` "
                   "interactif, ou un serveur qui ne répond pas ?")
    if pub.code != 0:
        hint = ("lancez le script vous-même contre un registre local (voir l'énoncé) et corrigez la "
                "première erreur affichée.")
        if "git" in pub.log and "not found" in pub.log:
            hint = ("git n'existe pas là où tourne le correcteur (ni dans une CI sans dépôt) : il fournit le "
                    "commit dans CI_COMMIT_SHORT_SHA ; écrivez `${CI_COMMIT_SHORT_SHA:-$(git rev-parse --short HEAD)}`.")
        elif "buildx" in pub.log.lower() or "buildkit" in pub.log.lower():
            hint = ("le correcteur construit avec le constructeur classique de `docker build` : "
                    "n'imposez ni DOCKER_BUILDKIT=1 ni `docker buildx`.")
        raise Fail(f"`REGISTRY={pub.host} ./{SCRIPT}` se termine avec le code 0",
                   f"code de sortie {pub.code}\n{pub.log[-1500:] or '(aucune sortie)'}{_refusals(pub)}", hint)
    return f"registre {pub.host}, version {pub.version}, commit {pub.commit}"


def _tags(g: Grading) -> tuple[Publication, list[str]]:
    pub = publish(g)
    try:
        return pub, pub.api.tags(IMAGE)
    except (RegistryError, OSError) as exc:
        raise Fail(f"l'API du registre liste les étiquettes de `{IMAGE}`", str(exc),
                   "problème du correcteur : signalez-le à l'enseignant.") from None


ALL_TAGS = re.compile(r"\bpush\s+(?:[^|;&\n]*\s)?(?:-a|--all-tags)\b")


def _all_tags_on_podman(g: Grading, tags: list[str]) -> str:
    """The real cause when only `latest` arrived from a script that pushes `--all-tags` to Podman:
    its Docker-compatible push takes one tag (the name alone means `latest`)."""
    script = g.workdir / SCRIPT
    text = script.read_text(errors="replace") if script.is_file() else ""
    if tags == ["latest"] and ALL_TAGS.search(text) and is_podman(g.sandbox.client):
        return ("`docker push --all-tags` ne pousse que `latest` à travers l'API de Podman (elle pousse une "
                "seule étiquette par requête) : poussez chaque étiquette, `docker push \"$REGISTRY/meteo:$TAG\"`, "
                "ce qui marche aussi avec Docker.")
    return ""


def _version_tag(pub: Publication, tags: list[str]) -> str:
    for tag in (pub.version, "v" + pub.version):
        if tag in tags:
            return tag
    return ""


@LAB.check("04-repository", f"L'image `{IMAGE}` est poussée dans le registre donné par REGISTRY", 1)
def repository(g: Grading):
    pub = publish(g)
    try:
        repos = pub.api.catalog()
    except (RegistryError, OSError) as exc:
        raise Fail("l'API du registre répond (GET /v2/_catalog)", str(exc),
                   "problème du correcteur : signalez-le à l'enseignant.") from None
    if IMAGE in repos:
        return f"dépôts : {', '.join(repos)}"
    if repos:
        hint = (f"l'image doit s'appeler `{IMAGE}` : poussez `${{REGISTRY}}/{IMAGE}:ÉTIQUETTE` "
                f"(trouvé : {', '.join(repos)}).")
    else:
        hint = ("rien n'est arrivé dans le registre : utilisez la variable REGISTRY (pas `localhost:5000` "
                "écrit en dur), étiquetez l'image `${REGISTRY}/meteo:…` et poussez-la avec `docker push`.")
    raise Fail(f"le dépôt `{IMAGE}` dans le registre {pub.host} (GET /v2/_catalog)",
               f"dépôts présents : {', '.join(repos) or 'aucun'}{_refusals(pub)}", hint)


@LAB.check("04-version-tag", "Étiquette = version sémantique lue dans VERSION", 2, requires=["04-repository"])
def version_tag(g: Grading):
    pub, tags = _tags(g)
    if _version_tag(pub, tags):
        return f"étiquettes : {', '.join(tags)}"
    raise Fail(f"l'étiquette `{pub.version}` sur `{IMAGE}` (le correcteur a écrit {pub.version} dans VERSION "
               "avant de lancer le script)",
               f"étiquettes présentes : {', '.join(tags) or 'aucune'}",
               _all_tags_on_podman(g, tags) or _version_hint(tags))


def _version_hint(tags: list[str]) -> str:
    if tags == ["latest"]:
        return ("`latest` seul ne dit pas quelle version tourne et change à chaque push : étiquetez "
                "avec la version (`${REGISTRY}/meteo:${VERSION}`).")
    if "1.2.0" in tags:
        return ("la version est écrite en dur : lisez-la dans le fichier VERSION "
                "(`VERSION=\"$(tr -d '[:space:]' < VERSION)\"`).")
    return "lisez la version dans le fichier VERSION et utilisez-la telle quelle comme étiquette."


@LAB.check("04-immutable-tag", "Étiquette immuable (commit) sur la même image que la version", 2,
           requires=["04-repository"])
def immutable_tag(g: Grading):
    pub, tags = _tags(g)
    matching = [t for t in tags if pub.commit in t]
    if not matching:
        raise Fail(f"une étiquette contenant le commit `{pub.commit}` (variable CI_COMMIT_SHORT_SHA)",
                   f"étiquettes présentes : {', '.join(tags) or 'aucune'}",
                   _all_tags_on_podman(g, tags) or
                   "ajoutez l'étiquette `${CI_COMMIT_SHORT_SHA:-$(git rev-parse --short HEAD)}` et poussez-la : "
                   "une version peut être reconstruite, un commit désigne une seule image.")
    vtag = _version_tag(pub, tags)
    if not vtag:
        return f"étiquette immuable : {matching[0]}"
    try:
        by_version = pub.api.manifest(IMAGE, vtag)
        by_commit = [pub.api.manifest(IMAGE, t) for t in matching]
    except (RegistryError, OSError) as exc:
        raise Fail("l'API du registre renvoie les manifestes", str(exc),
                   "problème du correcteur : signalez-le à l'enseignant.") from None
    digests = {m.digest for m in by_commit if m is not None}
    if by_version is not None and by_version.digest not in digests:
        raise Fail(f"`{vtag}` et `{matching[0]}` désignent la même image (même digest)",
                   f"{vtag} → {by_version.digest}, {matching[0]} → {', '.join(sorted(digests)) or '?'}",
                   "construisez une seule image et donnez-lui les deux étiquettes (deux `--tag` au même "
                   "`docker build`, ou `docker tag`), puis poussez les deux.")
    return f"{matching[0]} → {by_version.digest if by_version else '?'}"


@LAB.check("04-oci-labels", "Labels OCI : version, source, date de création (RFC 3339)", 2,
           requires=["04-version-tag"])
def oci_labels(g: Grading):
    pub, tags = _tags(g)
    vtag = _version_tag(pub, tags)
    try:
        labels = pub.api.labels(IMAGE, vtag) or {}
    except (RegistryError, OSError) as exc:
        raise Fail("l'API du registre renvoie la configuration de l'image", str(exc),
                   "problème du correcteur : signalez-le à l'enseignant.") from None
    problems = []
    if LABEL_VERSION not in labels:
        problems.append(f"{LABEL_VERSION} absent")
    elif labels[LABEL_VERSION] not in (pub.version, "v" + pub.version):
        problems.append(f"{LABEL_VERSION}={labels[LABEL_VERSION]!r} au lieu de {pub.version!r} (contenu de VERSION)")
    if not labels.get(LABEL_SOURCE, "").strip():
        problems.append(f"{LABEL_SOURCE} absent ou vide")
    created = labels.get(LABEL_CREATED)
    if created is None:
        problems.append(f"{LABEL_CREATED} absent")
    else:
        when = parse_rfc3339(created)
        if when is None:
            problems.append(f"{LABEL_CREATED}={created!r} n'est pas une date RFC 3339")
        elif not recent(when):
            problems.append(f"{LABEL_CREATED}={created!r} n'est pas la date du build (écrite en dur ?)")
    if problems:
        raise Fail(f"les labels {LABEL_VERSION} (= VERSION), {LABEL_SOURCE} (URL du dépôt de code) et "
                   f"{LABEL_CREATED} (date du build, RFC 3339) sur l'image `{IMAGE}:{vtag}`",
                   "; ".join(problems),
                   "ajoutez au `docker build` : `--label org.opencontainers.image.version=\"$VERSION\"`, "
                   "`--label org.opencontainers.image.source=https://…`, "
                   "`--label org.opencontainers.image.created=\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"` "
                   "(ou ARG + LABEL dans le Dockerfile).", rule="OCI image-spec annotations")
    shown = ", ".join(f"{k.rsplit('.', 1)[1]}={labels[k]}" for k in (LABEL_VERSION, LABEL_SOURCE, LABEL_CREATED))
    return shown


@LAB.check("04-pull-run", "Tirée du registre par sa version, l'image démarre et répond", 2,
           requires=["04-version-tag"])
def pull_run(g: Grading):
    pub, tags = _tags(g)
    vtag = _version_tag(pub, tags)
    repo = f"{pub.host}/{IMAGE}"
    client = g.sandbox.client
    try:  # the local tag left by the push goes first: what runs next really comes from the registry
        client.images.remove(f"{repo}:{vtag}", noprune=True)
    except docker.errors.DockerException:
        pass
    try:
        pull_plain_http(client, repo, vtag)
    except docker.errors.APIError as exc:
        raise Fail(f"`docker pull {repo}:{vtag}` réussit",
                   str(exc.explanation or exc)[:600],
                   "vérifiez que le push s'est terminé sans erreur (sortie de publier.sh).") from None
    try:
        c = g.sandbox.run(f"{repo}:{vtag}", suffix="app", ports=[PORT])
    except DockerStepError as exc:
        raise Fail(f"l'image `{repo}:{vtag}` démarre", str(exc),
                   "lancez-la avec `docker run` pour voir l'erreur.") from None
    try:
        url = wait_http_ok(c, PORT, HEALTH, timeout=g.remaining(40), sandbox=g.sandbox, workdir=g.workdir,
                           image=f"{repo}:{vtag}")
    finally:  # the image can then be removed children first at the end (see sandbox.sweep)
        try:
            c.remove(force=True)
        except docker.errors.DockerException:
            pass
    return f"{HEALTH} répond 200 ({url.rsplit(':', 1)[0]})"


# ---------------------------------------------------------------------------------------------
# Questions de cours: this lab's quiz questions and their checkers, listed by autograder.registry and
# graded in the notebook by autograder.classroom.quiz (answers are parsed, never executed)
# ---------------------------------------------------------------------------------------------
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


QUESTIONS = [
    question("04-q-digest",
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
    question("04-q-semver",
             "L'image `meteo` est publiée en `1.2.0`. Vous supprimez une route de l'API. Quel est le "
             "numéro de la prochaine version (SemVer) ?",
             "reponse_semver", VALEUR,
             "un changement incompatible fait monter le MAJEUR et remet les deux autres nombres à zéro. "
             "Voir « Versionnement sémantique (SemVer) ».",
             _semver),
]
