"""Compose, YAML and .env errors in French, with the student's file, the line and the fix
(autograder.readers.compose_errors through ComposeProject.config(), against the real `docker compose config`).

`docker compose config` needs the Compose v2 plugin, not an engine: these tests run without a daemon.
Each project lives in a folder named like the grader's temporary copy, and no message may show it.
"""

from __future__ import annotations

import shutil
import subprocess
from types import SimpleNamespace

import pytest

from autograder.readers import compose_errors as composeerrors
from autograder.engine.compose import EFFECTIVE_FILE, ComposeProject
from autograder.core import Fail


def _compose_cli() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0


needs_compose = pytest.mark.skipif(not _compose_cli(), reason="the Compose v2 plugin is not installed")

HEAD = "services:\n  web:\n    image: python:3.13-slim\n"


def project(tmp_path, compose: str, env: str | None = None) -> ComposeProject:
    folder = tmp_path / "autograder-h1test" / "02-volumes-persistance"
    folder.mkdir(parents=True)
    (folder / "compose.yaml").write_text(compose)
    if env is not None:
        (folder / ".env").write_text(env)
    return ComposeProject(SimpleNamespace(job="h1-composeerrors"), folder)


def refused(tmp_path, compose: str, env: str | None = None) -> Fail:
    """The Fail of a project that `docker compose config` refuses; its text is the student's."""
    with pytest.raises(Fail) as info:
        project(tmp_path, compose, env).config()
    fail = info.value
    text = fail.message()
    assert str(tmp_path) not in text and "autograder-h1test" not in text, text
    assert "\x1b[" not in text, text
    assert "docker compose config" in fail.hint
    return fail


# -- the examples (regressions) -----------------------------------------------------------
@needs_compose
def test_volume_used_but_not_declared(tmp_path):
    fail = refused(tmp_path, HEAD + "    volumes:\n      - pgdata:/var/lib/postgresql/data\n")
    assert fail.observed.startswith("compose.yaml, ligne 5 : ")
    assert "le volume nommé « pgdata »" in fail.observed and "déclaré nulle part" in fail.observed
    assert "`volumes:` puis, indenté, `pgdata:`" in fail.hint
    assert "tabulation" not in fail.message()


@needs_compose
def test_invalid_default_in_dotenv(tmp_path):
    fail = refused(tmp_path, HEAD + "    environment:\n      PASSWORD: ${DB_PASSWORD}\n",
                   env="# mot de passe local\nDB_PASSWORD=${SECRET:changeme}\n")
    assert fail.observed.startswith(".env, ligne 2 : interpolation invalide « ${SECRET:changeme} »")
    assert "« ${SECRET:-changeme} »" in fail.hint
    assert "tabulation" not in fail.message()


# -- one class at a time ----------------------------------------------------------------------------
@needs_compose
@pytest.mark.parametrize("key, noun, top", [
    ("networks", "le réseau « back »", "networks"),
    ("secrets", "le secret « back »", "secrets"),
    ("configs", "la config « back »", "configs"),
])
def test_undefined_network_secret_config(tmp_path, key, noun, top):
    fail = refused(tmp_path, HEAD + f"    {key}:\n      - back\n")
    assert fail.observed.startswith("compose.yaml, ligne 5 : ")
    assert f"utilise {noun}" in fail.observed
    assert f"`{top}:` puis, indenté, `back:`" in fail.hint


@needs_compose
def test_depends_on_unknown_service_suggests_the_close_name(tmp_path):
    fail = refused(tmp_path, HEAD + "    depends_on:\n      - dbb\n  db:\n    image: postgres:17\n")
    assert fail.observed.startswith("compose.yaml, ligne 5 : ")
    assert "dépend de « dbb » (depends_on)" in fail.observed
    assert fail.hint.startswith("vouliez-vous dire « db » ?")


@needs_compose
@pytest.mark.parametrize("value, fix", [
    ("${PORT:8000}", "« ${PORT:-8000} »"),
    ("${PORT", "fermez l'accolade : « ${PORT} »"),
])
def test_invalid_interpolation_in_compose_file(tmp_path, value, fix):
    fail = refused(tmp_path, HEAD + f"    environment:\n      PORT: \"{value}\"\n")
    assert fail.observed.startswith(f"compose.yaml, ligne 5 : interpolation invalide « {value} »")
    assert fix in fail.hint


@needs_compose
def test_duplicate_key(tmp_path):
    fail = refused(tmp_path, HEAD + "    ports:\n      - \"8000:8000\"\n    image: python:3.13\n")
    assert fail.observed.startswith("compose.yaml, ligne 6 : la clé « image » est écrite deux fois")
    assert "première fois ligne 3" in fail.observed
    assert "gardez-en une seule" in fail.hint


@needs_compose
def test_tab_indentation(tmp_path):
    # a tab before a comment is accepted by Compose's parser: only line 4 is wrong
    fail = refused(tmp_path, "services:\n\t# commentaire\n  web:\n\timage: python:3.13-slim\n")
    assert fail.observed.startswith("compose.yaml, ligne 4 : tabulation dans l'indentation")
    assert "ligne 2" not in fail.observed
    assert "espaces" in fail.hint


@needs_compose
@pytest.mark.parametrize("compose, line, what, fix", [
    (HEAD + "    ports: 8000:8000\n", 4,
     "`services.web.ports` doit être une liste, pas une valeur simple « 8000:8000 »", '`- "8000:8000"`'),
    (HEAD + "    environment: 3\n", 4, "`services.web.environment` doit être une table ou une liste",
     "une entrée `CLÉ: valeur` par ligne"),
    ("services:\n  - web\n", 1, "`services` doit être une table (clé: valeur), pas une liste", "sans « - »"),
    ("services:\n  web: python:3.13-slim\n", 2, "`services.web` doit être une table (clé: valeur)", "`image:`"),
    (HEAD + "    command: 5\n", 4, "`services.web.command` doit être un texte ou une liste", '`command: "5"`'),
    (HEAD + "    environment:\n      - DEBUG: 1\n", 5,
     "l'élément 1 de `services.web.environment` est une table (`- DEBUG: 1`)", "`- CLÉ=valeur` (avec « = »)"),
])
def test_wrong_type(tmp_path, compose, line, what, fix):
    fail = refused(tmp_path, compose)
    assert fail.observed.startswith(f"compose.yaml, ligne {line} : {what}")
    assert fix in fail.hint


@needs_compose
def test_yaml_syntax_names_the_line_that_is_wrong(tmp_path):
    # Compose says « line 1: did not find expected key »; the misaligned key is on line 4
    fail = refused(tmp_path, "services:\n  db:\n    image: postgres:17\n   environment: [\n")
    assert fail.observed.startswith("compose.yaml, ligne 4 : erreur de syntaxe YAML : indentation incohérente")
    assert "tabulation" not in fail.message()


@needs_compose
def test_other_errors_keep_compose_message_cleaned(tmp_path):
    fail = refused(tmp_path, HEAD + "    ports:\n      - \"abc\"\n")
    assert "« invalid containerPort: abc »" in fail.observed
    assert fail.hint == f"corrigez ce que dit ce message. {composeerrors.CHECK_AGAIN}"


@needs_compose
@pytest.mark.parametrize("compose, start, fix", [
    (HEAD + "    networks:\n      - back\n      - back\nnetworks:\n  back:\n",
     "compose.yaml, ligne 6 : `services.web.networks` contient deux fois le même élément (n° 1 et n° 2)",
     "supprimez le doublon."),
    (HEAD + "    deploy:\n      resources:\n        reservations:\n          devices:\n            - driver: nvidia\n",
     "compose.yaml, ligne 8 : il manque `capabilities:` dans `services.web.deploy.resources.reservations.devices.0`",
     "ajoutez `capabilities:`"),
    (HEAD + "    depends_on:\n      db:\n        condition: service_healty\n  db:\n    image: postgres:17\n",
     "compose.yaml, ligne 6 : `services.web.depends_on.db.condition` n'accepte que service_started, service_healthy",
     "vouliez-vous dire « service_healthy » ?"),
    ("web:\n  image: x\ndb:\n  image: postgres:17\n",
     "compose.yaml, ligne 1 : clés inconnues « db », « web » au premier niveau du fichier",
     "au premier niveau, seuls `services:`"),
    ("services:\n  web:\n    ports: ['8000:8000']\n",
     "compose.yaml, ligne 2 : le service « web » n'a ni `image:` ni `build:`", "ajoutez `build: .`"),
])
def test_other_schema_errors_name_the_line(tmp_path, compose, start, fix):
    fail = refused(tmp_path, compose)
    assert fail.observed.startswith(start)
    assert fail.hint.startswith(fix)


@needs_compose
def test_every_unset_required_variable_is_listed_once(tmp_path):
    # Compose names one of them, whichever its map order gives first
    compose = HEAD + ("    environment:\n      U: ${DB_USER:?définissez DB_USER}\n      P: ${DB_PASSWORD:?}\n"
                      "      D: ${DB_NAME?}\n      Q: ${DB_USER:?}\n")
    messages = {refused(tmp_path / str(i), compose, env="DB_NAME=\n").message() for i in range(3)}
    assert len(messages) == 1
    observed = messages.pop()
    assert "ligne 5 : la variable DB_USER est obligatoire" in observed
    assert "ligne 6 : la variable DB_PASSWORD est obligatoire" in observed
    assert "DB_NAME" not in observed and observed.count("DB_USER est obligatoire") == 1  # `?`: empty is set


@needs_compose
def test_healthcheck_test_names_its_own_line(tmp_path):
    compose = HEAD + ("    healthcheck:\n      test: [\"CMD\", \"true\"]\n  db:\n    image: postgres:17\n"
                      "    healthcheck:\n      test: [\"pg_isready\"]\n")
    fail = refused(tmp_path, compose)
    assert fail.observed.startswith("compose.yaml, ligne 9 : le `test:` du healthcheck ne commence ni par « CMD »")
    assert '`test: ["CMD-SHELL", "votre commande"]`' in fail.hint


@needs_compose
def test_a_file_composes_parser_reads_gets_no_pyyaml_syntax_error(tmp_path):
    # `services:` forgotten: Compose's parser reads this, PyYAML does not; only Compose's complaint counts
    fail = refused(tmp_path, "  web:\n    image: x\nvolumes:\n  data:\n")
    assert fail.observed.startswith("compose.yaml : clé inconnue « web » au premier niveau du fichier")
    assert "syntaxe" not in fail.observed


# -- several problems --------------------------------------------------------------------------------
TWO = HEAD + "    volumes:\n      - pgdata:/data\n    depends_on: [db]\n"


@needs_compose
def test_two_problems_are_both_listed_in_line_order(tmp_path):
    fail = refused(tmp_path, TWO)
    lines = fail.observed.splitlines()
    assert lines[0] == "2 problèmes :"
    assert lines[1].startswith("- compose.yaml, ligne 5 : le service « web » utilise le volume nommé « pgdata »")
    assert lines[2].startswith("- compose.yaml, ligne 6 : le service « web » dépend de « db »")
    assert "`volumes:`" in fail.hint and "Corrigez aussi les autres points listés." in fail.hint


@needs_compose
def test_same_input_same_message(tmp_path):
    # Compose names whichever undefined reference its map order gives first; the list does not change
    compose = HEAD + "    volumes: [aa:/a, bb:/b]\n    networks: [cc, dd]\n  db:\n    image: x\n    volumes: [ee:/e]\n"
    messages = {refused(tmp_path / str(i), compose).message() for i in range(4)}
    assert len(messages) == 1
    assert messages.pop().count("déclaré nulle part") == 5


@needs_compose
def test_the_list_is_capped(tmp_path):
    volumes = "".join(f"      - data{i}:/d{i}\n" for i in range(7))
    fail = refused(tmp_path, HEAD + "    volumes:\n" + volumes)
    assert fail.observed.splitlines()[0] == "7 problèmes :"
    assert fail.observed.count("\n- ") == composeerrors.MAX_LISTED
    assert fail.observed.endswith("… et 2 autres")


@needs_compose
def test_dotenv_and_compose_file_problems_together(tmp_path):
    fail = refused(tmp_path, HEAD + "    environment:\n      A: ${A:x}\n", env="B=${B\n")
    assert fail.observed.splitlines()[1].startswith("- .env, ligne 1 : interpolation invalide « ${B »")
    assert fail.observed.splitlines()[2].startswith("- compose.yaml, ligne 5 : interpolation invalide « ${A:x} »")


# -- Compose decides: what it accepts stays accepted --------------------------------------------------
@needs_compose
def test_valid_files_are_accepted(tmp_path):
    compose = (HEAD + "    restart: no\n    ports: ['8000:8000']\n    environment:\n      A: ${A:-x}\n"
               "      B: $$literal ${B-y}\n      C: cost $5\n    volumes:\n      - ./init:/init\n"
               "      - C:/windows:/w\n      - data:/data\n    depends_on: [db]\n"
               "  db:\n    image: postgres:17\nvolumes:\n  data:\n")
    config = project(tmp_path, compose, env="A='${raw:value}'\nB=ok # ${comment:x}\n").config()
    assert set(config["services"]) == {"web", "db"}


@needs_compose
@pytest.mark.parametrize("value", [
    "${A:b}", "${A", "$5", "a $ b", "$", "${}", "${1A}", "${A:-${B:c}}", "${A:-b}", "${A-b}", "${A:+x}",
    "${A+x}", "$A-b", "${A}}", "${a.b}", "$$", "$${A:b}", "${A:-}", "${A :-b}", "${A:=b}", "${A=b}",
    "${A:-{b}}", "${A:-b", "${A:-${B}}",
])
def test_interpolation_reading_agrees_with_compose(tmp_path, value):
    folder = tmp_path / value.replace("/", "_").replace("$", "D")
    folder.mkdir()
    (folder / "compose.yaml").write_text(f"services:\n  a:\n    image: x\n    environment:\n      P: '{value}'\n")
    proc = subprocess.run(["docker", "compose", "-p", "h1", "-f", "compose.yaml", "config", "--format", "json"],
                          cwd=folder, capture_output=True, text=True, timeout=60)
    assert bool(composeerrors.bad_templates(value)) == ("invalid interpolation format" in proc.stderr), proc.stderr


# -- cleaning any CLI output -------------------------------------------------------------------------
def test_clean_removes_ansi_and_the_grader_paths(tmp_path):
    folder = tmp_path / "autograder-x" / "01-lab"
    text = f"\x1b[31mError\x1b[0m reading {folder}/app/main.py in {folder}\x1b]8;;http://x\x07"
    assert composeerrors.clean(text, folder) == "Error reading app/main.py in ."


def test_compose_step_output_shows_the_students_file(tmp_path):
    proj = project(tmp_path, HEAD)
    effective = proj.directory.parent / f"{proj.name}{EFFECTIVE_FILE}"
    cleaned = proj._clean(f"\x1b[1mvalidating {effective}\x1b[0m: volume {proj.directory}/data missing")
    assert cleaned == "validating compose.yaml: volume data missing"


@needs_compose
def test_dotenv_line_numbers_survive_the_graders_copy(tmp_path):
    # the grader drops COMPOSE_* settings from the copied .env: the lines after them keep their numbers
    from autograder.engine.runner import copy_submission
    src = tmp_path / "rendu"
    src.mkdir()
    (src / "compose.yaml").write_text(HEAD)
    (src / ".env").write_text("COMPOSE_PROJECT_NAME=moi\nDB_PASSWORD=${SECRET:changeme}\n")
    proj = project(tmp_path, HEAD)
    copy_submission(src, proj.directory, [])
    assert "COMPOSE_PROJECT_NAME" not in (proj.directory / ".env").read_text()
    with pytest.raises(Fail) as info:
        proj.config()
    assert info.value.observed.startswith(".env, ligne 2 : interpolation invalide « ${SECRET:changeme} »")


def test_a_timed_out_compose_step_is_cleaned_too(tmp_path, monkeypatch):
    from autograder.engine import compose
    from autograder.engine.docker_api import DockerStepError
    proj = project(tmp_path, HEAD)

    def too_long(args, **options):
        raise DockerStepError("trop long", f"\x1b[32m ✔ Container web\x1b[0m {proj.directory}/data", timed_out=True)

    monkeypatch.setattr(compose, "run_cli", too_long)
    with pytest.raises(DockerStepError) as info:
        proj.config()
    assert info.value.output == " ✔ Container web data"
