"""A `.gitlab-ci.yml` read the way GitLab reads it, for a simulated push pipeline: no runner, no Docker.

What it resolves: YAML anchors, `!reference`, local `include`, `extends` chains (deep merge),
`default:` and `inherit:`, variables (predefined < global < job) and `$VAR` expansion; which jobs a
push on a branch starts (`workflow:rules`, `rules:` with `if`/`when`, `only`/`except` and GitLab's
expression language); and the docker commands of a job's script (images built, tagged, pushed).

Coverage checked before writing it by hand (December 2026): check-jsonschema 0.39.0
(`--builtin-schema vendor.gitlab-ci --data-transform gitlab-ci`) validates the schema only; its
transform just makes `!reference` loadable, it resolves nothing and evaluates no rule.
gitlab-ci-local 4.73.0 resolves it and evaluates `rules` (`--list-json`, ~0.7 s) but ignores
`only`/`except` (a job with `only: [main]` runs on every branch there) and needs Node and a git
checkout: a test oracle here (tests/unit/test_gitlab_ci_reader.py), not a grading dependency.
gitlab-emulator 16.3.4 (PyPI) parses rules with ANTLR but ignores regex flags (`/…/i`) and pulls
python-gitlab and requests.

Errors in the student's file raise `Fail` with a French message. `rules:changes` / `rules:exists`
cannot be decided without a repository history: a rule that has them is taken as matching.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any, Optional

import yaml

from autograder.core import Fail

# Top-level keys that are not jobs.
RESERVED = {"default", "include", "stages", "variables", "workflow", "image", "services", "before_script",
            "after_script", "cache", "types", "spec"}
# What `default:` (or the old top-level keys) gives every job that does not set it.
DEFAULT_KEYS = ("image", "services", "before_script", "after_script", "cache", "tags", "retry", "timeout",
                "interruptible", "artifacts", "hooks", "id_tokens")
REGISTRY_TOOLS = re.compile(r"\b(crane|skopeo|regctl|buildah|podman|oras|executor|kaniko|imagetools)\b")


# -- the simulated GitLab environment -------------------------------------------------------------
def predefined_variables(branch: str, *, default_branch: str, project_path: str, sha: str, title: str,
                         server_host: str = "gitlab.example.com") -> dict[str, str]:
    """GitLab's predefined variables for a push pipeline on ``branch`` (plausible values)."""
    slug = re.sub(r"[^a-z0-9]+", "-", branch.lower()).strip("-")[:63]
    namespace, _, name = project_path.rpartition("/")
    registry = f"registry.{server_host}"
    proxy = f"{server_host}:443/{namespace}/dependency_proxy/containers"
    return {
        "CI": "true", "GITLAB_CI": "true", "CI_SERVER": "yes",
        "CI_PIPELINE_SOURCE": "push", "CI_PIPELINE_ID": "4242", "CI_JOB_ID": "90210",
        "CI_COMMIT_BRANCH": branch, "CI_COMMIT_REF_NAME": branch, "CI_COMMIT_REF_SLUG": slug,
        "CI_DEFAULT_BRANCH": default_branch, "CI_COMMIT_SHA": sha, "CI_COMMIT_SHORT_SHA": sha[:8],
        "CI_COMMIT_BEFORE_SHA": "0" * 40, "CI_COMMIT_TITLE": title,
        "CI_PROJECT_PATH": project_path, "CI_PROJECT_NAME": name, "CI_PROJECT_NAMESPACE": namespace,
        "CI_PROJECT_DIR": f"/builds/{project_path}", "CI_BUILDS_DIR": "/builds",
        "CI_REGISTRY": registry, "CI_REGISTRY_IMAGE": f"{registry}/{project_path}",
        "CI_REGISTRY_USER": "gitlab-ci-token", "CI_REGISTRY_PASSWORD": "grader-fake-registry-password",
        "CI_JOB_TOKEN": "grader-fake-job-token", "CI_SERVER_HOST": server_host,
        "CI_SERVER_URL": f"https://{server_host}",
        "CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX": proxy,
        "CI_DEPENDENCY_PROXY_DIRECT_GROUP_IMAGE_PREFIX": proxy,
    }


VAR = re.compile(r"\$\$|\$\{(\w+)\}|\$(\w+)")


def expand(text: str, env: dict[str, str]) -> str:
    """``$VAR`` / ``${VAR}`` replaced from ``env`` (unknown: empty, like sh); ``$$`` is a dollar."""
    return VAR.sub(lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1) or m.group(2), ""), text)


# -- loading and resolving the file ---------------------------------------------------------------
class Reference(list):
    """A ``!reference [job, key, …]`` tag, resolved after ``extends``."""


class CiLoader(yaml.SafeLoader):
    pass


CiLoader.add_constructor("!reference", lambda loader, node: Reference(loader.construct_sequence(node, deep=True)))


def parse_yaml(text: str, rel: str) -> dict:
    try:
        data = yaml.load(text, Loader=CiLoader)  # noqa: S506 - a SafeLoader with one more tag
    except yaml.YAMLError as exc:
        raise Fail(f"{rel} en YAML valide", " ".join(str(exc).split())[:300],
                   "vérifiez l'indentation (espaces, jamais de tabulation) et les deux-points.") from None
    if not isinstance(data, dict):
        raise Fail(f"{rel} : un dictionnaire de clés (stages, jobs…)", f"{type(data).__name__}",
                   "commencez par `stages:` puis un job par étape.")
    return data


def deep_merge(base: Any, over: Any) -> Any:
    """GitLab's merge for ``extends`` and ``include``: hashes merged, everything else replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = deep_merge(base.get(key), value) if key in base else value
        return out
    return over


def load(root: Path, ci_file: str) -> dict:
    """The raw configuration of ``root / ci_file``, local includes merged in."""
    path = root / ci_file
    if not path.is_file():
        raise Fail(f"un fichier {ci_file} à la racine du TP", f"{ci_file} introuvable",
                   f"créez {ci_file} (voir l'énoncé).")
    data = parse_yaml(path.read_text(encoding="utf-8", errors="replace"), ci_file)
    includes = data.pop("include", None)
    if includes is None:
        return data
    merged: dict = {}
    for item in includes if isinstance(includes, list) else [includes]:
        local = item if isinstance(item, str) else (item.get("local") if isinstance(item, dict) else None)
        if not isinstance(local, str) or re.match(r"^[a-z]+://", local):
            raise Fail("des `include:` locaux (fichiers du dépôt) que le correcteur peut lire",
                       f"`include: {item}`", "le correcteur n'a pas accès au réseau : écrivez les jobs dans "
                       f"{ci_file} ou dans un fichier du dépôt inclus avec `include: local:`.")
        target = (root / local.lstrip("/")).resolve()
        if not target.is_file() or root.resolve() not in target.parents:
            raise Fail("chaque fichier inclus présent dans le dépôt", f"`{local}` introuvable",
                       "vérifiez le chemin (relatif à la racine du dépôt).")
        part = parse_yaml(target.read_text(encoding="utf-8", errors="replace"), local)
        part.pop("include", None)
        merged = deep_merge(merged, part)
    return deep_merge(merged, data)


def resolve_extends(ci: dict, name: str, seen: tuple = ()) -> dict:
    job = ci.get(name)
    if not isinstance(job, dict):
        raise Fail(f"`extends: {name}` vers un job ou un modèle défini", f"`{name}` introuvable",
                   "définissez le modèle (par exemple `.docker:`) dans le fichier.")
    if name in seen or len(seen) > 11:
        raise Fail("des `extends` sans boucle", " → ".join((*seen, name)), "un modèle ne peut pas s'étendre lui-même.")
    parents = job.get("extends") or []
    merged: dict = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        merged = deep_merge(merged, resolve_extends(ci, str(parent), (*seen, name)))
    return deep_merge(merged, {k: v for k, v in job.items() if k != "extends"})


def resolve_refs(value: Any, ci: dict, depth: int = 0) -> Any:
    if depth > 10:
        raise Fail("des `!reference` sans boucle", "références imbriquées trop profondément", "simplifiez.")
    if isinstance(value, Reference):
        target: Any = resolve_extends(ci, str(value[0])) if value and isinstance(ci.get(value[0]), dict) else ci
        for key in value if target is ci else value[1:]:
            if not isinstance(target, dict) or key not in target:
                raise Fail("chaque `!reference` désigne une clé existante", f"`!reference {list(value)}` introuvable",
                           "vérifiez le nom du job et de la clé.")
            target = target[key]
        return resolve_refs(target, ci, depth + 1)
    if isinstance(value, dict):
        return {k: resolve_refs(v, ci, depth) for k, v in value.items()}
    if isinstance(value, list):
        out = []
        for item in value:
            resolved = resolve_refs(item, ci, depth)
            out.extend(resolved) if isinstance(item, Reference) and isinstance(resolved, list) else out.append(resolved)
        return out
    return value


def resolve(ci: dict) -> tuple[dict, dict[str, dict]]:
    """(global settings, {job name: resolved job}) for visible jobs, defaults applied."""
    default = ci.get("default") if isinstance(ci.get("default"), dict) else {}
    default = {**{k: ci[k] for k in DEFAULT_KEYS if k in ci}, **default}
    jobs = {}
    for name, body in ci.items():
        if name in RESERVED or str(name).startswith(".") or not isinstance(body, dict):
            continue
        job = resolve_refs(resolve_extends(ci, name), ci)
        inherit = job.get("inherit") or {}
        inherit_default = inherit.get("default", True) if isinstance(inherit, dict) else True
        for key in DEFAULT_KEYS:
            allowed = inherit_default is True or (isinstance(inherit_default, list) and key in inherit_default)
            if key not in job and key in default and allowed:
                job[key] = resolve_refs(default[key], ci)
        jobs[str(name)] = job
    settings = {"variables": resolve_refs(ci.get("variables") or {}, ci),
                "workflow": resolve_refs(ci.get("workflow") or {}, ci),
                "stages": ci.get("stages")}
    return settings, jobs


def lines_of(value: Any) -> list[str]:
    """A script (string or nested lists) as a list of lines."""
    if value is None:
        return []
    if isinstance(value, list):
        return [line for item in value for line in lines_of(item)]
    return [str(value)]


def variables_of(value: Any) -> dict[str, str]:
    out = {}
    if isinstance(value, dict):
        for key, v in value.items():
            if isinstance(v, dict):
                v = v.get("value", "")
            out[str(key)] = "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
    return out


def job_env(settings: dict, job: dict, predefined: dict[str, str]) -> dict[str, str]:
    """Predefined variables, then global variables, then the job's (each expanded once)."""
    env = dict(predefined)
    inherit = job.get("inherit") or {}
    inherited = inherit.get("variables", True) if isinstance(inherit, dict) else True
    for key, value in variables_of(settings["variables"]).items():
        if inherited is True or (isinstance(inherited, list) and key in inherited):
            env[key] = expand(value, env)
    for key, value in variables_of(job.get("variables")).items():
        env[key] = expand(value, env)
    return env


def image_name(job: dict) -> str:
    image = job.get("image")
    return str(image.get("name", "")) if isinstance(image, dict) else str(image or "")


def stage_of(job: dict) -> str:
    return str(job.get("stage") or "test")


def needs_of(job: dict) -> Optional[list[str]]:
    needs = job.get("needs")
    if needs is None:
        return None
    return [str(n.get("job")) if isinstance(n, dict) else str(n) for n in (needs if isinstance(needs, list) else [needs])]


# -- rules, only/except -----------------------------------------------------------------------------
TOKEN = re.compile(r"\s*(?:(?P<op>&&|\|\||==|!=|=~|!~|\(|\))|(?P<var>\$\{?\w+\}?)|(?P<str>\"[^\"]*\"|'[^']*')"
                   r"|(?P<re>/(?:\\.|[^/\\])*/[a-z]*)|(?P<null>null\b))")


class Expression:
    """GitLab's `rules:if` / `only:variables` expressions: ==, !=, =~, !~, &&, ||, ( ), presence."""

    def __init__(self, text: str):
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if not text[pos:].strip():
                break
            m = TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise ValueError(text[pos:pos + 20])
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()

    def evaluate(self, env: dict[str, str]) -> bool:
        self.env, self.pos = env, 0
        value = self._or()
        if self.pos != len(self.tokens):
            raise ValueError(self.tokens[self.pos][1])
        return bool(value)

    def _peek(self) -> Optional[str]:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _or(self):
        value = self._and()
        while self._peek() == "||":
            self.pos += 1
            right = self._and()
            value = self._truthy(value) or self._truthy(right)
        return value

    def _and(self):
        value = self._cmp()
        while self._peek() == "&&":
            self.pos += 1
            right = self._cmp()
            value = self._truthy(value) and self._truthy(right)
        return value

    def _cmp(self):
        left = self._primary()
        op = self._peek()
        if op in ("==", "!=", "=~", "!~"):
            self.pos += 1
            right = self._primary()
            if op in ("==", "!="):
                return (left == right) == (op == "==")
            pattern = right if isinstance(right, str) and right.startswith("/") else None
            m = re.match(r"^/(.*)/([a-z]*)$", pattern or "", re.S)
            if not m:
                raise ValueError(f"{op} attend une expression régulière /…/")
            found = left is not None and re.search(m.group(1), left, re.I if "i" in m.group(2) else 0)
            return bool(found) == (op == "=~")
        return left

    def _primary(self):
        if self.pos >= len(self.tokens):
            raise ValueError("fin inattendue")
        kind, text = self.tokens[self.pos]
        self.pos += 1
        if text == "(":
            value = self._or()
            if self._peek() != ")":
                raise ValueError("parenthèse non fermée")
            self.pos += 1
            return self._truthy(value)
        if kind == "var":
            return self.env.get(text.strip("${}"))
        if kind == "str":
            return text[1:-1]
        if kind == "re":
            return text
        if kind == "null":
            return None
        raise ValueError(text)

    @staticmethod
    def _truthy(value) -> bool:
        return bool(value)


def condition(text: Any, env: dict[str, str], where: str) -> bool:
    try:
        return Expression(str(text)).evaluate(env)
    except (ValueError, re.error) as exc:
        raise Fail(f"{where} : une expression que GitLab comprend", f"`{text}` ({exc})",
                   "par exemple `$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH` ; comparez une variable à une "
                   "variable ou à une chaîne entre guillemets, et une regex avec `=~ /motif/`.") from None


def rules_when(rules: Any, env: dict[str, str], default_when: str, where: str) -> Optional[str]:
    """The `when` of the first matching rule (None: no rule matched)."""
    for rule in rules if isinstance(rules, list) else []:
        if not isinstance(rule, dict):
            continue
        if "if" in rule and not condition(rule["if"], env, where):
            continue
        # `changes` / `exists` cannot be decided here: assume they match (the job may run).
        return str(rule.get("when", default_when))
    return None


def refs_match(refs: list, env: dict[str, str]) -> bool:
    branch = env.get("CI_COMMIT_BRANCH", "")
    for ref in refs:
        ref = str(ref)
        if ref in ("branches", "pushes", branch):
            return True
        m = re.match(r"^/(.*)/([a-z]*)$", ref)
        if m and re.search(m.group(1), branch, re.I if "i" in m.group(2) else 0):
            return True
    return False


def only_except_allows(spec: Any, env: dict[str, str], job: str, keyword: str) -> Optional[bool]:
    """Does ``only`` (or ``except``) match this pipeline? None when absent."""
    if spec is None:
        return None
    if isinstance(spec, (list, str)):
        return refs_match(spec if isinstance(spec, list) else [spec], env)
    if isinstance(spec, dict):
        parts = []
        if "refs" in spec:
            parts.append(refs_match(spec["refs"] if isinstance(spec["refs"], list) else [spec["refs"]], env))
        if "variables" in spec:
            parts.append(any(condition(v, env, f"{job}: {keyword}:variables") for v in spec["variables"] or []))
        if keyword == "only":
            return all(parts) if parts else True
        return any(parts)
    return None


def job_when(job: dict, name: str, env: dict[str, str]) -> Optional[str]:
    """How the job is added to this pipeline (on_success, manual…), or None if it is not."""
    default_when = str(job.get("when", "on_success"))
    if "rules" in job:
        when = rules_when(job["rules"], env, default_when, f"{name}: rules:if")
    else:
        only = only_except_allows(job.get("only", ["branches", "tags"]), env, name, "only")
        excluded = only_except_allows(job.get("except"), env, name, "except")
        when = default_when if only and not excluded else None
    return None if when in (None, "never") else when


def pipeline_runs(settings: dict, env: dict[str, str]) -> bool:
    rules = (settings["workflow"] or {}).get("rules") if isinstance(settings["workflow"], dict) else None
    if not rules:
        return True
    return rules_when(rules, env, "always", "workflow:rules:if") not in (None, "never")


def running_jobs(settings: dict, jobs: dict[str, dict],
                 predefined: dict[str, str]) -> dict[str, tuple[dict, dict, str]]:
    """{name: (job, env, when)} of the jobs a push pipeline starts (or offers, if manual)."""
    out = {}
    base = job_env(settings, {}, predefined)
    if not pipeline_runs(settings, base):
        return out
    for name, job in jobs.items():
        env = job_env(settings, job, predefined)
        when = job_when(job, name, env)
        if when is not None:
            out[name] = (job, env, when)
    return out


# -- reading docker commands in scripts -------------------------------------------------------------
def split_words(line: str) -> list[str]:
    """Shell words of one line; ``;``, ``&&``, ``||``, ``|`` and ``&`` are words of their own."""
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        return list(lexer)
    except ValueError:  # an unbalanced quote: good enough for reading docker commands
        return line.split()


def commands(lines: list[str], env: dict[str, str]) -> list[list[str]]:
    """Each simple command of the script, variables expanded, as words."""
    text = "\n".join(lines).replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        words = split_words(expand(line, env))
        current: list[str] = []
        for word in words + [";"]:
            if word in (";", "&&", "||", "|", "&"):
                if current:
                    out.append(current)
                current = []
            else:
                current.append(word)
    return out


def with_tag(ref: str) -> str:
    """``name`` → ``name:latest`` (what Docker does with a reference without tag)."""
    ref = ref.lower()
    if "@" in ref:
        return ref
    last = ref.rsplit("/", 1)[-1]
    return ref if ":" in last else f"{ref}:latest"


def option_values(words: list[str], names: tuple[str, ...]) -> list[str]:
    values = []
    for i, word in enumerate(words):
        for name in names:
            if word == name and i + 1 < len(words):
                values.append(words[i + 1])
            elif word.startswith(name + "=") and name.startswith("--"):
                values.append(word.split("=", 1)[1])
    return values


def docker_refs(cmds: list[list[str]]) -> tuple[set[str], set[str], list[str]]:
    """(refs built or tagged, refs pushed, registry-tool commands) of docker commands."""
    made, pushed, others = set(), set(), []
    for words in cmds:
        if not words:
            continue
        if words[0] != "docker":
            if REGISTRY_TOOLS.search(words[0]) or (len(words) > 1 and REGISTRY_TOOLS.search(words[1])):
                others.append(" ".join(words))
            continue
        args = [w for w in words[1:]]
        sub = [w for w in args if not w.startswith("-")][:3]
        if sub[:2] in (["buildx", "build"], ["image", "build"]) or sub[:1] == ["build"] or \
                sub[:2] == ["buildx", "bake"] or sub[:2] == ["builder", "build"]:
            tags = {with_tag(t) for t in option_values(args, ("-t", "--tag"))}
            made |= tags
            if "--push" in args or any(o.startswith("type=registry") or "push=true" in o
                                       for o in option_values(args, ("--output", "-o"))):
                pushed |= tags
        elif sub[:2] == ["buildx", "imagetools"]:
            tags = {with_tag(t) for t in option_values(args, ("-t", "--tag"))}
            made |= tags
            pushed |= tags
        elif sub[:1] == ["tag"] or sub[:2] == ["image", "tag"]:
            positional = [w for w in args if not w.startswith("-")]
            if positional and positional[-1] not in ("tag",):
                made.add(with_tag(positional[-1]))
        elif sub[:1] == ["push"] or sub[:2] == ["image", "push"]:
            positional = [w for w in args if not w.startswith("-") and w not in ("push", "image")]
            for ref in positional[-1:]:
                if "-a" in args or "--all-tags" in args:
                    name = ref.lower().rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref.lower()
                    pushed |= {m for m in made if m.rsplit(":", 1)[0] == name} or {with_tag(ref)}
                else:
                    pushed.add(with_tag(ref))
    return made, pushed, others


def job_lines(job: dict) -> list[str]:
    return lines_of(job.get("before_script")) + lines_of(job.get("script"))


def latest_in(job: dict, env: dict[str, str]) -> list[str]:
    """The commands of a job that tag or push ``:latest``."""
    made, pushed, others = docker_refs(commands(job_lines(job), env))
    found = sorted(r for r in made | pushed if r.endswith(":latest"))
    found += [c for c in others if re.search(r"(:|\s)latest\b", c)]
    return found


def docker_ref_parts(ref: str) -> tuple[str, str]:
    last = ref.rsplit("/", 1)[-1]
    name, _, tag = last.partition(":")
    return name, tag.split("@")[0]


def script_lines(job: dict) -> list[str]:
    return [l for l in lines_of(job.get("script")) if l.strip()]

