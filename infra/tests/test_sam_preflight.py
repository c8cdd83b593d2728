"""The host-network patch for `sam local` (infra/sam/sam_host_network.py) against the SAM CLI
in .venv, without Docker: its preflight finds what it relies on, names what broke when SAM
changes, and the options it gives the emulator's container."""

import os
import pathlib
import subprocess
import sys

import pytest
from samcli.local.docker.container import Container
from samcli.local.docker.lambda_container import LambdaContainer

import sam_host_network as patch

WRAPPER = pathlib.Path(patch.__file__)
EMULATOR = "/var/rapid/aws-lambda-rie"


def test_the_pinned_sam_passes_the_preflight():
    assert patch.preflight() == []


def test_a_changed_container_port_is_named(monkeypatch):
    monkeypatch.setattr(Container, "RAPID_PORT_CONTAINER", "9000")
    assert any("container port" in problem for problem in patch.preflight())


def test_a_changed_entrypoint_is_named(monkeypatch):
    monkeypatch.setattr(LambdaContainer, "_get_default_entry_point",
                        staticmethod(lambda: ["/usr/bin/other-emulator"]))
    assert any("entrypoint" in problem for problem in patch.preflight())


def test_a_broken_patch_stops_sam_with_a_message_naming_it(monkeypatch, capsys):
    monkeypatch.setattr(Container, "RAPID_PORT_CONTAINER", "9000")
    monkeypatch.setattr(sys, "argv", ["sam", "local", "invoke", "--docker-network", "host"])
    with pytest.raises(SystemExit) as stopped:
        patch.main()
    assert "infra/sam/sam_host_network.py" in str(stopped.value.code)
    assert "no longer applies" in str(stopped.value.code)


def test_the_wrapper_runs_sam_with_the_patch_in_place():
    result = subprocess.run(
        [sys.executable, str(WRAPPER), "local", "invoke", "--docker-network", "host", "--help"],
        capture_output=True, text=True, env={**os.environ, "SAM_CLI_TELEMETRY": "0"})
    assert result.returncode == 0, result.stderr
    assert "--container-host" in result.stdout


def test_the_emulator_listens_on_loopback_at_the_published_port():
    options = patch.host_network_options({
        "entrypoint": [EMULATOR, "--log-level", "error"],
        "ports": {"8080": ("127.0.0.1", 5123), "5858": ("127.0.0.1", 5858)},
        "environment": {"A": "1"},
    })
    assert options["network_mode"] == "host"
    assert "ports" not in options
    assert options["environment"] == {"A": "1"}
    entrypoint = options["entrypoint"]
    # The flags right after the emulator, before its own arguments.
    assert entrypoint[:3] == [EMULATOR, "--runtime-interface-emulator-address",
                              "127.0.0.1:5123"]
    assert entrypoint[3] == "--runtime-api-address"
    assert entrypoint[4].startswith("127.0.0.1:")
    assert entrypoint[5:] == ["--log-level", "error"]


def test_an_emulator_without_port_8080_is_refused_not_guessed():
    with pytest.raises(patch.PatchBroken, match="no port 8080"):
        patch.host_network_options({"entrypoint": [EMULATOR], "ports": {"9000": ("x", 1)}})


def test_other_containers_are_left_alone():
    options = {"entrypoint": ["/bin/durable-emulator"], "ports": {"9014/tcp": 9014}}
    assert patch.host_network_options(options) is options
