"""Lab 10 — CI/CD: a GitLab CI pipeline (build, test, deploy) for a containerised Python project.

Graded on behaviour where this host can: the file is validated against GitLab's CI schema
(check-jsonschema's vendored copy); the jobs are resolved the way GitLab does it (YAML anchors,
`extends`, `default:`, `!reference`, local `include`), and their `rules` / `only` / `except` are
evaluated for a simulated push pipeline on the default branch and on a feature branch; the
grader builds the lab's image and runs the test job's script inside it (network off, GitLab's
predefined variables set), then breaks the application on purpose, rebuilds, and the same script
must fail. No runner, no dind: the build job is read, not run (a dind service needs a privileged
container, which the grader never starts).
"""

from __future__ import annotations

import io
import json
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from autograder.core import Fail, Lab, NotYet, Skip, several
from autograder.engine.runner import Grading
from autograder.engine.docker_api import DockerStepError
from autograder.readers import gitlab_ci
from autograder.readers.gitlab_ci import (commands, docker_ref_parts, docker_refs, expand, image_name, job_env,
                                          job_lines, latest_in, lines_of, needs_of, script_lines, stage_of,
                                          variables_of)
from autograder.readers.answers import CHOIX, VALEUR, Faux, choix, question, valeur

LAB = Lab(
    id="10-ci-cd",
    title="CI/CD : un pipeline GitLab pour une application conteneurisée",
    files=(".gitlab-ci.yml", "tests/test_stats.py"),
    budget_s=600,
)

CI_FILE = ".gitlab-ci.yml"
STAGES = ("build", "test", "deploy")
DEFAULT_BRANCH = "main"
FEATURE_BRANCH = "feature/nouvelle-stat"
PROJECT_PATH = "ecole/tp10"
PROJECT_DIR = f"/builds/{PROJECT_PATH}"
REGISTRY = "registry.gitlab.example.com"
REGISTRY_IMAGE = f"{REGISTRY}/{PROJECT_PATH}"
SHA = "3f9c2a7be41d05c8a6e2f1b9d07c4e5a8b6f1d20"
SHORT_SHA = SHA[:8]
SHA_REF = f"{REGISTRY_IMAGE}:{SHORT_SHA}"
SCHEMA_TIMEOUT_S = 60
JOB_TIMEOUT_S = 120
# Bugs the grader puts into its own copy of the application: the student's tests must catch each.
BUGS = (
    ("summary", "app/stats.py", "    values = list(values)\n", "    values = list(values)[:-1]\n",
     "summary() ignore la dernière valeur (n, moyenne et max faux)"),
    ("alerts", "app/stats.py", "r.temperature >= threshold", "r.temperature <= threshold",
     "alerts() inverse la comparaison au seuil"),
)


# -- the simulated GitLab project and its pipelines ------------------------------------------------
def ci_env(branch: str) -> dict[str, str]:
    """GitLab's predefined variables for a push pipeline on ``branch`` of the lab's project."""
    return gitlab_ci.predefined_variables(branch, default_branch=DEFAULT_BRANCH, project_path=PROJECT_PATH, sha=SHA,
                                          title="Correction du TP 10")


def load_ci(g: Grading) -> dict:
    """The raw configuration, local includes merged in (memoised)."""
    return g.once("ci", lambda: gitlab_ci.load(g.workdir, CI_FILE))


def pipeline(g: Grading) -> tuple[dict, dict[str, dict]]:
    """(global settings, {job name: resolved job}) for visible jobs, defaults applied (memoised)."""
    return g.once("pipeline", lambda: gitlab_ci.resolve(load_ci(g)))


def running_jobs(g: Grading, branch: str) -> dict[str, tuple[dict, dict, str]]:
    """{name: (job, env, when)} of the jobs a push on ``branch`` starts (or offers, if manual)."""
    settings, jobs = pipeline(g)
    return gitlab_ci.running_jobs(settings, jobs, ci_env(branch))


# -- jobs of each stage -----------------------------------------------------------------------------
def jobs_in(g: Grading, stage: str) -> dict[str, dict]:
    _, jobs = pipeline(g)
    return {n: j for n, j in jobs.items() if stage_of(j) == stage}


def build_job(g: Grading) -> tuple[str, dict]:
    """The build-stage job that pushes the commit's image (else the first build-stage job)."""
    settings, _ = pipeline(g)
    candidates = jobs_in(g, "build")
    if not candidates:
        raise NotYet("un job dans l'étape `build`", "aucun job avec `stage: build`",
                     "ajoutez un job `build-image:` avec `stage: build` (TODO 1).")
    for name, job in candidates.items():
        _, pushed, _ = docker_refs(commands(job_lines(job), job_env(settings, job, ci_env(DEFAULT_BRANCH))))
        if SHA_REF in pushed:
            return name, job
    return next(iter(candidates.items()))


def test_job(g: Grading) -> tuple[str, dict]:
    candidates = jobs_in(g, "test")
    if not candidates:
        raise NotYet("un job dans l'étape `test`", "aucun job avec `stage: test` (ni sans `stage:`)",
                     "ajoutez un job `unit-tests:` avec `stage: test` qui lance pytest (TODO 2).")
    settings, _ = pipeline(g)
    for name, job in candidates.items():
        if expand(image_name(job), job_env(settings, job, ci_env(DEFAULT_BRANCH))).lower() == SHA_REF:
            return name, job
    return next(iter(candidates.items()))


# -- static checks ----------------------------------------------------------------------------------
@LAB.check("10-schema", "`.gitlab-ci.yml` valide selon le schéma CI de GitLab", 1.5, static=True)
def schema(g: Grading):
    load_ci(g)  # a missing or unreadable file says so in French first
    if not pipeline(g)[1]:
        raise NotYet("des jobs conformes au schéma de GitLab", "le fichier ne déclare encore aucun job",
                     "écrivez le job de build (TODO 1) : le schéma validera alors de vrais jobs.")
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.gitlab-ci",
               "--data-transform", "gitlab-ci", "-o", "json", "--color", "never", str(g.workdir / CI_FILE)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=SCHEMA_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise Skip(f"check-jsonschema n'a pas répondu en {SCHEMA_TIMEOUT_S} s") from None
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        if "No module named" in proc.stderr:
            raise Skip("check-jsonschema n'est pas installé (pip install -r requirements.txt)") from None
        raise Fail("un fichier que check-jsonschema sait lire", (proc.stderr or proc.stdout).strip()[-300:],
                   "vérifiez la syntaxe YAML.") from None
    problems = [f"{e.get('path', '$')} : {e.get('message', '')}" for e in result.get("errors", [])]
    problems += [str(e.get("message", e)) for e in result.get("parse_errors", [])]
    if result.get("status") != "ok" or problems:
        raise Fail("aucune erreur de schéma (`check-jsonschema --builtin-schema vendor.gitlab-ci`)",
                   "; ".join(problems[:3]) + (f" (et {len(problems) - 3} autres)" if len(problems) > 3 else ""),
                   "corrigez la clé signalée (faute de frappe, mauvaise indentation, liste au lieu de texte) ; "
                   "dans GitLab, l'éditeur de pipeline (Build > Pipeline editor) fait la même validation.")
    return "conforme au schéma de GitLab"


@LAB.check("10-stages", "Étapes build → test → deploy, un job dans chacune", 1, static=True)
def stages(g: Grading):
    settings, jobs = pipeline(g)
    raw = settings["stages"] or []
    declared = [str(s) for s in (raw if isinstance(raw, list) else [raw])]
    order = [s for s in declared if s in STAGES]
    if order != list(STAGES):
        raise Fail("`stages: [build, test, deploy]`, dans cet ordre",
                   f"`stages: {declared}`" if declared else "aucune liste `stages:`",
                   "les étapes s'exécutent dans l'ordre de la liste : construire, puis tester, puis livrer.")
    empty = [s for s in STAGES if not any(stage_of(j) == s for j in jobs.values())]
    if not jobs:
        raise NotYet("au moins un job dans chaque étape", "aucun job encore",
                     "écrivez les jobs des TODO 1 à 3, chacun avec son `stage:`.")
    if empty:
        raise Fail("au moins un job dans chaque étape", "aucun job dans : " + ", ".join(empty),
                   "donnez à chaque job son `stage:` (un job sans `stage:` va dans `test`).")
    for name, job in jobs.items():
        if stage_of(job) == "deploy":
            needs = needs_of(job)
            if needs is not None and not any(stage_of(jobs.get(n, {})) == "test" for n in needs):
                raise Fail(f"le job `{name}` (deploy) attend la fin des tests",
                           f"`needs: {needs}` sans aucun job de l'étape test",
                           "avec `needs`, un job démarre dès que les jobs listés sont finis : ajoutez le job de "
                           "test à la liste, ou retirez `needs` (l'ordre des étapes suffit alors).")
    return " → ".join(STAGES) + f" ; {len(jobs)} job{'s' if len(jobs) > 1 else ''}"


@LAB.check("10-build-job", "Build : docker:dind en TLS, connexion au registre, image taguée au SHA et poussée",
           1.5, static=True)
def build_job_ok(g: Grading):
    settings, _ = pipeline(g)
    name, job = build_job(g)
    env = job_env(settings, job, ci_env(DEFAULT_BRANCH))
    image = expand(image_name(job), env)
    img, tag = docker_ref_parts(image)
    problems: list[Fail] = []  # every problem of the job is reported, not only the first
    if img != "docker" or not re.match(r"^\d+(\.\d+){0,2}(-cli)?$", tag):
        problems.append(Fail(f"`{name}` : `image: docker:<version>` (client Docker versionné, par exemple docker:28.5.1)",
                             f"`image: {image_name(job) or '(aucune)'}`",
                             "le job construit une image : il lui faut le client Docker, en version figée "
                             "(jamais `docker:latest`, qui change de version majeure sans prévenir).", rule="DL3007"))
    services = [expand(str(s.get("name", "")) if isinstance(s, dict) else str(s), env) for s in
                job.get("services") or []]
    dind = [s for s in services if docker_ref_parts(s)[0] == "docker" and
            re.match(r"^\d+(\.\d+){0,2}-dind(-rootless)?$", docker_ref_parts(s)[1])]
    if not dind:
        problems.append(Fail(f"`{name}` : `services: [docker:<version>-dind]`",
                             f"services : {services or 'aucun'}",
                             "le démon Docker du job est un service `docker:28.5.1-dind` (même version que le "
                             "client) ; ne montez pas /var/run/docker.sock de l'hôte (voir l'énoncé)."))
    for s in job.get("services") or []:
        if isinstance(s, dict):
            for key, value in variables_of(s.get("variables")).items():
                env.setdefault(key, expand(value, env))
    text = " ".join(job_lines(job) + list(env.values()))
    if "docker.sock" in text:
        problems.append(Fail("le démon dind, pas la socket Docker de l'hôte", "`/var/run/docker.sock` utilisé",
                             "la socket de l'hôte donne au job les droits root sur la machine du runner et sur les "
                             "conteneurs des autres jobs : utilisez le service dind.", rule="CIS Docker 5.32"))
    certdir, host = env.get("DOCKER_TLS_CERTDIR"), env.get("DOCKER_HOST", "")
    port = re.match(r"^tcp://([^:/]+):(\d+)/?$", host)
    explicit_tls = bool(port and port.group(2) == "2376" and env.get("DOCKER_TLS_VERIFY") not in (None, "")
                        and env.get("DOCKER_CERT_PATH"))
    no_tls = certdir == "" or (host and (not port or port.group(2) != "2376"))
    if no_tls or (certdir is None and not explicit_tls):
        observed = (f"DOCKER_TLS_CERTDIR={certdir!r}" if certdir is not None else "DOCKER_TLS_CERTDIR absent") + \
                   (f", DOCKER_HOST={host}" if host else "")
        problems.append(Fail(f"`{name}` : le client parle au démon dind en TLS (`DOCKER_TLS_CERTDIR: \"/certs\"`, port 2376)",
                             observed,
                             "ajoutez `variables: DOCKER_TLS_CERTDIR: \"/certs\"` ; sans TLS (port 2375), n'importe quel "
                             "conteneur du réseau du job pilote un démon privilégié, et les versions récentes de dind "
                             "refusent ou retardent ce mode."))
    logins = [c for c in commands(job_lines(job), env) if c[:2] == ["docker", "login"]]
    raw_logins = [l for l in job_lines(job) if "docker login" in l]
    if not logins:
        problems.append(Fail(f"`{name}` : `docker login` au registre du projet avant le push",
                             "aucun `docker login`",
                             "`echo \"$CI_REGISTRY_PASSWORD\" | docker login -u \"$CI_REGISTRY_USER\" --password-stdin "
                             "\"$CI_REGISTRY\"`."))
    for words, raw in zip(logins, raw_logins or [""] * len(logins)):
        if "--password-stdin" not in words or any(w in ("-p", "--password") or w.startswith("--password=")
                                                  for w in words):
            problems.append(Fail("le mot de passe du registre lu sur l'entrée standard (`--password-stdin`)",
                                 f"`{raw.strip() or ' '.join(words)}`",
                                 "un mot de passe en argument apparaît dans `ps` et peut finir dans le journal du job : "
                                 "`echo \"$CI_REGISTRY_PASSWORD\" | docker login … --password-stdin`."))
            break
        options = {"-u", "--username", "-p", "--password"}
        server = [w for i, w in enumerate(words[2:], 2) if not w.startswith("-") and words[i - 1] not in options]
        if "$" not in raw or not (server and server[-1]):
            problems.append(Fail("`docker login` vers le registre du projet ($CI_REGISTRY) avec les identifiants que GitLab "
                                 "injecte ($CI_REGISTRY_USER et $CI_REGISTRY_PASSWORD, ou $CI_JOB_TOKEN)",
                                 f"`{raw.strip() or ' '.join(words)}`",
                                 "n'écrivez jamais d'identifiant dans le fichier, et nommez le registre : sans lui, "
                                 "`docker login` vise Docker Hub."))
            break
    made, pushed, _ = docker_refs(commands(job_lines(job), env))
    if SHA_REF not in made:
        problems.append(Fail(f"`{name}` construit l'image `$CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA`",
                             "images construites ou taguées : " + (", ".join(sorted(made)) or "aucune"),
                             "`docker build -t \"$CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA\" .` : un tag par commit."))
    elif SHA_REF not in pushed:
        problems.append(Fail(f"`{name}` pousse `$CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA`",
                             "images poussées : " + (", ".join(sorted(pushed)) or "aucune"),
                             "`docker push \"$CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA\"` : le job de test la récupère "
                             "dans le registre."))
    if problems:
        raise several(problems)
    return f"`{name}` : {image} + {dind[0]}, TLS, login --password-stdin, push de :$CI_COMMIT_SHORT_SHA"


@LAB.check("10-test-job", "Test : le job tourne dans l'image construite et attend le build (`needs`)", 1,
           static=True)
def test_job_ok(g: Grading):
    settings, jobs = pipeline(g)
    name, job = test_job(g)
    image = expand(image_name(job), job_env(settings, job, ci_env(DEFAULT_BRANCH)))
    if image.lower() != SHA_REF:
        raise Fail(f"`{name}` : `image: $CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA`",
                   f"`image: {image_name(job) or '(aucune)'}`",
                   "testez l'image que le build vient de pousser, pas un python:3.13-slim où l'on réinstalle "
                   "tout : c'est elle qui sera livrée.")
    needs = needs_of(job)
    builders = {n for n, j in jobs.items() if stage_of(j) == "build"}
    if needs is not None and not builders & set(needs):
        raise Fail(f"`{name}` : `needs: [{sorted(builders)[0] if builders else 'build-image'}]`",
                   f"`needs: {needs}`", "le job de test démarre quand l'image est poussée, pas avant.")
    if needs is None:
        raise Fail(f"`{name}` : `needs:` qui nomme le job de build",
                   "pas de `needs:`",
                   f"ajoutez `needs: [{sorted(builders)[0] if builders else 'build-image'}]` : la dépendance "
                   "est écrite, et le test démarre dès que son image existe.")
    if not script_lines(job):
        raise Fail(f"`{name}` : un `script:` qui lance les tests", "script vide", "`python -m pytest`.")
    return f"`{name}` dans l'image du commit, après {', '.join(sorted(builders & set(needs)))}"


@LAB.check("10-branches", "Deploy seulement sur la branche par défaut ; jamais `latest` ailleurs", 1.5,
           static=True)
def branches(g: Grading):
    on_main = running_jobs(g, DEFAULT_BRANCH)
    on_feature = running_jobs(g, FEATURE_BRANCH)
    if not jobs_in(g, "deploy"):
        raise NotYet(f"un job de deploy qui s'exécute seulement sur `{DEFAULT_BRANCH}`",
                     "aucun job avec `stage: deploy`", "écrivez le job de deploy (TODO 3).")
    deploy_main = [n for n, (job, _, _) in on_main.items() if stage_of(job) == "deploy"]
    if not deploy_main:
        raise Fail(f"sur la branche par défaut (`{DEFAULT_BRANCH}`), le job de deploy s'exécute",
                   "aucun job de l'étape deploy dans ce pipeline (règles évaluées par le correcteur)",
                   "`rules: - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH` sur le job de deploy.")
    deploy_feature = [n for n, (job, _, _) in on_feature.items() if stage_of(job) == "deploy"]
    if deploy_feature:
        raise Fail(f"sur une autre branche (`{FEATURE_BRANCH}`), aucun job de deploy",
                   "s'exécute(nt) : " + ", ".join(deploy_feature),
                   "restreignez le deploy : `rules: - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH` (sans autre "
                   "règle qui l'ajouterait ailleurs).")
    for name, (job, env, _) in on_feature.items():
        found = latest_in(job, env)
        if found:
            raise Fail(f"sur `{FEATURE_BRANCH}`, aucun job ne tague ni ne pousse `:latest`",
                       f"`{name}` : {found[0]}",
                       "`latest` doit désigner la dernière image testée de la branche par défaut : ne la "
                       "taguez que dans le job de deploy, réservé à cette branche. (Une image sans tag est "
                       "`:latest`.)")
    legacy = any("rules" not in on_main[n][0] for n in deploy_main)
    note = " (only/except fonctionne encore, mais `rules` est la syntaxe actuelle)" if legacy else ""
    return f"deploy sur {DEFAULT_BRANCH} : {', '.join(deploy_main)} ; rien sur {FEATURE_BRANCH}{note}"


# -- runtime: the test job's script in the built image ---------------------------------------------
def checkout_tar(checkout: Path, script: str) -> bytes:
    """The project at $CI_PROJECT_DIR (writable by any user, like a runner's checkout) + the job script."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for folder in ("builds", "builds/ecole", f"builds/{PROJECT_PATH}"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o777
            tar.addfile(info)
        for path in sorted(checkout.rglob("*")):
            rel = path.relative_to(checkout)
            if ".git" in rel.parts or path.is_symlink():
                continue
            info = tarfile.TarInfo(f"builds/{PROJECT_PATH}/{rel.as_posix()}")
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o777
                tar.addfile(info)
            elif path.is_file():
                content = path.read_bytes()
                info.size, info.mode = len(content), 0o666 | (path.stat().st_mode & 0o111)
                tar.addfile(info, io.BytesIO(content))
        body = script.encode()
        info = tarfile.TarInfo("builds/.ci-job.sh")
        info.size, info.mode = len(body), 0o755
        tar.addfile(info, io.BytesIO(body))
    return data.getvalue()


def run_test_job(g: Grading, tag: str, checkout: Path, label: str) -> tuple[int, str]:
    """Run the test job's before_script + script in ``tag`` like a runner would: (exit code, output)."""
    settings, _ = pipeline(g)
    name, job = test_job(g)
    if not script_lines(job):
        raise Fail(f"`{name}` : un `script:` qui lance les tests", "script vide", "`python -m pytest`.")
    env = job_env(settings, job, ci_env(DEFAULT_BRANCH))
    script = "set -e\nif [ -n \"${BASH_VERSION:-}\" ]; then set -o pipefail; fi\n" + \
             "\n".join(lines_of(job.get("before_script")) + lines_of(job.get("script"))) + "\n"
    c = g.sandbox.run(tag, suffix=f"job-{label}-{secrets.token_hex(2)}", network_mode="none",
                      entrypoint=["sh", "-c", f"sleep {JOB_TIMEOUT_S + 60}"], command=[], environment=env)
    try:
        if not c.put_archive("/", checkout_tar(checkout, script)):
            raise DockerStepError("copie du projet dans le conteneur impossible")
        return g.sandbox.exec(c, ["sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash /builds/.ci-job.sh; "
                                              "else exec sh /builds/.ci-job.sh; fi"],
                              timeout=g.remaining(JOB_TIMEOUT_S), workdir=PROJECT_DIR)
    finally:
        try:
            c.remove(force=True, v=True)
        except Exception:  # noqa: BLE001 - the sandbox sweeps by label anyway
            pass


@LAB.check("10-tests-pass", "Le script du job de test passe dans l'image construite", 1.5)
def tests_pass(g: Grading):
    name, _ = test_job(g)
    tag = g.image().tag
    try:
        code, out = run_test_job(g, tag, g.workdir, "ok")
    except DockerStepError as exc:
        raise Fail(f"le script de `{name}` se termine dans l'image", str(exc),
                   "un test ou une commande attend-il sans fin ? Le job n'a pas accès au réseau.") from None
    if code != 0:
        raise Fail(f"le script de `{name}` réussit (code 0) dans l'image construite",
                   f"code {code} : {out.strip()[-700:] or '(aucune sortie)'}",
                   "lancez `docker build -t tp10 . && docker run --rm tp10 python -m pytest` : tout doit être "
                   "dans l'image (pytest compris) ; le job n'a ni réseau ni Docker.")
    last = [l for l in out.strip().splitlines() if l.strip()][-1:] or ["code 0"]
    return f"`{name}` : {last[0].strip()[:120]}"


@LAB.check("10-tests-catch-bug", "Vos tests échouent quand le correcteur introduit un bug", 2,
           requires=["10-tests-pass"])
def tests_catch_bug(g: Grading):
    missed = []
    for bug, rel, old, new, what in BUGS:
        copy = g.workdir.parent / f"{g.job}-bug-{bug}"
        shutil.copytree(g.workdir, copy, symlinks=True, dirs_exist_ok=True)
        target = copy / rel
        text = target.read_text(encoding="utf-8") if target.is_file() else ""
        if old not in text:
            raise Fail(f"{rel} tel que fourni (le correcteur y introduit un bug)",
                       f"le code `{old.strip()}` est introuvable dans {rel}",
                       f"rendez {rel} sans le modifier : ce sont vos tests qu'on évalue.")
        target.write_text(text.replace(old, new, 1), encoding="utf-8")
        try:
            built = g.sandbox.build(copy, f"bug-{bug}", "Dockerfile", timeout=g.remaining(300))
            code, out = run_test_job(g, built.tag, copy, f"bug-{bug}")
        except DockerStepError as exc:
            raise Fail("l'image avec le bug se construit et le job de test s'y exécute", str(exc),
                       "relancez la correction ; si cela persiste, signalez-le à l'enseignant.") from None
        finally:
            shutil.rmtree(copy, ignore_errors=True)
        if code == 0:
            missed.append(what)
    if missed:
        raise Fail("le job de test échoue pour chaque bug introduit",
                   "vos tests passent encore quand " + " ; et quand ".join(missed),
                   "écrivez des tests qui vérifient les résultats (`assert summary([10, 20, 30]) == {...}`, "
                   "`assert alerts(...) == [...]`), y compris les cas limites décrits dans les docstrings.")
    pl = "s" if len(BUGS) > 1 else ""
    return f"{len(BUGS)} bug{pl} détecté{pl} par vos tests"


# ---------------------------------------------------------------------------------------------
# Questions de cours: this lab's quiz questions and their checkers, listed by autograder.registry and
# graded in the notebook by autograder.classroom.quiz (answers are parsed, never executed)
# ---------------------------------------------------------------------------------------------
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


QUESTIONS = [
    question("10-q-socket",
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
    question("10-q-short-sha",
             "Quelle variable prédéfinie de GitLab CI donne l'étiquette **traçable** d'une image : le "
             "commit court ?",
             "reponse_short_sha", VALEUR,
             "la variable de GitLab qui contient les 8 premiers caractères du commit. Voir la section 3, "
             "« Tags et `latest` ».",
             _short_sha),
]
