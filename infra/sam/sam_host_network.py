"""Runs the SAM CLI with `--docker-network host` actually honoured.

SAM CLI since 1.87 no longer sets `network_mode="host"`: `--docker-network host` is accepted
and silently ignored, so the function's container stays on Docker's bridge and cannot reach a
moto server on the host's 127.0.0.1 (aws/aws-sam-cli#4236, still open; no release up to
1.170.0 offers another way: --container-host, --container-host-interface and --add-host leave
the container in the bridge's network namespace). This wrapper patches docker-py's container
creation, for the Lambda emulator's containers only: host networking, no published port, and
the emulator (RIE) told to listen on 127.0.0.1 at the host port SAM chose for it, and on a
free loopback port for its runtime API, so several function containers can share the host
network. Pass `--container-host 127.0.0.1` too: SAM's default, localhost, may resolve to ::1,
where the emulator does not listen.

The patch leans on SAM's internals. Before SAM runs, a preflight checks each thing it
assumes, and a SAM upgrade that breaks one stops here with a message naming this patch,
instead of a 20-second "Timed out" from SAM.

Usage: python sam_host_network.py <sam arguments> --docker-network host
Without `--docker-network host` it is plain `sam`.
"""

import inspect
import pathlib
import socket
import sys

PATCH = "infra/sam/sam_host_network.py (the host-network patch for `sam local`)"
EMULATOR = "/aws-lambda-rie"
RIE_PORT = "8080"
RIE_FLAGS = ("--runtime-interface-emulator-address", "--runtime-api-address")


class PatchBroken(RuntimeError):
    def __init__(self, problem):
        super().__init__(f"{PATCH} no longer applies: {problem}. Update the patch for this SAM "
                         "CLI, or pin the aws-sam-cli it was written for (1.170.0) in "
                         "infra/requirements.txt.")


def wants_host_network(args):
    pairs = zip(args, args[1:], strict=False)
    return "--docker-network=host" in args or any(
        arg == "--docker-network" and value == "host" for arg, value in pairs)


def preflight():
    """What the patch assumes of SAM CLI and docker-py, checked; returns the problems found."""
    try:
        import samcli
        from docker.models.containers import ContainerCollection
        from samcli.local.docker.container import Container
        from samcli.local.docker.lambda_container import LambdaContainer
    except ImportError as error:
        return [f"cannot import what it patches ({error})"]
    problems = []
    try:
        if "containers.create(" not in inspect.getsource(Container.create):
            problems.append("samcli's Container.create no longer calls docker-py's "
                            "containers.create")
    except (AttributeError, OSError, TypeError) as error:
        problems.append(f"cannot read samcli's Container.create ({error})")
    if list(inspect.signature(ContainerCollection.create).parameters)[:3] != [
            "self", "image", "command"]:
        problems.append("docker-py's ContainerCollection.create(self, image, command, ...) "
                        "changed")
    if getattr(Container, "RAPID_PORT_CONTAINER", None) != RIE_PORT:
        problems.append(f"the emulator's container port is no longer {RIE_PORT!r} "
                        "(Container.RAPID_PORT_CONTAINER)")
    try:
        entrypoint = LambdaContainer._get_default_entry_point()
        if not str(entrypoint[0]).endswith(EMULATOR):
            problems.append(f"the default entrypoint {entrypoint!r} does not start with "
                            f"...{EMULATOR}")
    except (AttributeError, IndexError, TypeError) as error:
        problems.append(f"cannot read the emulator's default entrypoint ({error})")
    binaries = sorted((pathlib.Path(samcli.__file__).parent / "local" / "rapid").glob(
        "aws-lambda-rie-*"))
    if not binaries:
        problems.append("no bundled emulator binaries (samcli/local/rapid/aws-lambda-rie-*)")
    for binary in binaries:
        content = binary.read_bytes()
        for flag in RIE_FLAGS:
            if f'long:"{flag[2:]}"'.encode() not in content:
                problems.append(f"{binary.name} does not take {flag}")
    return problems


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def host_network_options(options):
    """The container options for the emulator on the host network: no published ports, the
    emulator on the host port SAM published for it. Other containers' options unchanged."""
    entrypoint = options.get("entrypoint")
    if not (isinstance(entrypoint, list) and entrypoint
            and str(entrypoint[0]).endswith(EMULATOR)):
        return options
    options = dict(options)
    published = options.pop("ports", None) or {}
    binding = published.get(RIE_PORT, published.get(int(RIE_PORT)))
    if binding is None:
        raise PatchBroken(f"SAM published no port {RIE_PORT} for the emulator (ports: "
                          f"{published!r})")
    port = binding[1] if isinstance(binding, (tuple, list)) else binding
    options["network_mode"] = "host"
    options["entrypoint"] = [
        entrypoint[0],
        RIE_FLAGS[0], f"127.0.0.1:{port}",
        RIE_FLAGS[1], f"127.0.0.1:{free_port()}",
        *entrypoint[1:],
    ]
    return options


def install():
    from docker.models.containers import ContainerCollection

    create_container = ContainerCollection.create

    def create_on_host_network(self, image, command=None, **options):
        patched = host_network_options(options)
        container = create_container(self, image, command, **patched)
        if patched is not options:
            mode = container.attrs.get("HostConfig", {}).get("NetworkMode")
            if mode != "host":
                raise PatchBroken(f"the emulator's container has network mode {mode!r}")
        return container

    ContainerCollection.create = create_on_host_network


def main():
    if wants_host_network(sys.argv[1:]):
        problems = preflight()
        if problems:
            sys.exit(str(PatchBroken("; ".join(problems))))
        install()
    from samcli.cli.main import cli

    sys.exit(cli())


if __name__ == "__main__":
    main()
