"""One wording in what students read: « TP » (never « lab ») for a lab, a decimal comma for points
(« 1,5 pt »), and plurals computed rather than written « question(s) ».

Scanned: the markdown cells of the lab and chapter notebooks (generated cells included), the lab
and chapter READMEs, the students' section of the README, and the French string literals of
``autograder/`` (grader messages, quiz, generated cells; docstrings and comments are developer
text). Code is left out: fenced blocks and `inline code` in markdown (``make lab``, ``labs/``),
paths and options in strings (``--lab``, ``/lab/tree``). Every string literal is held to the
plural and decimal rules; the « lab » rule reads only French strings (a French accent, « », or a
common French word), since English messages say "lab".
"""

from __future__ import annotations

import ast
import functools
import json
import re
from pathlib import Path

import pytest

from autograder.registry import all_labs
from cases import ROOT

RULES = {
    # The course says « TP »; « lab » only inside code (`make lab`, labs/, JupyterLab, --lab).
    "lab": re.compile(r"(?<![\w/.\-`=])(?<!make )(?<!--)[Ll]abs?(?![\w/.\-`=])"),
    # French decimal comma: « 0,5 pt », never « 0.5 pt ».
    "decimal point": re.compile(r"\b\d+\.\d+\s*(?:pts?|points?)\b"),
    # A computed plural, never « question(s) », « image(s) », « réseau(x) ».
    "parenthesised plural": re.compile(r"\w{2}\((?:s|x|es)\)"),
}
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
FRENCH = re.compile(r"[àâçéèêëîïôûùœÉÀ«»]|\b(?:le|la|les|des|du|une?|est|pas|avec|dans|votre|vous|sur)\b")

FRENCH_ONLY = {"lab"}

# Messages in modules other helpers own this session (listed for the lead, file → forms still
# written with « (s) »): they break the rule until fixed; a fixed form must leave this list (the
# test fails on a stale entry), so it only shrinks.
PENDING = {
    "autograder/labs/lab02_volumes_persistance.py": {"absent(s)"},
    "autograder/labs/lab12_secrets_durcissement.py": {"conteneur(s)", "image(s)", "secret(s)"},
}


def _prose(markdown: str) -> str:
    """Markdown without its code (fenced blocks and inline spans)."""
    return CODE.sub(" ", markdown)


def _markdown_sources() -> list[tuple[str, str]]:
    out = []
    notebooks = sorted((ROOT / "labs").glob("*/enonce.ipynb")) + sorted(
        p for p in (ROOT / "chapters").rglob("*.ipynb") if not {"_travail", ".ipynb_checkpoints"} & set(p.parts))
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "markdown":
                src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
                out.append((f"{path.relative_to(ROOT)} cell {i}", _prose(src)))
    readmes = sorted((ROOT / "labs").glob("*/README.md")) + sorted((ROOT / "chapters").rglob("README.md"))
    for path in readmes:
        if "_travail" not in path.parts:
            out.append((str(path.relative_to(ROOT)), _prose(path.read_text(encoding="utf-8"))))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    out.append(("README.md (Pour les étudiants)",
                _prose(readme[readme.index("## Pour les étudiants"):readme.index("\n## ", readme.index("## Pour les étudiants") + 5)])))
    return out


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _python_strings(path: Path) -> list[tuple[str, str, bool]]:
    """String literals of a module, with whether each is French: an f-string is one text, ``{}``
    for each field."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            for value in node.values:
                skip.add(id(value))
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value
        else:
            continue
        out.append((f"{path.relative_to(ROOT)}:{node.lineno}", _prose(text), bool(FRENCH.search(text))))
    return out


@functools.lru_cache(maxsize=1)
def _all_texts() -> tuple[tuple[str, str, bool], ...]:
    """(where, text, is French) of every student-facing text; markdown is French."""
    texts = [(where, text, True) for where, text in _markdown_sources()]
    for path in sorted((ROOT / "autograder").rglob("*.py")):
        texts += _python_strings(path)
    return tuple(texts)


def _violations(rule: str) -> list[tuple[str, str, str]]:
    """(where, the forbidden word, an excerpt around it) for each match of ``rule``."""
    found = []
    for where, text, french in _all_texts():
        if rule in FRENCH_ONLY and not french:
            continue
        for m in RULES[rule].finditer(text):
            word = re.search(r"\S*$", text[:m.start()]).group(0) + m.group(0)
            found.append((where, word, text[max(0, m.start() - 30):m.end() + 20].replace("\n", " ")))
    return found


def _pending(where: str, word: str) -> bool:
    return word in PENDING.get(where.partition(":")[0], ())


@pytest.mark.parametrize("rule", sorted(RULES))
def test_student_facing_text_follows_the_wording_rule(rule):
    bad = [(w, e) for w, word, e in _violations(rule) if not _pending(w, word)]
    assert not bad, f"{rule}: " + "\n".join(f"{w}: …{e}…" for w, e in bad)


def test_pending_exceptions_are_still_needed():
    """A form of PENDING that no longer occurs must go (the list only shrinks)."""
    seen = {(w.partition(":")[0], word) for r in RULES for w, word, _ in _violations(r)}
    stale = {(f, word) for f, words in PENDING.items() for word in words if (f, word) not in seen}
    assert not stale, f"fixed, remove from PENDING: {sorted(stale)}"


@pytest.mark.parametrize("rule, catches, passes", [
    ("lab", ["# Lab 01 — Images", "À la fin de ce lab, vous", "les labs du cours"],
     ["# TP 01 — Images", "lancez `make lab`", "make lab puis JupyterLab", "le dossier labs/01-images",
      "l'adresse /lab/tree/chapters", "--lab 01", "lab01:latest"]),
    ("decimal point", ["(0.5 pt)", "1.5 points", "2.25 pts"], ["(0,5 pt)", "Python 3.13", "0.5 CPU", "10 points"]),
    ("parenthesised plural", ["2 question(s) sur", "image(s) absente(s)", "réseau(x)"],
     ["2 questions sur", "(s)", "f(x)"]),
])
def test_each_rule_catches_the_forbidden_form_and_nothing_else(rule, catches, passes):
    for text in catches:
        assert RULES[rule].search(_prose(text)), (rule, text)
    for text in passes:
        assert not RULES[rule].search(_prose(text)), (rule, text)


def test_french_strings_are_found_in_modules_and_fstrings():
    """The scanner sees an f-string as one French text, and skips docstrings and English."""
    src = ('"""Docstring: lab(s)."""\n'
           'def f(n):\n    """Docs lab."""\n'
           '    a = f"Nettoyage : {n} conteneur(s), {n} réseau(x)"\n'
           '    b = "unknown lab(s)"\n')
    tree = ast.parse(src)
    skip = _docstrings(tree)
    texts = [("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
              if isinstance(node, ast.JoinedStr) else node.value)
             for node in ast.walk(tree)
             if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str)
                                                    and id(node) not in skip)]
    french = [t for t in texts if FRENCH.search(t)]
    assert "Nettoyage : {} conteneur(s), {} réseau(x)" in french and "unknown lab(s)" not in french


def test_the_scan_reaches_every_kind_of_student_facing_text():
    wheres = {w.partition(" cell")[0].partition(":")[0] for w, _, _ in _all_texts()}
    labs = {str(p.relative_to(ROOT)) for p in (ROOT / "labs").glob("*/enonce.ipynb")}
    assert len(labs) == len(all_labs()) and labs <= wheres
    assert {"autograder/classroom/quiz.py", "autograder/readers/answers.py", "autograder/classroom/nbgrade.py",
            "autograder/labs/lab01_images_conteneurs.py", "autograder/report/__init__.py",
            "chapters/README.md", "README.md (Pour les étudiants)"} <= wheres
    assert any(w.startswith("chapters/1-introduction/") and w.endswith(".ipynb") for w in wheres)
