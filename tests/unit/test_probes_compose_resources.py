"""A Compose service's declared resources (autograder.probes.compose_resources), read without Docker."""

from __future__ import annotations

from autograder.probes.compose_resources import declared_limits, device_requests, gpu_problem, shown_cpus, shown_memory


def test_declared_limits_from_deploy_or_service_keys():
    deploy = {"deploy": {"resources": {"limits": {"memory": "268435456", "cpus": "0.5", "pids": 64}}}}
    assert declared_limits(deploy) == {"memory": 256 * 1024**2, "nano_cpus": 500_000_000, "pids": 64,
                                       "reserved_memory": None}
    legacy = {"mem_limit": "256m", "cpus": 0.5, "pids_limit": 64}
    assert declared_limits(legacy)["memory"] == 256 * 1024**2


def test_a_reservation_is_not_a_limit_and_unlimited_pids_are_none():
    found = declared_limits({"deploy": {"resources": {"reservations": {"memory": "256M"}}}, "pids_limit": -1})
    assert found == {"memory": None, "nano_cpus": None, "pids": None, "reserved_memory": 256 * 1024**2}


def test_shown_sizes_in_french():
    assert shown_memory(256 * 1024**2) == "256 Mio" and shown_memory(2 * 1024**3) == "2 Gio"
    assert shown_memory(None) == "aucune" and shown_cpus(500_000_000) == "0.5" and shown_cpus(0) == "aucune"


def test_device_requests_from_reservations_and_gpus_key():
    svc = {"deploy": {"resources": {"reservations": {"devices": [
        {"driver": "nvidia", "count": "all", "capabilities": [["gpu"]]}]}}},
           "gpus": [{"device_ids": ["0"]}]}
    assert device_requests(svc) == [
        {"Driver": "nvidia", "Count": -1, "DeviceIDs": [], "Capabilities": [["gpu"]]},
        {"Driver": "", "Count": -1, "DeviceIDs": ["0"], "Capabilities": [["gpu"]]}]
    assert device_requests({"image": "debian:trixie-slim"}) == []


def test_gpu_problem_says_why_no_nvidia_gpu_is_reserved():
    assert gpu_problem([{"Driver": "nvidia", "Count": 1, "Capabilities": [["gpu"]]}]) == ""
    assert "vide" in gpu_problem([])
    assert "driver=amd" in gpu_problem([{"Driver": "amd", "Count": 1, "Capabilities": [["gpu"]]}])
    assert gpu_problem([{"Driver": "nvidia", "Count": 0, "DeviceIDs": [], "Capabilities": [["gpu"]]}])
