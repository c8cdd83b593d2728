#!/usr/bin/env python3
"""Writes the event fixtures in infra/events/ from the sample payloads in infra/samples/, so
they always match them: SQS events as Lambda hands them to each consumer (one with a poison
record), and the poison body alone. Run again after changing a sample: python3 infra/make_events.py
"""
import hashlib
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
SAMPLES = HERE / "samples"
EVENTS = HERE / "events"
REGION = "us-east-1"
ACCOUNT = "123456789012"

CONSUMERS = {
    "scans": ["scan.created"],
    "conversations": ["conversation.completed"],
    "account": ["qpr_code.created", "subscription.upgraded", "subscription.cancelled"],
}
# Signed and queued by the receiver (its envelope is fine), but its data is not what 3QPR
# documents for scan.created: the consumer can never process it.
POISON = json.dumps({"event": "scan.created", "id": "evt_POISON0001",
                     "created_at": "2026-03-20T15:31:00Z",
                     "data": {"scan_id": "not-a-number", "qpr_code_id": "qpr_01HXYZ789ABC"}})


def sample(event_type):
    return (SAMPLES / f"{event_type}.json").read_text()


def sqs_record(queue, index, body):
    envelope = json.loads(body)
    attributes = {
        "event_type": envelope["event"],
        "event_id": envelope["id"],
        "received_at": "2026-03-20T15:30:01.123456Z",
        "request_id": f"8476a536-e9f4-11e8-9739-2dfe598c3f{index:02d}",
    }
    return {
        "messageId": f"059f36b4-87a3-44ab-83d2-661975830a{index:02d}",
        "receiptHandle": f"AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a{index:02d}...",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1774020601123",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1774020601200",
        },
        "messageAttributes": {
            name: {"stringValue": value, "stringListValues": [], "binaryListValues": [],
                   "dataType": "String"}
            for name, value in attributes.items()
        },
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}",
        "awsRegion": REGION,
    }


def write(name, event):
    (EVENTS / name).write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")


def main():
    EVENTS.mkdir(exist_ok=True)
    for queue, types in CONSUMERS.items():
        records = [sqs_record(queue, i, sample(t)) for i, t in enumerate(types)]
        write(f"sqs-{queue}.json", {"Records": records})
    poison_batch = [sqs_record("scans", 0, sample("scan.created")),
                    sqs_record("scans", 1, POISON)]
    write("sqs-scans-poison.json", {"Records": poison_batch})
    # The poison body alone, for the sender (`--file`), as the demo sends it.
    (EVENTS / "poison-scan.created.json").write_text(POISON + "\n")


if __name__ == "__main__":
    main()
