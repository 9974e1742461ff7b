"""Which files of an image's own layers (above its base image) hold a given value, read from ``docker save``.

For a secret that must live only in a file mounted at run time: the grader's own random value is
looked for in every regular file (up to 4 MiB) that the image's own build steps wrote, the base
image's layers left out (matched by diff id). No student code runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from autograder.engine.sandbox import Sandbox
from autograder.probes.images import image_attrs, layer_files, save_image, saved_layers

MAX_FILE = 4 << 20


def own_layer_hits(sandbox: Sandbox, ref: str, base: Optional[str], needle: bytes,
                   archive: Path) -> list[tuple[int, str]]:
    """``(layer, path)`` of the files of ``ref``'s layers above ``base`` (an image reference, or
    ``None`` for none known / scratch: then every layer) whose content holds ``needle``. ``archive``
    is where ``docker save`` writes (removed afterwards)."""
    base_ids: set = set()
    if base and base.lower() != "scratch":
        base_ids = set(((image_attrs(sandbox, base) or {}).get("RootFS") or {}).get("Layers") or [])
    saved = save_image(sandbox, ref, archive)
    try:
        layers = saved_layers(saved)
        own = [layer for layer in layers if layer.diff_id not in base_ids] or layers
        return [(layer.index, path) for layer, path, content, whiteout
                in layer_files(saved, own, lambda p, size: size <= MAX_FILE)
                if not whiteout and content is not None and needle in content]
    finally:
        saved.unlink(missing_ok=True)
