"""A Compose service's resources as declared: memory, CPU and PID limits, GPU device requests, and their French display.

Read from Compose's canonical configuration (``docker compose config``: sizes in bytes or with a
unit, ``deploy.resources`` or the service-level keys) and from ``docker inspect``'s
``HostConfig.DeviceRequests``. It lies among the probes because sizes are read by the engine
policy's own parser, so that the grader and its limits agree on what ``256m`` means.
"""

from __future__ import annotations

from autograder.engine.policy import _bytes


def declared_limits(svc: dict) -> dict:
    """memory (bytes), nano_cpus, pids as the canonical config declares them (``None`` when absent),
    and whether memory is only reserved."""
    resources = (svc.get("deploy") or {}).get("resources") or {}
    limits = resources.get("limits") or {}
    memory = svc.get("mem_limit") or limits.get("memory")
    cpus = svc.get("cpus") or limits.get("cpus")
    pids = svc.get("pids_limit") or limits.get("pids")
    try:
        nano = int(round(float(cpus) * 1e9)) if cpus not in (None, "", 0, "0") else None
    except (TypeError, ValueError):
        nano = None
    try:
        pids_n = int(pids) if pids not in (None, "", 0, "0", -1, "-1") else None
    except (TypeError, ValueError):
        pids_n = None
    reserved = (resources.get("reservations") or {}).get("memory") or svc.get("mem_reservation")
    return {"memory": _bytes(memory) if memory not in (None, "", 0, "0") else None, "nano_cpus": nano,
            "pids": pids_n, "reserved_memory": _bytes(reserved) if reserved else None}


def shown_memory(value) -> str:
    """A size in bytes as the French feedback shows it (``256 Mio``, ``1 Gio``, ``aucune``)."""
    if not value:
        return "aucune"
    return f"{value / 1024**2:g} Mio" if value < 1024**3 else f"{value / 1024**3:g} Gio"


def shown_cpus(nano) -> str:
    """NanoCpus as a number of CPUs (``0.5``), or ``aucune``."""
    return f"{nano / 1e9:g}" if nano else "aucune"


def device_requests(svc: dict) -> list[dict]:
    """DeviceRequests as compose would write them, from the canonical config (image not pullable)."""
    out = []
    devices = ((((svc.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices")) or []
    for dev in devices:
        caps = [[str(c) for c in (group if isinstance(group, list) else [group])]
                for group in dev.get("capabilities") or []]
        count = dev.get("count")
        out.append({"Driver": dev.get("driver") or "", "Count": -1 if count in ("all", -1) else int(count or 0),
                    "DeviceIDs": dev.get("device_ids") or [], "Capabilities": caps})
    for gpu in svc.get("gpus") or []:
        count = gpu.get("count")
        out.append({"Driver": gpu.get("driver") or "", "Count": -1 if count in ("all", -1, None) else int(count),
                    "DeviceIDs": gpu.get("device_ids") or [],
                    "Capabilities": [sorted(set(gpu.get("capabilities") or []) | {"gpu"})]})
    return out


def gpu_problem(requests: list[dict]) -> str:
    """Why ``requests`` reserve no NVIDIA GPU ("" when they do)."""
    if not requests:
        return "HostConfig.DeviceRequests est vide : aucune réservation de périphérique"
    for req in requests:
        caps = {c for group in req.get("Capabilities") or [] for c in group}
        driver = req.get("Driver") or ""
        if "gpu" in caps and driver in ("", "nvidia") and (req.get("Count") or req.get("DeviceIDs")):
            return ""
    return "aucune demande avec driver nvidia, la capacité gpu et au moins un GPU : " + "; ".join(
        f"driver={r.get('Driver') or '(vide)'} count={r.get('Count')} ids={r.get('DeviceIDs') or []} "
        f"capabilities={r.get('Capabilities')}" for r in requests)
