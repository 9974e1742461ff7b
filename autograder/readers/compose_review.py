"""The pre-pass of :mod:`autograder.readers.compose_errors`: a compose file and its ``.env`` read with line
marks, and the French :class:`Problem` for each mistake found there.

The YAML is read as PyYAML's node tree (no value constructed, so YAML 1.1's ``no`` or ``8000:8000``
never change type), ``.env`` line by line as Compose reads it. The checks are those Compose would
make further on, written to stay on the safe side: a name computed by interpolation, a file with
``include``, a value Compose's own tags mark, are left to Compose. Each kind of problem has one
builder, so Compose's own message and the pre-pass give the same words for the same mistake.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

NAME = r"[_A-Za-z][_A-Za-z0-9]*"
VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]+")  # a single letter is a Windows drive
NULL_TAG = "tag:yaml.org,2002:null"


@dataclass(frozen=True, order=True)
class Problem:
    file: str  # relative to the project folder: "compose.yaml", ".env"
    line: int  # 0: unknown
    what: str
    fix: str

    def text(self) -> str:
        where = f"{self.file}, ligne {self.line}" if self.line else self.file
        return f"{where} : {self.what} — {self.fix}"


# -- files ----------------------------------------------------------------------------------------
class Files:
    def __init__(self, root: Path, compose_name: str):
        self.root, self.compose_name = root, compose_name

    def lines(self, name: str) -> list[str]:
        if Path(name).is_absolute() or ".." in Path(name).parts:  # only the submission's own files
            return []
        try:
            return (self.root / name).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []

    def line_of(self, name: str, needle: str) -> int:
        for number, text in enumerate(self.lines(name), 1):
            if needle and needle in text:
                return number
        return 0

    def env_entries(self, name: str) -> Iterator[tuple[int, str, str, bool]]:
        """``(line, key, value, interpolated)`` of an env file, read as Compose reads it: single
        quotes are literal, `` #`` starts a comment in an unquoted value."""
        for number, raw in enumerate(self.lines(name), 1):
            line = raw.strip()
            if line.startswith("export "):
                line = line[len("export "):].lstrip()
            match = re.match(r"([^\s=:#]+)\s*[=:]\s*(.*)", line)
            if not match or line.startswith("#"):
                continue
            key, value = match.groups()
            if value.startswith("'"):
                yield number, key, value[1:].split("'")[0], False
            elif value.startswith('"'):
                yield number, key, value[1:].split('"')[0], True
            else:
                yield number, key, re.split(r"\s#", value)[0], True

    def env_problems(self, name: str) -> Iterator[Problem]:
        for number, _, value, interpolated in self.env_entries(name):
            for template in bad_templates(value) if interpolated else []:
                yield interpolation(name, number, template)


# -- interpolation --------------------------------------------------------------------------------
def bad_templates(text: str) -> list[str]:
    """The ``${…}`` of ``text`` that Compose cannot interpolate (innermost first), in order."""
    found: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
        elif text.startswith("${", i):
            end = _closing(text, i + 2)
            if end < 0:
                found.append(text[i:])
                break
            body = text[i + 2:end]
            match = re.fullmatch(rf"({NAME})(?:(:?[-+?])(.*))?", body, re.S)
            if not match:
                found.append(text[i:end + 1])
            elif match.group(3):
                found += bad_templates(match.group(3))
            i = end + 1
        else:
            i += 1
    return found


def _closing(text: str, start: int) -> int:
    depth = 1
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return index
    return -1


def interpolation(file: str, line: int, template: str) -> Problem:
    shown = template if len(template) <= 60 else template[:57] + "…"
    what = f"interpolation invalide « {shown} »"
    if _closing(template, 2) < 0:
        body = template[2:]
        if re.fullmatch(rf"{NAME}(?::?[-+?][^\n{{}}]*)?", body):
            return Problem(file, line, what, f"fermez l'accolade : « ${{{body}}} ».")
        return Problem(file, line, what, "fermez l'accolade ouverte par « ${ » ; pour un $ littéral, écrivez $$.")
    default = re.fullmatch(rf"({NAME})(?::=|=|:)(.*)\}}", template[2:], re.S)
    if default:
        fixed = f"${{{default.group(1)}:-{default.group(2)}}}"
        return Problem(file, line, what, f"écrivez « {fixed} » : la valeur par défaut s'écrit après « :- » "
                                         "(« : » ou « = » seuls n'existent pas).")
    return Problem(file, line, what, "entre « ${ » et « } », un nom de variable (lettres, chiffres et _, sans "
                                     "espace ni chiffre au début), suivi au besoin de « :-défaut » ; pour un "
                                     "$ littéral, écrivez $$.")


# -- YAML nodes -----------------------------------------------------------------------------------
def _pairs(node: Node, _seen: Optional[set] = None) -> Iterator[tuple[Node, Node]]:
    """Key and value nodes of a mapping, its own keys first, then those of ``<<`` merges."""
    seen = _seen if _seen is not None else set()
    if not isinstance(node, MappingNode) or id(node) in seen:  # a merge may name its own mapping
        return
    seen.add(id(node))
    merges = []
    for key, value in node.value:
        if key.tag == "tag:yaml.org,2002:merge":
            merges += value.value if isinstance(value, SequenceNode) else [value]
        else:
            yield key, value
    for merged in merges:
        yield from _pairs(merged, seen)


def _get(node: Node, name: str) -> tuple[Optional[Node], Optional[Node]]:
    for key, value in _pairs(node):
        if isinstance(key, ScalarNode) and key.value == name:
            return key, value
    return None, None


def node_line(node: Optional[Node]) -> int:
    return node.start_mark.line + 1 if node is not None else 0


def _describe(node: Node) -> str:
    if isinstance(node, ScalarNode):
        value = node.value if len(node.value) <= 40 else node.value[:37] + "…"
        return f"une valeur simple « {value} »"
    return "une liste" if isinstance(node, SequenceNode) else "une table"


# -- what the pre-pass checks on a parsed file ------------------------------------------------------
LIST, MAP, TEXT_OR_LIST, MAP_OR_LIST = "une liste", "une table (clé: valeur)", "un texte ou une liste", \
    "une table ou une liste"
SEQ, MAPPING, SCALAR = (SequenceNode,), (MappingNode,), (ScalarNode,)
SERVICE_KEYS = {  # compose-spec types of the usual service keys: (allowed node kinds, description)
    **{key: (SEQ, LIST) for key in ("ports", "volumes", "expose", "cap_add", "cap_drop", "secrets", "configs",
                                    "profiles", "devices", "security_opt", "volumes_from", "links")},
    **{key: (MAPPING + SEQ, MAP_OR_LIST) for key in ("environment", "labels", "networks", "depends_on",
                                                     "extra_hosts", "sysctls", "annotations")},
    **{key: (MAPPING, MAP) for key in ("healthcheck", "deploy", "logging", "ulimits")},
    **{key: (SCALAR + SEQ, TEXT_OR_LIST) for key in ("command", "entrypoint", "env_file", "dns", "tmpfs")},
    "build": (SCALAR + MAPPING, "un texte ou une table"),
}
SOURCES = ("image", "build", "extends", "provider")  # a service needs one of them
TOP_LEVEL = ("services", "volumes", "networks", "secrets", "configs")
COMPOSE_TYPES = {"array": LIST, "mapping": MAP, "object": MAP, "string": "un texte", "number": "un nombre",
                 "integer": "un nombre entier", "boolean": "true ou false"}
KINDS = {  # kind named by compose -> (top-level key, French noun)
    "volume": ("volumes", "le volume nommé"), "network": ("networks", "le réseau"),
    "secret": ("secrets", "le secret"), "build secret": ("secrets", "le secret de build"),
    "config": ("configs", "la config"),
}
FEMININE = {"config"}


def _type_fix(path: str, expected: str) -> str:
    key = path.rsplit(".", 1)[-1]
    if key == "ports":
        return 'écrivez une liste : `ports:` puis, à la ligne et indenté, `- "8000:8000"` (entre guillemets).'
    if key in ("environment", "labels", "annotations", "sysctls"):
        return (f"écrivez `{key}:` puis, à la ligne, une entrée `CLÉ: valeur` par ligne, indentée "
                "(ou une liste `- CLÉ=valeur`).")
    if path.count(".") == 1 and path.startswith("services."):
        return ("un service est une table : son nom suivi de « : », puis ses réglages (`image:`, `build:`…) "
                "indentés dessous, sans « - ».")
    if path in TOP_LEVEL:
        return f"`{path}:` est une table : un nom par entrée (`nom:`), indenté dessous, sans « - »."
    if expected in (LIST, MAP_OR_LIST, TEXT_OR_LIST):
        return f"écrivez `{key}:` puis un élément par ligne, indenté, commençant par « - »."
    if expected == MAP:
        return f"écrivez `{key}:` puis ses réglages `clé: valeur` sur les lignes suivantes, indentés dessous."
    return f"donnez à `{key}` {expected} (voir la référence Compose de cette clé)."


class Review:
    """The pre-pass over a compose file that parsed: duplicate keys, interpolation, types, references."""

    def __init__(self, name: str, root: Node, lines: list[str]):
        self.name, self.root, self.lines = name, root, lines

    def problems(self) -> list[Problem]:
        return self.duplicates() + self.interpolations() + self.types() + self.healthchecks() + \
            [self.undefined(*ref) for ref in self.undefined_references()]

    # walking
    def _nodes(self) -> Iterator[tuple[Optional[Node], Node]]:
        seen, todo = set(), [(None, self.root)]
        while todo:
            key, node = todo.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            yield key, node
            if isinstance(node, MappingNode):
                todo += [(k, v) for k, v in node.value]
            elif isinstance(node, SequenceNode):
                todo += [(None, v) for v in node.value]

    def duplicates(self) -> list[Problem]:
        found = []
        for _, node in self._nodes():
            first: dict[str, int] = {}
            for key, _ in (node.value if isinstance(node, MappingNode) else []):
                if not isinstance(key, ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                    continue
                if key.value in first:
                    found.append(duplicate(self.name, key.value, node_line(key), first[key.value]))
                first.setdefault(key.value, node_line(key))
        return found

    def interpolations(self) -> list[Problem]:
        found = []
        for _, node in self._nodes():
            if isinstance(node, ScalarNode) and "${" in node.value:
                for template in bad_templates(node.value):
                    found.append(interpolation(self.name, self._line_in(node, template), template))
        return found

    def healthchecks(self) -> list[Problem]:
        """Healthchecks whose ``test`` list does not start with CMD, CMD-SHELL or NONE."""
        _, services = _get(self.root, "services")
        found = []
        for _, service in _pairs(services):
            _, test = _get(_get(service, "healthcheck")[1], "test")
            if isinstance(test, SequenceNode) and test.value and isinstance(test.value[0], ScalarNode) \
                    and test.value[0].value not in ("CMD", "CMD-SHELL", "NONE") and "$" not in test.value[0].value:
                found.append(healthcheck(self.name, node_line(test.value[0])))
        return found

    def required_unset(self, env: dict) -> list[Problem]:
        """``${VAR:?…}`` / ``${VAR?…}`` whose variable ``.env`` leaves unset (or empty, for ``:?``),
        once each, at its first line; variables of the grader's own environment are left to Compose."""
        first: dict[str, int] = {}
        for _, node in self._nodes():
            if isinstance(node, ScalarNode) and "?" in node.value:
                for match in re.finditer(rf"(?<!\$)\$\{{({NAME})(:?)\?", node.value):
                    name, colon = match.groups()
                    value = env.get(name)
                    if name in os.environ or (value is not None and (value != "" or not colon)):
                        continue  # set, and not empty where `:?` asks for a value
                    line = self._line_in(node, match.group(0))
                    first[name] = min(first.get(name, line), line)
        return [required(self.name, name, line) for name, line in first.items()]

    def _line_in(self, node: Node, text: str) -> int:
        """The line of ``node`` that holds ``text`` (block scalars span several lines)."""
        needle = text.splitlines()[0] if text else ""
        for number in range(node.start_mark.line, min(node.end_mark.line + 1, len(self.lines))):
            if needle and needle in self.lines[number]:
                return number + 1
        return node_line(node)

    # types
    def types(self) -> list[Problem]:
        found = []
        for key in TOP_LEVEL:
            found += self._typed(key, *_get(self.root, key), MAPPING, MAP)
        _, services = _get(self.root, "services")
        for name_node, service in _pairs(services) if isinstance(services, MappingNode) else []:
            path = f"services.{name_node.value}"
            found += self._typed(path, name_node, service, MAPPING, MAP)
            if isinstance(service, MappingNode) and not any(_get(service, k)[0] for k in SOURCES):
                found.append(no_image(self.name, name_node.value, node_line(name_node)))
            for key, (kinds, expected) in sorted(SERVICE_KEYS.items()):
                found += self._typed(f"{path}.{key}", *_get(service, key), kinds, expected)
            for key in ("environment", "labels"):  # the list form holds `KEY=value` strings only
                _, items = _get(service, key)
                for index, item in enumerate(items.value if isinstance(items, SequenceNode) else []):
                    if not isinstance(item, ScalarNode):
                        found.append(self.item_type(f"{path}.{key}", index, item))
        return found

    def item_type(self, path: str, index: int, item: Optional[Node]) -> Problem:
        key = path.rsplit(".", 1)[-1]
        shown = f"{_describe(item)} (`{self.lines[item.start_mark.line].strip()}`)" \
            if item is not None and item.start_mark.line < len(self.lines) else "pas un texte"
        return Problem(self.name, node_line(item), f"l'élément {index + 1} de `{path}` est {shown}",
                       f"dans la forme liste de `{key}`, écrivez `- CLÉ=valeur` (avec « = ») ; ou passez à la "
                       "forme table : `CLÉ: valeur`, sans « - ».")

    def _typed(self, path, key: Optional[Node], value: Optional[Node], kinds, expected) -> list[Problem]:
        if value is None or isinstance(value, kinds) or value.tag == NULL_TAG or value.tag.startswith("!"):
            return []  # absent, right, empty, or Compose's own tags (`!reset`, `!override`)
        if isinstance(value, ScalarNode) and "$" in value.value:
            return []  # the value is known after interpolation only: Compose decides
        return [self.wrong_type(path, key, value, expected)]

    def wrong_type(self, path: str, key: Optional[Node], value: Optional[Node], expected: str) -> Problem:
        found = f", pas {_describe(value)}" if value is not None else ""
        fix = _type_fix(path, expected)
        if isinstance(value, ScalarNode) and expected in ("un texte", TEXT_OR_LIST):
            fix = f"mettez la valeur entre guillemets : `{path.rsplit('.', 1)[-1]}: \"{value.value}\"`."
        return Problem(self.name, node_line(key or value), f"`{path}` doit être {expected}{found}", fix)

    def wrong_type_at(self, path: str, compose_type: str) -> Problem:
        """The problem for Compose's « PATH must be a TYPE », with the same words as :meth:`types`."""
        key, value = self.locate(path)
        parts = path.split(".")
        if path in TOP_LEVEL or (len(parts) == 2 and parts[0] == "services"):
            expected = MAP
        elif len(parts) == 3 and parts[0] == "services" and parts[2] in SERVICE_KEYS:
            expected = SERVICE_KEYS[parts[2]][1]
        else:
            expected = COMPOSE_TYPES.get(compose_type, f"de type {compose_type}")
        return self.wrong_type(path, key, value, expected)

    def locate(self, path: str) -> tuple[Optional[Node], Optional[Node]]:
        """Key and value nodes at a dotted path (keys may hold dots; digits index lists)."""
        parts, key, node = path.split("."), None, self.root
        while parts:
            if isinstance(node, SequenceNode) and parts[0].isdigit() and int(parts[0]) < len(node.value):
                key, node, parts = None, node.value[int(parts[0])], parts[1:]
                continue
            for size in range(len(parts), 0, -1):
                k, v = _get(node, ".".join(parts[:size]))
                if k is not None:
                    key, node, parts = k, v, parts[size:]
                    break
            else:
                return key, None
        return key, node

    # references
    def undefined_references(self) -> list[tuple[str, str, str, int]]:
        """``(service, kind, name, line)`` for each reference to something this file does not
        declare; nothing when ``include`` may bring declarations from elsewhere."""
        if _get(self.root, "include")[0] is not None:
            return []
        _, services = _get(self.root, "services")
        if not isinstance(services, MappingNode):
            return []
        pools = {"service": {k.value for k, _ in _pairs(services) if isinstance(k, ScalarNode)}}
        for kind, (top, _) in KINDS.items():
            _, declared = _get(self.root, top)
            if declared is None or declared.tag == NULL_TAG:
                pools[kind] = set()
            elif isinstance(declared, MappingNode):
                pools[kind] = {k.value for k, _ in _pairs(declared) if isinstance(k, ScalarNode)}
        found = []
        for name_node, service in _pairs(services):
            for kind, name, node in _references(service):
                pool = pools.get(kind)
                if pool is not None and name not in pool:
                    found.append((name_node.value, kind, name, node_line(node)))
        return found

    def undefined(self, service: str, kind: str, name: str, line: int = -1) -> Problem:
        if line < 0:  # from Compose's message: the line of the first matching reference
            line = next((ref[3] for ref in self.undefined_references() if ref[:3] == (service, kind, name)), 0)
        return undefined(self.name, service, kind, name, line, self._pool(kind))

    def _pool(self, kind: str) -> list[str]:
        top = "services" if kind == "service" else KINDS[kind][0]
        _, node = _get(self.root, top)
        return sorted(k.value for k, _ in _pairs(node) if isinstance(k, ScalarNode)) if node is not None else []


def _references(service: Node) -> Iterator[tuple[str, str, Node]]:
    """``(kind, name, node)`` of the named volumes, networks, secrets, configs and services that
    ``service`` uses (names computed by interpolation are left to Compose)."""
    def names(node, attribute=None):
        items = [k for k, _ in _pairs(node)] if isinstance(node, MappingNode) else \
            node.value if isinstance(node, SequenceNode) else []
        for item in items:
            if attribute and isinstance(item, MappingNode):
                item = _get(item, attribute)[1]
            if isinstance(item, ScalarNode) and item.value and "$" not in item.value:
                yield item.value, item

    _, volumes = _get(service, "volumes")
    for item in volumes.value if isinstance(volumes, SequenceNode) else []:
        if isinstance(item, ScalarNode) and ":" in item.value:
            source = item.value.split(":", 1)[0]
        elif isinstance(item, MappingNode) and getattr(_get(item, "type")[1], "value", None) == "volume":
            source = getattr(_get(item, "source")[1], "value", "")
        else:
            continue
        if VOLUME_NAME.fullmatch(source or ""):
            yield "volume", source, item
    if _get(service, "network_mode")[0] is None:
        for name, node in names(_get(service, "networks")[1]):
            if name != "default":
                yield "network", name, node
    for kind in ("secret", "config"):
        for name, node in names(_get(service, kind + "s")[1], "source"):
            yield kind, name, node
    _, build = _get(service, "build")
    if isinstance(build, MappingNode):
        for name, node in names(_get(build, "secrets")[1], "source"):
            yield "build secret", name, node
    for name, node in names(_get(service, "depends_on")[1]):
        yield "service", name, node


def required(file: str, var: str, line: int) -> Problem:
    return Problem(file, line, f"la variable {var} est obligatoire (« ${{{var}:?…}} ») mais n'a pas de valeur",
                   f"donnez-lui une valeur dans .env (`{var}=…`) ou une valeur par défaut (`${{{var}:-…}}`).")


def healthcheck(file: str, line: int) -> Problem:
    return Problem(file, line, "le `test:` du healthcheck ne commence ni par « CMD », ni par « CMD-SHELL », "
                               "ni par « NONE »",
                   'écrivez `test: ["CMD-SHELL", "votre commande"]` (ou `["CMD", "programme", "argument"]`).')


def no_image(file: str, service: str, line: int) -> Problem:
    return Problem(file, line, f"le service « {service} » n'a ni `image:` ni `build:`",
                   "ajoutez `build: .` (construire le Dockerfile du dossier) ou `image: …` (une image existante).")


def duplicate(file: str, key: str, line: int, first: int) -> Problem:
    return Problem(file, line, f"la clé « {key} » est écrite deux fois dans le même bloc "
                               f"(première fois ligne {first})",
                   "gardez-en une seule : fusionnez leurs contenus ou supprimez celle en trop.")


def undefined(file: str, service: str, kind: str, name: str, line: int, pool: list[str]) -> Problem:
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if kind == "service":
        others = f" (services de ce fichier : {', '.join(pool)})" if pool else ""
        return Problem(file, line, f"le service « {service} » dépend de « {name} » (depends_on), qui n'est "
                                   f"pas un service de ce fichier{others}",
                       (f"vouliez-vous dire « {close[0]} » ? Sinon, a" if close else "a") +
                       f"joutez un service « {name} » sous `services:` ou retirez-le de depends_on.")
    top, noun = KINDS[kind]
    e, pronoun = ("e", "la") if kind in FEMININE else ("", "le")
    source = f" puis, plus indenté, `file: ./{name}.txt` (le fichier qui le contient)" \
        if top in ("secrets", "configs") else ""
    return Problem(file, line, f"le service « {service} » utilise {noun} « {name} », qui n'est "
                               f"déclaré{e} nulle part",
                   (f"vouliez-vous dire « {close[0]} » ? Sinon, d" if close else "d") +
                   f"éclarez-{pronoun} à la fin du fichier, au même niveau que `services:` : `{top}:` puis, "
                   f"indenté, `{name}:`{source}.")
