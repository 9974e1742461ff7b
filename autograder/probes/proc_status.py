"""A container's main process as the kernel sees it (``/proc/1/status``: capabilities, NoNewPrivs, uids); its secret mounts.

Read inside the running container with ``cat`` (or ``python`` where the image has no ``cat``);
capability masks are decoded with the names of ``linux/capability.h``.
"""

from __future__ import annotations

from typing import Optional

from autograder.engine.docker_api import DockerStepError
from autograder.engine.sandbox import Sandbox

# Names of the capabilities a container may hold (bit numbers of linux/capability.h).
CAP_NAMES = {0: "CHOWN", 1: "DAC_OVERRIDE", 2: "DAC_READ_SEARCH", 3: "FOWNER", 4: "FSETID", 5: "KILL",
             6: "SETGID", 7: "SETUID", 8: "SETPCAP", 10: "NET_BIND_SERVICE", 13: "NET_RAW",
             18: "SYS_CHROOT", 27: "MKNOD", 29: "AUDIT_WRITE", 31: "SETFCAP"}
SECRETS_DIR = "/run/secrets"


def proc_status(sandbox: Sandbox, container) -> Optional[dict[str, str]]:
    """``/proc/1/status`` of the container's main process, as a dict; ``None`` when neither ``cat``
    nor ``python`` can read it."""
    for cmd in (["cat", "/proc/1/status"], ["python", "-c", "print(open('/proc/1/status').read())"]):
        try:
            code, out = sandbox.exec(container, cmd, timeout=15)
        except DockerStepError:
            continue
        if code == 0 and "CapEff" in out:
            return {k.strip(): v.strip() for k, _, v in (l.partition(":") for l in out.splitlines()) if v}
    return None


def caps(mask: str) -> list[str]:
    """The capability names of a hexadecimal mask (``CapEff``, ``CapBnd``…)."""
    value = int(mask or "0", 16)
    return [CAP_NAMES.get(i, f"cap{i}") for i in range(64) if value >> i & 1]


def secret_mounts(container, folder: str = SECRETS_DIR) -> list[str]:
    """The destinations of the container's mounts under ``folder`` (Compose mounts secrets there)."""
    container.reload()
    return sorted(m.get("Destination", "") for m in container.attrs.get("Mounts") or []
                  if str(m.get("Destination", "")).startswith(folder + "/"))
