"""Runs the SAM CLI with `--docker-network host` actually honoured.

SAM CLI since 1.86 no longer sets `network_mode="host"`: `--docker-network host` is accepted and
silently ignored, so the function's container stays on Docker's bridge and cannot reach a moto
server on the host's 127.0.0.1 (aws/aws-sam-cli#4236). This wrapper patches docker-py's
container creation, for the Lambda emulator's containers only: host networking, no published
port, and the emulator told to listen on the host port SAM chose for it (and on a free port for
its runtime API), so several function containers can share the host network.

Usage: python sam_host_network.py <sam arguments> --docker-network host
Without `--docker-network host` it is plain `sam`.
"""
import socket
import sys

from docker.models.containers import ContainerCollection

EMULATOR = "/aws-lambda-rie"


def wants_host_network(args):
    return "--docker-network=host" in args or any(
        arg == "--docker-network" and value == "host" for arg, value in zip(args, args[1:]))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


create_container = ContainerCollection.create


def create_on_host_network(self, image, command=None, **options):
    entrypoint = options.get("entrypoint")
    if isinstance(entrypoint, list) and entrypoint and str(entrypoint[0]).endswith(EMULATOR):
        published = options.pop("ports", None) or {}
        _address, port = published.get("8080", published.get(8080, ("127.0.0.1", 8080)))
        options["network_mode"] = "host"
        options["entrypoint"] = entrypoint + [
            "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
            "--runtime-api-address", f"127.0.0.1:{free_port()}",
        ]
    return create_container(self, image, command, **options)


if wants_host_network(sys.argv[1:]):
    ContainerCollection.create = create_on_host_network

from samcli.cli.main import cli  # noqa: E402  (after the patch, on purpose)

sys.exit(cli())
