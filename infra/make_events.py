#!/usr/bin/env python3
"""Writes the event fixtures in infra/events/ from the sample payloads in infra/samples/, so
they always match them:
- API Gateway events for the receiver, REST (v1) and HTTP API (v2): signed, tampered, and with
  a base64 body, signed with FIXTURE_SECRET (the `sam local` tests store it in moto);
- SQS events as Lambda hands them to each consumer, one with a poison record;
- the poison body alone, for the sender.
Run again after changing a sample: python3 infra/make_events.py
"""
import base64
import hashlib
import hmac
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
SAMPLES = HERE / "samples"
EVENTS = HERE / "events"
REGION = "us-east-1"
ACCOUNT = "123456789012"
FIXTURE_SECRET = "whsec_LocalFixtureSecretForSamTests01"

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


def write(name, event):
    (EVENTS / name).write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")


def main():
    EVENTS.mkdir(exist_ok=True)
    scan = sample("scan.created").encode()
    # Bytes a careless re-encoding would change: CRLF, emoji, U+2028.
    binary = ('{"event":"scan.created",\r\n"id":"evt_BASE64BODY01","data":{"scan_id":7,'
              '"qpr_code_id":"qpr_01HXYZ789ABC","short_id":"b64","scanned_at":'
              '"2026-03-20T15:30:00Z","metadata":{"note":"🌷\u2028"}}}').encode()
    tampered = scan.replace(b"9142", b"9143")
    for version, shape in (("v1", rest_v1), ("v2", http_v2)):
        write(f"apigw-{version}-signed.json", shape(scan, signature(scan)))
        write(f"apigw-{version}-tampered.json", shape(tampered, signature(scan)))
        write(f"apigw-{version}-base64.json", shape(binary, signature(binary), as_base64=True))
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
