"""The benchmark's peer: the receiver a Python developer would write from 3QPR's documentation.

3QPR's reference `verify_webhook` (HMAC-SHA256 of the raw body, keyed with the whole secret,
compared with `hmac.compare_digest`) and boto3, doing what our receiver does on its hot path:

- at init: the signing secret from Secrets Manager (WEBHOOK_SECRET_ID), the routes
  (EVENT_ROUTES, event type -> queue URL), one SQS client;
- per request: 405 for a method other than POST; the raw body (base64-decoded when API Gateway
  says so, 400 when it is not base64); 400 `{"error":"invalid signature"}` unless
  `X-3QPR-Signature` verifies; the envelope's `event` and `id`; the queue by the receiver's
  rule (exact type, else the longest `family.*`, else `*`); SendMessage of the body with the
  four String attributes event_type, event_id, received_at, request_id; 200
  `{"id":..., "status":"queued"}`. A verified body that is not a usable envelope goes to the
  `*` queue with `quarantine_reason` (base64, with `body_encoding=base64`, when it is not
  UTF-8) and is answered 200 `{"id":null,"status":"quarantined"}`, as ours does. An SQS
  failure is a 503 with Retry-After, as ours.

Run under AWS's Lambda Runtime Interface Emulator with awslambdaric:
`python -m awslambdaric handler.lambda_handler`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from datetime import UTC, datetime

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

SIGNATURE_HEADER = "x-3qpr-signature"
RETRY_AFTER_SECONDS = os.environ.get("RETRY_AFTER_SECONDS", "5")


def verify_webhook(payload: bytes, signature: str, secret: str) -> bool:
    """Return True if the webhook signature is valid (3QPR's reference, verbatim)."""
    expected = hmac.new(
        secret.encode(),
        payload,
        hashlib.sha256,
    ).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", signature)


# ---- init: as a Python Lambda does it, once per instance ------------------------------------

_timeout = int(os.environ.get("AWS_CALL_TIMEOUT_MS", "3000")) / 1000
_config = Config(connect_timeout=min(_timeout, 1.0), read_timeout=_timeout,
                 retries={"mode": "standard", "max_attempts": 3})
_session = boto3.session.Session()
_sqs = _session.client("sqs", config=_config)
_secret = _session.client("secretsmanager", config=_config).get_secret_value(
    SecretId=os.environ["WEBHOOK_SECRET_ID"])["SecretString"].strip()
_routes: dict[str, str] = json.loads(os.environ["EVENT_ROUTES"])
_families = sorted(((key[:-1], url) for key, url in _routes.items() if key.endswith(".*")),
                   key=lambda family: -len(family[0]))


def queue_for(event_type: str) -> str:
    """Exact type, else the longest family prefix (`subscription.` of `subscription.*`), else
    the catch-all `*`: the receiver's rule."""
    if event_type in _routes:
        return _routes[event_type]
    for prefix, url in _families:
        if event_type.startswith(prefix):
            return url
    return _routes["*"]


def answer(status: int, body: dict, event: dict, headers: dict | None = None) -> dict:
    headers = {"content-type": "application/json", **(headers or {})}
    response = {"statusCode": status, "body": json.dumps(body)}
    if event.get("version") == "2.0":
        response["headers"] = headers
    else:
        response["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
    return response


def string_attributes(**values: str) -> dict:
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


def lambda_handler(event: dict, context) -> dict:  # noqa: ANN001 (awslambdaric's context)
    if event.get("version") == "2.0":
        method = event.get("requestContext", {}).get("http", {}).get("method", "")
    else:
        method = event.get("httpMethod", "")
    if method != "POST":
        return answer(405, {"error": f"method {method} not allowed"}, event, {"allow": "POST"})

    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            payload = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return answer(400, {"error": "the body is marked base64 but is not valid base64"},
                          event)
    else:
        payload = body.encode()

    signatures = [value for name, value in (event.get("headers") or {}).items()
                  if name.lower() == SIGNATURE_HEADER]
    if len(signatures) != 1 or not verify_webhook(payload, signatures[0], _secret):
        return answer(400, {"error": "invalid signature"}, event)

    request_id = context.aws_request_id
    received_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    quarantine_reason = None
    try:
        envelope = json.loads(payload)
        event_type, event_id = envelope["event"], envelope["id"]
        if not isinstance(event_type, str) or not isinstance(event_id, str):
            raise TypeError("event and id must be strings")
        text = payload.decode()
    except (ValueError, KeyError, TypeError) as error:
        quarantine_reason = type(error).__name__
    try:
        if quarantine_reason is None:
            _sqs.send_message(
                QueueUrl=queue_for(event_type), MessageBody=text,
                MessageAttributes=string_attributes(
                    event_type=event_type, event_id=event_id, received_at=received_at,
                    request_id=request_id))
            return answer(200, {"id": event_id, "status": "queued"}, event)
        attributes = {"quarantine_reason": quarantine_reason}
        try:
            text = payload.decode()
        except UnicodeDecodeError:
            text = base64.b64encode(payload).decode()
            attributes["body_encoding"] = "base64"
        _sqs.send_message(
            QueueUrl=_routes["*"], MessageBody=text,
            MessageAttributes=string_attributes(
                received_at=received_at, request_id=request_id, **attributes))
        return answer(200, {"id": None, "status": "quarantined"}, event)
    except (BotoCoreError, ClientError):
        return answer(503, {"error": "temporarily unavailable, retry later"}, event,
                      {"retry-after": RETRY_AFTER_SECONDS})
