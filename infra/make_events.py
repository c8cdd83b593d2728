#!/usr/bin/env python3
"""Writes the event fixtures in infra/events/ from the sample payloads in infra/samples/, so
they always match them:
- API Gateway events for the receiver, REST (v1) and HTTP API (v2): signed, tampered, and with
  a base64 body, signed with FIXTURE_SECRET (the `sam local` tests store it in moto);
- SQS events as Lambda hands them to each consumer, one with a poison record;
- the poison body alone, for the sender.
Which queue, and so which consumer, gets each event type comes from template.yaml (through
infra/layout.py), as the receiver routes it.
Run again after changing a sample or the routes: .venv/bin/python infra/make_events.py [DIR]
(DIR: where to write them, infra/events by default; the fixture test writes elsewhere and
compares.)
"""
import argparse
import base64
import hashlib
import hmac
import json
import pathlib

import layout

HERE = pathlib.Path(__file__).resolve().parent
SAMPLES = HERE / "samples"
EVENTS = HERE / "events"
REGION = "us-east-1"
ACCOUNT = "123456789012"
FIXTURE_SECRET = "whsec_LocalFixtureSecretForSamTests01"

# The event types 3QPR documents, in its documentation's order (one sample each).
EVENT_TYPES = ["scan.created", "conversation.completed", "qpr_code.created",
               "subscription.upgraded", "subscription.cancelled"]
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
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}",
        "awsRegion": REGION,
    }


def signature(body: bytes) -> str:
    return "sha256=" + hmac.new(FIXTURE_SECRET.encode(), body, hashlib.sha256).hexdigest()


def body_fields(body: bytes, as_base64: bool):
    if as_base64:
        return base64.b64encode(body).decode(), True
    return body.decode(), False


def rest_v1(body: bytes, sig: str, as_base64=False):
    text, encoded = body_fields(body, as_base64)
    headers = {"Content-Type": "application/json", "User-Agent": "3QPR-Webhooks",
               "X-3QPR-Signature": sig}
    return {
        "resource": "/webhooks/3qpr", "path": "/webhooks/3qpr", "httpMethod": "POST",
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": None, "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT, "resourceId": "abc123", "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "3QPR-Webhooks"},
            "resourcePath": "/webhooks/3qpr", "httpMethod": "POST", "apiId": "1234567890",
            "path": "/prod/webhooks/3qpr",
        },
        "body": text, "isBase64Encoded": encoded,
    }


def http_v2(body: bytes, sig: str, as_base64=False):
    text, encoded = body_fields(body, as_base64)
    return {
        "version": "2.0", "routeKey": "POST /webhooks/3qpr", "rawPath": "/webhooks/3qpr",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "user-agent": "3QPR-Webhooks",
                    "x-3qpr-signature": sig},
        "requestContext": {
            "accountId": ACCOUNT, "apiId": "api-id",
            "domainName": "api-id.execute-api.us-east-1.amazonaws.com", "domainPrefix": "api-id",
            "http": {"method": "POST", "path": "/webhooks/3qpr", "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.7", "userAgent": "3QPR-Webhooks"},
            "requestId": "JKJaXmPLvHcESHA=", "routeKey": "POST /webhooks/3qpr",
            "stage": "$default", "time": "20/Mar/2026:15:30:00 +0000",
            "timeEpoch": 1774020600000,
        },
        "body": text, "isBase64Encoded": encoded,
    }


def consumers():
    """Each queue that has a consumer, with the sample event types the receiver routes to it."""
    stack = layout.Layout.from_template()
    samples = sorted(path.stem for path in SAMPLES.glob("*.json"))
    if sorted(EVENT_TYPES) != samples:
        raise SystemExit(f"infra/samples has {samples}, EVENT_TYPES lists {EVENT_TYPES}")
    routed = {}
    for event_type in EVENT_TYPES:
        routed.setdefault(stack.route(event_type), []).append(event_type)
    return {queue.name: routed[queue.name] for queue in stack.queues
            if queue.consumer and queue.name in routed}


def write(out, name, event):
    (out / name).write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", type=pathlib.Path, default=EVENTS)
    out = parser.parse_args().out
    out.mkdir(exist_ok=True)
    scan = sample("scan.created").encode()
    # Bytes a careless re-encoding would change: CRLF, emoji, U+2028.
    binary = ('{"event":"scan.created",\r\n"id":"evt_BASE64BODY01","data":{"scan_id":7,'
              '"qpr_code_id":"qpr_01HXYZ789ABC","short_id":"b64","scanned_at":'
              '"2026-03-20T15:30:00Z","metadata":{"note":"🌷\u2028"}}}').encode()
    tampered = scan.replace(b"9142", b"9143")
    for version, shape in (("v1", rest_v1), ("v2", http_v2)):
        write(out, f"apigw-{version}-signed.json", shape(scan, signature(scan)))
        write(out, f"apigw-{version}-tampered.json", shape(tampered, signature(scan)))
        write(out, f"apigw-{version}-base64.json",
              shape(binary, signature(binary), as_base64=True))
    for queue, types in consumers().items():
        records = [sqs_record(queue, i, sample(t)) for i, t in enumerate(types)]
        write(out, f"sqs-{queue}.json", {"Records": records})
    poison_queue = layout.Layout.from_template().route("scan.created")
    poison_batch = [sqs_record(poison_queue, 0, sample("scan.created")),
                    sqs_record(poison_queue, 1, POISON)]
    write(out, f"sqs-{poison_queue}-poison.json", {"Records": poison_batch})
    # The poison body alone, for the sender (`--file`), as the demo sends it.
    (out / "poison-scan.created.json").write_text(POISON + "\n")


if __name__ == "__main__":
    main()
