"""Lab 05 — optimisation des images: a C tool (csvstat) compiled in a build stage, run from a
slim final stage. Graded on the final image itself: it works, it holds no compiler, it stays
under a size budget, its layers are grouped, and a code-only change keeps the toolchain cached.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import re
import secrets
from pathlib import Path
from typing import Optional

from autograder.core import Fail, Lab, NotYet
from autograder.probes.diagnose import missing_command, pid1, shell_pid1, shown
from autograder.readers.dockerfile import base_images, final_base, is_slim, require_pinned
from autograder.probes.containers import container_gone
from autograder.probes.images import (MB, added_steps, build_tools_in_image, consecutive_runs, image_size,
    install_steps, rebuild_after_touch)
from autograder.probes.waits import Timeout, wait_until
from autograder.engine.runner import Grading
from autograder.engine.docker_api import DockerStepError
from autograder.readers.answers import CHOIX, COMMANDE, Faux, choix, mots, question

LAB = Lab(
    id="05-optimisation-images",
    title="Optimisation des images : cache et builds multi-étapes",
    files=("Dockerfile",),
    budget_s=600,
)

SOURCE = "src/csvstat.c"
TOOL = "csvstat"
# The reference solution's final image measures 79 MB on amd64 (debian:trixie-slim 78 MB + libcsv3
# 1 MB + the binary); the budget is the reference base plus 17 MB, ~20 % of margin. 25 % (99 MB)
# would sit within 2 MB of the same image with apt's package lists left in a layer (101 MB), too
# close to tell right from wrong. Relative to the engine's own debian:trixie-slim, because Debian's
# arm64 binaries are bigger (the arm64 base measures 100 MB): the same Dockerfile must get the same
# grade on Apple Silicon.
REFERENCE_BASE = "debian:trixie-slim"
REFERENCE_MB = 79
MARGIN_MB = 17
BUDGET_MB = 95  # on amd64: 78 MB of base + MARGIN_MB
# Filesystem layers (RUN, COPY, ADD) the Dockerfile may add on top of the final base image.
MAX_LAYERS = 5
DATA = "/data"
RUN_TIMEOUT_S = 30
# Instructions that run again when a file they copy (or follow) changes.
REBUILT = {"COPY", "ADD", "RUN"}
WELL_KNOWN_TOOLS = {"gcc", "cc", "make", "ld", "cc1"}  # named first in the feedback
COLUMNS = ("station", "horodatage", "temperature_c", "humidite_pct", "pression_hpa")
STATIONS = ("Lyon, Bron", "Paris-Montsouris", "Saint-Étienne", 'Brest "Guipavas"', "Nice")


def plural(n: int, one: str, many: str) -> str:
    """« 1 couche ajoutée », « 3 couches ajoutées » (French: singular up to 1)."""
    return f"{n} {one if n <= 1 else many}"


def dockerfile(g: Grading) -> Path:
    path = g.workdir / "Dockerfile"
    if not path.is_file():
        raise Fail("un Dockerfile à la racine du TP", "Dockerfile introuvable", "créez le fichier Dockerfile.")
    return path


def final_base_ref(g: Grading) -> Optional[str]:
    """The image the final stage starts from (following `FROM stage` chains), or None."""
    try:
        final = final_base(base_images(dockerfile(g)))
    except Fail:
        return None
    return final.image if final else None


@LAB.check("05-base-images", "Images de base versionnées, étape finale légère", 1, static=True)
def base_images_pinned(g: Grading):
    bases = base_images(dockerfile(g))
    require_pinned(bases, "debian:trixie-slim")
    final = final_base(bases)
    if final and not is_slim(final):
        raise Fail("une étape finale légère (variante -slim, -alpine, distroless ou scratch)",
                   f"l'étape finale part de `{final.raw}` (ligne {final.line})",
                   "terminez par `FROM debian:trixie-slim` : l'outil n'a besoin que de sa bibliothèque "
                   "d'exécution, pas d'une image complète.", rule="CIS Docker 4.3")
    stages = len(bases)
    return f"{stages} étape{'s' if stages > 1 else ''}, étape finale `FROM {final.image}`"


def size_of(g: Grading) -> int:
    """The final image's uncompressed size, measured once per grading."""
    return g.once("size", lambda: image_size(g.sandbox, g.image().tag))


def tool_paths(g: Grading) -> list[str]:
    """Regular files named csvstat in the final image (the compiled tool), read once per grading."""
    return sorted(p for p in g.image_files() if p.rsplit("/", 1)[-1] == TOOL)


@LAB.check("05-build", "L'image se construit et contient csvstat", 1.5)
def build(g: Grading):
    g.image()
    found = tool_paths(g)
    if not found:
        stages = len(base_images(dockerfile(g)))
        first = ("copiez le binaire compilé dans l'étape finale : "
                 "`COPY --from=build /src/csvstat /usr/local/bin/csvstat` (TODO 7)." if stages > 1 else
                 "copiez src/ (TODO 3) puis compilez avec `RUN make` (TODO 4).")
        raise NotYet(f"une image finale qui contient l'outil compilé ({TOOL})",
                     f"l'image se construit, mais aucun fichier {TOOL} n'y est encore"
                     + (f" (l'étape finale, la {stages}e, ne reçoit rien de l'étape de compilation)"
                        if stages > 1 else ""), first)
    return f"{found[0]}, {size_of(g) / MB:.1f} Mo"


# -- the tool works -----------------------------------------------------------------------------
def sample_csv(seed: str) -> tuple[str, dict]:
    """A weather CSV drawn from ``seed`` (quoted commas and quotes, accents, missing values) and
    the statistics csvstat must print for it."""
    rng = random.Random(seed)
    n = rng.randint(150, 240)
    rows = []
    for i in range(n):
        rows.append([rng.choice(STATIONS), f"2025-03-{1 + i // 24:02d}T{i % 24:02d}:00:00Z",
                     "" if rng.random() < 0.06 else f"{rng.uniform(-12, 38):.2f}",
                     str(rng.randint(15, 100)), f"{rng.uniform(975, 1045):.1f}"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    expected = {"rows": n, "columns": {}}
    for k, name in enumerate(COLUMNS):
        cells = [r[k] for r in rows if r[k] != ""]
        col = {"type": "text" if k < 2 else "number", "count": len(cells)}
        if k >= 2:
            values = [float(c) for c in cells]
            col.update(min=min(values), max=max(values), mean=math.fsum(values) / len(values))
        expected["columns"][name] = col
    return out.getvalue(), expected


def run_tool(g: Grading, args: list[str], data_dir: Path) -> tuple[int, str, str]:
    """Run the image as `docker run --rm -v DIR:/data:ro IMAGE ARGS…`; (exit code, stdout, stderr)."""
    c = g.sandbox.run(g.image().tag, suffix="csvstat-" + secrets.token_hex(2), command=args,
                      volumes={str(data_dir): {"bind": DATA, "mode": "ro"}}, network_mode="none")
    try:
        wait_until(lambda: container_gone(c), g.remaining(RUN_TIMEOUT_S))
    except Timeout:
        argv = pid1(g.sandbox, c)
        c.remove(force=True, v=True)
        runs = f" ; son PID 1 est `{shown(argv)}`" if argv else ""
        raise Fail(f"l'outil se termine en moins de {RUN_TIMEOUT_S} s",
                   f"le conteneur tourne encore au bout de {RUN_TIMEOUT_S} s{runs} : attend-il quelque chose "
                   "sur l'entrée standard ?",
                   "l'ENTRYPOINT doit être l'outil lui-même, qui reçoit le fichier en argument.") from None
    c.reload()
    code = c.attrs["State"].get("ExitCode", -1)
    out = c.logs(stdout=True, stderr=False).decode("utf-8", "replace")
    err = c.logs(stdout=False, stderr=True).decode("utf-8", "replace")
    c.remove(force=True, v=True)
    return code, out, err


def image_config(g: Grading) -> dict:
    return g.sandbox.client.images.get(g.image().tag).attrs.get("Config") or {}


def entrypoint_hint(g: Grading) -> str:
    config = image_config(g)
    if shell_pid1(config.get("Entrypoint")):
        return (f"l'ENTRYPOINT est en forme shell ({shown(config['Entrypoint'])}) : `/bin/sh -c` ignore les "
                "arguments de `docker run`, csvstat ne reçoit pas le fichier. Écrivez "
                '`ENTRYPOINT ["/usr/local/bin/csvstat"]` (forme exec).')
    if not config.get("Entrypoint"):
        return ("l'image n'a pas d'ENTRYPOINT : avec `docker run IMAGE /data/fichier.csv`, l'argument "
                "remplace CMD et Docker essaie d'exécuter le fichier CSV. Écrivez "
                '`ENTRYPOINT ["/usr/local/bin/csvstat"]` (forme exec).')
    return (f"l'ENTRYPOINT est {config['Entrypoint']} : il doit lancer csvstat en lui passant les "
            "arguments de `docker run` (forme exec) ; vérifiez le chemin du binaire copié, puis lancez "
            "`docker run --rm -v \"$PWD/data:/data:ro\" IMAGE /data/mesures.csv` pour voir l'erreur.")


def compare(expected: dict, report: dict) -> Optional[str]:
    """The first difference between csvstat's JSON and the expected statistics, or None."""
    if report.get("rows") != expected["rows"]:
        return f"rows = {report.get('rows')!r} au lieu de {expected['rows']}"
    columns = {c.get("name"): c for c in report.get("columns") or [] if isinstance(c, dict)}
    for name, want in expected["columns"].items():
        got = columns.get(name)
        if got is None:
            return f"colonne « {name} » absente du résultat"
        for key, value in want.items():
            seen = got.get(key)
            same = (isinstance(seen, (int, float)) and math.isclose(seen, value, rel_tol=1e-9, abs_tol=1e-9)
                    if isinstance(value, float) else seen == value)
            if not same:
                return f"colonne « {name} » : {key} = {seen!r} au lieu de {value!r}"
    return None


@LAB.check("05-app-works", "L'outil calcule les statistiques d'un CSV (`docker run IMAGE /data/f.csv`)", 2,
           requires=["05-build"])
def app_works(g: Grading):
    lacking = missing_command(g.sandbox, g.workdir, g.image().tag)
    if lacking:
        raise NotYet("un ENTRYPOINT qui lance csvstat sur le fichier passé à `docker run`", lacking,
                     'ajoutez `ENTRYPOINT ["/usr/local/bin/csvstat"]` (forme exec) à la fin du Dockerfile '
                     "(TODO 9).")
    # The shell form drops `docker run`'s arguments: csvstat then reads its (empty) standard input.
    shell_form = shell_pid1(image_config(g).get("Entrypoint"))
    data_dir = g.workdir.parent / f"data-{g.job}"
    data_dir.mkdir(exist_ok=True)
    data_dir.chmod(0o755)  # the tool may run as any uid
    name = f"mesures-{secrets.token_hex(3)}.csv"
    text, expected = sample_csv(g.job + name)
    (data_dir / name).write_text(text, encoding="utf-8")
    (data_dir / name).chmod(0o644)
    command = f"docker run --rm -v DOSSIER:{DATA}:ro IMAGE {DATA}/{name}"
    try:
        code, out, err = run_tool(g, [f"{DATA}/{name}"], data_dir)
    except DockerStepError as exc:
        raise Fail(f"`{command}` lance csvstat sur le fichier",
                   f"le conteneur ne démarre pas : {exc}", entrypoint_hint(g)) from None
    if code != 0:
        detail = (err.strip() or out.strip())[-500:] or "(aucune sortie)"
        if "error while loading shared libraries" in detail:
            hint = ("le binaire est lié dynamiquement à libcsv : la bibliothèque d'exécution doit être "
                    "dans l'image finale (`apt-get install --no-install-recommends libcsv3` dans la "
                    "dernière étape, ou copie de libcsv.so.3 depuis l'étape de build, ou binaire "
                    "statique `make LDFLAGS=-static`). Vérifiez avec `docker run --entrypoint ldd IMAGE "
                    "/usr/local/bin/csvstat`.")
        else:
            hint = entrypoint_hint(g)
        raise Fail(f"`{command}` se termine avec le code 0", f"code {code} : {detail}", hint)
    try:
        report = json.loads(out[out.index("{"): out.rindex("}") + 1])
    except ValueError:
        raise Fail("un objet JSON sur la sortie standard (le rapport de csvstat)",
                   f"sortie : {out.strip()[:300] or '(vide)'}",
                   entrypoint_hint(g) if shell_form else
                   "l'image doit lancer csvstat tel que fourni, sans rien afficher d'autre sur stdout.") from None
    problem = compare(expected, report if isinstance(report, dict) else {})
    if problem:
        raise Fail(f"les statistiques exactes du fichier de test ({expected['rows']} lignes)", problem,
                   entrypoint_hint(g) if shell_form else
                   "compilez src/csvstat.c tel que fourni (sans le modifier) avec `make`.")
    return f"{expected['rows']} lignes, {len(COLUMNS)} colonnes : statistiques exactes"


# -- the final image is lean ---------------------------------------------------------------------
@LAB.check("05-no-build-tools", "Aucun compilateur ni outil de build dans l'image finale", 2,
           requires=["05-build", "05-app-works"])
def no_build_tools(g: Grading):
    found = sorted(build_tools_in_image(g.sandbox, g.image().tag),
                   key=lambda p: (p.rsplit("/", 1)[-1] not in WELL_KNOWN_TOOLS, p))
    if found:
        more = f" (et {len(found) - 6} autres)" if len(found) > 6 else ""
        raise Fail("ni gcc, ni cc, ni make, ni ld… dans le système de fichiers de l'image finale",
                   "trouvé : " + ", ".join(found[:6]) + more,
                   "compilez dans une première étape (`FROM debian:trixie-slim AS build`) et ne copiez "
                   "que le binaire dans l'étape finale : `COPY --from=build /src/csvstat /usr/local/bin/`. "
                   "Un `apt-get purge gcc` ne suffit pas : les couches précédentes gardent les fichiers.",
                   rule="CIS Docker 4.3")
    return "aucun outil de compilation"


def largest_added(g: Grading, limit: int = 3) -> str:
    steps = sorted(added_steps(g.sandbox, g.image().tag, final_base_ref(g)), key=lambda s: -s.size)
    shown = [f"{s.size / MB:.1f} Mo `{s.short(70)}`" for s in steps[:limit] if s.size >= MB // 2]
    return "; ".join(shown) or "aucune couche ajoutée de plus de 0,5 Mo"


def budget_bytes(g: Grading) -> int:
    """``REFERENCE_BASE`` as this engine stores it (its architecture's packages) plus the margin;
    the amd64 figure when the course image is absent."""
    def measure() -> int:
        try:
            return image_size(g.sandbox, REFERENCE_BASE) + MARGIN_MB * MB
        except DockerStepError:
            return BUDGET_MB * MB
    return g.once("budget", measure)


@LAB.check("05-size-budget", f"Image finale légère : au plus {MARGIN_MB} Mo de plus que {REFERENCE_BASE}", 1.5,
           requires=["05-build", "05-app-works"])
def size_budget(g: Grading):
    size, budget = size_of(g), budget_bytes(g)
    if size > budget:
        raise Fail(f"au plus {budget / MB:.0f} Mo, couches décompressées ({REFERENCE_BASE} + {MARGIN_MB} Mo ; "
                   f"la solution de référence fait {REFERENCE_MB} Mo sur amd64 ; `docker image ls` affiche ce "
                   "nombre avec le stockage d'images classique, et la taille compressée avec le stockage "
                   "containerd de Docker Desktop)",
                   f"{size / MB:.1f} Mo ; plus grosses couches ajoutées à l'image de base : {largest_added(g)}",
                   "une étape finale `debian:trixie-slim` sans compilateur ; `--no-install-recommends` "
                   "(DL3015) ; `rm -rf /var/lib/apt/lists/*` dans le MÊME RUN que `apt-get install` "
                   "(DL3009 : supprimé dans un RUN suivant, le fichier reste dans la couche d'avant).",
                   rule="CIS Docker 4.3")
    return f"{size / MB:.1f} Mo (budget {budget / MB:.0f} Mo)"


@LAB.check("05-layers", "Couches regroupées dans l'image finale (pas de RUN consécutifs)", 1,
           requires=["05-build", "05-app-works"])
def layers(g: Grading):
    steps = added_steps(g.sandbox, g.image().tag, final_base_ref(g))
    pairs = consecutive_runs(steps)
    if pairs:
        a, b = pairs[0]
        raise Fail("pas deux instructions RUN à la suite dans l'étape finale (une couche chacune)",
                   f"RUN consécutifs : `{a.short(60)}` puis `{b.short(60)}`"
                   + (f" (et {plural(len(pairs) - 1, 'autre paire', 'autres paires')})"
                      if len(pairs) > 1 else ""),
                   "regroupez-les en un seul RUN avec `&&` (et `\\` pour passer à la ligne) : une seule "
                   "couche, et le nettoyage (rm -rf /var/lib/apt/lists/*) allège vraiment l'image.",
                   rule="DL3059")
    made = [s for s in steps if s.makes_layer]
    if len(made) > MAX_LAYERS:
        raise Fail(f"au plus {MAX_LAYERS} couches (RUN, COPY, ADD) ajoutées à l'image de base",
                   f"{len(made)} couches : " + " ; ".join(f"`{s.short(40)}`" for s in made[:8]),
                   "regroupez les RUN et copiez le binaire en une seule instruction COPY --from.")
    return f"{plural(len(made), 'couche ajoutée', 'couches ajoutées')} à l'image de base"


# -- the cache ------------------------------------------------------------------------------------
@LAB.check("05-layer-cache", "Modifier le code C ne réinstalle pas la chaîne de compilation (cache)", 1,
           requires=["05-build"])
def layer_cache(g: Grading):
    steps = rebuild_after_touch(g, SOURCE, f"/* modification du correcteur {g.job} */")
    installs = install_steps(steps)
    if not installs:
        raise NotYet("une instruction RUN qui installe la chaîne de compilation (apt-get install gcc …)",
                     "aucune étape `RUN apt-get install …` dans le build, donc aucun cache à garder",
                     "installez gcc, libc6-dev, make et libcsv-dev dans l'étape de build (TODO 2).")
    if not any(not cached for s, cached in steps if s.split(" ", 1)[0].upper() in REBUILT):
        raise NotYet(f"un build qui utilise {SOURCE}",
                     f"après une modification de {SOURCE}, aucune étape n'a été reconstruite : le build "
                     "ne copie pas src/, donc aucun cache à garder ou à perdre",
                     "copiez src/ dans l'étape de build (TODO 3) puis compilez (TODO 4).")
    rerun = [s for s, cached in installs if not cached]
    if rerun:
        raise Fail(f"après une simple modification de {SOURCE}, les étapes `apt-get install` reprises "
                   "du cache (« CACHED » avec BuildKit, « Using cache » avec l'ancien builder)",
                   f"l'étape `{rerun[0][:90]}` a été ré-exécutée",
                   "installez les paquets AVANT de copier le code : `RUN apt-get update && apt-get "
                   "install …` puis `COPY src/ ./` puis `RUN make`. Une instruction COPY dont les "
                   "fichiers changent invalide le cache de toutes les instructions qui la suivent.")
    return plural(len(installs), "étape d'installation reprise", "étapes d'installation reprises") + " du cache"


# ---------------------------------------------------------------------------------------------
# Questions de cours: this lab's quiz questions and their checkers, listed by autograder.registry and
# graded in the notebook by autograder.classroom.quiz (answers are parsed, never executed)
# ---------------------------------------------------------------------------------------------
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


QUESTIONS = [
    question("05-q-copy-from",
             "Dans un `Dockerfile` multi-étapes dont l'étape de compilation s'appelle `build`, écrivez "
             "l'instruction qui copie le binaire `/src/csvstat` de cette étape vers "
             "`/usr/local/bin/csvstat` de l'image finale.",
             "reponse_copy_from", COMMANDE,
             "une instruction `COPY` avec l'option qui lit dans une autre étape, nommée par son nom, puis la "
             "source et la destination. Voir « Pourquoi plusieurs étapes ? ».",
             _copy_from),
    question("05-q-couches",
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
]
