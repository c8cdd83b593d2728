#!/usr/bin/env python3
"""Reads one message from a queue of the local stack with AWS's SQS Extended Client library
(amazon-sqs-extended-client, as a Python consumer would) and prints the resolved body's size in
bytes and its SHA-256, so a test can check that the library reads the receiver's claim-check
messages unchanged. The message is deleted afterwards.

    extended_client_reader.py STATE_DIR QUEUE_URL
"""
import hashlib
import sys

import boto3
import sqs_extended_client  # noqa: F401  (patches boto3's session with the extended client)

from layout import load_state


def main() -> None:
    state_dir, queue_url = sys.argv[1], sys.argv[2]
    state = load_state(state_dir)
    session = boto3.session.Session(aws_access_key_id=state["access_key_id"],
                                    aws_secret_access_key=state["secret_access_key"],
                                    region_name=state["region"])
    sqs = session.client("sqs", endpoint_url=state["endpoint"])
    sqs.large_payload_support = state["bucket"]
    sqs.s3_client = session.client("s3", endpoint_url=state["endpoint"])
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1,
                                   MessageAttributeNames=["All"], WaitTimeSeconds=2)
    messages = received.get("Messages", [])
    if not messages:
        sys.exit("no message")
    body = messages[0]["Body"].encode()
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
    print(len(body), hashlib.sha256(body).hexdigest())


if __name__ == "__main__":
    main()
