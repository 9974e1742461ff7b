"""The refusal policy and the rewrite, on canonical configurations (no Docker needed)."""

from __future__ import annotations

import pytest

from autograder.engine import policy
from autograder.engine.policy import Refusal, review, review_sources, rewrite

LABELS = {"org.4data.autograder.job": "ag-1"}


def svc(**kwargs) -> dict:
    return {"services": {"web": {"image": "python:3.13-slim", **kwargs}}}


def refused(config: dict, root) -> list[str]:
    return [r.where for r in review(config, root)]


@pytest.mark.parametrize("setting", [
    {"privileged": True},
    {"use_api_socket": True},
    {"provider": {"type": "model"}},
    {"network_mode": "host"}, {"network_mode": "container:other"}, {"pid": "host"}, {"ipc": "host"},
    {"uts": "host"}, {"userns_mode": "host"}, {"cgroup": "host"},
    {"cap_add": ["SYS_ADMIN"]}, {"cap_add": ["ALL"]}, {"cap_add": ["net_admin"]}, {"cap_add": ["CAP_SYS_PTRACE"]},
    {"devices": [{"source": "/dev/sda", "target": "/dev/sda", "permissions": "rwm"}]},
    {"device_cgroup_rules": ["c 1:3 mr"]},
    {"security_opt": ["seccomp:unconfined"]}, {"security_opt": ["apparmor=unconfined"]},
    {"security_opt": ["label:disable"]},
    {"runtime": "kata"}, {"cgroup_parent": "/"}, {"sysctls": {"net.ipv4.ip_forward": "1"}},
    {"oom_kill_disable": True}, {"oom_score_adj": -1000},
    {"logging": {"driver": "gelf", "options": {"gelf-address": "udp://1.2.3.4:12201"}}},
    {"external_links": ["someone_else"]}, {"volumes_from": ["container:other"]},
    {"scale": 50}, {"storage_opt": {"size": "1G"}},
    {"post_start": [{"command": ["id"], "privileged": True}]},
    {"build": {"context": ".", "privileged": True}},
    {"build": {"context": ".", "network": "host"}},
    {"build": {"context": ".", "ssh": ["default"]}},
    {"build": {"context": "https://github.com/x/y.git"}},
    {"deploy": {"resources": {"reservations": {"devices": [{"driver": "cdi", "capabilities": ["tpu"]}]}}}},
    {"something_new": 1},
], ids=lambda s: next(iter(s)) + ":" + str(next(iter(s.values())))[:20])
def test_each_dangerous_service_setting_is_refused(setting, tmp_path):
    found = review(svc(**setting), tmp_path)
    assert found, setting
    assert all(r.where.startswith("services.web.") and r.reason for r in found)


@pytest.mark.parametrize("source", ["/var/run/docker.sock", "/", "/etc", "/proc", "/home/alice", "../other"])
def test_bind_mounts_outside_the_submission_are_refused(source, tmp_path):
    root = tmp_path / "sub"
    root.mkdir()
    src = source if source.startswith("/") else str(root / source)
    found = review(svc(volumes=[{"type": "bind", "source": src, "target": "/x"}]), root)
    assert [r.where for r in found] == ["services.web.volumes[0]"]
    if "docker.sock" in source:
        assert "socket Docker" in found[0].reason


def test_paths_inside_are_accepted_but_not_through_a_symlink(tmp_path):
    root = tmp_path / "sub"
    (root / "initdb").mkdir(parents=True)
    (root / "escape").symlink_to("/etc")
    ok = svc(volumes=[{"type": "bind", "source": str(root / "initdb"), "target": "/d", "read_only": True},
                      {"type": "volume", "source": "data", "target": "/data"},
                      {"type": "tmpfs", "target": "/tmp"}],
             build={"context": str(root), "dockerfile": "Dockerfile"})
    assert review(ok, root) == []
    bad = svc(volumes=[{"type": "bind", "source": str(root / "escape"), "target": "/e"}])
    assert refused(bad, root) == ["services.web.volumes[0]"]
    assert refused(svc(build={"context": str(tmp_path)}), root) == ["services.web.build.context"]


def test_top_level_objects(tmp_path):
    cfg = {"services": {}, "volumes": {"a": {"external": True}, "b": {"driver_opts": {"type": "none", "o": "bind",
                                                                                     "device": "/etc"}},
                                       "c": {"driver_opts": {"type": "tmpfs", "device": "tmpfs"}}},
           "networks": {"n": {"external": True}, "m": {"driver": "macvlan"}},
           "secrets": {"s": {"file": "/etc/shadow"}}, "configs": {"c": {"file": str(tmp_path / "ok.conf")}}}
    assert sorted(refused(cfg, tmp_path)) == ["networks.m.driver", "networks.n.external", "secrets.s.file",
                                              "volumes.a.external", "volumes.b.driver_opts"]


def test_what_a_careful_student_writes_is_accepted(tmp_path):
    cfg = svc(cap_drop=["ALL"], cap_add=["NET_BIND_SERVICE", "chown", "CAP_SETUID"], read_only=True,
              security_opt=["no-new-privileges:true"], container_name="web", tmpfs=["/tmp"],
              ports=[{"target": 80, "published": "8080", "protocol": "tcp", "mode": "ingress"}],
              deploy={"resources": {"limits": {"memory": "268435456", "cpus": 0.5, "pids": 100},
                                    "reservations": {"devices": [{"driver": "nvidia", "count": -1,
                                                                  "capabilities": ["gpu"]}]}}},
              gpus=[{"count": -1}], runtime="nvidia", network_mode="bridge", logging={"driver": "local"},
              user="1000:1000", init=True, healthcheck={"test": ["CMD", "true"]})
    assert review(cfg, tmp_path) == []


def test_sources_outside_are_refused_before_compose_reads_them(tmp_path):
    root = tmp_path / "sub"
    root.mkdir()
    (root / "inner.yaml").write_text("services:\n  x:\n    image: a\n    env_file: /etc/hostname\n")
    (root / "compose.yaml").write_text(
        "include:\n  - inner.yaml\n  - ../elsewhere.yaml\n"
        "services:\n  web:\n    image: a\n    env_file: [../secret.env, {path: ok.env, required: false}]\n"
        "    extends: {file: /etc/base.yaml, service: b}\n")
    where = sorted(r.where for r in review_sources(root / "compose.yaml", root))
    assert where == ["include[1]", "services.web.env_file", "services.web.extends.file", "services.x.env_file"]
    (root / "compose.yaml").write_text("services:\n  web:\n    image: a\n    env_file: ${HOME}/.aws/credentials\n")
    assert [r.where for r in review_sources(root / "compose.yaml", root)] == ["services.web.env_file"]
    (root / "compose.yaml").write_text("services: [not: valid")  # compose reports YAML errors itself
    assert review_sources(root / "compose.yaml", root) == []


def test_rewrite_scopes_names_moves_ports_and_imposes_limits():
    cfg = {"services": {
        "a": {"image": "x", "mem_limit": "268435456", "container_name": "fixed",
              "networks": {"back": {"ipv4_address": "172.28.0.5"}},
              "ports": [{"target": 5432, "published": "5432", "host_ip": "0.0.0.0"}]},
        "b": {"build": {"context": "/tmp/x", "tags": ["app:1"]}, "image": "monapp:1.0", "restart": "always",
              "mem_limit": "68719476736", "pids_limit": -1,
              "deploy": {"resources": {"limits": {"memory": "68719476736"}},
                         "restart_policy": {"condition": "any"}}},
        "c": {"image": "monapp:1.0", "network_mode": "bridge", "logging": {"driver": "journald"},
              "stop_grace_period": "1h0m0s"}},
        "volumes": {"data": {"name": "pgdata"}}, "networks": {"back": {"ipam": {"config": [{"subnet": "1/8"}]}}}}
    eff, notes = rewrite(cfg, "ag-1", LABELS)
    a, b, c = (eff["services"][k] for k in "abc")
    assert "container_name" not in a and a["networks"]["back"] == {"aliases": ["fixed"]}
    assert a["ports"] == [{"target": 5432, "host_ip": "127.0.0.1"}] and "a:5432" in notes[0]
    assert a["mem_limit"] == a["memswap_limit"] == "268435456" and a["cpus"] == 1.0 and a["pids_limit"] == 512
    assert b["mem_limit"] == str(policy.MAX_MEMORY) == b["deploy"]["resources"]["limits"]["memory"]
    # compose refuses a service-level value that differs from deploy.resources.limits: every imposed
    # limit is mirrored there, also those the student left out (cpus and pids here)
    assert b["deploy"]["resources"]["limits"]["cpus"] == b["cpus"] == policy.DEFAULT_CPUS
    assert b["deploy"]["resources"]["limits"]["pids"] == b["pids_limit"]
    assert b["pids_limit"] == policy.DEFAULT_PIDS and b["restart"] == "no" and "restart_policy" not in b["deploy"]
    assert b["image"] == c["image"] == "ag-1-b:grading" and "tags" not in b["build"]
    assert b["build"]["labels"] == LABELS and b["ulimits"]["core"] == {"soft": 0, "hard": 0}
    assert "network_mode" not in c and c["networks"] == {"default": None}
    assert c["logging"] == policy.LOGGING and c["labels"] == LABELS and c["stop_grace_period"] == "10s"
    assert eff["volumes"]["data"] == {"name": "ag-1_data", "labels": LABELS}
    assert eff["networks"]["back"]["name"] == "ag-1_back" and "ipam" not in eff["networks"]["back"]
    assert eff["networks"]["default"]["driver_opts"] == policy.NO_MASQUERADE
    assert cfg["services"]["a"].get("labels") is None  # the canonical config is not modified
    eff, _ = rewrite(cfg, "ag-1", LABELS, internet=True)
    assert "driver_opts" not in eff["networks"]["back"]


def test_refusal_lines_name_the_setting_and_the_rule():
    line = Refusal("services.web.privileged", "tous les droits", "CIS 5.5").line()
    assert line == "« services.web.privileged » : tous les droits [CIS 5.5]"
    expected, observed, hint = policy.refusal_message([Refusal("x", "y")])
    assert "refuse" in observed and "« x » : y" in observed and hint


def test_rewrite_states_dockers_tmpfs_mode_where_the_file_gives_none():
    """Podman makes a tmpfs with a size but no mode 000 (unwritable for a non-root user); Docker's
    default, 1777, is written out so that every engine mounts the same. A mode given stays."""
    cfg = {"services": {"app": {"image": "x", "volumes": [
        {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 16777216}},
        {"type": "tmpfs", "target": "/run/app", "tmpfs": {"mode": 0o700}},
        {"type": "tmpfs", "target": "/cache"},
        {"type": "volume", "source": "data", "target": "/data"}]}}}
    out, _ = rewrite(cfg, "ag-x", {})
    vols = out["services"]["app"]["volumes"]
    assert vols[0]["tmpfs"] == {"mode": 0o1777, "size": 16777216}
    assert vols[1]["tmpfs"] == {"mode": 0o700}
    assert vols[2]["tmpfs"] == {"mode": 0o1777}
    assert "tmpfs" not in vols[3]
