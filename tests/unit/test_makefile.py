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
