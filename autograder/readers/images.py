"""The course's pinned images: one list, ``docker/images.txt``, shared with ``docker/images.sh``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

IMAGES_FILE = Path(__file__).resolve().parents[2] / "docker" / "images.txt"
# Set on the offline stand-ins that docker/images.sh builds from Debian packages.
STANDIN_LABEL = "org.4data.course.offline-standin"


@lru_cache(maxsize=None)
def course_images(path: Path = IMAGES_FILE) -> tuple[str, ...]:
    """The tags of ``docker/images.txt`` in order (comments, blank lines and CR left out)."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))
