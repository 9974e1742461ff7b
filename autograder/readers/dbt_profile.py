"""A dbt profile as dbt itself reads it (dbt's own renderer, in a child process), and dbt's command line and output.

The grader does not read ``profiles.yml`` by hand: ``target:``, ``outputs:`` and every value may be
Jinja (``{{ env_var('DBT_TARGET', 'dev') }}``), and only dbt knows how it renders them. The child
process runs this file with the grader's Python (dbt-core is one of its pinned dependencies), with
a timeout, an empty process environment, and the environment the student's service would get
given to dbt's ``env_var()`` through its invocation context: the grader's own variables are never
read. dbt renders Jinja in a sandboxed environment.

A variable that the given environment lacks is given a placeholder and the rendering is tried
again (dbt names it in ``EnvVarMissingError``): whether the service provides every variable is
judged when the service runs; here the question is how dbt reads the profile.

Run as a script: a JSON request on stdin (``project_dir``, ``profiles_dir``, ``env``, optional
``profile`` and ``target`` overrides), a JSON answer on stdout: ``profile``, ``target``,
``credentials`` (password left out) and ``placeholders``, or ``error`` (dbt's own message) or
``unavailable`` (dbt cannot be imported).

Beside it, pure readings: :func:`for_service` (the reading as a Compose service runs dbt),
:func:`raw_output` (an output as written: where each value comes from), :func:`command_option`
(``--target``/``--profile`` in a dbt command), :func:`build_summary` (models and tests that a
``dbt build`` ran).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

PLACEHOLDER = "valeur-absente"
MAX_PLACEHOLDERS = 40
SHOWN = ("type", "host", "port", "user", "database", "schema")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# dbt-postgres accepts these aliases in an output.
ALIASES = {"dbname": ("dbname", "database"), "password": ("password", "pass")}


class ProfileUnavailable(Exception):
    """dbt cannot be run here (not installed, or the child process did not answer in time)."""


def render(project_dir: Path, profiles_dir: Path, env: dict[str, str], *, profile: Optional[str] = None,
           target: Optional[str] = None, timeout: float = 120) -> dict:
    """dbt's reading of the profile: ``{profile, target, credentials, placeholders}`` or ``{error}``.

    :class:`ProfileUnavailable` when dbt cannot run here."""
    request = {"project_dir": str(project_dir), "profiles_dir": str(profiles_dir),
               "env": {k: str(v) for k, v in env.items() if v is not None}, "profile": profile, "target": target}
    with tempfile.TemporaryDirectory(prefix="dbt-profile-") as home:
        child_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "LC_ALL": "C.UTF-8",
                     "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_VERSION_CHECK": "false"}
        try:
            proc = subprocess.run([sys.executable, "-I", str(Path(__file__).resolve())], input=json.dumps(request),
                                  capture_output=True, text=True, timeout=timeout, env=child_env, cwd=home)
        except subprocess.TimeoutExpired:
            raise ProfileUnavailable(f"dbt n'a pas lu le profil en {timeout:.0f} s") from None
    try:
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ProfileUnavailable(f"réponse illisible de dbt : {(proc.stderr or proc.stdout)[-400:]}") from None
    if "unavailable" in answer:
        raise ProfileUnavailable(answer["unavailable"])
    return answer


def command_option(command, *names: str) -> Optional[str]:
    """The value of ``--target``/``-t`` (or another option) in a dbt command (a list or a string)."""
    words = [str(w) for w in command] if isinstance(command, list) else str(command or "").split()
    for i, word in enumerate(words):
        for name in names:
            if word == name and i + 1 < len(words):
                return words[i + 1]
            if word.startswith(name + "="):
                return word.split("=", 1)[1]
    return None


def raw_output(profiles_yml: Path, profile: str, target: str) -> dict:
    """The output ``target`` of ``profile`` as written in profiles.yml (Jinja unrendered: where each
    value comes from); ``{}`` when the file, the profile or the output cannot be read."""
    import yaml  # noqa: PLC0415 - the child process (below) does not need it

    try:
        profiles = yaml.safe_load(profiles_yml.read_text(errors="replace")) or {}
        raw = profiles[profile]["outputs"][target]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        raw = {}
    return raw if isinstance(raw, dict) else {}


def for_service(project_dir: Path, service: dict, *, timeout: float = 120) -> dict:
    """:func:`render` as a Compose ``service`` (canonical form) runs dbt in ``project_dir``: its
    ``environment:`` given to ``env_var()``, its command's ``--target``/``--profile`` (or
    DBT_TARGET/DBT_PROFILE, which dbt's command line reads too)."""
    env = {k: v for k, v in (service.get("environment") or {}).items() if v is not None}
    command = service.get("command") or []
    return render(project_dir, project_dir, env, timeout=timeout,
                  target=command_option(command, "--target", "-t") or env.get("DBT_TARGET"),
                  profile=command_option(command, "--profile") or env.get("DBT_PROFILE"))


def strip_ansi(text: str) -> str:
    """dbt's console output without its colour codes."""
    return ANSI.sub("", text)


def build_summary(out: str) -> tuple[str, int, int]:
    """``(summary, models, tests)`` of the ``Finished running …`` line of a ``dbt build`` output
    (``"", 0, 0`` without one): ``1 view model, 2 table models, 7 data tests`` gives 3 models, 7 tests."""
    finished = re.search(r"Finished running (.*?) in ", out)
    summary = finished.group(1) if finished else ""
    tests = sum(int(n) for n in re.findall(r"(\d+) (?:data )?tests?\b", summary))
    models = sum(int(n) for n in re.findall(r"(\d+) (?:\w+ )?models?\b", summary))
    return summary, models, tests


def _child() -> dict:
    request = json.loads(sys.stdin.read())
    try:
        from argparse import Namespace

        from dbt.config.profile import Profile, read_profile
        from dbt.config.project import PartialProject
        from dbt.config.renderer import ProfileRenderer
        from dbt.flags import set_from_args
        from dbt_common.context import set_invocation_context
        from dbt.exceptions import EnvVarMissingError
        from dbt_common.exceptions import DbtBaseException
    except ImportError as exc:
        return {"unavailable": f"dbt n'est pas installé pour le correcteur ({exc})"}
    env = dict(request["env"])
    placeholders: list[str] = []
    set_from_args(Namespace(), None)
    while True:
        set_invocation_context(env)
        try:
            renderer = ProfileRenderer({})
            name = request.get("profile") or PartialProject.from_project_root(
                request["project_dir"], verify_version=False).render_profile_name(renderer)
            found = Profile.from_raw_profiles(read_profile(request["profiles_dir"]), name, renderer,
                                              target_override=request.get("target"))
        except EnvVarMissingError as exc:
            if exc.var in env or len(placeholders) >= MAX_PLACEHOLDERS:
                return {"error": str(exc).strip()}
            env[exc.var] = PLACEHOLDER
            placeholders.append(exc.var)
            continue
        except DbtBaseException as exc:
            return {"error": str(exc).strip()}
        except Exception as exc:  # noqa: BLE001 - any failure of dbt's reading is the answer
            return {"error": f"{type(exc).__name__}: {exc}"}
        credentials = found.credentials.to_dict()
        return {"profile": name, "target": found.target_name, "placeholders": placeholders,
                "credentials": {k: credentials.get(k) for k in SHOWN if k in credentials}}


if __name__ == "__main__":
    print(json.dumps(_child(), default=str))
