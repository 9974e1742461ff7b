"""`make help` documents every target, and the ones the README promises exist."""

import re
import subprocess

from cases import ROOT


def test_every_phony_target_has_a_description_and_help_lists_it():
    makefile = (ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split()
    described = dict(re.findall(r"^([a-zA-Z_-]+):.*?## (.+)$", makefile, re.M))
    assert set(phony) == set(described), set(phony) ^ set(described)
    assert {"lab", "test", "check", "images", "help"} <= set(described)
    out = subprocess.run(["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60).stdout
    for target in described:
        assert f"make {target}" in out


def test_check_without_lab_number_explains_usage():
    proc = subprocess.run(["make", "--no-print-directory", "check"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "make check LAB=01" in proc.stdout + proc.stderr


def test_every_way_into_jupyterlab_opens_the_french_course_page():
    """`make lab`, the course container (image and compose file) and the Binder badge all land on
    chapters/README.md, the students' entry page, not the maintainers' README."""
    where = {"Makefile": r"default_url=/lab/tree/(\S+)", "docker/course/Dockerfile": r"default_url=/lab/tree/([^\"\s]+)",
             "docker/course/compose.yaml": r"default_url=/lab/tree/([^\"\s]+)",
             "README.md": r"urlpath=lab/tree/([^)\s]+)"}
    for rel, pattern in where.items():
        found = re.findall(pattern, (ROOT / rel).read_text(encoding="utf-8"))
        assert found and set(found) == {"chapters/README.md"}, (rel, found)
    assert (ROOT / "chapters" / "README.md").is_file()
