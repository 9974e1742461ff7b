"""French diagnoses for a Compose project that ``docker compose config`` refuses.

Compose stops at its first error, in the order it loads a project: ``.env``, the YAML itself
(syntax, duplicate keys), interpolation, the compose-spec schema (types, unknown keys), then the
references between services, volumes, networks, secrets and configs. :func:`diagnose` turns that
first error into a :class:`Problem` (the student's own file name, the line, what is wrong, the fix)
and adds what a cheap pre-pass over the same files finds of the same classes further on
(:mod:`autograder.readers.compose_review`: the YAML read with its line marks, ``.env`` line by line).
It is called only after Compose refused the project: Compose alone decides what is valid.

:func:`clean` removes ANSI escapes and the grader's temporary folder from any CLI output.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Optional

import yaml
from yaml.nodes import MappingNode, Node

from autograder.readers.compose_review import (Files, Problem, Review, bad_templates, duplicate, healthcheck, interpolation,
                            no_image, node_line, required)

MAX_LISTED = 5
# Compose's message once its YAML parser has read the file (schema, interpolation, references).
PARSED = re.compile(r"^(?!.*(?:failed to parse|failed to read|(?<![\w.-])yaml: ))", re.S)
CHECK_AGAIN = "Vérifiez ensuite avec `docker compose config` dans le dossier du TP."
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def clean(text: Optional[str], project_dir: Optional[Path] = None,
          replace: Optional[dict] = None) -> str:
    """``text`` without ANSI escapes, the project folder's absolute path (made relative) nor the
    paths in ``replace`` (path -> what to show instead)."""
    out = ANSI.sub("", text or "")
    pairs = [(str(path), shown) for path, shown in (replace or {}).items()]
    if project_dir is not None:
        for folder in {str(project_dir), str(Path(project_dir).resolve())}:
            pairs += [(folder + os.sep, ""), (folder, ".")]
    for path, shown in sorted(pairs, key=lambda p: -len(p[0])):
        out = out.replace(path, shown)
    return out


def summary(problems: list[Problem]) -> str:
    """The problems, one a line, at most :data:`MAX_LISTED` then « … et N autres »."""
    if len(problems) == 1:
        return problems[0].text()
    lines = [f"{len(problems)} problèmes :"] + [f"- {p.text()}" for p in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        rest = len(problems) - MAX_LISTED
        lines.append(f"… et {rest} autre{'s' if rest > 1 else ''}")
    return "\n".join(lines)


def hint(problems: list[Problem]) -> str:
    more = " Corrigez aussi les autres points listés." if len(problems) > 1 else ""
    return f"{problems[0].fix}{more} {CHECK_AGAIN}" if problems else CHECK_AGAIN


def diagnose(output: str, source: Path, project_dir: Path) -> list[Problem]:
    """The problems of a project that ``docker compose config`` refused with ``output``, sorted.

    ``source`` is the compose file, ``project_dir`` the folder compose ran in (its ``.env``)."""
    message = clean(output, project_dir).strip()
    compose_name = _relative(source, project_dir)
    files = Files(project_dir, compose_name)
    found = set(files.env_problems(".env"))
    tree, yaml_error = _compose_tree(source)
    if tree is None:
        if not PARSED.search(message):  # never a parse error that Compose's own parser does not see
            found |= set(_syntax_problems(compose_name, files.lines(compose_name), yaml_error))
    else:
        review = Review(compose_name, tree, files.lines(compose_name))
        env = {key: value for _, key, value, _ in files.env_entries(".env")}
        found |= set(review.problems()) | set(review.required_unset(env))
    first = _from_message(message, files, tree, yaml_failed=tree is None)
    if first is not None:
        found.add(first)
    return sorted(found) or [_other(compose_name, message)]


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return path.name


# -- YAML -----------------------------------------------------------------------------------------
# Blank or comment-only lines indented with tabs: Compose's parser accepts them, PyYAML does not.
TABBED_COMMENT = re.compile(r"^[ \t]*\t[ \t]*(?=#|$)", re.M)


def _compose_tree(source: Path) -> tuple[Optional[Node], Optional[yaml.YAMLError]]:
    try:
        text = source.read_text(encoding="utf-8", errors="replace")
        text = TABBED_COMMENT.sub(lambda m: " " * len(m.group()), text)  # same lines, same columns
        return yaml.compose(text, Loader=yaml.SafeLoader), None
    except yaml.YAMLError as exc:
        return None, exc
    except OSError:
        return None, None


def _tab_lines(lines: list[str]) -> list[int]:
    return [n for n, text in enumerate(lines, 1)
            if "\t" in text[:len(text) - len(text.lstrip())] and not TABBED_COMMENT.match(text)]


SYNTAX = (  # (part of the parser's problem, what, fix)
    ("mapping values are not allowed", "deux-points « : » inattendu",
     "mettez entre guillemets une valeur qui contient « : », ou vérifiez qu'il ne manque pas « : » après la "
     "clé de la ligne précédente."),
    ("could not find expected ':'", "deux-points manquant", "écrivez `clé: valeur`, avec un espace après « : »."),
    ("expected <block end>", "indentation incohérente",
     "alignez cette ligne (ou celle du dessus) sur les clés de même niveau : des espaces, autant que ses "
     "voisines."),
    ("did not find expected key", "indentation incohérente",
     "alignez cette ligne (ou celle du dessus) sur les clés de même niveau : des espaces, autant que ses "
     "voisines."),
    ("flow", "crochet [ ou accolade { non fermé",
     "fermez le [ ou le { ouvert, ou écrivez la liste un élément par ligne avec « - »."),
    ("found unexpected end of stream", "guillemet non fermé", "fermez le guillemet ouvert sur cette ligne."),
)


def _syntax_problems(name: str, lines: list[str], error: Optional[yaml.YAMLError]) -> list[Problem]:
    if isinstance(error, yaml.reader.ReaderError):  # not text: no line of it means anything
        return [Problem(name, 0, "ce n'est pas un fichier texte YAML (caractères de contrôle ou binaires)",
                        f"réécrivez {name} comme texte (UTF-8) dans un éditeur de code.")]
    tabs = _tab_lines(lines)
    if tabs:  # YAML forbids tabs in indentation: the parser's own complaint follows from them
        return [Problem(name, n, "tabulation dans l'indentation",
                        "remplacez les tabulations par des espaces (2 par niveau).") for n in tabs]
    mark = getattr(error, "problem_mark", None)
    if error is None or mark is None:
        return []
    problem = f"{getattr(error, 'context', None) or ''} {getattr(error, 'problem', None) or ''}"
    if "could not find expected ':'" in problem and getattr(error, "context_mark", None) is not None:
        mark = error.context_mark  # the key that lacks its colon, not the line where the scan stopped
    for needle, what, fix in SYNTAX:
        if needle in problem:
            return [Problem(name, mark.line + 1, f"erreur de syntaxe YAML : {what}", fix)]
    return [Problem(name, mark.line + 1, f"erreur de syntaxe YAML ({getattr(error, 'problem', '')})",
                    "corrigez cette ligne (indentation par espaces, `clé: valeur`).")]


# -- Compose's own message --------------------------------------------------------------------------
MESSAGES = {
    "undefined": re.compile(r'service "(?P<service>[^"]+)" refers to undefined '
                            r"(?P<kind>build secret|volume|network|secret|config) (?P<name>\S+?):? invalid compose"),
    "depends": re.compile(r'service "(?P<service>[^"]+)" depends on undefined service "?(?P<name>[^":]+)"?'),
    "interpolation": re.compile(r"invalid interpolation format for (?P<path>\S+?)\.?\n(?:.*\n)*?(?P<value>.*)\Z"),
    "template": re.compile(r'failed to read (?P<file>\S+): Invalid template: "(?P<value>.*)"'),
    "required": re.compile(r"(?:failed to read (?P<file>\S+)|error while interpolating (?P<path>\S+)): "
                           r"required variable (?P<var>\w+) is missing a value(?:: (?P<msg>.*))?"),
    "duplicate": re.compile(r'failed to parse (?P<file>\S+): line (?P<line>\d+): mapping key "(?P<key>[^"]+)" '
                            r"already defined at line (?P<first>\d+)"),
    "yaml": re.compile(r"(?:failed to parse (?P<file>\S+): )?(?<![\w.-])yaml: (?:line (?P<line>\d+): )?"
                       r"(?P<problem>.*)"),
    "type": re.compile(r"(?:validating (?P<file>\S+): )?(?P<path>[\w.-]+) must be a (?P<type>\w+)"),
    "missing": re.compile(r"(?P<path>[\w.-]+) missing propert(?:y|ies) (?P<keys>'.*')"),
    "repeated": re.compile(r"(?P<path>[\w.-]+) items at (?P<first>\d+) and (?P<second>\d+) are equal"),
    "item": re.compile(r"(?P<path>[\w.-]+)\.\[(?P<index>\d+)\]: unexpected type"),
    "unknown": re.compile(r"(?:validating (?P<file>\S+): )? ?(?P<path>[\w.-]*) additional propert(?:y|ies) "
                          r"(?P<keys>'.*') not allowed"),
    "choice": re.compile(r"(?:validating (?P<file>\S+): )?(?P<path>[\w.-]+) value must be one of (?P<values>'.*')"),
    "healthcheck": re.compile(r'healthcheck\.test must start either by (?P<choices>.*)'),
    "decoding": re.compile(r"decoding failed.*?'(?P<path>[^']+)' (?:strconv\.\w+: parsing (?P<value>\"[^\n]*?\"): )?"
                           r"(?P<why>[^\n]*)", re.S),
    "no image": re.compile(r'service "(?P<service>[^"]+)" has neither an image nor a build context'),
}


def _from_message(message: str, files: Files, tree: Optional[Node], yaml_failed: bool) -> Optional[Problem]:
    name = files.compose_name
    # without PyYAML's reading (Compose's parser and PyYAML disagree), an empty tree: no line known
    review = Review(name, tree if tree is not None else MappingNode("tag:yaml.org,2002:map", []), files.lines(name))
    for kind, pattern in MESSAGES.items():
        match = pattern.search(message)
        if match:
            break
    else:
        return _other(name, message)
    groups = match.groupdict()
    if kind in ("undefined", "depends"):
        what = "service" if kind == "depends" else groups["kind"]
        return review.undefined(groups["service"], what, groups["name"])
    if kind == "interpolation":  # the same words as the pre-pass, which knows the line
        template = (bad_templates(groups["value"]) or [groups["value"]])[0]
        what = interpolation(name, 0, template).what
        found = sorted(p for p in review.interpolations() if p.what == what)
        return found[0] if found else interpolation(name, files.line_of(name, template), template)
    if kind == "template":
        template = (bad_templates(groups["value"]) or [groups["value"]])[0]
        return interpolation(groups["file"], files.line_of(groups["file"], template), template)
    if kind == "required":
        file, var = groups["file"] or name, groups["var"]
        if file == name:  # the line the pre-pass found, for the same words
            env = {key: value for _, key, value, _ in files.env_entries(".env")}
            known = [p for p in review.required_unset(env) if p == required(name, var, p.line)]
            if known:
                return known[0]
        return required(file, var, files.line_of(file, "${" + var + ":?") or files.line_of(file, "${" + var + "?"))
    if kind == "duplicate":
        return duplicate(name, groups["key"], int(groups["line"]), int(groups["first"]))
    if kind == "yaml":
        if yaml_failed:
            return None  # PyYAML's own reading names the line better (see _syntax_problems)
        return Problem(name, int(groups["line"] or 0), f"erreur de syntaxe YAML ({groups['problem']})",
                       "corrigez cette ligne (indentation par espaces, `clé: valeur`).")
    if kind == "type":
        return review.wrong_type_at(groups["path"], groups["type"])
    if kind == "missing":
        keys = ", ".join(f"`{k}:`" for k in sorted(re.findall(r"'([^']+)'", groups["keys"])))
        key, value = review.locate(groups["path"])
        return Problem(name, node_line(key or value), f"il manque {keys} dans `{groups['path']}`",
                       f"ajoutez {keys} à ce bloc (la référence Compose dit ce qu'il attend).")
    if kind == "repeated":
        first, second = int(groups["first"]), int(groups["second"])
        _, value = review.locate(f"{groups['path']}.{second}")
        return Problem(name, node_line(value), f"`{groups['path']}` contient deux fois le même élément "
                                           f"(n° {first + 1} et n° {second + 1})", "supprimez le doublon.")
    if kind == "item":
        return review.item_type(groups["path"], int(groups["index"]),
                                review.locate(f"{groups['path']}.{groups['index']}")[1])
    if kind == "unknown":
        keys = sorted(re.findall(r"'([^']+)'", groups["keys"]))  # Compose's order changes from run to run
        path = groups["path"]
        lines = [node_line(review.locate(".".join(filter(None, (path, k))))[0]) for k in keys]
        line = min((n for n in lines if n), default=0)
        listed = ("clés inconnues " if len(keys) > 1 else "clé inconnue ") + ", ".join(f"« {k} »" for k in keys)
        if not path:  # top level: most often a service written without `services:` above it
            return Problem(name, line, f"{listed} au premier niveau du fichier",
                           "au premier niveau, seuls `services:`, `volumes:`, `networks:`, `secrets:`, `configs:`, "
                           "`name:`, `include:` et les `x-…` sont permis : manque-t-il `services:` au-dessus ?")
        return Problem(name, line, f"{listed} dans `{path}`",
                       "vérifiez son orthographe et son indentation (mal indentée, une clé tombe dans le bloc "
                       "du dessus) ; la référence Compose liste les clés permises.")
    if kind == "choice":
        values = re.findall(r"'([^']+)'", groups["values"])
        key, value = review.locate(groups["path"])
        close = difflib.get_close_matches(getattr(value, "value", ""), values, n=1, cutoff=0.6)
        return Problem(name, node_line(key or value), f"`{groups['path']}` n'accepte que {', '.join(values)}",
                       (f"vouliez-vous dire « {close[0]} » ? Sinon, é" if close else "é") +
                       "crivez une de ces valeurs, exactement.")
    if kind == "healthcheck":
        return min(review.healthchecks(), default=healthcheck(name, files.line_of(name, "test:")))
    if kind == "decoding":
        path = re.sub(r"\[([^\]]+)\]", r".\1", groups["path"])  # services[web].x -> services.web.x
        key, value = review.locate(path)
        shown = f" « {groups['value'][1:-1]} »".replace('\\"', '"') if groups["value"] else ""
        why = groups["why"].strip()
        return Problem(name, node_line(key or value), f"valeur{shown} illisible pour `{path}` ({why})",
                       "vérifiez cette valeur : guillemets appariés, un nombre ou une durée là où Compose "
                       "en attend.")
    if kind == "no image":
        key = review.locate(f"services.{groups['service']}")[0]
        return no_image(name, groups["service"], node_line(key))
    return _other(name, message)


def _other(name: str, message: str) -> Problem:
    lines = [l.strip() for l in message.splitlines() if l.strip() and "level=warning" not in l]
    text = " ".join(lines[-4:]) or "(aucun message)"
    line = re.search(r"\bline (\d+)\b", text)
    return Problem(name, int(line.group(1)) if line else 0, f"Compose refuse le fichier : « {text} »",
                   "corrigez ce que dit ce message.")
