"""PostgreSQL probes, through `docker exec` in the database container (no port published), and the
grader's own credentials for a PostgreSQL stack (.env files, checksums per table)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING


from autograder.core import Fail
from autograder.engine.sandbox import Sandbox

from testcontainers.core.wait_strategies import ExecWaitStrategy

from autograder.probes.containers import container_env, exec_ok, logs_tail, token
from autograder.probes.waits import Target, Timeout, wait_for
if TYPE_CHECKING:  # pragma: no cover
    from autograder.engine.runner import Grading


# -- PostgreSQL (exec in the database container: no port needs to be published) ---------------
def pg_credentials(sandbox: Sandbox, container) -> tuple[str, str]:
    """User and database the way the official postgres image derives them (``_FILE`` too)."""
    env = container_env(container)

    def value(name: str) -> str:
        if env.get(name):
            return env[name]
        if env.get(name + "_FILE"):
            code, out = sandbox.exec(container, ["cat", env[name + "_FILE"]], timeout=10)
            if code == 0:
                return out.strip()
        return ""

    user = value("POSTGRES_USER") or "postgres"
    return user, value("POSTGRES_DB") or user


def psql(sandbox: Sandbox, container, sql: str, timeout: float = 30, database: str = "") -> str:
    """``sql`` through psql in ``container`` (its POSTGRES_USER; POSTGRES_DB unless ``database``),
    unaligned tuples only."""
    user, db = pg_credentials(sandbox, container)
    return exec_ok(sandbox, container, ["psql", "-v", "ON_ERROR_STOP=1", "-X", "-q", "-U", user,
                                        "-d", database or db, "-tAc", sql], timeout=timeout).strip()


def wait_pg_ready(sandbox: Sandbox, container, timeout: float = 60.0) -> None:
    """Wait until PostgreSQL accepts connections in ``container`` (``pg_isready``, through
    testcontainers' ExecWaitStrategy and :meth:`Sandbox.exec`).

    Over TCP on 127.0.0.1: while the init scripts run, the image's temporary server
    listens on the unix socket only, so a socket-level "ready" would come too early.
    """
    user, db = pg_credentials(sandbox, container)
    ready = ExecWaitStrategy(["pg_isready", "-q", "-h", "127.0.0.1", "-U", user, "-d", db])
    try:
        wait_for(ready, Target(container, sandbox, exec_timeout=10), timeout, poll=0.5)
    except Timeout as exc:
        observed = exc.last if isinstance(exc.last, str) else f"toujours pas prêt après {int(timeout)} s"
        raise Fail(expected="PostgreSQL accepte les connexions",
                   observed=f"{observed}\nDerniers journaux :\n{logs_tail(container)}",
                   hint="lisez `docker compose logs db` : mot de passe manquant "
                        "(POSTGRES_PASSWORD), script d'initialisation en erreur… ") from None


def pg_service_ready(g: "Grading", service: str = "db", timeout: float = 90.0):
    """The container of Compose ``service`` once PostgreSQL accepts connections in it (after any
    down/up or re-creation)."""
    c = g.compose().container(service)
    wait_pg_ready(g.sandbox, c, timeout=g.remaining(timeout))
    return c


def pg_write_token(sandbox: Sandbox, container) -> str:
    value = token()
    psql(sandbox, container, "CREATE TABLE IF NOT EXISTS autograder_probe (v text); "
                             f"INSERT INTO autograder_probe VALUES ('{value}');")
    return value


def pg_has_token(sandbox: Sandbox, container, value: str) -> bool:
    out = psql(sandbox, container, "SELECT count(*) FROM autograder_probe WHERE v = "
                                   f"'{value}'" if _table_exists(sandbox, container) else "SELECT 0")
    return out.strip() not in ("", "0")


def _table_exists(sandbox: Sandbox, container) -> bool:
    return psql(sandbox, container, "SELECT to_regclass('public.autograder_probe') IS NOT NULL") == "t"


# -- postgres sql --
# Lab 08: .env files, the Compose plugin, per-table checksums.
def env_file_read(path) -> dict[str, str]:
    """``KEY=value`` lines of a ``.env`` file (comments and blank lines skipped, quotes removed)."""
    values: dict[str, str] = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def env_file_write(path, values: dict[str, str]) -> None:
    Path(path).write_text("".join(f"{k}={v}\n" for k, v in values.items()))


def pg_table_checksums(sandbox: Sandbox, container, tables) -> dict[str, tuple[str, int]]:
    """``table -> (md5 of its rows in order, row count)``, as ``COPY (SELECT … ORDER BY 1..n) TO STDOUT``."""
    out = {}
    for table in tables:
        text = exec_ok(sandbox, container, ["sh", "-c",
                                            'psql -X -q -v ON_ERROR_STOP=1 -U "$1" -d "$2" -c "$3"',
                                            "sh", *pg_credentials(sandbox, container),
                                            f"COPY (SELECT * FROM {table} ORDER BY 1, 2) TO STDOUT"],
                       timeout=30)
        import hashlib as _hashlib
        out[table] = (_hashlib.md5(text.encode()).hexdigest()[:12], len(text.splitlines()))
    return out


GRADER_ENV_KEYS = ("POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD")
ENV_SCAN_SKIP = {".env", "enonce.ipynb"}
ENV_SCAN_SUFFIXES = {".sh", ".sql", ".py", ".yaml", ".yml", ".txt", ".toml", ".cfg", ".ini", ".json", ".csv",
                     ".example", ".md", ""}


def grader_password() -> str:
    return "pw-" + secrets.token_hex(8)


def grader_env(workdir, defaults: dict[str, str]) -> tuple[dict[str, str], str]:
    """Write the grader's own ``.env`` in the grading copy: the student's ``.env`` (or else
    ``.env.example``) with ``defaults`` for missing keys and a random POSTGRES_PASSWORD. A password
    the student can not know proves none is hard-coded. Returns ``(values, the student's own
    .env password or "")``."""
    env_path = Path(workdir) / ".env"
    source = env_path if env_path.is_file() else Path(workdir) / ".env.example"
    values = env_file_read(source) if source.is_file() else {}
    student_password = values.get("POSTGRES_PASSWORD", "") if env_path.is_file() else ""
    for key, value in defaults.items():
        values.setdefault(key, value)
    values["POSTGRES_PASSWORD"] = grader_password()
    env_file_write(env_path, values)
    return values, student_password


def env_hygiene(workdir, student_password: str) -> list[str]:
    """:class:`Fail` without a committed ``.env.example`` or without ``.env`` in ``.gitignore``;
    else the committed text files that contain the student's own ``.env`` password."""
    workdir = Path(workdir)
    if not (workdir / ".env.example").is_file():
        raise Fail("un fichier .env.example commité (modèle sans vrai secret)", ".env.example introuvable",
                   "créez .env.example avec POSTGRES_USER, POSTGRES_DB et un POSTGRES_PASSWORD factice.")
    ignore = workdir / ".gitignore"
    patterns = [l.strip() for l in ignore.read_text(errors="replace").splitlines()] if ignore.is_file() else []
    if not any(p in (".env", "/.env", "*.env", ".env*", "/.env*") for p in patterns):
        raise Fail("`.env` listé dans .gitignore", ".gitignore absent ou sans ligne `.env`",
                   "ajoutez la ligne `.env` à .gitignore : le vrai mot de passe ne doit jamais être commité.")
    found = []
    if len(student_password) >= 4:
        for path in sorted(workdir.rglob("*")):
            if not path.is_file() or path.name in ENV_SCAN_SKIP or path.suffix not in ENV_SCAN_SUFFIXES \
                    or path.stat().st_size > 1_000_000:
                continue
            if student_password in path.read_text(errors="replace"):
                found.append(f"{path.relative_to(workdir)} contient le mot de passe de votre .env")
    return found
