"""infra/layout.py: the local layout derived from template.yaml, and the local stack built from
it (`infra/local-stack.sh up` on a moto server of its own)."""

import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import tempfile

import boto3
import pytest
from botocore.config import Config

import layout

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_queues_routes_and_consumers_come_from_the_template():
    stack = layout.Layout.from_template()
    assert [(q.logical_id, q.name, q.dead_letter_logical_id, q.dead_letter_name, q.consumer)
            for q in stack.queues] == [
        ("ScansQueue", "scans", "ScansDeadLetterQueue", "scans-dlq", "scans-consumer"),
        ("ConversationsQueue", "conversations", "ConversationsDeadLetterQueue",
         "conversations-dlq", "conversations-consumer"),
        ("AccountQueue", "account", "AccountDeadLetterQueue", "account-dlq", "account-consumer"),
        ("UnroutedQueue", "unrouted", "UnroutedDeadLetterQueue", "unrouted-dlq", None),
    ]
    assert stack.routes == {"scan.*": "scans", "conversation.*": "conversations",
                            "qpr_code.*": "account", "subscription.*": "account",
                            "*": "unrouted"}
    assert [(f.logical_id, f.binary, f.queue) for f in stack.functions] == [
        ("Receiver", "receiver", None),
        ("ScansConsumer", "scans-consumer", "ScansQueue"),
        ("ConversationsConsumer", "conversations-consumer", "ConversationsQueue"),
        ("AccountConsumer", "account-consumer", "AccountQueue"),
    ]
    assert stack.secret_logical_id() == "WebhookSecret"


def test_an_event_type_goes_where_the_receiver_sends_it():
    stack = layout.Layout.from_template()
    stack.routes = {"subscription.*": "a", "subscription.upgraded": "b",
                    "subscription.plan.*": "c", "*": "d"}
    assert stack.route("subscription.upgraded") == "b"  # the exact type first
    assert stack.route("subscription.plan.changed") == "c"  # then the longest family
    assert stack.route("subscription.cancelled") == "a"
    assert stack.route("subscriptions.x") == "d"  # `subscription.*` is not a prefix of it
    assert stack.route("scan.created") == "d"


def test_names_follow_the_logical_ids():
    assert layout.kebab("Scans") == "scans"
    assert layout.kebab("QprCodes") == "qpr-codes"
    assert layout.kebab("ScansConsumer") == "scans-consumer"


SHORT_FORMS = """
A: !Ref Param
B: !GetAtt Queue.Arn
C: !GetAtt [Queue, QueueName]
D: !Sub "${Param}-${Queue.Arn}-${!Literal}-${AWS::Region}"
E: !Sub ["${x}/${Param}", {x: !Ref Queue}]
F: !If [HasParam, !Ref Param, !Ref AWS::NoValue]
G: !If [Never, !Ref Param, !Ref AWS::NoValue]
H: !Join [",", [a, !Ref Param]]
I: !Select [1, [a, b]]
"""


def test_the_resolver_understands_the_short_forms():
    template = {
        "Parameters": {"Param": {"Type": "String", "Default": "p"}},
        "Conditions": {
            "HasParam": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Param"}, ""]}]},
            "Never": {"Fn::And": [{"Condition": "HasParam"}, {"Fn::Equals": ["1", "2"]}]},
        },
    }
    document = layout.yaml.load(SHORT_FORMS, Loader=layout.TemplateLoader)  # noqa: S506
    assert document["B"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert document["C"] == {"Fn::GetAtt": ["Queue", "QueueName"]}
    resolver = layout.Resolver(template, {}, {"Queue": {"Ref": "url", "Arn": "arn",
                                                        "QueueName": "q"}})
    assert resolver.resolve(document) == {
        "A": "p", "B": "arn", "C": "q", "D": "p-arn-${Literal}-us-east-1", "E": "url/p",
        "F": "p", "H": "a,p", "I": "b",
    }
    assert layout.Resolver(template, {"Param": ""}).condition("HasParam") is False


def test_what_the_resolver_does_not_know_is_an_error():
    resolver = layout.Resolver({"Parameters": {}})
    with pytest.raises(layout.LayoutError, match="Nothing.Arn"):
        resolver.resolve({"Fn::GetAtt": ["Nothing", "Arn"]})
    with pytest.raises(layout.LayoutError, match="Fn::ImportValue"):
        resolver.resolve({"Fn::ImportValue": "x"})
    with pytest.raises(layout.LayoutError, match="no such parameter"):
        layout.Resolver({"Parameters": {}}, {"Typo": "1"})


def test_the_secret_bucket_and_table_are_found_by_type():
    stack = layout.Layout.from_template()
    assert (stack.secret_logical_id(), stack.bucket_logical_id(), stack.table_logical_id()) == (
        "WebhookSecret", "PayloadBucket", "IdempotencyTable")
    stack.template = {"Resources": {"A": {"Type": "AWS::S3::Bucket"},
                                    "B": {"Type": "AWS::S3::Bucket"}}}
    with pytest.raises(layout.LayoutError, match="expected one AWS::S3::Bucket"):
        stack.bucket_logical_id()
    with pytest.raises(layout.LayoutError, match="expected one AWS::DynamoDB::Table"):
        stack.table_logical_id()


def test_no_local_endpoint_means_no_aws_endpoint_url():
    stack = layout.Layout.from_template()
    physical = {stack.secret_logical_id(): {"Ref": "s"}, "PayloadBucket": {"Ref": "b"},
                "IdempotencyTable": {"Ref": "t"},
                **{q.logical_id: {"Ref": q.name} for q in stack.queues}}
    local = stack.resolver({"LocalEndpointUrl": "http://127.0.0.1:1"}, physical)
    for function in stack.functions:  # the consumers too: they reach S3 and DynamoDB
        environment = stack.environment(function, stack.resolver({}, physical))
        assert "AWS_ENDPOINT_URL" not in environment, function.binary
        assert stack.environment(function, local)["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"


# ---- the local stack, on moto ---------------------------------------------------------------


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def local_stack():
    state = pathlib.Path(tempfile.mkdtemp(prefix="layout-stack-"))
    env = {**os.environ, "MOTO_PORT": str(free_port()), "STACK_STATE": str(state),
           "MAX_RECEIVE_COUNT": "3", "VISIBILITY_TIMEOUT": "7",
           "WEBHOOK_SECRET": "whsec_LayoutTestSecret"}
    script = ROOT / "infra" / "local-stack.sh"
    try:
        subprocess.run([str(script), "up"], check=True, env=env, stdout=subprocess.DEVNULL)
        yield state, env
    finally:
        subprocess.run([str(script), "down"], env=env, check=False)


def test_stack_json_describes_the_stack(local_stack):
    state, _ = local_stack
    description = layout.load_state(state)
    endpoint = description["endpoint"]
    assert list(description) == ["endpoint", "region", "access_key_id", "secret_access_key",
                                 "secret", "bucket", "table", "routes", "queues", "functions"]
    assert (description["bucket"], description["table"]) == (
        "3qpr-webhooks-payloads", "3qpr-webhooks-idempotency")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", endpoint)
    assert description["secret"] == {"id": "3qpr/webhook-secret",
                                     "value": "whsec_LayoutTestSecret"}
    assert description["routes"] == layout.Layout.from_template().routes
    assert [(q["name"], q["dead_letter"]["name"], q["max_receive_count"], q["consumer"])
            for q in description["queues"]] == [
        ("scans", "scans-dlq", 3, "scans-consumer"),
        ("conversations", "conversations-dlq", 3, "conversations-consumer"),
        ("account", "account-dlq", 3, "account-consumer"),
        ("unrouted", "unrouted-dlq", 3, None),
    ]
    urls = layout.queue_urls(description)
    receiver = description["functions"]["receiver"]
    assert json.loads(receiver["EVENT_ROUTES"]) == {
        key: urls[queue] for key, queue in description["routes"].items()}
    assert receiver["WEBHOOK_SECRET_ID"] == "3qpr/webhook-secret"
    aws = {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    assert set(description["functions"]) == {
        "receiver", "scans-consumer", "conversations-consumer", "account-consumer"}
    for binary, variables in description["functions"].items():
        assert aws.items() <= variables.items(), binary
    assert description["functions"]["scans-consumer"]["METRICS_NAMESPACE"] == "3QPR/Webhooks"
    assert receiver["PAYLOAD_BUCKET"] == description["bucket"]
    assert receiver["ARCHIVE_ENABLED"] == "true"
    for queue in description["queues"]:
        if queue["consumer"]:
            consumer = description["functions"][queue["consumer"]]
            assert consumer["IDEMPOTENCY_TABLE"] == description["table"]
            assert consumer["IDEMPOTENCY_NAMESPACE"] == queue["consumer"]
            assert consumer["IDEMPOTENCY_TTL_SECONDS"] == "604800"


def test_the_queues_on_moto_are_the_templates(local_stack):
    state, _ = local_stack
    description = layout.load_state(state)
    sqs = boto3.client("sqs", endpoint_url=description["endpoint"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    secrets = boto3.client("secretsmanager", endpoint_url=description["endpoint"],
                           region_name="us-east-1", aws_access_key_id="testing",
                           aws_secret_access_key="testing")
    assert secrets.get_secret_value(SecretId="3qpr/webhook-secret")[
        "SecretString"] == "whsec_LayoutTestSecret"
    retention = {"scans": "345600", "unrouted": "1209600"}
    for queue in description["queues"]:
        attributes = sqs.get_queue_attributes(QueueUrl=queue["url"], AttributeNames=["All"])[
            "Attributes"]
        assert attributes["QueueArn"] == queue["arn"]
        assert attributes["VisibilityTimeout"] == "7"  # VISIBILITY_TIMEOUT
        assert json.loads(attributes["RedrivePolicy"]) == {
            "deadLetterTargetArn": queue["dead_letter"]["arn"], "maxReceiveCount": 3}
        if queue["name"] in retention:
            assert attributes["MessageRetentionPeriod"] == retention[queue["name"]]
        dead_letter = sqs.get_queue_attributes(QueueUrl=queue["dead_letter"]["url"],
                                               AttributeNames=["All"])["Attributes"]
        assert dead_letter["MessageRetentionPeriod"] == "1209600"
        assert dead_letter["QueueArn"] == queue["dead_letter"]["arn"]


def client(description, service):
    config = Config(s3={"addressing_style": "path"}) if service == "s3" else None
    return boto3.client(service, endpoint_url=description["endpoint"], region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=config)


def test_the_bucket_and_the_table_on_moto_are_the_templates(local_stack):
    state, _ = local_stack
    description = layout.load_state(state)
    s3 = client(description, "s3")
    # Path-style, as the functions must reach it (moto at an IP address has no subdomains).
    key = "payloads/scans/r-1"
    s3.put_object(Bucket=description["bucket"], Key=key, Body=b"\x00body\xff")
    assert s3.get_object(Bucket=description["bucket"], Key=key)["Body"].read() == b"\x00body\xff"
    dynamodb = client(description, "dynamodb")
    table = dynamodb.describe_table(TableName=description["table"])["Table"]
    template = layout.load_template()["Resources"]["IdempotencyTable"]["Properties"]
    assert table["KeySchema"] == template["KeySchema"] == [{"AttributeName": "id",
                                                           "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == template["AttributeDefinitions"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = dynamodb.describe_time_to_live(TableName=description["table"])[
        "TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expiration")
    # The claim-check prefix the receiver writes is the queue URL's last segment, which the
    # consumers' IAM names as QueueName: locally, as in AWS, they are the same.
    for queue in description["queues"]:
        assert queue["url"].rsplit("/", 1)[1] == queue["name"]


def test_stack_parameters_reach_the_functions_environment(tmp_path):
    env = {**os.environ, "MOTO_PORT": str(free_port()), "STACK_STATE": str(tmp_path / "s"),
           "STACK_PARAMETERS": "Archive=false Idempotency=false IdempotencyTtlSeconds=3600"}
    script = ROOT / "infra" / "local-stack.sh"
    try:
        subprocess.run([str(script), "up"], check=True, env=env, stdout=subprocess.DEVNULL)
        functions = layout.load_state(tmp_path / "s")["functions"]
    finally:
        subprocess.run([str(script), "down"], env=env, check=False)
    assert functions["receiver"]["ARCHIVE_ENABLED"] == "false"
    assert "PAYLOAD_BUCKET" in functions["receiver"]  # the claim-check still needs it
    assert "IDEMPOTENCY_TABLE" not in functions["scans-consumer"]
    assert functions["scans-consumer"]["IDEMPOTENCY_TTL_SECONDS"] == "3600"

    env["STACK_PARAMETERS"] = "Archiv=false"
    try:
        failed = subprocess.run([str(script), "up"], env=env, capture_output=True, text=True,
                                check=False)
    finally:
        subprocess.run([str(script), "down"], env=env, check=False)
    assert failed.returncode != 0
    assert "STACK_PARAMETERS: no such parameter in the template: Archiv" in failed.stderr


def test_receiver_env_and_sam_env_are_written_from_stack_json(local_stack):
    state, _ = local_stack
    description = layout.load_state(state)
    lines = (state / "receiver.env").read_text().splitlines()
    assert all(re.fullmatch(r"[A-Z_]+='[^'\n]*'", line) for line in lines), lines
    env = dict(line.split("=", 1) for line in lines)
    env = {key: value[1:-1] for key, value in env.items()}
    # What the Rust test kit and the demo read.
    for key in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                "WEBHOOK_SECRET_ID", "EVENT_ROUTES", "WEBHOOK_SECRET", "QUEUE_URLS"):
        assert key in env, key
    # Every function's variables, but those each function sets to its own value.
    assert "IDEMPOTENCY_NAMESPACE" not in env
    for variables in description["functions"].values():
        shared = {k: v for k, v in variables.items() if k != "IDEMPOTENCY_NAMESPACE"}
        assert shared.items() <= env.items()
    assert (env["PAYLOAD_BUCKET"], env["IDEMPOTENCY_TABLE"]) == (
        description["bucket"], description["table"])
    assert env["WEBHOOK_SECRET"] == description["secret"]["value"]
    assert json.loads(env["QUEUE_URLS"]) == layout.queue_urls(description)

    sam_env = json.loads((state / "sam-env.json").read_text())
    stack = layout.Layout.from_template()
    assert list(sam_env) == [function.logical_id for function in stack.functions]
    for function in stack.functions:
        declared = sam_env[function.logical_id]
        assert set(declared) <= set(function.environment), function.logical_id
        assert declared.items() <= description["functions"][function.binary].items()
    assert sam_env["Receiver"]["AWS_ENDPOINT_URL"] == description["endpoint"]


def test_messages_lists_every_queue(local_stack):
    _, env = local_stack
    result = subprocess.run([str(ROOT / "infra" / "local-stack.sh"), "messages"], env=env,
                            check=True, capture_output=True, text=True)
    names = [line.split(":")[0].removeprefix("queue ") for line in result.stdout.splitlines()]
    assert names == ["scans", "scans-dlq", "conversations", "conversations-dlq", "account",
                     "account-dlq", "unrouted", "unrouted-dlq"]


def test_shell_scripts_read_stack_json_through_the_layout_cli(local_stack):
    state, _ = local_stack
    description = layout.load_state(state)

    def cli(*args):
        return subprocess.run([sys.executable, str(ROOT / "infra" / "layout.py"), *args],
                              check=True, capture_output=True, text=True).stdout

    assert cli("value", str(state), "secret.value") == "whsec_LayoutTestSecret\n"
    assert cli("value", str(state), "queues.0.dead_letter.name") == "scans-dlq\n"
    assert json.loads(cli("value", str(state), "routes")) == description["routes"]
    assert cli("consumers", str(state)).splitlines() == [
        f"{q['url']}={q['consumer']}" for q in description["queues"] if q["consumer"]]
