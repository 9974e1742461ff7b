"""Lab 07 — dépendances Python: the same small data app packaged with pip, Poetry and conda.

Graded on behaviour: each image builds and runs the app on a CSV the grader writes; the versions
installed in the image (listed inside a container, network off) equal the pins / the lock; the
Poetry image holds neither the dev group nor Poetry; a code-only change keeps the dependency
layer cached. conda channels are out of reach from machines without internet: the conda variant
is read statically always, and run only where a conda base image is already present.
"""

from __future__ import annotations

import csv
import io
import random
import re
import secrets
import tomllib

import docker
import yaml

from autograder.probes import scanners
from autograder.core import Fail, Lab, NotYet, Skip
from autograder.probes.diagnose import missing_command, shown
from autograder.readers import requirements
from autograder.readers.dockerfile import base_images, final_base, is_slim, require_pinned
from autograder.probes.images import find_files_in_image, install_steps, rebuild_after_touch
from autograder.probes.python_env import (LIST_SCRIPT, PACKAGING_TOOLS, StillRunning, parse_listing,
                                          pip_cache_files, run_to_end)
from autograder.engine.runner import Grading
from autograder.engine.sandbox import BuildResult
from autograder.engine.docker_api import DockerStepError
from autograder.readers.answers import VALEUR, Faux, mots, question, valeur

LAB = Lab(
    id="07-dependances-python",
    title="Dépendances Python : pip, Poetry, conda",
    files=("pip/Dockerfile", "pip/requirements.txt", "poetry/Dockerfile", "poetry/pyproject.toml",
           "poetry/poetry.lock", "conda/Dockerfile", "conda/environment.yml"),
    budget_s=600,
)

APP = "app/rapport.py"
DATA = "/data"
RUN_TIMEOUT_S = 30
VARIANTS = ("pip", "poetry", "conda")
STATIONS = ("Lyon-Bron", "Paris-Montsouris", "Saint-Étienne", "Brest, Guipavas", "Nice")


def plural(n: int, one: str, many: str) -> str:
    """« 1 paquet épinglé », « 3 paquets épinglés » (French: singular up to 1)."""
    return f"{n} {one if n <= 1 else many}"


def read(g: Grading, rel: str) -> str:
    path = g.workdir / rel
    if not path.is_file():
        raise Fail(f"le fichier {rel}", f"{rel} introuvable", f"créez {rel} (voir l'énoncé).")
    return path.read_text(encoding="utf-8", errors="replace")


def image(g: Grading, variant: str) -> BuildResult:
    """The variant's image (context: the lab folder), built once per grading."""
    return g.once(f"image:{variant}", lambda: g.build(variant, f"{variant}/Dockerfile", "."))


# -- the grader's data ----------------------------------------------------------------------------
def sample_csv(seed: str) -> tuple[str, dict]:
    """A CSV with mixed date formats and missing values, and {(station, month): (n, mean)}."""
    rng = random.Random(seed)
    rows, groups = [], {}
    for _ in range(rng.randint(60, 120)):
        station = rng.choice(STATIONS)
        month, day, hour = rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23)
        stamp = rng.choice([f"2025-{month:02d}-{day:02d}T{hour:02d}:00:00Z",
                            f"2025-{month:02d}-{day:02d} {hour:02d}:30",
                            f"{day} {('Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec').split()[month - 1]} "
                            f"2025 {hour:02d}:00"])
        value = "" if rng.random() < 0.08 else f"{rng.uniform(-10, 35):.2f}"
        rows.append((station, stamp, value))
        if value:
            groups.setdefault((station, f"2025-{month:02d}"), []).append(float(value))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("station", "horodatage", "temperature_c"))
    writer.writerows(rows)
    return out.getvalue(), {k: (len(v), round(sum(v) / len(v), 2)) for k, v in groups.items()}


def same_report(got: dict, expected: dict) -> bool:
    """Same groups and counts, means equal to the hundredth (Python 3.12+ sums floats with
    compensation, so the app's last digit may differ from the grader's by one)."""
    if set(got) != set(expected):
        return False
    return all(got[k] is not None and got[k][0] == n and abs(got[k][1] - mean) <= 0.0101
               for k, (n, mean) in expected.items())


def parse_table(out: str) -> dict:
    found = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.match(r"^\d{4}-\d{2}$", cells[1]):
            try:
                found[(cells[0], cells[1])] = (int(cells[2]), float(cells[3]))
            except ValueError:
                continue
    return found


def run_once(g: Grading, ref: str, suffix: str, **kwargs) -> tuple[int, str]:
    """Run ``ref`` without network until it exits: (exit code, stdout + stderr)."""
    try:
        return run_to_end(g.sandbox, ref, suffix, g.remaining(RUN_TIMEOUT_S), **kwargs)
    except StillRunning as exc:
        argv = exc.argv
        raise Fail(f"le conteneur se termine en moins de {RUN_TIMEOUT_S} s",
                   f"il tourne encore au bout de {RUN_TIMEOUT_S} s"
                   + (f" ; son PID 1 est `{shown(argv)}`" if argv else ""),
                   "l'ENTRYPOINT doit lancer `python /app/rapport.py`, qui reçoit le fichier en argument.") from None


def app_runs(g: Grading, variant: str) -> str:
    ref = image(g, variant).tag
    lacking = missing_command(g.sandbox, g.workdir, ref, f"{variant}/Dockerfile")
    if lacking:
        todo = {"pip": "TODO 4", "poetry": "TODO 7", "conda": "TODO 9"}[variant]
        raise NotYet(f"{variant}/Dockerfile : un ENTRYPOINT qui lance le rapport sur le fichier passé à "
                     "`docker run`", lacking,
                     f'copiez app/ puis ajoutez `ENTRYPOINT ["python", "/app/rapport.py"]` ({todo}).')
    data_dir = g.workdir.parent / f"data-{g.job}-{variant}"
    data_dir.mkdir(exist_ok=True)
    data_dir.chmod(0o755)
    name = f"releves-{secrets.token_hex(3)}.csv"
    text, expected = sample_csv(g.job + variant + name)
    (data_dir / name).write_text(text, encoding="utf-8")
    (data_dir / name).chmod(0o644)
    command = f"docker run --rm -v DOSSIER:{DATA}:ro IMAGE {DATA}/{name}"
    try:
        code, out = run_once(g, ref, variant, command=[f"{DATA}/{name}"],
                             volumes={str(data_dir): {"bind": DATA, "mode": "ro"}})
    except DockerStepError as exc:
        raise Fail(f"`{command}` lance le rapport", f"le conteneur ne démarre pas : {exc}",
                   'ENTRYPOINT ["python", "/app/rapport.py"] (forme exec) : les arguments de '
                   "`docker run` sont passés au script.") from None
    if code != 0:
        detail = out.strip()[-600:] or "(aucune sortie)"
        hint = ("une dépendance manque dans l'image : elle doit être installée à la construction (le "
                "conteneur n'a pas accès à Internet quand il tourne)." if "ModuleNotFoundError" in detail
                else f"lancez `{command}` pour voir l'erreur.")
        raise Fail(f"`{command}` se termine avec le code 0", f"code {code} : {detail}", hint)
    got = parse_table(out)
    if not same_report(got, expected):
        missing = [k for k in expected if not same_report({k: got.get(k)}, {k: expected[k]})]
        raise Fail(f"le tableau du rapport pour le fichier de test ({len(expected)} groupes station/mois)",
                   f"{len(got)} groupes lus ; premier écart : {missing[:1] or list(got)[:1]}\n{out.strip()[:400]}",
                   "empaquetez app/rapport.py tel que fourni ; l'image ne doit rien afficher d'autre.")
    return f"{len(expected)} groupes station/mois exacts"


def installed(g: Grading, variant: str) -> dict:
    """{'dists': {name: version}, 'poetry': path or None} as seen inside the variant's image."""
    def make() -> dict:
        try:
            code, out = run_once(g, image(g, variant).tag, f"{variant}-list",
                                 entrypoint=["python", "-c", LIST_SCRIPT], command=[])
        except DockerStepError as exc:
            raise Fail("`python` sur le PATH de l'image", str(exc),
                       "l'interpréteur de l'application doit être `python` dans le PATH.") from None
        try:
            return parse_listing(out)
        except ValueError:
            raise Fail("la liste des paquets installés (`python -c 'import importlib.metadata …'`)",
                       f"code {code} : {out.strip()[:300] or '(aucune sortie)'}",
                       "`python` doit être l'interpréteur où les dépendances sont installées "
                       "(mettez l'environnement en tête du PATH).") from None
    return g.once(f"installed:{variant}", make)


def base_dists(g: Grading, variant: str) -> set:
    """The distributions the variant's final base image already holds (none for scratch or a stage)."""
    def make() -> set:
        final = final_base(base_images(g.workdir / variant / "Dockerfile"))
        if final is None or final.stage_ref or final.image.lower() == "scratch":
            return set()
        try:
            code, out = run_once(g, final.image, f"{variant}-base", entrypoint=["python", "-c", LIST_SCRIPT],
                                 command=[])
            return set(parse_listing(out)["dists"]) if code == 0 else set()
        except (DockerStepError, ValueError):
            return set()
    return g.once(f"base-dists:{variant}", make)


def compare_versions(want: dict, have: dict, source: str) -> None:
    wrong = [f"{n} {have.get(n, 'absent')} au lieu de {v}" for n, v in sorted(want.items())
             if have.get(n) != v]
    if wrong:
        raise Fail(f"dans l'image, les versions de {source}",
                   "; ".join(wrong[:5]) + (f" (et {len(wrong) - 5} autres)" if len(wrong) > 5 else ""),
                   f"installez depuis {source} (et seulement lui), sans `--upgrade` ni autre `pip install` "
                   "de ces paquets.")


def cache_kept(g: Grading, variant: str, example: str) -> str:
    others = tuple((v, f"{v}/Dockerfile") for v in ("pip", "poetry") if v != variant)
    steps = rebuild_after_touch(g, APP, f"# modification du correcteur {g.job}", f"{variant}-rebuild",
                                name=variant, dockerfile=f"{variant}/Dockerfile", also=others)
    installs = install_steps(steps)
    if not installs:
        raise NotYet("une instruction RUN qui installe les dépendances",
                     "aucune étape d'installation dans le build, donc aucun cache à garder",
                     f"installez les dépendances : `{example}`.")
    if not any(not cached for s, cached in steps if s.split(" ", 1)[0].upper() in ("COPY", "ADD", "RUN")):
        raise NotYet(f"un build qui copie {APP}",
                     f"après une modification de {APP}, aucune étape n'a été reconstruite : "
                     f"{variant}/Dockerfile ne copie pas app/, donc aucun cache à garder ou à perdre",
                     "copiez app/ dans l'image APRÈS l'installation des dépendances.")
    rerun = [s for s, cached in installs if not cached]
    if rerun:
        raise Fail(f"après une simple modification de {APP}, l'installation des dépendances reprise du "
                   "cache (« CACHED » avec BuildKit, « Using cache » avec l'ancien builder)", f"l'étape `{rerun[0][:100]}` a été ré-exécutée",
                   "copiez d'abord les seuls fichiers de dépendances, installez, PUIS copiez app/ : un COPY "
                   "dont les fichiers changent invalide le cache de toutes les instructions suivantes.")
    return plural(len(installs), "étape d'installation reprise", "étapes d'installation reprises") + " du cache"


# -- static -----------------------------------------------------------------------------------------
def requirement_pins(g: Grading) -> dict:
    pins, loose = requirements.pip_pins(read(g, "pip/requirements.txt"))
    if loose or not pins:
        raise Fail("pip/requirements.txt : chaque dépendance avec sa version exacte (`tabulate==0.9.0`)",
                   "non épinglé : " + (", ".join(f"`{l}`" for l in loose[:5]) or "aucune dépendance"),
                   "écrivez `paquet==version` pour chacune (`pip freeze` dans un environnement de test "
                   "donne les versions, dépendances indirectes comprises).", rule="DL3013")
    return pins


@LAB.check("07-pip-pins", "requirements.txt : versions exactes (==)", 0.5, static=True)
def pip_pins(g: Grading):
    pins = requirement_pins(g)
    return ", ".join(f"{n}=={v}" for n, v in sorted(pins.items()))


def conda_pins(g: Grading) -> dict:
    try:
        env = yaml.safe_load(read(g, "conda/environment.yml")) or {}
    except yaml.YAMLError as exc:
        raise Fail("conda/environment.yml en YAML valide", str(exc).splitlines()[0],
                   "vérifiez l'indentation (espaces, pas de tabulations).") from None
    deps = env.get("dependencies") if isinstance(env, dict) else None
    if not isinstance(deps, list) or not deps:
        raise Fail("une liste `dependencies:` dans conda/environment.yml", "aucune dépendance",
                   "listez python, python-dateutil et tabulate avec leur version.")
    pins, loose = requirements.conda_pins(deps)
    if loose:
        raise Fail("conda/environment.yml : chaque paquet avec sa version (`tabulate=0.9.0`)",
                   "non épinglé : " + ", ".join(f"`{l}`" for l in loose[:5]),
                   "écrivez `paquet=version` (conda) ou `paquet==version` (section pip:) ; "
                   "`conda env export --from-history` montre ce que vous avez demandé.")
    if not env.get("channels"):
        raise Fail("une section `channels:` (par exemple conda-forge)", "aucun canal déclaré",
                   "ajoutez `channels: [conda-forge]` : sinon le canal dépend de la configuration de chacun.")
    return pins


# -- pip ---------------------------------------------------------------------------------------------
@LAB.check("07-pip-run", "pip : l'image se construit et produit le rapport", 1.5)
def pip_run(g: Grading):
    return app_runs(g, "pip")


@LAB.check("07-pip-versions", "pip : versions installées = versions de requirements.txt", 1,
           requires=["07-pip-run", "07-pip-pins"])
def pip_versions(g: Grading):
    pins = requirement_pins(g)
    have = installed(g, "pip")["dists"]
    compare_versions(pins, have, "pip/requirements.txt")
    extra = sorted(set(have) - set(pins) - base_dists(g, "pip") - PACKAGING_TOOLS)
    if extra:
        raise Fail("pip/requirements.txt épingle tout ce que l'image installe, dépendances indirectes comprises",
                   "installé sans être épinglé : " + ", ".join(f"{n} {have[n]}" for n in extra[:5]),
                   "ajoutez `" + "`, `".join(f"{n}=={have[n]}" for n in extra[:5]) + "` à requirements.txt "
                   "(`pip freeze` dans un environnement de test liste aussi les dépendances indirectes) : "
                   "sinon leur version change d'un build à l'autre.", rule="DL3013")
    return f"{plural(len(pins), 'paquet', 'paquets')} aux versions épinglées"


@LAB.check("07-pip-no-cache", "pip : pas de cache de téléchargement dans l'image (--no-cache-dir)", 0.5,
           requires=["07-pip-run"])
def pip_no_cache(g: Grading):
    """hadolint's DL3042 on the Dockerfile (what the student asked pip to do), then the image's files
    (what pip did: some proxies forbid caching, so a missing flag does not always leave files)."""
    asked = [f for f in scanners.hadolint(g.workdir / "pip" / "Dockerfile") if f.rule == "DL3042"]
    if asked:
        raise Fail("`pip install --no-cache-dir` (ou `ENV PIP_NO_CACHE_DIR=1`) dans pip/Dockerfile",
                   "hadolint DL3042 : " + "; ".join(f"ligne {f.line} : {f.message}" for f in asked[:2]),
                   "ajoutez `--no-cache-dir` à chaque `pip install` : le cache ne sert qu'à réinstaller plus "
                   "vite, jamais dans une image.", rule="DL3042")
    found = find_files_in_image(g.sandbox, image(g, "pip").tag, pip_cache_files)
    if found:
        raise Fail("aucun fichier sous ~/.cache/pip dans l'image",
                   f"{plural(len(found), 'fichier', 'fichiers')}, par exemple {found[0]}",
                   "`pip install --no-cache-dir -r requirements.txt` (ou `ENV PIP_NO_CACHE_DIR=1`) : le cache "
                   "ne sert qu'à réinstaller plus vite, jamais dans une image.", rule="DL3042")
    return "aucun cache pip"


@LAB.check("07-pip-cache", "pip : modifier le code ne réinstalle pas les dépendances (cache)", 1,
           requires=["07-pip-run"])
def pip_cache(g: Grading):
    return cache_kept(g, "pip", "RUN pip install --no-cache-dir -r requirements.txt")


# -- Poetry ------------------------------------------------------------------------------------------
def lock_groups(g: Grading) -> tuple[dict, set]:
    """(main packages {name: version}, dev-only package names) from poetry.lock and pyproject.toml."""
    try:
        lock = tomllib.loads(read(g, "poetry/poetry.lock"))
        project = tomllib.loads(read(g, "poetry/pyproject.toml"))
    except tomllib.TOMLDecodeError as exc:
        raise Fail("poetry/pyproject.toml et poetry/poetry.lock en TOML valide", str(exc),
                   "régénérez le verrou avec `poetry lock`.") from None
    main, dev = requirements.poetry_groups(lock, project)
    if not main:
        raise Fail("poetry.lock avec les dépendances du groupe main", "aucun paquet « main » dans le verrou",
                   "déclarez les dépendances dans pyproject.toml puis `poetry lock`.")
    return main, dev


@LAB.check("07-poetry-run", "Poetry : l'image se construit et produit le rapport", 1)
def poetry_run(g: Grading):
    return app_runs(g, "poetry")


@LAB.check("07-poetry-versions", "Poetry : versions installées = versions de poetry.lock", 1,
           requires=["07-poetry-run"])
def poetry_versions(g: Grading):
    main, _ = lock_groups(g)
    compare_versions(main, installed(g, "poetry")["dists"], "poetry/poetry.lock")
    return f"{plural(len(main), 'paquet', 'paquets')} aux versions du verrou"


@LAB.check("07-poetry-no-dev", "Poetry : ni le groupe dev (pytest…) ni Poetry dans l'image finale", 1,
           requires=["07-poetry-run"])
def poetry_no_dev(g: Grading):
    _, dev = lock_groups(g)
    seen = installed(g, "poetry")
    extra = sorted(n for n in seen["dists"] if n in dev)
    found, hints = [], []
    if extra:
        found.append("dépendances de développement installées : "
                     + ", ".join(f"{n} {seen['dists'][n]}" for n in extra[:6])
                     + (f" (et {len(extra) - 6} autres)" if len(extra) > 6 else ""))
        hints.append("`poetry install --only main` (ou `--without dev`), ou `poetry export --only main` : "
                     "l'ancienne option `--no-dev` des diapos n'existe plus depuis Poetry 2")
    has_poetry = "poetry" in seen["dists"] or bool(seen.get("poetry"))
    if has_poetry:
        found.append(f"Poetry trouvé : {seen.get('poetry') or 'paquet poetry ' + seen['dists']['poetry']} "
                     "(il ne sert qu'à construire)")
        hints.append("build multi-étapes : Poetry dans une première étape (export ou venv), puis "
                     "`COPY --from=…` du seul résultat dans l'étape finale")
    if found:
        raise Fail("ni dépendance de développement ni Poetry dans l'image d'exécution", " ; ".join(found),
                   " ; ".join(hints) + ".", rule="CIS Docker 4.3" if has_poetry else "")
    return "ni dev, ni Poetry"


@LAB.check("07-poetry-cache", "Poetry : modifier le code ne réinstalle pas les dépendances (cache)", 0.5,
           requires=["07-poetry-run"])
def poetry_cache(g: Grading):
    return cache_kept(g, "poetry", "RUN poetry install --only main --no-root")


# -- the three Dockerfiles, then conda (static, always graded) ------------------------------
@LAB.check("07-base-images", "Images de base versionnées ; pip et Poetry finissent sur une image slim", 0.5,
           static=True)
def base_images_pinned(g: Grading):
    for variant, example in (("pip", "python:3.13-slim"), ("poetry", "python:3.13-slim"),
                             ("conda", "condaforge/miniforge3:24.11.3-2")):
        read(g, f"{variant}/Dockerfile")
        bases = base_images(g.workdir / variant / "Dockerfile")
        try:
            require_pinned(bases, example)
        except NotYet as exc:
            todo = {"pip": "TODO 2", "poetry": "TODO 6", "conda": "TODO 9"}[variant]
            raise NotYet(f"{variant}/Dockerfile : {exc.expected}", f"{variant}/Dockerfile : "
                         + exc.observed.removeprefix("rien à évaluer encore : "),
                         f"{exc.hint.rstrip('.')} ({todo}).") from None
        except Fail as exc:
            raise Fail(f"{variant}/Dockerfile : {exc.expected}", exc.observed, exc.hint, exc.rule) from None
        final = final_base(bases)
        if variant != "conda" and final and not is_slim(final):
            raise Fail(f"{variant}/Dockerfile : une étape finale légère", f"`FROM {final.raw}`",
                       "terminez par `FROM python:3.13-slim`.", rule="CIS Docker 4.3")


@LAB.check("07-conda-static", "conda : environment.yml épinglé, Dockerfile sur une base conda, env avant le code",
           1, static=True)
def conda_static(g: Grading):
    pins = conda_pins(g)
    path = g.workdir / "conda" / "Dockerfile"
    read(g, "conda/Dockerfile")
    final = final_base(base_images(path))
    if final is None:
        raise NotYet("conda/Dockerfile sur une image qui contient conda (miniforge, miniconda, micromamba)",
                     "conda/Dockerfile n'a encore aucune instruction FROM",
                     "partez de `FROM condaforge/miniforge3:24.11.3-2` (TODO 9).")
    if not requirements.CONDA_BASES.search(final.name):
        raise Fail("conda/Dockerfile sur une image qui contient conda (miniforge, miniconda, micromamba)",
                   f"`FROM {final.raw if final else '(aucun)'}`", "partez de `condaforge/miniforge3:24.11.3-2`.")
    copies = requirements.copies_before_env_create(path)
    if copies is None:
        raise Fail("un `RUN conda env create --file …environment.yml` (ou mamba / micromamba)",
                   "aucune création d'environnement depuis environment.yml",
                   "copiez conda/environment.yml puis `RUN conda env create --file /tmp/environment.yml "
                   "&& conda clean --all --yes`.")
    early = [v for v in copies if re.search(r"(^|\s)(\./?|app/?\S*)\s", v + " ") or "rapport.py" in v]
    if early:
        raise Fail("le code (app/) copié APRÈS la création de l'environnement",
                   f"`COPY {early[0]}` avant `conda env create`",
                   "copiez d'abord environment.yml seul : modifier le code ne doit pas recréer l'environnement.")
    return f"{plural(len(pins), 'paquet épinglé', 'paquets épinglés')}, base `{final.image}`"


# -- conda -------------------------------------------------------------------------------------------
def conda_base_present(g: Grading) -> str:
    """The conda base image, when it is on this machine; :class:`Skip` otherwise (no pull here)."""
    final = final_base(base_images(g.workdir / "conda" / "Dockerfile")) if (g.workdir / "conda" / "Dockerfile").is_file() else None
    if final is None:
        raise Fail("conda/Dockerfile", "conda/Dockerfile introuvable ou sans FROM", "écrivez conda/Dockerfile.")
    try:
        g.sandbox.client.images.get(final.image)
    except docker.errors.ImageNotFound:
        raise Skip(f"l'image de base `{final.image}` n'est pas présente sur cette machine, et les canaux conda "
                   "ne sont pas joignables d'ici : l'image conda n'est ni construite ni lancée (aucun point "
                   "attribué ni retiré). Le correcteur de l'enseignant, avec accès à Internet, l'évalue.") from None
    return final.image


@LAB.check("07-conda-run", "conda : l'image se construit, produit le rapport, versions = environment.yml", 0.5,
           requires=["07-conda-static"])
def conda_run(g: Grading):
    conda_base_present(g)
    note = app_runs(g, "conda")
    pins = conda_pins(g)
    have = installed(g, "conda")["dists"]
    want = {n: v for n, v in pins.items() if n != "python" and "*" not in v}
    wrong = [f"{n} {have.get(n, 'absent')} au lieu de {v}" for n, v in sorted(want.items())
             if not (have.get(n) == v or (have.get(n) or "").startswith(v + "."))]
    if wrong:
        raise Fail("dans l'image, les versions de conda/environment.yml", "; ".join(wrong[:5]),
                   "mettez l'environnement créé en tête du PATH (`ENV PATH=/opt/conda/envs/NOM/bin:$PATH`).")
    return note


# ---------------------------------------------------------------------------------------------
# Questions de cours: this lab's quiz questions and their checkers, listed by autograder.registry and
# graded in the notebook by autograder.classroom.quiz (answers are parsed, never executed)
# ---------------------------------------------------------------------------------------------
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


QUESTIONS = [
    question("07-q-no-cache-dir",
             "Quelle option de `pip install` évite de laisser le cache de téléchargement de pip dans la "
             "couche de l'image ?",
             "reponse_no_cache_dir", VALEUR,
             "l'option de pip qui désactive son répertoire de cache (hadolint DL3042). Voir la règle 2 de "
             "« Trois règles pour le Dockerfile ».",
             _no_cache_dir),
    question("07-q-verrou",
             "Avec Poetry, quel fichier fixe les versions exactes, dépendances indirectes et empreintes "
             "(hash) comprises, et se versionne avec le code ?",
             "reponse_verrou", VALEUR,
             "le fichier de verrou que Poetry écrit à côté de `pyproject.toml`. Voir « pip, Poetry, conda : "
             "que choisir ? ».",
             _verrou),
]
