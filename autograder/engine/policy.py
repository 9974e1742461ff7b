"""What a submission's Compose file may ask for, and how the grader rewrites it before running it.

Three steps, in this order, before anything starts:

1. :func:`review_sources` reads the raw YAML files (the submission's and any file
   it includes or extends) for the paths that ``docker compose config`` itself
   would read (``include``, ``extends.file``, ``env_file``, ``label_file``), so a
   file outside the submission is never even opened.
2. :func:`review` walks the canonical form (``docker compose config --format
   json``) against an allow-list: a key the grader does not know is refused, and
   so is every value that could harm the grading host (``../shared/notes/security.md``).
3. :func:`rewrite` turns an accepted configuration into the one the grader runs:
   job labels everywhere, imposed limits, no fixed names or host ports, a
   network without outside access unless the lab needs it.

A refusal names the setting, says why in French and quotes the benchmark rule,
so the student can fix it; the static checks still run.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

# Docker's default capability set: adding one of these back after `cap_drop: [ALL]` is the
# usual hardening pattern, anything else widens what a container may do to the host.
DEFAULT_CAPS = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})
LOCAL_LOG_DRIVERS = frozenset({"", "json-file", "local", "none", "journald"})
RUNTIMES = frozenset({"", "runc", "io.containerd.runc.v2", "nvidia"})
SENSITIVE = ("/var/run/docker.sock", "/run/docker.sock", "/", "/etc", "/proc", "/sys", "/dev", "/run",
             "/var/run", "/var/lib/docker", "/root", "/home", "/boot", "/usr", "/bin", "/sbin", "/lib")
MAX_SERVICES = 16
MAX_REPLICAS = 3

# Limits: what a service gets when it sets none, and the most it may ask for.
DEFAULT_MEMORY = 1024**3
MAX_MEMORY = 2 * 1024**3
DEFAULT_CPUS = 1.0
MAX_CPUS = 2.0
DEFAULT_PIDS = 512
MAX_PIDS = 1024
MAX_STOP_GRACE_S = 10
LOGGING = {"driver": "json-file", "options": {"max-size": "1m", "max-file": "1"}}
NO_MASQUERADE = {"com.docker.network.bridge.enable_ip_masquerade": "false"}


@dataclass(frozen=True)
class Refusal:
    """One setting the grader will not run: where it is, why, and the benchmark rule."""

    where: str
    reason: str
    rule: str = ""

    def line(self) -> str:
        rule = f" [{self.rule}]" if self.rule else ""
        return f"« {self.where} » : {self.reason}{rule}"


def refusal_message(refusals: Iterable[Refusal]) -> tuple[str, str, str]:
    """(expected, observed, hint) for a :class:`~autograder.core.Fail`."""
    lines = [r.line() for r in refusals]
    return ("un fichier compose sans réglage dangereux pour la machine qui corrige "
            "(il exécute les rendus de toute la classe)",
            "le correcteur refuse de lancer ce rendu :\n- " + "\n- ".join(lines),
            "retirez ces réglages (aucun TP n'en a besoin) puis relancez : rien n'a été démarré. "
            "Les vérifications qui lisent seulement vos fichiers ont quand même été notées.")


# ---------------------------------------------------------------------------------------------
# 1. Raw sources: paths that `docker compose config` would open
# ---------------------------------------------------------------------------------------------
def review_sources(source: Path, root: Path, _seen: Optional[set] = None) -> list[Refusal]:
    """Refusals for files outside ``root`` that ``source`` would make compose read."""
    seen = _seen if _seen is not None else set()
    try:
        real = source.resolve()
    except OSError:
        return []
    if real in seen or len(seen) > 20:
        return []
    seen.add(real)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8", errors="replace"))
    except (yaml.YAMLError, OSError):
        return []  # compose reports the syntax error itself, with its line number
    if not isinstance(data, dict):
        return []
    base = source.parent
    found: list[Refusal] = []

    def local(where: str, value: Any, what: str) -> Optional[Path]:
        if not isinstance(value, str) or not value:
            return None
        if _remote(value):
            found.append(Refusal(where, f"{what} distant ({value}) : le correcteur ne télécharge rien, "
                                        "gardez tout dans le dossier du TP"))
            return None
        if "$" in value:  # compose would read it before any canonical form exists: not checkable
            found.append(Refusal(where, f"{what} au chemin calculé ({value}) : écrivez un chemin relatif "
                                        "fixe, dans le dossier du TP (`./…`)"))
            return None
        path = (base / value)
        if not inside(path, root):
            found.append(Refusal(where, f"{what} hors du dossier rendu ({value})", "CIS 5.6"))
            return None
        return path

    includes = data.get("include") or []
    for i, item in enumerate(includes if isinstance(includes, list) else []):
        entries = item if isinstance(item, str) else (item or {}).get("path") if isinstance(item, dict) else None
        for j, entry in enumerate([entries] if isinstance(entries, str) else entries or []):
            path = local(f"include[{i}]", entry, "fichier inclus")
            if path is not None and path.is_file():
                found += review_sources(path, root, seen)
        if isinstance(item, dict):
            local(f"include[{i}].project_directory", item.get("project_directory"), "dossier de projet")
            for env in _as_list(item.get("env_file")):
                local(f"include[{i}].env_file", env, "fichier d'environnement")
    services = data.get("services") if isinstance(data.get("services"), dict) else {}
    for name, svc in services.items():
        if not isinstance(svc, dict):
            continue
        for env in _as_list(svc.get("env_file")):
            local(f"services.{name}.env_file", env.get("path") if isinstance(env, dict) else env,
                  "fichier d'environnement")
        for label_file in _as_list(svc.get("label_file")):
            local(f"services.{name}.label_file", label_file, "fichier d'étiquettes")
        extends = svc.get("extends")
        if isinstance(extends, dict) and extends.get("file"):
            path = local(f"services.{name}.extends.file", extends["file"], "fichier étendu")
            if path is not None and path.is_file():
                found += review_sources(path, root, seen)
    return found


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _remote(value: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://", value)) or value.startswith("git@")


def shown(path: str, root: Path) -> str:
    """``path`` as the student wrote it: relative when it is near the submission, else absolute."""
    near, target = Path(root).parent.parent, Path(path)
    if near != Path("/") and (target == near or near in target.parents):
        return os.path.relpath(path, root)
    return path


def inside(path: Path | str, root: Path) -> bool:
    """``path`` (symlinks resolved) is ``root`` or below it."""
    try:
        real = Path(os.path.realpath(path))
        base = Path(os.path.realpath(root))
    except (OSError, ValueError):
        return False
    return real == base or base in real.parents


# ---------------------------------------------------------------------------------------------
# 2. The canonical form against an allow-list
# ---------------------------------------------------------------------------------------------
TOP_KEYS = {"name", "services", "networks", "volumes", "secrets", "configs"}
SERVICE_KEYS = {
    "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup", "cgroup_parent",
    "command", "configs", "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota",
    "cpu_shares", "cpus", "cpuset", "depends_on", "deploy", "develop", "device_cgroup_rules", "devices",
    "dns", "dns_opt", "dns_search", "domainname", "entrypoint", "environment", "expose", "external_links",
    "extra_hosts", "gpus", "group_add", "healthcheck", "hostname", "image", "init", "ipc", "isolation",
    "labels", "links", "logging", "mac_address", "mem_limit", "mem_reservation", "mem_swappiness",
    "memswap_limit", "network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit",
    "platform", "ports", "post_start", "pre_stop", "privileged", "profiles", "provider", "pull_policy",
    "read_only", "restart", "runtime", "scale", "secrets", "security_opt", "shm_size", "stdin_open",
    "stop_grace_period", "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "use_api_socket",
    "user", "userns_mode", "uts", "volumes", "volumes_from", "working_dir",
}
BUILD_KEYS = {
    "context", "dockerfile", "dockerfile_inline", "args", "ssh", "cache_from", "cache_to",
    "additional_contexts", "extra_hosts", "isolation", "labels", "network", "no_cache", "platforms",
    "privileged", "pull", "secrets", "shm_size", "tags", "target", "ulimits", "entitlements",
    "provenance", "sbom",
}
VOLUME_KEYS = {"driver", "driver_opts", "external", "labels", "name"}
NETWORK_KEYS = {"driver", "driver_opts", "external", "internal", "attachable", "enable_ipv4", "enable_ipv6",
                "ipam", "labels", "name"}
FILE_OBJECT_KEYS = {"file", "environment", "content", "external", "labels", "name"}
HOOK_KEYS = {"command", "user", "privileged", "working_dir", "environment"}
DEPLOY_KEYS = {"mode", "replicas", "labels", "resources", "restart_policy", "placement", "update_config",
               "rollback_config", "endpoint_mode"}


def review(config: dict, root: Path) -> list[Refusal]:
    """Every setting of the canonical ``config`` that the grader refuses to run."""
    out: list[Refusal] = []
    for key in config:
        if key not in TOP_KEYS and not key.startswith("x-"):
            out.append(Refusal(key, "clé inconnue du correcteur : il ne lance que ce qu'il sait vérifier"))
    services = config.get("services") or {}
    if len(services) > MAX_SERVICES:
        out.append(Refusal("services", f"{len(services)} services (au plus {MAX_SERVICES} pour un TP)"))
    for name, svc in services.items():
        out += _review_service(f"services.{name}", svc or {}, root, set(services))
    for name, vol in (config.get("volumes") or {}).items():
        out += _review_volume(f"volumes.{name}", vol or {})
    for name, net in (config.get("networks") or {}).items():
        out += _review_network(f"networks.{name}", net or {})
    for kind in ("secrets", "configs"):
        for name, obj in (config.get(kind) or {}).items():
            out += _review_file_object(f"{kind}.{name}", obj or {}, root)
    return out


def _unknown(where: str, obj: dict, allowed: set) -> list[Refusal]:
    return [Refusal(f"{where}.{k}", "réglage inconnu du correcteur : il ne lance que ce qu'il sait vérifier")
            for k in obj if k not in allowed and not k.startswith("x-")]


def _truthy(value: Any) -> bool:
    return value not in (None, False, "", 0, [], {}, "false", "False")


def _review_service(where: str, svc: dict, root: Path, names: set) -> list[Refusal]:
    out = _unknown(where, svc, SERVICE_KEYS)
    add = lambda key, reason, rule="": out.append(Refusal(f"{where}.{key}", reason, rule))  # noqa: E731
    if _truthy(svc.get("privileged")):
        add("privileged", "un conteneur privilégié a tous les droits sur la machine hôte", "CIS 5.5, CL-0002")
    if _truthy(svc.get("use_api_socket")):
        add("use_api_socket", "donne au conteneur l'accès au démon Docker, donc à la machine entière",
            "CIS 5.32, CL-0001")
    if _truthy(svc.get("provider")):
        add("provider", "un service « provider » exécute un programme sur la machine hôte, hors conteneur")
    for key, rule in (("network_mode", "CIS 5.10"), ("pid", "CIS 5.16"), ("ipc", "CIS 5.17"),
                      ("uts", "CIS 5.21"), ("userns_mode", "CIS 5.31"), ("cgroup", "")):
        value = str(svc.get(key) or "")
        if value == "host":
            add(key, f"`{key}: host` partage l'espace de noms de la machine hôte", rule)
        elif value.startswith("container:"):
            add(key, f"`{value}` rejoint un conteneur extérieur au projet", rule)
        elif key == "network_mode" and value not in ("", "none", "bridge") and not value.startswith("service:"):
            add(key, f"mode réseau `{value}` inconnu du correcteur : utilisez `networks:`", rule)
    for cap in svc.get("cap_add") or []:
        norm = str(cap).upper().removeprefix("CAP_")
        if norm not in DEFAULT_CAPS:
            add("cap_add", f"capacité {cap} hors de l'ensemble par défaut de Docker "
                           "(seules celles-ci peuvent être rajoutées après `cap_drop: [ALL]`)", "CIS 5.4, CL-0006")
    if svc.get("devices"):
        add("devices", "accès direct aux périphériques de l'hôte", "CIS 5.18")
    if svc.get("device_cgroup_rules"):
        add("device_cgroup_rules", "ouvre l'accès aux périphériques de l'hôte", "CIS 5.18")
    for opt in svc.get("security_opt") or []:
        text = str(opt).lower().replace("=", ":")
        if "unconfined" in text or text.startswith("label:disable"):
            add("security_opt", f"`{opt}` désactive une protection du noyau (seccomp/AppArmor/SELinux)",
                "CIS 5.3, CIS 5.21")
        elif text.startswith("seccomp:") or (text.startswith("apparmor:") and text != "apparmor:docker-default"):
            add("security_opt", f"`{opt}` remplace le profil de sécurité par défaut", "CIS 5.21")
        elif not (text.startswith("no-new-privileges") or text.startswith("label:") or
                  text == "apparmor:docker-default"):
            add("security_opt", f"option `{opt}` inconnue du correcteur")
    runtime = str(svc.get("runtime") or "")
    if runtime not in RUNTIMES:
        add("runtime", f"runtime `{runtime}` : seuls celui par défaut et `nvidia` sont acceptés")
    if svc.get("cgroup_parent"):
        add("cgroup_parent", "place le conteneur hors des limites imposées par le correcteur")
    if svc.get("sysctls"):
        add("sysctls", "modifie des paramètres du noyau", "CIS 5.21")
    if svc.get("storage_opt"):
        add("storage_opt", "option de stockage du démon non prise en charge par le correcteur")
    if str(svc.get("isolation") or "default") not in ("default", ""):
        add("isolation", "mode d'isolation non pris en charge (conteneurs Windows)")
    if _truthy(svc.get("oom_kill_disable")):
        add("oom_kill_disable", "un conteneur qui dépasse sa mémoire doit pouvoir être arrêté", "CIS 5.11")
    if int(svc.get("oom_score_adj") or 0) < 0:
        add("oom_score_adj", "une valeur négative ferait tuer d'autres processus de l'hôte à sa place")
    driver = str((svc.get("logging") or {}).get("driver") or "")
    if driver not in LOCAL_LOG_DRIVERS:
        add("logging.driver", f"le pilote `{driver}` envoie les journaux hors de la machine")
    if svc.get("external_links"):
        add("external_links", "relie le service à des conteneurs extérieurs au projet")
    for ref in svc.get("volumes_from") or []:
        if str(ref).startswith("container:"):
            add("volumes_from", f"`{ref}` lit les volumes d'un conteneur extérieur au projet", "CIS 5.6")
    replicas = max(int(svc.get("scale") or 1), int((svc.get("deploy") or {}).get("replicas") or 1))
    if replicas > MAX_REPLICAS:
        add("deploy.replicas", f"{replicas} répliques (au plus {MAX_REPLICAS} pour un TP)")
    out += _unknown(f"{where}.deploy", svc.get("deploy") or {}, DEPLOY_KEYS)
    for dev in (((svc.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices") or []:
        caps = {str(c) for group in dev.get("capabilities") or [] for c in _as_list(group)}
        if dev.get("driver") not in (None, "nvidia") or "gpu" not in caps:
            add("deploy.resources.reservations.devices",
                "seules les réservations de GPU NVIDIA (`driver: nvidia`, `capabilities: [gpu]`) sont acceptées")
    for hook in ("post_start", "pre_stop"):
        for i, h in enumerate(svc.get(hook) or []):
            out += _unknown(f"{where}.{hook}[{i}]", h or {}, HOOK_KEYS)
            if _truthy((h or {}).get("privileged")):
                add(f"{hook}[{i}].privileged", "une commande privilégiée a tous les droits sur l'hôte", "CIS 5.5")
    for i, mount in enumerate(svc.get("volumes") or []):
        out += _review_mount(f"{where}.volumes[{i}]", mount, root)
    if isinstance(svc.get("build"), dict):
        out += _review_build(f"{where}.build", svc["build"], root)
    return out


def _review_mount(where: str, mount: dict, root: Path) -> list[Refusal]:
    kind = mount.get("type")
    source = str(mount.get("source") or "")
    if kind == "bind":
        if source.rstrip("/") in ("/var/run/docker.sock", "/run/docker.sock") or source.endswith("docker.sock"):
            return [Refusal(where, f"le socket Docker ({source}) donne le contrôle de toute la machine",
                            "CIS 5.32, CL-0001")]
        if not inside(source, root):
            sensitive = source == "/" or any(source == s or source.startswith(s + "/")
                                             for s in SENSITIVE if s != "/")
            why = "dossier système de l'hôte" if sensitive else "dossier hors du rendu"
            return [Refusal(where, f"montage de {shown(source, root)} : {why} ; seuls les fichiers du TP "
                                   "peuvent être montés (chemins relatifs `./…`)", "CIS 5.6")]
        propagation = str((mount.get("bind") or {}).get("propagation") or "")
        if propagation not in ("", "private", "rprivate"):
            return [Refusal(where, f"propagation `{propagation}` : les montages se propageraient vers l'hôte",
                            "CIS 5.20")]
        return []
    if kind in ("volume", "tmpfs", None):
        return []
    return [Refusal(where, f"montage de type `{kind}` non pris en charge par le correcteur")]


def _review_build(where: str, build: dict, root: Path) -> list[Refusal]:
    out = _unknown(where, build, BUILD_KEYS)
    add = lambda key, reason, rule="": out.append(Refusal(f"{where}.{key}", reason, rule))  # noqa: E731
    context = str(build.get("context") or ".")
    if _remote(context):
        add("context", f"contexte distant ({context}) : le correcteur ne télécharge rien")
    elif not inside(context, root):
        add("context", f"contexte de build hors du dossier rendu ({context})", "CIS 5.6")
    else:
        dockerfile = build.get("dockerfile")
        if dockerfile and not inside(Path(context) / str(dockerfile), root):
            add("dockerfile", f"Dockerfile hors du dossier rendu ({dockerfile})")
    for name, ctx in (build.get("additional_contexts") or {}).items():
        ctx = str(ctx)
        if ctx.startswith(("docker-image://", "service:")):
            continue
        if _remote(ctx) or not inside(ctx, root):
            add(f"additional_contexts.{name}", f"contexte supplémentaire hors du dossier rendu "
                                               f"({shown(ctx, root)})")
    if _truthy(build.get("privileged")):
        add("privileged", "un build privilégié a tous les droits sur la machine hôte", "CIS 5.5")
    network = str(build.get("network") or "")
    if network not in ("", "default", "none"):
        add("network", f"`network: {network}` pendant le build : utilisez le réseau par défaut", "CIS 5.10")
    if build.get("ssh"):
        add("ssh", "transmet l'agent SSH de la machine qui corrige au build")
    if build.get("cache_to"):
        add("cache_to", "exporte le cache de build hors du démon")
    if build.get("entitlements"):
        add("entitlements", "droits supplémentaires pour le build (réseau hôte, mode non sécurisé)")
    return out


def _review_volume(where: str, vol: dict) -> list[Refusal]:
    out = _unknown(where, vol, VOLUME_KEYS)
    if _truthy(vol.get("external")):
        out.append(Refusal(f"{where}.external", "volume externe : il appartient à la machine, pas au projet ; "
                                                "déclarez un volume nommé ordinaire", "CIS 5.6"))
    if str(vol.get("driver") or "local") != "local":
        out.append(Refusal(f"{where}.driver", f"pilote de volume `{vol.get('driver')}` non pris en charge"))
    opts = vol.get("driver_opts") or {}
    if opts and not (str(opts.get("type")) == "tmpfs" and set(opts) <= {"type", "device", "o"}
                     and "bind" not in str(opts.get("o", ""))):
        out.append(Refusal(f"{where}.driver_opts", "ce volume monte un dossier de l'hôte (ou un partage réseau) : "
                                                   "utilisez un volume nommé sans driver_opts", "CIS 5.6"))
    return out


def _review_network(where: str, net: dict) -> list[Refusal]:
    out = _unknown(where, net, NETWORK_KEYS)
    if _truthy(net.get("external")):
        out.append(Refusal(f"{where}.external", "réseau externe : le projet doit créer ses propres réseaux"))
    if str(net.get("driver") or "bridge") != "bridge":
        out.append(Refusal(f"{where}.driver", f"pilote réseau `{net.get('driver')}` : seul `bridge` est accepté",
                           "CIS 5.10"))
    if net.get("driver_opts"):
        out.append(Refusal(f"{where}.driver_opts", "options du pilote réseau non prises en charge"))
    return out


def _review_file_object(where: str, obj: dict, root: Path) -> list[Refusal]:
    out = _unknown(where, obj, FILE_OBJECT_KEYS)
    if _truthy(obj.get("external")):
        out.append(Refusal(f"{where}.external", "objet externe (Swarm) : utilisez `file:` dans le dossier du TP"))
    if obj.get("file") and not inside(obj["file"], root):
        out.append(Refusal(f"{where}.file", f"fichier hors du dossier rendu ({shown(obj['file'], root)})",
                           "CIS 5.6"))
    return out


# ---------------------------------------------------------------------------------------------
# 3. The configuration the grader runs
# ---------------------------------------------------------------------------------------------
TMPFS_DEFAULT_MODE = 0o1777


def rewrite(config: dict, job: str, labels: dict[str, str], *, internet: bool = False) -> tuple[dict, list[str]]:
    """The effective configuration for an accepted ``config``, and French notes on what changed.

    Fixed names become job-scoped (``container_name`` → a network alias, volume and
    network ``name:`` → prefixed), host ports move to free ports on 127.0.0.1, built
    images get job-scoped tags; every service gets the imposed limits, ``restart:
    "no"``, bounded json-file logs and the job label.
    """
    cfg = copy.deepcopy(config)
    notes: list[str] = []
    services = cfg.get("services") or {}
    renamed_images = {}
    for name, svc in services.items():
        if isinstance(svc.get("build"), dict) and svc.get("image"):
            renamed_images[svc["image"]] = f"{job}-{name}:grading"
    moved_ports = []
    for name, svc in services.items():
        _limit(svc)
        svc["labels"] = {**(svc.get("labels") or {}), **labels}
        svc["restart"] = "no"
        (svc.get("deploy") or {}).pop("restart_policy", None)
        svc["logging"] = copy.deepcopy(LOGGING)
        if _seconds(svc.get("stop_grace_period")) > MAX_STOP_GRACE_S:
            svc["stop_grace_period"] = f"{MAX_STOP_GRACE_S}s"  # a stop or re-creation stays bounded
        for vol in svc.get("volumes") or []:
            if isinstance(vol, dict) and vol.get("type") == "tmpfs":
                # Docker's default mode (1777), said explicitly: Podman makes a tmpfs with a size
                # and no mode 000, which no non-root user can write.
                vol["tmpfs"] = {"mode": TMPFS_DEFAULT_MODE, **(vol.get("tmpfs") or {})}
        if svc.get("network_mode") == "bridge":
            del svc["network_mode"]  # Docker's shared bridge: use the project's own network instead
            svc["networks"] = {"default": None}
        if svc.get("container_name"):
            alias = svc.pop("container_name")
            for net, opts in list((svc.get("networks") or {}).items()):
                opts = dict(opts or {})
                opts["aliases"] = sorted(set(opts.get("aliases") or []) | {alias})
                svc["networks"][net] = opts
        for net, opts in (svc.get("networks") or {}).items():
            if isinstance(opts, dict):
                for key in ("ipv4_address", "ipv6_address"):
                    opts.pop(key, None)
        for port in svc.get("ports") or []:
            if port.get("published"):
                moved_ports.append(f"{name}:{port['published']}")
            port.pop("published", None)
            port["host_ip"] = "127.0.0.1"
        from autograder.engine.docker_api import engine_host
        if svc.get("ports") and engine_host() != "127.0.0.1":  # also where the grader reaches them
            svc["ports"] = svc["ports"] + [{**port, "host_ip": engine_host()} for port in svc["ports"]]
        if svc.get("image") in renamed_images:
            svc["image"] = renamed_images[svc["image"]]
        if str(svc.get("pull_policy") or "") in ("always", "daily", "weekly") or \
                str(svc.get("pull_policy") or "").startswith("every_"):
            svc["pull_policy"] = "missing"  # offline classrooms: use the local image
        if isinstance(svc.get("build"), dict):
            build = svc["build"]
            build["labels"] = {**(build.get("labels") or {}), **labels}
            build.pop("tags", None)
            build.pop("pull", None)
    for key in ("volumes", "networks"):
        for name, obj in list((cfg.get(key) or {}).items()):
            obj = dict(obj or {})
            obj["labels"] = {**(obj.get("labels") or {}), **labels}
            obj["name"] = f"{job}_{name}"
            cfg[key][name] = obj
    nets = cfg.setdefault("networks", {})
    nets.setdefault("default", {"name": f"{job}_default", "labels": dict(labels)})
    for net in nets.values():
        net.pop("ipam", None)
        if not internet and not net.get("internal"):
            net["driver_opts"] = dict(NO_MASQUERADE)
    if moved_ports:
        notes.append("Ports publiés (" + ", ".join(moved_ports) + ") : pendant la correction, ils sont "
                     "remplacés par des ports libres sur 127.0.0.1, pour que plusieurs corrections puissent "
                     "tourner en même temps. Vos choix de ports restent lus dans votre fichier.")
    return cfg, notes


def _limit(svc: dict) -> None:
    """Impose memory (swap equal), CPU, PIDs and core-dump limits, keeping the student's lower ones."""
    limits = (((svc.get("deploy") or {}).get("resources") or {}).get("limits")) or {}

    def clamp(asked: Any, default: float, ceiling: float, parse) -> float:
        value = parse(asked) if asked not in (None, "", 0, "0", -1, "-1") else None
        if value is None or value <= 0:
            return default
        return min(value, ceiling)

    memory = int(clamp(svc.get("mem_limit") or limits.get("memory"), DEFAULT_MEMORY, MAX_MEMORY, _bytes))
    cpus = clamp(svc.get("cpus") or limits.get("cpus"), DEFAULT_CPUS, MAX_CPUS, float)
    pids = int(clamp(svc.get("pids_limit") or limits.get("pids"), DEFAULT_PIDS, MAX_PIDS, int))
    svc["mem_limit"] = str(memory)
    svc["memswap_limit"] = str(memory)
    svc["cpus"] = cpus
    svc["pids_limit"] = pids
    if limits:  # compose refuses a service-level value that differs from `deploy.resources.limits`
        limits.update({"memory": str(memory), "cpus": cpus, "pids": pids})
    ulimits = svc.setdefault("ulimits", {})
    ulimits["core"] = {"soft": 0, "hard": 0}


def _seconds(value: Any) -> float:
    """Seconds in a Go duration as compose writes it (``1h0m0s``, ``1m30s``, ``500ms``)."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)", str(value or "")))


def _bytes(value: Any) -> Optional[int]:
    text = str(value).strip().lower()
    m = re.match(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$", text)
    if not m:
        return None
    factor = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}[m.group(2)]
    return int(float(m.group(1)) * factor)
