"""The SAM side, run by `make test` beside the Rust tests: the template validates (cfn-lint
included), `sam build` makes arm64 bootstraps with cargo-lambda, and every function answers
`sam local invoke` in Docker on the same template (built for x86_64, the host's architecture),
with the receiver reaching moto on 127.0.0.1; `sam local start-api` serves `qpr-webhooks send`
over HTTP.

No registry is needed: the functions run in the image infra/sam/base-image.sh builds. Where a
registry can be reached, SAM_STOCK_IMAGE=1 runs the same tests in AWS's stock image instead
(SAM pulls public.ecr.aws/lambda/provided:al2023 itself).

The functions, the queues and which consumer reads which queue come from template.yaml
(infra/layout.py); the local stack's queues and variables from its stack.json.
"""
import base64
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
import pytest
from samcli import yamlhelper

ROOT = pathlib.Path(__file__).resolve().parents[2]
EVENTS = ROOT / "infra" / "events"
VENV_BIN = pathlib.Path(sys.executable).parent
BASE_IMAGE = os.environ.get("SAM_BASE_IMAGE", "local/lambda-provided-al2023:x86_64")
STOCK_IMAGE = os.environ.get("SAM_STOCK_IMAGE") == "1"
sys.path.insert(0, str(ROOT / "infra"))
import layout  # noqa: E402
from make_events import FIXTURE_SECRET  # noqa: E402

LAYOUT = layout.Layout.from_template()
FUNCTIONS = [function.logical_id for function in LAYOUT.functions]
# The queue the receiver routes the signed fixtures' event to.
SCANS = LAYOUT.route("scan.created")
# Each consumer and its queue's SQS fixture (every record processed), then the poison batch.
CONSUMER_CASES = [
    *((LAYOUT.function(queue.consumer).logical_id, f"sqs-{queue.name}.json", [])
      for queue in LAYOUT.queues if queue.consumer),
    (LAYOUT.function(LAYOUT.queue(SCANS).consumer).logical_id, f"sqs-{SCANS}-poison.json", [1]),
]
# Where SAM connects to the emulator: the loopback address it listens on (`localhost`, SAM's
# default, may resolve to ::1).
HOST_NETWORK = ["--docker-network", "host", "--container-host", "127.0.0.1"]

ENV = {
    **os.environ,
    "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
    "SAM_CLI_TELEMETRY": "0",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def sam(*args, check=True, env=None, **kwargs):
    """`sam ARGS` through the wrapper that makes --docker-network host work."""
    command = [sys.executable, str(ROOT / "infra" / "sam" / "sam_host_network.py"), *args]
    result = subprocess.run(command, cwd=ROOT, env=env or ENV, capture_output=True, text=True,
                            **kwargs)
    if check and result.returncode != 0:
        pytest.fail(f"sam {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def elf_machine(path):
    """e_machine of an ELF file: 183 is AArch64, 62 is x86-64."""
    header = pathlib.Path(path).read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF binary"
    return int.from_bytes(header[18:20], "little")


@pytest.fixture(scope="session")
def x86_build():
    """The application as `sam build` lays it out, with x86_64 bootstraps for this host.

    In the locally built base image (this host's glibc) the workspace's own debug binaries,
    which the Rust tests built, are the bootstraps and the template is written as `sam build`
    writes it (each function's CodeUri its directory, with SAM's own YAML helpers): each
    architecture is compiled once, SAM's build path is tested by the arm64 build, and these
    tests need not wait for it. AWS's stock image has an older glibc, so there SAM builds for
    x86_64 itself."""
    build_dir = ROOT / ".aws-sam" / "build-x86_64"
    if STOCK_IMAGE:
        sam("build", "--parameter-overrides", "Architecture=x86_64", "--build-dir",
            str(build_dir))
        return build_dir / "template.yaml"
    # The build the Rust tests use (.cargo/config.toml), a no-op after them.
    subprocess.run(["cargo", "build-workspace", "--quiet"], cwd=ROOT, check=True)
    shutil.rmtree(build_dir, ignore_errors=True)
    build_dir.mkdir(parents=True)
    template = yamlhelper.parse_yaml_file(str(ROOT / "template.yaml"))
    for function in LAYOUT.functions:
        resource = template["Resources"][function.logical_id]
        resource["Properties"]["CodeUri"] = function.logical_id
        resource.pop("Metadata", None)
        (build_dir / function.logical_id).mkdir()
        shutil.copy(ROOT / "target" / "debug" / function.binary,
                    build_dir / function.logical_id / "bootstrap")
    (build_dir / "template.yaml").write_text(yamlhelper.yaml_dump(template))
    return build_dir / "template.yaml"


@pytest.fixture(scope="session")
def host_ready():
    """qemu-user and the local base image, installed when missing (infra/sam/prepare-host.sh)."""
    subprocess.run([str(ROOT / "infra" / "sam" / "prepare-host.sh")], check=True, env=ENV)


@pytest.fixture(scope="session")
def image_args(host_ready):
    """The `sam local` arguments that choose the image the functions run in."""
    if STOCK_IMAGE:
        return []
    return ["--invoke-image", BASE_IMAGE, "--skip-pull-image"]


@pytest.fixture(scope="session")
def stack():
    """The local stack on its own port, its secret set to the one the fixtures are signed with."""
    state = pathlib.Path(tempfile.mkdtemp(prefix="sam-stack-"))
    port = free_port()
    stack_env = {**ENV, "MOTO_PORT": str(port), "STACK_STATE": str(state),
                 "WEBHOOK_SECRET": FIXTURE_SECRET}
    subprocess.run([str(ROOT / "infra" / "local-stack.sh"), "up"], check=True, env=stack_env,
                   stdout=subprocess.DEVNULL)
    description = layout.load_state(state)
    sqs = boto3.client("sqs", endpoint_url=description["endpoint"],
                       region_name=description["region"],
                       aws_access_key_id=description["access_key_id"],
                       aws_secret_access_key=description["secret_access_key"])
    yield {"endpoint": description["endpoint"], "state": state, "sqs": sqs,
           "queues": layout.queue_urls(description)}
    subprocess.run([str(ROOT / "infra" / "local-stack.sh"), "down"], env=stack_env)
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def queues(stack):
    """Empties every queue first, so each test sees only what it caused. (PurgeQueue is
    allowed once a minute per queue, so the messages are received and deleted instead.)"""
    sqs = stack["sqs"]
    for url in stack["queues"].values():
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                              VisibilityTimeout=30).get("Messages", []):
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages)])
    return stack


def local_invoke(template, image_args, stack, function, event_file):
    result = sam(
        "local", "invoke", function,
        "--template", str(template),
        "--event", str(EVENTS / event_file),
        "--env-vars", str(stack["state"] / "sam-env.json"),
        "--parameter-overrides", f"LocalEndpointUrl={stack['endpoint']} Architecture=x86_64",
        *image_args, *HOST_NETWORK,
    )
    # The function's answer is the last line on stdout; its logs go to stderr.
    answer = result.stdout.strip().splitlines()[-1]
    return json.loads(answer), result.stderr


def held(stack, queue):
    messages = stack["sqs"].receive_message(
        QueueUrl=stack["queues"][queue], MaxNumberOfMessages=10, VisibilityTimeout=0,
        MessageAttributeNames=["All"]).get("Messages", [])
    return messages


def fixture_body(event_file):
    event = json.loads((EVENTS / event_file).read_text())
    if event["isBase64Encoded"]:
        return base64.b64decode(event["body"])
    return event["body"].encode()


def test_the_template_validates_with_cfn_lint():
    result = sam("validate", "--lint")
    assert "valid SAM Template" in result.stdout + result.stderr


@pytest.fixture(scope="session")
def arm64_build():
    """`sam build` as a user runs it (arm64, cargo-lambda and zig from .venv), in SAM's debug
    build mode: what is tested is SAM's build path and the functions' behaviour, not the
    optimiser, and a debug build takes a fraction of the release build's time.

    `make test` (infra/test.sh) runs this build while the Rust tests run and passes its
    directory in SAM_ARM64_BUILD; run alone, the fixture builds."""
    if prebuilt := os.environ.get("SAM_ARM64_BUILD"):
        return pathlib.Path(prebuilt)
    build_dir = ROOT / ".aws-sam" / "build-arm64"
    sam("build", "--build-dir", str(build_dir), env={**ENV, "SAM_BUILD_MODE": "debug"})
    return build_dir


@pytest.mark.arm64
def test_sam_build_makes_an_arm64_bootstrap_of_every_function(arm64_build):
    for function in FUNCTIONS:
        bootstrap = arm64_build / function / "bootstrap"
        assert bootstrap.exists(), f"no bootstrap for {function}"
        assert elf_machine(bootstrap) == 183, f"{function} is not arm64"


def rie_binary():
    return next((VENV_BIN.parent / "lib").glob(
        "python*/site-packages/samcli/local/rapid/aws-lambda-rie-x86_64"))


@pytest.mark.arm64
def test_the_arm64_receiver_answers_a_signed_webhook_under_qemu_with_sha2_instructions(
        arm64_build, host_ready, queues, tmp_path):
    """The arm64 bootstrap (Lambda's default architecture) under qemu-user, as its own
    bootstrap of AWS's Runtime Interface Emulator: it answers a signed webhook, and the
    SHA-256 it runs is the ARMv8 SHA-2 instructions (sha2 detects them at run time)."""
    state = layout.load_state(queues["state"])
    port, api_port = free_port(), free_port()
    qemu_log = tmp_path / "qemu-in-asm.log"
    env = {**state["functions"]["receiver"], "PATH": os.environ["PATH"],
           "AWS_LAMBDA_FUNCTION_TIMEOUT": "60", "AWS_LAMBDA_LOG_FORMAT": "json",
           "QEMU_LD_PREFIX": "/usr/aarch64-linux-gnu",
           # Each block of guest code qemu translates (so runs), disassembled.
           "QEMU_LOG": "in_asm", "QEMU_LOG_FILENAME": str(qemu_log)}
    emulator = subprocess.Popen(
        [str(rie_binary()), "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
         "--runtime-api-address", f"127.0.0.1:{api_port}",
         "/usr/bin/qemu-aarch64-static", str(arm64_build / "Receiver" / "bootstrap")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert time.monotonic() < deadline, "the emulator did not start"
            time.sleep(0.2)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations",
            data=(EVENTS / "apigw-v2-signed.json").read_bytes(), method="POST")
        answer = json.loads(urllib.request.urlopen(request, timeout=120).read())
        assert answer["statusCode"] == 200, answer
        messages = held(queues, "scans")
        assert [m["Body"].encode() for m in messages] == [fixture_body("apigw-v2-signed.json")]
        executed = qemu_log.read_text(errors="replace")
        assert "sha256h" in executed, "no SHA-2 instruction ran"
    finally:
        emulator.terminate()
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()


@pytest.mark.parametrize("event_file", [
    "apigw-v1-signed.json", "apigw-v2-signed.json",
    "apigw-v1-base64.json", "apigw-v2-base64.json",
])
def test_the_receiver_queues_a_signed_event_byte_for_byte(x86_build, image_args, queues,
                                                         event_file):
    answer, logs = local_invoke(x86_build, image_args, queues, "Receiver", event_file)
    assert answer["statusCode"] == 200, (answer, logs)
    assert json.loads(answer["body"])["status"] == "queued"
    messages = held(queues, SCANS)
    assert [m["Body"].encode() for m in messages] == [fixture_body(event_file)]
    assert messages[0]["MessageAttributes"]["event_type"]["StringValue"] == "scan.created"


@pytest.mark.parametrize("event_file", ["apigw-v1-tampered.json", "apigw-v2-tampered.json"])
def test_the_receiver_refuses_a_tampered_event(x86_build, image_args, queues, event_file):
    answer, logs = local_invoke(x86_build, image_args, queues, "Receiver", event_file)
    assert answer["statusCode"] == 400, (answer, logs)
    assert json.loads(answer["body"]) == {"error": "invalid signature"}
    for queue in queues["queues"]:
        assert held(queues, queue) == [], queue


@pytest.mark.parametrize("function,event_file,failed", CONSUMER_CASES)
def test_each_consumer_reports_exactly_its_failed_records(x86_build, image_args, stack, function,
                                                          event_file, failed):
    answer, logs = local_invoke(x86_build, image_args, stack, function, event_file)
    records = json.loads((EVENTS / event_file).read_text())["Records"]
    expected = [{"itemIdentifier": records[index]["messageId"]} for index in failed]
    assert answer == {"batchItemFailures": expected}, logs
    assert '"_aws"' in logs, "the consumer printed its EMF metrics"


def test_start_api_serves_the_sender_over_http(x86_build, image_args, queues):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "infra" / "sam" / "sam_host_network.py"),
         "local", "start-api", "--port", str(port), "--host", "127.0.0.1",
         "--template", str(x86_build),
         "--env-vars", str(queues["state"] / "sam-env.json"),
         "--parameter-overrides", f"LocalEndpointUrl={queues['endpoint']} Architecture=x86_64",
         *image_args, *HOST_NETWORK],
        cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            except urllib.error.HTTPError:
                break  # an answer (403: no such route) means it is serving
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "sam local start-api did not start"
                time.sleep(0.5)
        url = f"http://127.0.0.1:{port}/webhooks/3qpr"
        # The operator tool's `send`, from the build the x86_64 bootstraps come from.
        tool = ROOT / "target" / "debug" / "qpr-webhooks"
        send = [str(tool), "send", "--url", url, "--secret", FIXTURE_SECRET]
        # Not check=True: `send` exits non-zero on an unexpected status, which the asserts show.
        signed = subprocess.run(send, capture_output=True, text=True, check=False).stdout
        tampered = subprocess.run([*send, "--signing", "tampered"], capture_output=True,
                                  text=True, check=False).stdout
        assert "-> 200" in signed, signed
        assert "-> 400" in tampered, tampered
        assert len(held(queues, SCANS)) == 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
