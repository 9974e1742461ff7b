"""Questions about a built image: its files, size, history steps, layers, build tools, and which
build steps a rebuild after a code change ran again. Metadata, file lists and build logs only:
no student code runs."""

from __future__ import annotations

import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, TYPE_CHECKING

import docker.errors

from autograder.core import Fail
from autograder.engine.docker_api import DockerStepError
from autograder.engine.sandbox import Sandbox

if TYPE_CHECKING:  # pragma: no cover
    from autograder.engine.runner import Grading


def find_files_in_image(sandbox: Sandbox, image: str, match: Callable[[str, bytes | None], bool],
                        read_names: Callable[[str], bool] = lambda n: False) -> list[str]:
    """Paths in ``image`` for which ``match(path, content)`` holds (content read only for
    paths where ``read_names(path)``)."""
    found = []
    for member, tar in sandbox.image_files(image):
        content = None
        if member.isfile() and read_names(member.name):
            fh = tar.extractfile(member)
            content = fh.read(4096) if fh else None
        if match(member.name, content):
            found.append("/" + member.name.lstrip("./"))
    return found


def image_attrs(sandbox: Sandbox, ref: str) -> Optional[dict]:
    """``docker image inspect`` of ``ref``; None when the image is not on this engine."""
    try:
        return sandbox.client.images.get(ref).attrs
    except docker.errors.DockerException:
        return None


def image_healthcheck(sandbox: Sandbox, ref: str) -> Optional[dict]:
    """The image's HEALTHCHECK (``{"Test": [...], "Interval": ns, ...}``), or None.

    Podman keeps it in the image (Docker format) but its Docker-compatible inspect leaves
    ``Config.Healthcheck`` out: there, its own endpoint (``/libpod/images/…/json``, ``Healthcheck``)
    says. On Docker that endpoint does not exist (404) and the first answer stands."""
    found = ((image_attrs(sandbox, ref) or {}).get("Config") or {}).get("Healthcheck")
    if found:
        return found
    api = sandbox.client.api
    try:
        resp = api._get(api._url("/libpod/images/{0}/json", ref))
        return resp.json().get("Healthcheck") if resp.status_code == 200 else None
    except (docker.errors.DockerException, ValueError, OSError):
        return None


def image_history(sandbox: Sandbox, ref: str) -> list:
    """The ``CreatedBy`` lines of ``docker history --no-trunc``, newest first."""
    return [h.get("CreatedBy", "") for h in sandbox.client.api.history(ref)]


def save_image(sandbox: Sandbox, ref: str, dest: Path) -> Path:
    """``docker save ref > dest`` through the SDK (streamed, never held in memory)."""
    sandbox.check_stopped()
    with open(dest, "wb") as fh:
        for chunk in sandbox.client.images.get(ref).save(chunk_size=1 << 20):
            fh.write(chunk)
    return dest


@dataclass(frozen=True)
class Layer:
    index: int          # 1 = the lowest layer
    diff_id: str
    created_by: str     # the instruction that made it ("" when unknown)
    member: str         # the layer's tar inside the saved archive


def saved_layers(archive: Path) -> list:
    """The layers of a ``docker save`` archive, lowest first, each with its instruction."""
    with tarfile.open(archive, "r:") as outer:
        manifest = json.load(outer.extractfile("manifest.json"))[0]
        config = json.load(outer.extractfile(manifest["Config"]))
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    steps = [h.get("created_by", "") for h in config.get("history", []) if not h.get("empty_layer")]
    steps = [""] * (len(diff_ids) - len(steps)) + steps if len(steps) < len(diff_ids) else steps[-len(diff_ids):]
    return [Layer(i + 1, d, _instruction(steps[i]), m)
            for i, (d, m) in enumerate(zip(diff_ids, manifest["Layers"]))]


def _instruction(created_by: str) -> str:
    text = re.sub(r"^/bin/sh -c #\(nop\)\s*", "", created_by or "").strip()
    text = re.sub(r"^(RUN\s+)?\|\d+ (\S+=\S*\s+)*", r"\1", text)
    text = re.sub(r"^/bin/sh -c ", "RUN ", text)
    return text[:120]


def layer_files(archive: Path, layers: list, read: Callable[[str, int], bool]):
    """``(layer, path, content or None, whiteout)`` for every entry of the given layers of a
    saved image; ``content`` (first 1 MiB) only for regular files where ``read(path, size)``."""
    with tarfile.open(archive, "r:") as outer:
        for layer in layers:
            fh = outer.extractfile(layer.member)
            if fh is None:
                continue
            with tarfile.open(fileobj=fh, mode="r|*") as inner:
                for member in inner:
                    path = "/" + member.name.lstrip("./")
                    name = path.rsplit("/", 1)[-1]
                    if name.startswith(".wh."):
                        yield layer, path.rsplit("/", 1)[0] + "/" + name[4:], None, True
                        continue
                    content = None
                    if member.isfile() and read(path, member.size):
                        data = inner.extractfile(member)
                        content = data.read(1 << 20) if data else None
                    yield layer, path, content, False


# -- images ------------------------------------------------------------------------------------
# General-purpose questions about a built image (lab 05 and any lab that builds one): its size,
# the steps its Dockerfile's final stage added (image history), the build tools its file system
# still holds, and which build steps a rebuild after a code change ran again. Metadata, the file
# list (`docker create` + export) and build logs only: no student code runs.


MB = 1000 ** 2  # `docker image ls` shows decimal megabytes

# Instructions as `docker history` records them: legacy builder `/bin/sh -c #(nop)  ENV …`,
# `/bin/sh -c #(nop) COPY file:… in /x` (a RUN is the bare command, `|N ARG=… /bin/sh -c …` with
# build arguments); BuildKit `RUN /bin/sh -c … # buildkit`, `COPY src/ ./ # buildkit`.
DOCKERFILE_INSTRUCTIONS = ("ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK",
                           "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER",
                           "VOLUME", "WORKDIR")
FILESYSTEM_INSTRUCTIONS = ("RUN", "COPY", "ADD")


@dataclass(frozen=True)
class HistoryStep:
    """One entry of ``docker history``: the instruction that made it, its text, its size."""

    instruction: str   # RUN, COPY, ENV… ("" for an imported base layer)
    created_by: str
    size: int

    @property
    def makes_layer(self) -> bool:
        return self.instruction in FILESYSTEM_INSTRUCTIONS

    def short(self, width: int = 80) -> str:
        text = re.sub(r"^/bin/sh -c #\(nop\)\s*", "", self.created_by.strip())
        text = re.sub(r"^(?:RUN )?(?:\|\d+ (?:\S+=\S*\s+)*)?/bin/sh -c\s+", "RUN ", text)
        text = re.sub(r"\s+# buildkit$", "", re.sub(r"\s+", " ", text))
        return text if len(text) <= width else text[: width - 1] + "…"


def history_instruction(created_by: str) -> str:
    """The Dockerfile instruction behind a ``CreatedBy`` line (legacy builder or BuildKit)."""
    text = (created_by or "").strip()
    if not text:
        return ""
    m = re.match(r"^/bin/sh -c #\(nop\)\s*([A-Z]+)\b", text)
    if m:
        return m.group(1)
    word = text.split(None, 1)[0]
    if word in DOCKERFILE_INSTRUCTIONS:
        return word
    return "RUN"  # legacy builder: a RUN is recorded as the command itself


def image_size(sandbox: Sandbox, ref: str, timeout: float = 120) -> int:
    """Size in bytes of ``ref`` with its base: its layers uncompressed, the same under every image
    store (:func:`autograder.engine.imagefacts.stored_size`; inspect's ``Size`` is the compressed size
    under the containerd store)."""
    from autograder.engine.imagefacts import ImageFactsError, stored_size
    try:
        return stored_size(sandbox.client, ref, timeout=timeout)
    except ImageFactsError as exc:
        raise DockerStepError(f"taille de l'image illisible : {exc}") from None


def history_steps(sandbox: Sandbox, ref: str) -> list[HistoryStep]:
    """Every entry of ``docker history ref``, oldest first; ``[]`` for an unknown image."""
    try:
        entries = sandbox.client.api.history(ref)
    except docker.errors.NotFound:
        return []
    return [HistoryStep(history_instruction(e.get("CreatedBy", "")), e.get("CreatedBy", "") or "",
                        int(e.get("Size") or 0)) for e in reversed(entries)]


def added_steps(sandbox: Sandbox, ref: str, base: Optional[str]) -> list[HistoryStep]:
    """The steps ``ref`` has on top of its base image ``base`` (oldest first): what the final
    stage of its Dockerfile added. ``base`` None or ``scratch``: every step."""
    steps = history_steps(sandbox, ref)
    if not base or base.lower() == "scratch":
        return steps
    below = len(history_steps(sandbox, base))
    return steps[below:] if below <= len(steps) else steps


def consecutive_runs(steps: list[HistoryStep]) -> list[tuple[HistoryStep, HistoryStep]]:
    """Pairs of RUN steps that follow each other directly (hadolint DL3059)."""
    return [(a, b) for a, b in zip(steps, steps[1:]) if a.instruction == "RUN" and b.instruction == "RUN"]


# Compilers, linkers and build drivers, in a bin directory; `x86_64-linux-gnu-gcc-14` too.
BUILD_TOOL = re.compile(r"^(?:[a-z0-9_]+-linux-gnu[a-z0-9_]*-)?(?:gcc|g\+\+|c\+\+|cc|c89|c99|c89-gcc|c99-gcc|"
                        r"cpp|clang|clang\+\+|tcc|ld|ld\.bfd|ld\.gold|ld\.lld|as|make|gmake|cmake|"
                        r"ninja|meson|rustc|cargo|go)(?:-[0-9][0-9.]*)?$")
# The compiler proper, wherever its driver went (/usr/libexec/gcc/<triplet>/<version>/cc1).
GCC_INTERNALS = {"cc1", "cc1plus", "cc1obj", "collect2", "lto1", "lto-wrapper"}


def is_build_tool(path: str) -> bool:
    """Whether ``path`` (an image path) is a compiler or build tool, or build-essential's trace."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts:
        return False
    name, parent = parts[-1], parts[-2] if len(parts) > 1 else ""
    if parent.endswith("bin") and BUILD_TOOL.match(name):
        return True
    if name in GCC_INTERNALS and "gcc" in parts:
        return True
    return parts[:4] == ["usr", "share", "doc", "build-essential"]


def build_tools_in_image(sandbox: Sandbox, ref: str) -> list[str]:
    """Paths of compilers and build tools in ``ref``'s file system (CIS Docker 4.3)."""
    return find_files_in_image(sandbox, ref, lambda path, _content: is_build_tool(path))


# Package installs: what a good Dockerfile keeps cached while only the code changes.
PACKAGE_INSTALL = re.compile(r"\b(?:apt-get|apt|aptitude)\b[^;&|]*\binstall\b|\bapk\s+add\b|"
                             r"\b(?:dnf|yum|microdnf|zypper)\b[^;&|]*\binstall\b|"
                             r"\bpip3?\s+install\b|-m\s+pip\s+install\b|\buv\s+(?:pip|sync)\b|"
                             r"\bpoetry\s+install\b|\bnpm\s+(?:ci|install)\b")


def rebuild_after_touch(g: "Grading", rel: str, line: str, suffix: str = "rebuild", *, name: str = "app",
                        dockerfile: str = "Dockerfile", context: str = ".",
                        also: tuple[tuple[str, str], ...] = ()) -> list[tuple[str, bool]]:
    """Build image ``name`` (once) and the ``also`` images sharing the file (``(name, dockerfile)``),
    append ``line`` to the submission's file ``rel`` (a comment: a code-only change; done once per
    grading), build ``dockerfile`` again; ``(instruction, served_from_cache)`` of each step of the
    rebuild (legacy builder log). :class:`Fail` when ``rel`` is not in the submission."""
    g.image(name, dockerfile, context)
    for other, other_dockerfile in also:
        try:
            g.image(other, other_dockerfile, context)
        except Fail:
            pass  # its own checks say why; the touched file must not change under it later

    def touch() -> None:
        path = g.workdir / rel
        if not path.is_file():
            raise Fail(f"le fichier {rel} fourni", f"{rel} absent du rendu", f"remettez {rel} tel que fourni.")
        with path.open("a") as fh:
            fh.write(f"\n{line}\n")
    g.once(f"touched:{rel}", touch)
    return g.build(suffix, dockerfile, context).cached_steps()


def install_steps(steps: list[tuple[str, bool]],
                  is_install: Callable[[str], bool] = lambda s: bool(PACKAGE_INSTALL.search(s))
                  ) -> list[tuple[str, bool]]:
    """The RUN steps of ``steps`` (from :func:`rebuild_after_touch`) that install packages, each
    once (a build log lists a step again in its tail)."""
    return list(dict.fromkeys((s, cached) for s, cached in steps if s.upper().startswith("RUN") and is_install(s)))
