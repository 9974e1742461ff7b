"""Static reading of a Dockerfile (through dockerfile-parse): stages and base images."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from dockerfile_parse import DockerfileParser

SLIM_MARKERS = ("slim", "alpine", "distroless", "minimal", "micro")


@dataclass(frozen=True)
class BaseImage:
    line: int
    raw: str            # as written after FROM (options removed)
    image: str          # with ARG defaults substituted
    alias: Optional[str]
    stage_ref: bool     # FROM <earlier stage>

    @property
    def name(self) -> str:
        ref = self.image.split("@", 1)[0]
        last = ref.rsplit("/", 1)[-1]
        return ref.rsplit(":", 1)[0] if ":" in last else ref

    @property
    def tag(self) -> Optional[str]:
        ref = self.image.split("@", 1)[0]
        last = ref.rsplit("/", 1)[-1]
        return last.split(":", 1)[1] if ":" in last else None

    @property
    def digest(self) -> Optional[str]:
        return self.image.split("@", 1)[1] if "@" in self.image else None


def base_images(path: Path) -> list[BaseImage]:
    """Every FROM of the Dockerfile, with ``ARG`` defaults declared before it substituted."""
    parser = DockerfileParser(path=str(path), cache_content=True)
    args: dict[str, str] = {}
    aliases: set[str] = set()
    result = []
    for instr in parser.structure:
        kind = instr["instruction"]
        if kind == "ARG" and not result:  # global ARGs only apply to FROM lines
            name, _, default = instr["value"].partition("=")
            args[name.strip()] = default.strip().strip('"\'')
        elif kind == "FROM":
            words = [w for w in instr["value"].split() if not w.startswith("--")]
            if not words:
                continue
            raw = words[0]
            alias = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
            image = re.sub(r"\$\{?(\w+)(?::-([^}]*))?\}?",
                           lambda m: args.get(m.group(1)) or (m.group(2) or ""), raw)
            result.append(BaseImage(instr["startline"] + 1, raw, image, alias,
                                    stage_ref=image.lower() in aliases))
            if alias:
                aliases.add(alias)
    return result


def final_base(bases: list[BaseImage]) -> Optional[BaseImage]:
    """The real image the last stage starts from (following ``FROM stage`` chains)."""
    if not bases:
        return None
    by_alias = {b.alias: b for b in bases if b.alias}
    current = bases[-1]
    seen = set()
    while current.stage_ref and current.image.lower() in by_alias and current.image.lower() not in seen:
        seen.add(current.image.lower())
        current = by_alias[current.image.lower()]
    return current


def instructions(path: Path) -> int:
    """How many instructions the Dockerfile holds (0: only comments and blank lines)."""
    try:
        parser = DockerfileParser(path=str(path), cache_content=True)
        return sum(1 for i in parser.structure if i["instruction"] not in ("COMMENT",))
    except (OSError, UnicodeDecodeError):
        return 1  # unreadable here: let the build say what is wrong


def has_command(path: Path) -> bool:
    """Does the final stage set CMD or ENTRYPOINT, itself or through the stages it derives from
    (``FROM build AS final``)? Without one, a container runs the base image's default command."""
    parser = DockerfileParser(path=str(path), cache_content=True)
    stages: list[tuple[Optional[str], str, set[str]]] = []  # (alias, from, instructions)
    for instr in parser.structure:
        kind = instr["instruction"]
        if kind == "FROM":
            words = [w for w in instr["value"].split() if not w.startswith("--")]
            alias = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append((alias, words[0].lower() if words else "", set()))
        elif stages:
            stages[-1][2].add(kind)
    by_alias = {alias: (ref, kinds) for alias, ref, kinds in stages if alias}
    if not stages:
        return False
    _, ref, kinds = stages[-1]
    seen: set[str] = set()
    while True:
        if kinds & {"CMD", "ENTRYPOINT"}:
            return True
        if ref not in by_alias or ref in seen:
            return False
        seen.add(ref)
        ref, kinds = by_alias[ref]


def is_slim(base: BaseImage) -> bool:
    text = base.image.lower()
    return text == "scratch" or any(marker in text for marker in SLIM_MARKERS)


def require_pinned(bases: list[BaseImage], example: str) -> list[BaseImage]:
    """The external base images of a Dockerfile, each with a fixed tag or a digest.

    Stage references and ``scratch`` are skipped. :class:`~autograder.core.Fail` (DL3006/DL3007,
    DS-0001) for a missing FROM, an implicit ``latest`` or an explicit one; ``example`` is the
    ``FROM`` line the hint suggests.
    """
    from autograder.core import Fail, NotYet  # noqa: PLC0415 - core does not depend on this module

    external = [b for b in bases if not b.stage_ref and b.image.lower() != "scratch"]
    if not external:
        raise NotYet("au moins une instruction FROM avec une image de base",
                     "aucune instruction FROM active (tout est encore en commentaire ?)",
                     f"commencez le Dockerfile par `FROM {example}`.")
    for b in external:
        if b.digest:
            continue
        if not b.tag:
            raise Fail(f"une étiquette explicite sur `FROM {b.raw}` (ligne {b.line})",
                       f"`{b.raw}` sans étiquette, donc `latest` implicite",
                       f"fixez la version : `FROM {example}` (ou un digest `@sha256:…`).",
                       rule="DL3006, DS-0001")
        if b.tag.lower() == "latest":
            raise Fail(f"une version fixe sur `FROM {b.raw}` (ligne {b.line})",
                       "l'étiquette `latest` désigne une autre image à chaque nouvelle version : le même "
                       "Dockerfile ne reconstruit pas la même chose",
                       f"utilisez une version précise : `FROM {example}`, voire son digest.",
                       rule="DL3007, DS-0001")
    return external
