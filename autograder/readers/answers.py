"""A student's written answer to a quiz question, read without running it (the questions live in
their lab modules, ``autograder/labs/labNN_*.py``; :mod:`autograder.classroom.quiz` grades them).

A :class:`Question` holds a stable id (``NN-q-slug``, never reused), a French prompt, the name of
the answer variable, its points, its kind (a command, a multiple choice, a short value), a French
explanation shown when the answer is wrong and a checker, which raises :class:`Faux` (with a French
hint, possibly empty) when the answer is wrong.

Answers are read for their meaning, not their text: a command is split with :mod:`shlex` and parsed
as docker's own flag parser does (:func:`docker_command`), so every valid spelling passes
(``docker volume ls`` or ``list``, ``docker ps -a`` or ``docker container ls --all``, with ``-q`` or
``--format``…); a multiple choice is a set of letters in any order, case or separator
(:func:`choix`). Nothing here executes an answer.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Callable, Optional

COMMANDE, CHOIX, VALEUR = "commande", "choix", "valeur"
POINTS = 0.5


class Faux(Exception):
    """A wrong answer; the message (possibly empty) says what is wrong with this one."""


@dataclass(frozen=True)
class Question:
    id: str
    prompt: str                      # Markdown, French, "vous"
    variable: str                    # the answer variable of the notebook
    kind: str                        # COMMANDE, CHOIX or VALEUR
    explanation: str                 # shown when wrong: what was expected, and where to read
    check: Callable[[str], None]     # raises Faux when wrong
    choices: tuple[tuple[str, str], ...] = ()
    points: float = POINTS

    @property
    def lab(self) -> str:
        return self.id[:2]


# ---------------------------------------------------------------------------------------------
# Normalisation and parsing (nothing is ever executed)
# ---------------------------------------------------------------------------------------------
_QUOTES = str.maketrans({"“": '"', "”": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "\u00a0": " "})


def texte(reponse) -> str:
    """The answer as one stripped line: typographic quotes made plain, an outer pair of quotes,
    a shell prompt (``$``) or a notebook ``!`` removed."""
    if isinstance(reponse, (list, tuple, set, frozenset)):
        reponse = ", ".join(str(x) for x in reponse)
    s = " ".join(str(reponse if reponse is not None else "").translate(_QUOTES).split())
    s = s.strip("`").strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"" and s.count(s[0]) == 2:
        s = s[1:-1].strip()
    s = re.sub(r"^(\$|#|!|%%?\w*)\s*", "", s) if re.match(r"^(\$ |# |!|%)", s) else s
    return s


def mots(reponse: str) -> list[str]:
    """shlex tokens of one command (``sudo`` dropped); a pipeline or a list of commands is refused."""
    try:
        toks = shlex.split(reponse)
    except ValueError:
        raise Faux("La commande est illisible (guillemet non fermé ?).") from None
    if any(t in ("|", ";", "&&", "||", "&") or t.endswith(";") for t in toks):
        raise Faux("Écrivez une seule commande, sans `|`, `;` ni `&&`.")
    if toks[:1] == ["sudo"]:
        toks = toks[1:]
    return toks


@dataclass
class Ligne:
    """A parsed command line: the canonical command path, its options (canonical name → values)
    and its positional arguments."""
    path: tuple[str, ...]
    options: dict[str, list[str]] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)

    def has(self, name: str) -> bool:
        return name in self.options


def options(toks: list[str], known: dict[str, tuple[str, bool]],
            interspersed: bool = True) -> tuple[dict[str, list[str]], list[str]]:
    """Parse ``toks`` with ``known`` (every spelling → (canonical name, takes a value)), as pflag
    does: ``--name value``, ``--name=value``, ``-x value``, ``-xvalue``, ``-abc``. An unknown
    option is a wrong answer (it changes the meaning, or does not exist). Without
    ``interspersed`` (``compose exec/run SERVICE COMMAND…``), everything after the first argument
    is an argument."""
    opts: dict[str, list[str]] = {}
    args: list[str] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if args and not interspersed:
            args.append(t)
        elif t.startswith("--") and len(t) > 2:
            name, eq, value = t.partition("=")
            if name not in known:
                raise Faux(f"Option inattendue ici : `{name}`.")
            canon, takes = known[name]
            if takes and not eq:
                if i + 1 >= len(toks):
                    raise Faux(f"`{name}` attend une valeur.")
                i += 1
                value = toks[i]
            opts.setdefault(canon, []).append(value if takes else "")
        elif t.startswith("-") and len(t) > 1:
            j = 1
            while j < len(t):
                name = "-" + t[j]
                if name not in known:
                    raise Faux(f"Option inattendue ici : `{name}`.")
                canon, takes = known[name]
                if takes:
                    value = t[j + 1:].lstrip("=")
                    if not value:
                        if i + 1 >= len(toks):
                            raise Faux(f"`{name}` attend une valeur.")
                        i += 1
                        value = toks[i]
                    opts.setdefault(canon, []).append(value)
                    break
                opts.setdefault(canon, []).append("")
                j += 1
        else:
            args.append(t)
        i += 1
    return opts, args


def spec(*entries: tuple[str, bool]) -> dict[str, tuple[str, bool]]:
    """``("-q --quiet", False)`` → every spelling mapped to the long name."""
    out = {}
    for names, takes in entries:
        spellings = names.split()
        for s in spellings:
            out[s] = (spellings[-1], takes)
    return out


DOCKER_GLOBAL = spec(("-c --context", True), ("-H --host", True), ("--config", True),
                     ("-l --log-level", True), ("-D --debug", False), ("--tls", False),
                     ("--tlsverify", False))
COMPOSE_GLOBAL = spec(("-f --file", True), ("-p --project-name", True), ("--profile", True),
                      ("--env-file", True), ("--project-directory", True), ("--ansi", True),
                      ("--progress", True), ("--parallel", True), ("--compatibility", False),
                      ("--dry-run", False), ("--all-resources", False))
# docker's shortcuts and aliases → one canonical path.
ALIASES = {
    ("ps",): ("container", "ls"), ("container", "ps"): ("container", "ls"),
    ("container", "list"): ("container", "ls"), ("images",): ("image", "ls"),
    ("image", "list"): ("image", "ls"), ("volume", "list"): ("volume", "ls"),
    ("network", "list"): ("network", "ls"), ("container", "inspect"): ("inspect",),
}
V1 = ("`docker-compose` (avec un tiret) est Compose v1, plus maintenu depuis 2023 : le cours "
      "utilise Compose v2, `docker compose` (avec une espace).")


def _skip(toks: list[str], known: dict[str, tuple[str, bool]]) -> list[str]:
    """``toks`` without its leading global options (checked against ``known``)."""
    while toks and toks[0].startswith("-"):
        name, eq, _ = toks[0].partition("=")
        if name not in known:
            raise Faux(f"Option inattendue ici : `{name}`.")
        toks = toks[2:] if known[name][1] and not eq else toks[1:]
    return toks


def docker_command(reponse: str, commands: dict[tuple[str, ...], dict[str, tuple[str, bool]]]) -> Ligne:
    """Parse a ``docker …`` command. ``commands`` maps the accepted canonical paths to their
    option specs; any other command is wrong (the checker's caller adds the explanation)."""
    toks = mots(reponse)
    if not toks:
        raise Faux("")
    if toks[0] == "docker-compose":
        raise Faux(V1)
    if toks[0] != "docker":
        raise Faux(f"La commande commence par `docker` (pas `{toks[0]}`).")
    rest = toks[1:]
    rest = _skip(rest, DOCKER_GLOBAL)  # docker's global options (--context, -H…)
    if rest[:1] == ["compose"]:
        rest = _skip(rest[1:], COMPOSE_GLOBAL)  # -f, -p, --profile…
        path: tuple[str, ...] = ("compose",) + tuple(rest[:1])
        rest = rest[1:]
    else:
        n = 2 if rest and rest[0] in ("container", "image", "volume", "network", "system", "builder") else 1
        path, rest = tuple(rest[:n]), rest[n:]
    path = ALIASES.get(path, path)
    if path not in commands:
        raise Faux(f"`{' '.join(toks[:1 + len(path)])}` ne fait pas ce qui est demandé.")
    opts, args = options(rest, commands[path], interspersed=path not in (("compose", "exec"),
                                                                           ("compose", "run")))
    return Ligne(path, opts, args)


def lettres(reponse: str, valides: str) -> frozenset[str]:
    """The set of letters of a multiple-choice answer: ``"B, d"``, ``"db"``, ``"B et D"``…"""
    s = re.sub(r"\b(et|and)\b", " ", reponse, flags=re.I).upper()
    s = re.sub(r"[\s,;/+&().\-\[\]'\"]", "", s)
    if not s or not s.isalpha() or set(s) - set(valides):
        raise Faux(f"Répondez par une ou plusieurs lettres parmi {', '.join(valides)}.")
    return frozenset(s)


def choix(*bonnes: str, indices: Optional[dict[str, str]] = None):
    """Checker of a multiple choice: exactly the letters ``bonnes``; ``indices`` gives a hint per
    wrongly ticked (or missed) letter."""
    attendu = frozenset(bonnes)

    def check(reponse: str) -> None:
        got = lettres(reponse, check.valides)
        if got != attendu:
            hints = [indices[x] for x in sorted(got ^ attendu) if indices and x in indices]
            raise Faux(" ".join(hints))

    check.valides = "ABCDEF"
    return check


def valeur(reponse: str) -> str:
    """A short value: the answer without surrounding quotes or backticks."""
    return reponse.strip().strip("`'\"").strip()


# Options of `docker container ls` (`docker ps`) and `docker inspect`, which several labs accept.
LS_CONTAINERS = spec(("-a --all", False), ("-q --quiet", False), ("-s --size", False),
                     ("--no-trunc", False), ("--format", True), ("-f --filter", True),
                     ("-n --last", True), ("-l --latest", False))
INSPECT = spec(("-f --format", True), ("-s --size", False), ("--type", True))


def question(id: str, prompt: str, variable: str, kind: str, explanation: str,
             check: Callable[[str], None], choices=()) -> Question:
    """A lab's question; a multiple choice's checker accepts exactly the letters of its ``choices``."""
    if choices:
        check.valides = "".join(letter for letter, _ in choices)
    return Question(id=id, prompt=prompt, variable=variable, kind=kind, explanation=explanation,
                    check=check, choices=tuple(choices))
