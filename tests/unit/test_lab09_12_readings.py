"""Labs 09 and 12, without a Docker engine: configurations read the way the tools read them.

Written from the instructions (enonce.ipynb's contracts):
- lab 12: « aucun mot de passe commité » reads what the student writes in compose.yaml and what git
  would commit; `env_file: .env` (git-ignored) is not a password written in compose.yaml (it is
  judged where it lands, `docker inspect`), a committed env file holding one is; git's rules come
  from `git check-ignore`; with no secret declared yet, the git check has nothing to judge;
- lab 09: profiles.yml is read by dbt's own renderer with the dbt service's environment: a
  `target:` that is itself `{{ env_var(…) }}` is valid, dbt's own refusals are reported, and the
  host dbt really reads (after defaults) must not be localhost.

They need the `docker compose` CLI (`config` runs without an engine) and dbt-core (a pinned
dependency of the grader).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder.core import Fail, NotYet
from autograder.labs import lab09_pipeline_dbt_dagster as lab09
from autograder.labs import lab12_secrets_durcissement as lab12
from autograder.engine.runner import Grading
from autograder.readers.dbt_profile import command_option

ROOT = Path(__file__).resolve().parents[2]


def compose_cli() -> bool:
    try:
        return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = pytest.mark.skipif(not compose_cli(), reason="the docker compose CLI is not installed")


@dataclass
class ConfigOnlySandbox:
    """What `docker compose config` needs from a sandbox: the project name."""

    job: str = "h4-unit"


def grading(lab, folder: Path) -> Grading:
    g = Grading(lab.LAB, folder, ConfigOnlySandbox(), time.monotonic() + 300)
    if lab.LAB.prepare:
        lab.LAB.prepare(g)
    return g


def copy(kind: str, lab_id: str, tmp_path: Path) -> Path:
    dest = tmp_path / lab_id
    shutil.copytree(ROOT / kind / lab_id, dest, ignore=shutil.ignore_patterns("enonce.ipynb", "README.md"))
    return dest


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


# -- lab 12 ----------------------------------------------------------------------------------
L12 = "12-secrets-durcissement"
APP_SECRETS = "    secrets:\n      - db_password\n    ports:\n"


def test_lab12_env_file_dotenv_is_not_a_password_written_in_compose(tmp_path):
    folder = copy("solutions", L12, tmp_path)
    edit(folder / "compose.yaml", APP_SECRETS, "    env_file: .env\n" + APP_SECRETS)
    g = grading(lab12, folder)
    assert "POSTGRES_PASSWORD" in (g.compose().services()["app"].get("environment") or {})  # Compose loads it
    assert "secret(s) fichier" in lab12.no_plain_password(g)  # ... but nothing is written or committed


def test_lab12_committed_env_file_with_a_password_fails_and_says_which_file(tmp_path):
    folder = copy("solutions", L12, tmp_path)
    edit(folder / "compose.yaml", APP_SECRETS, "    env_file: app.vars\n" + APP_SECRETS)
    (folder / "app.vars").write_text("DB_PORT=5432\nDB_PASSWORD=mot-de-passe-de-dev\n")
    with pytest.raises(Fail) as committed:
        lab12.no_plain_password(grading(lab12, folder))
    assert "app.vars" in committed.value.observed and "DB_PASSWORD" in committed.value.observed
    assert "DB_PORT" not in committed.value.observed
    # The same file, git-ignored: not committed, so not this check's business.
    (folder / ".gitignore").write_text((folder / ".gitignore").read_text() + "app.vars\n")
    assert "secret(s) fichier" in lab12.no_plain_password(grading(lab12, folder))


def test_lab12_password_in_environment_is_reported_once_under_its_own_key(tmp_path):
    folder = copy("solutions", L12, tmp_path)
    edit(folder / "compose.yaml", "      POSTGRES_PASSWORD_FILE: /run/secrets/db_password\n",
         "      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}\n")
    edit(folder / "compose.yaml", "  db:\n    image: postgres:17\n", "  db:\n    image: postgres:17\n    env_file: .env\n")
    with pytest.raises(Fail) as written:
        lab12.no_plain_password(grading(lab12, folder))
    assert written.value.observed.count("POSTGRES_PASSWORD") == 1
    assert "services.db.environment.POSTGRES_PASSWORD" in written.value.observed


def test_lab12_gitignore_has_nothing_to_judge_without_a_declared_secret_unless_dotenv_is_exposed(tmp_path):
    folder = copy("labs", L12, tmp_path)
    with pytest.raises(Fail) as exposed:  # the starter: .gitignore is empty
        lab12.gitignored(grading(lab12, folder))
    assert not isinstance(exposed.value, NotYet) and ".env n'est PAS ignoré" in exposed.value.observed
    (folder / ".gitignore").write_text(".env\nsecrets/*\n!secrets/*.example\n")
    with pytest.raises(NotYet) as absent:
        lab12.gitignored(grading(lab12, folder))
    assert "aucun secret `file:`" in absent.value.observed


def test_lab12_capabilities_check_names_no_tolerance():
    assert not hasattr(lab12, "TOLERATED_CAPS")
    check = next(c for c in lab12.LAB.checks if c.id == "12-capabilities")
    assert "CapEff et CapBnd vides" in check.title


# -- lab 09 ----------------------------------------------------------------------------------
L09 = "09-pipeline-dbt-dagster"
TARGET = "  target: dev\n"
HOST = "      host: \"{{ env_var('DBT_HOST', 'db') }}\"         # le nom du service, jamais localhost\n"


def test_lab09_target_from_env_var_is_read_by_dbt(tmp_path):
    folder = copy("solutions", L09, tmp_path)
    edit(folder / "dbt_project" / "profiles.yml", TARGET, "  target: \"{{ env_var('DBT_TARGET', 'dev') }}\"\n")
    assert "cible « dev »" in lab09.profiles_env(grading(lab09, folder))


def test_lab09_dbt_refusal_is_reported_with_dbt_s_own_words(tmp_path):
    folder = copy("solutions", L09, tmp_path)
    edit(folder / "dbt_project" / "profiles.yml", TARGET, "  target: \"{{ env_var('DBT_TARGET', 'dev') }}\"\n")
    edit(folder / "compose.yaml", "      DBT_HOST: db\n      DBT_DBNAME", "      DBT_TARGET: prod\n      DBT_HOST: db\n"
                                                                   "      DBT_DBNAME")
    with pytest.raises(Fail) as refused:
        lab09.profiles_env(grading(lab09, folder))
    assert "dbt refuse le profil" in refused.value.observed and "prod" in refused.value.observed


def test_lab09_host_is_judged_as_dbt_renders_it(tmp_path):
    folder = copy("solutions", L09, tmp_path)
    edit(folder / "dbt_project" / "profiles.yml", HOST, "      host: \"{{ env_var('DBT_HOST', 'localhost') }}\"\n")
    edit(folder / "compose.yaml", "    environment:\n      DBT_HOST: db\n", "    environment:\n")
    with pytest.raises(Fail) as local:
        lab09.profiles_env(grading(lab09, folder))
    assert "dbt lit host « localhost »" in local.value.observed


def test_lab09_dbt_command_option():
    assert command_option(["build", "--target", "ci"], "--target", "-t") == "ci"
    assert command_option("build -t ci", "--target", "-t") == "ci"
    assert command_option(["build", "--target=ci"], "--target", "-t") == "ci"
    assert command_option(["build"], "--target", "-t") is None
