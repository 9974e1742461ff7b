"""PostgreSQL answers as comparable data: a query's rows as a set of normalised cells, a relation found by name.

A grader compares what a student's tables hold with what its own query computes: both go through
``COPY (…) TO STDOUT`` (CSV, so text with commas survives) and each cell is normalised the same
way (numbers to the cent, whether the column is numeric or float; text trimmed and lower-cased).
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation
from typing import Optional

from autograder.engine.sandbox import Sandbox
from autograder.probes.postgres import psql


def cell(text: str):
    """A cell as compared: numbers to the cent (numeric or float sums), anything else as text."""
    try:
        return Decimal(text).quantize(Decimal("0.01"))
    except InvalidOperation:
        return text.strip().lower()


def query_rows(sandbox: Sandbox, container, sql: str) -> set[tuple]:
    """The rows of ``sql`` as a set of tuples of :func:`cell` values."""
    out = psql(sandbox, container, f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)")
    return {tuple(cell(v) for v in row) for row in csv.reader(io.StringIO(out)) if row}


def find_relation(sandbox: Sandbox, container, name: str) -> Optional[tuple[str, str]]:
    """``(schema-qualified name, relkind)`` of the relation ``name`` (table, view, materialised view
    or partitioned table) outside pg_catalog and information_schema, the first by name; ``None``."""
    out = psql(sandbox, container,
               "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind FROM pg_class c "
               "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = "
               f"'{name}' AND c.relkind IN ('r', 'v', 'm', 'p') AND n.nspname NOT IN ('pg_catalog', "
               "'information_schema') ORDER BY 1 LIMIT 1")
    return tuple(out.split("|", 1)) if "|" in out else None


def rows_diff(got: set[tuple], want: set[tuple], shown: int = 3) -> str:
    """What differs between two row sets (French, for the student): the counts, then at most
    ``shown`` rows expected but absent and ``shown`` rows present but wrong or extra."""
    missing, extra = sorted(want - got, key=str), sorted(got - want, key=str)

    def show(rows: list[tuple]) -> str:
        return "; ".join(",".join(str(v) for v in r) for r in rows[:shown]) + (" …" if len(rows) > shown else "")
    return (f"{len(got)} lignes, {len(want)} attendues"
            + (f"\n  attendues mais absentes : {show(missing)}" if missing else "")
            + (f"\n  présentes en trop ou fausses : {show(extra)}" if extra else ""))
