#!/usr/bin/env python3
"""Creates and inspects the receiver's AWS resources on a local moto server, as template.yaml
declares them (infra/layout.py reads it).

    local_stack.py create   --endpoint URL --state-dir DIR [--secret-name NAME]
    local_stack.py messages --state-dir DIR

`create` makes the signing secret, the payload bucket (S3, reached path-style: moto serves
it at the same endpoint), the idempotency table (DynamoDB, with the template's key schema and
TTL attribute) and every queue of the template with its dead-letter queue, then writes into DIR:
- stack.json: the description every other tool reads (layout.load_state): endpoint, region,
  credentials, the secret, the bucket's and the table's names, the routes, the queues and
  each function's environment;
- receiver.env: every function's variables in one dotenv file, for `cargo lambda watch
  --env-file` (plus WEBHOOK_SECRET and QUEUE_URLS, for the sender and the Rust test kit),
  except those each function sets to its own value (IDEMPOTENCY_NAMESPACE), which one file
  cannot hold: stack.json and sam-env.json have them;
- sam-env.json: per function of the template, its variables pointing at moto, for
  `sam local --env-vars`.
`messages` prints what each queue holds, leaving it there. SQS has no peek: each look is a
receive and counts towards the queue's maxReceiveCount.

Knobs (environment): WEBHOOK_SECRET (default: a random whsec_ value), MAX_RECEIVE_COUNT (the
template's MaxReceiveCount), VISIBILITY_TIMEOUT (the queues' own, from the template),
STACK_PARAMETERS (template parameters for the functions' environment, as `Key=Value` pairs
separated by spaces, e.g. "Archive=false Idempotency=false").
"""

import argparse
import json
import os
import pathlib
import secrets
import sys
import time
import urllib.request

import boto3
from botocore.config import Config

import layout

REGION = "us-east-1"
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
BUCKET = "3qpr-webhooks-payloads"
TABLE = "3qpr-webhooks-idempotency"
# Variables each function sets to a value of its own: not in receiver.env (see write_env_file).
PER_FUNCTION = ("IDEMPOTENCY_NAMESPACE",)
# CreateQueue attributes that the template's queue properties may set (same names).
QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds",
                    "MaximumMessageSize", "ReceiveMessageWaitTimeSeconds", "FifoQueue",
                    "ContentBasedDeduplication", "SqsManagedSseEnabled")


def client(endpoint, service):
    session = boto3.session.Session(aws_access_key_id=ACCESS_KEY_ID,
                                    aws_secret_access_key=SECRET_ACCESS_KEY, region_name=REGION)
    # Path-style S3 (http://127.0.0.1:PORT/BUCKET/KEY): a bucket can't be a subdomain of an IP.
    config = Config(s3={"addressing_style": "path"}) if service == "s3" else None
    return session.client(service, endpoint_url=endpoint, config=config)


def wait_until_up(endpoint, seconds=60):
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"moto did not answer on {endpoint} within {seconds} s")
            time.sleep(0.2)


def queue_attributes(properties, resolver):
    resolved = resolver.resolve(properties)
    return {key: layout.cfn_string(resolved[key]) for key in QUEUE_ATTRIBUTES if key in resolved}


def create_queue(sqs, name, attributes):
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    return {"name": name, "url": url, "arn": arn}


def stack_parameters(text):
    """STACK_PARAMETERS: "Key=Value Key=Value" -> {Key: Value}."""
    parameters = {}
    for pair in text.split():
        key, equals, value = pair.partition("=")
        if not equals or not key:
            sys.exit(f"STACK_PARAMETERS: {pair!r} is not Key=Value")
        parameters[key] = value
    return parameters


def create_table(dynamodb, name, properties):
    """The table with the template's key schema, billing mode and TTL attribute."""
    dynamodb.create_table(TableName=name, KeySchema=properties["KeySchema"],
                          AttributeDefinitions=properties["AttributeDefinitions"],
                          BillingMode=properties.get("BillingMode", "PAY_PER_REQUEST"))
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "AttributeName": ttl["AttributeName"],
            "Enabled": layout.cfn_string(ttl["Enabled"]) == "true"})
    return dynamodb.describe_table(TableName=name)["Table"]["TableArn"]


def create(args):
    wait_until_up(args.endpoint)
    sqs = client(args.endpoint, "sqs")
    stack = layout.Layout.from_template()
    parameters = stack_parameters(os.environ.get("STACK_PARAMETERS", ""))
    parameters["LocalEndpointUrl"] = args.endpoint
    if os.environ.get("MAX_RECEIVE_COUNT"):
        parameters["MaxReceiveCount"] = os.environ["MAX_RECEIVE_COUNT"]
    physical = {stack.secret_logical_id(): {"Ref": args.secret_name}}
    try:
        resolver = stack.resolver(parameters, physical, REGION)
    except layout.LayoutError as error:
        sys.exit(f"STACK_PARAMETERS: {error}")

    secret_value = os.environ.get("WEBHOOK_SECRET") or "whsec_" + secrets.token_urlsafe(24)
    client(args.endpoint, "secretsmanager").create_secret(Name=args.secret_name,
                                                          SecretString=secret_value)
    client(args.endpoint, "s3").create_bucket(Bucket=args.bucket_name)
    physical[stack.bucket_logical_id()] = {"Ref": args.bucket_name,
                                           "Arn": f"arn:aws:s3:::{args.bucket_name}"}
    table = stack.table_logical_id()
    table_arn = create_table(client(args.endpoint, "dynamodb"), args.table_name,
                             resolver.resolve(stack.properties(table)))
    physical[table] = {"Ref": args.table_name, "Arn": table_arn}

    queues = []
    for queue in stack.queues:
        suffix = ".fifo" if queue.fifo else ""
        dead_letter = create_queue(sqs, queue.dead_letter_name + suffix,
                                   queue_attributes(queue.dead_letter_properties, resolver))
        physical[queue.dead_letter_logical_id] = {
            "Ref": dead_letter["url"], "Arn": dead_letter["arn"],
            "QueueName": dead_letter["name"], "QueueUrl": dead_letter["url"]}
        attributes = queue_attributes(queue.properties, resolver)
        if os.environ.get("VISIBILITY_TIMEOUT"):
            attributes["VisibilityTimeout"] = os.environ["VISIBILITY_TIMEOUT"]
        redrive = resolver.resolve(queue.properties["RedrivePolicy"])
        max_receive_count = int(redrive["maxReceiveCount"])
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": redrive["deadLetterTargetArn"],
             "maxReceiveCount": max_receive_count})
        created = create_queue(sqs, queue.name + suffix, attributes)
        physical[queue.logical_id] = {"Ref": created["url"], "Arn": created["arn"],
                                      "QueueName": created["name"], "QueueUrl": created["url"]}
        queues.append({**created, "dead_letter": dead_letter,
                       "max_receive_count": max_receive_count, "consumer": queue.consumer})

    aws = {"AWS_ENDPOINT_URL": args.endpoint, "AWS_REGION": REGION,
           "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}
    declared = {function.logical_id: stack.environment(function, resolver)
                for function in stack.functions}
    state = {
        "endpoint": args.endpoint,
        "region": REGION,
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": SECRET_ACCESS_KEY,
        "secret": {"id": args.secret_name, "value": secret_value},
        "bucket": args.bucket_name,
        "table": args.table_name,
        "routes": stack.routes,
        "queues": queues,
        "functions": {function.binary: {**declared[function.logical_id], **aws}
                      for function in stack.functions},
    }
    state_dir = pathlib.Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / layout.STACK_FILE).write_text(json.dumps(state, indent=2) + "\n")
    write_env_file(state, state_dir / "receiver.env")
    (state_dir / "sam-env.json").write_text(json.dumps(declared, indent=2) + "\n")
    print(f"local stack on {args.endpoint}: secret {args.secret_name}, bucket "
          f"{args.bucket_name}, table {args.table_name}, queues "
          f"{', '.join(layout.queue_urls(state))}")


def write_env_file(state, path):
    """One dotenv file for all the functions (cargo lambda watch runs them all with it): the
    AWS settings, then every function's variables. A variable two functions set differently
    cannot be in it: those of PER_FUNCTION are left out (each function then uses its own
    default), any other is an error."""
    env = {"AWS_ENDPOINT_URL": state["endpoint"], "AWS_REGION": state["region"],
           "AWS_ACCESS_KEY_ID": state["access_key_id"],
           "AWS_SECRET_ACCESS_KEY": state["secret_access_key"]}
    for binary, variables in state["functions"].items():
        for key, value in variables.items():
            if key in PER_FUNCTION:
                continue
            if env.setdefault(key, value) != value:
                sys.exit(f"{key} differs between the functions ({binary}): receiver.env can't "
                         "hold both")
    # For the sender and the Rust test kit: the secret's value (the receiver reads it from
    # Secrets Manager) and every queue's URL by name.
    env["WEBHOOK_SECRET"] = state["secret"]["value"]
    env["QUEUE_URLS"] = json.dumps(layout.queue_urls(state), separators=(",", ":"))
    # Single-quoted: both `set -a; . FILE` and dotenv readers (cargo lambda --env-file) take
    # the JSON values literally.
    for key, value in env.items():
        if "'" in value or "\n" in value:
            sys.exit(f"{key}: a quote or a newline can't go in receiver.env")
    path.write_text("".join(f"{key}='{value}'\n" for key, value in env.items()))


def messages(args):
    state = layout.load_state(args.state_dir)
    sqs = client(state["endpoint"], "sqs")
    for name, url in layout.queue_urls(state).items():
        held = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                   MessageAttributeNames=["All"]).get("Messages", [])
        print(f"queue {name}: {len(held)} message(s)")
        for message in held:
            attributes = {key: value.get("StringValue")
                          for key, value in message.get("MessageAttributes", {}).items()}
            print(f"  {attributes.get('event_type')} {attributes.get('event_id')} "
                  f"received_at={attributes.get('received_at')} "
                  f"body={len(message['Body'].encode())} bytes")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    create_parser = commands.add_parser("create")
    create_parser.add_argument("--endpoint", required=True)
    create_parser.add_argument("--state-dir", required=True)
    create_parser.add_argument("--secret-name", default="3qpr/webhook-secret")
    create_parser.add_argument("--bucket-name", default=BUCKET)
    create_parser.add_argument("--table-name", default=TABLE)
    messages_parser = commands.add_parser("messages")
    messages_parser.add_argument("--state-dir", required=True)
    args = parser.parse_args()
    {"create": create, "messages": messages}[args.command](args)


if __name__ == "__main__":
    main()
