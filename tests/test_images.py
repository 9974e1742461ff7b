"""The course images (official, or the offline stand-ins of docker/images.sh) honour the contract
the labs rely on: python with pip behind the host CA, postgres's entrypoint, registry push/pull."""

import subprocess

import pytest

from cases import ROOT

pytestmark = pytest.mark.docker


def test_course_images_smoke_tests():
    proc = subprocess.run(["bash", str(ROOT / "docker" / "test-images.sh")], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "all checks passed" in proc.stdout
