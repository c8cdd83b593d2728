#!/usr/bin/env python3
"""Creates and inspects the receiver's AWS resources on a local moto server.

    local_stack.py create   --endpoint URL --env-file PATH [--secret-name NAME]
    local_stack.py messages --env-file PATH

`create` makes the signing secret and the queues of the design (scans, conversations, account,
unrouted, each with a dead-letter queue), then writes the receiver's environment to PATH and,
beside it, sam-env.json for `sam local --env-vars`.
`messages` prints what each queue holds, leaving it there. SQS has no peek: each look is a
receive and counts towards the queue's maxReceiveCount.
"""
import argparse
import json
import os
import secrets
import sys
import time
import urllib.request

import boto3

REGION = "us-east-1"
# Families of events, each with its own queue; `*` (unknown types) goes to `unrouted`.
ROUTES = {
    "scan.*": "scans",
    "conversation.*": "conversations",
    "qpr_code.*": "account",
    "subscription.*": "account",
    "*": "unrouted",
}
QUEUES = ["scans", "conversations", "account", "unrouted"]
MAX_RECEIVE_COUNT = int(os.environ.get("MAX_RECEIVE_COUNT", "5"))
# At least 6x the consumers' 30 s timeout, as AWS advises for SQS event sources.
VISIBILITY_TIMEOUT = int(os.environ.get("VISIBILITY_TIMEOUT", "180"))
FOURTEEN_DAYS = str(14 * 24 * 3600)


def clients(endpoint):
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    return (session.client("sqs", endpoint_url=endpoint),
            session.client("secretsmanager", endpoint_url=endpoint))


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


def create(args):
    wait_until_up(args.endpoint)
    sqs, secretsmanager = clients(args.endpoint)
    secret_value = os.environ.get("WEBHOOK_SECRET") or "whsec_" + secrets.token_urlsafe(24)
    secretsmanager.create_secret(Name=args.secret_name, SecretString=secret_value)

    # As template.yaml declares them: 14 days in a DLQ (and in unrouted, which waits for an
    # operator), redrive after MAX_RECEIVE_COUNT receives.
    urls = {}
    for name in QUEUES:
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq", Attributes={
            "MessageRetentionPeriod": FOURTEEN_DAYS})["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        attributes = {
            "VisibilityTimeout": str(VISIBILITY_TIMEOUT),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        }
        if name == "unrouted":
            attributes["MessageRetentionPeriod"] = FOURTEEN_DAYS
        urls[name] = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        urls[f"{name}-dlq"] = dlq_url

    routes = {key: urls[queue] for key, queue in ROUTES.items()}
    env = {
        "AWS_ENDPOINT_URL": args.endpoint,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "WEBHOOK_SECRET_ID": args.secret_name,
        "EVENT_ROUTES": json.dumps(routes, separators=(",", ":")),
        # For the sender only: the receiver reads the secret from Secrets Manager.
        "WEBHOOK_SECRET": secret_value,
        "QUEUE_URLS": json.dumps(urls, separators=(",", ":")),
    }
    # Single-quoted: both `set -a; . FILE` and dotenv readers (cargo lambda --env-file) take
    # the JSON values literally. No value holds a single quote.
    with open(args.env_file, "w") as out:
        out.writelines(f"{key}='{value}'\n" for key, value in env.items())
    # For `sam local ... --env-vars`: the receiver's configuration pointing at this stack. SAM
    # overrides only variables the template declares (AWS_ENDPOINT_URL is declared through the
    # LocalEndpointUrl parameter).
    sam_env = {"Receiver": {key: env[key] for key in
                            ("WEBHOOK_SECRET_ID", "EVENT_ROUTES", "AWS_ENDPOINT_URL")}}
    with open(os.path.join(os.path.dirname(os.path.abspath(args.env_file)), "sam-env.json"),
              "w") as out:
        json.dump(sam_env, out, indent=2)
    print(f"local stack on {args.endpoint}: secret {args.secret_name}, queues {', '.join(urls)}")


def read_env(path):
    with open(path) as env_file:
        pairs = (line.rstrip("\n").split("=", 1) for line in env_file if "=" in line)
        return {key: value.strip("'") for key, value in pairs}


def messages(args):
    env = read_env(args.env_file)
    sqs, _ = clients(env["AWS_ENDPOINT_URL"])
    for name, url in json.loads(env["QUEUE_URLS"]).items():
        held = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                   MessageAttributeNames=["All"]).get("Messages", [])
        print(f"queue {name}: {len(held)} message(s)")
        for message in held:
            attributes = {key: value["StringValue"]
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
    create_parser.add_argument("--env-file", required=True)
    create_parser.add_argument("--secret-name", default="3qpr/webhook-secret")
    messages_parser = commands.add_parser("messages")
    messages_parser.add_argument("--env-file", required=True)
    args = parser.parse_args()
    {"create": create, "messages": messages}[args.command](args)


if __name__ == "__main__":
    main()
