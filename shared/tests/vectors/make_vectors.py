#!/usr/bin/env python3
"""Known-answer vectors for the X-3QPR-Signature scheme, decided by the sender's own reference
function (`verify_webhook`, copied verbatim from 3QPR's webhook documentation).

Run from anywhere: python3 make_vectors.py > signatures.json
Each vector: the stored secret values (current first; surrounding whitespace is not part of a
secret), the body (hex, or a unit repeated to a length), the header value, and whether the
reference function accepts it with any of the secrets.
"""
import hashlib
import hmac
import json
import pathlib


# --- verbatim from 3QPR's documentation -------------------------------------------------------
def verify_webhook(payload: bytes, signature: str, secret: str) -> bool:
    """Return True if the webhook signature is valid."""
    expected = hmac.new(
        secret.encode(),
        payload,
        hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", signature)
# ----------------------------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


SECRET = "whsec_AbCdEfGhIjKlMnOpQrStUv"
PREVIOUS = "whsec_PreviousSecretValue0123"
ROOT = pathlib.Path(__file__).resolve().parents[3]
SAMPLE = (ROOT / "infra/samples/scan.created.json").read_bytes()
MIB_UNIT = '{"scan":"🌷",\r\n"x":"\u2028"}\n'
MIB_LEN = 1024 * 1024


def repeated(unit: str, length: int) -> bytes:
    raw = unit.encode()
    return (raw * (length // len(raw) + 1))[:length]


vectors = []


def add(name, body, signature, secrets=(SECRET,), body_repeat=None):
    valid = any(verify_webhook(body, signature, s.strip()) for s in secrets)
    vector = {"name": name, "secrets": list(secrets), "signature": signature, "valid": valid}
    if body_repeat:
        vector["body_repeat"] = {"unit": body_repeat[0], "length": body_repeat[1]}
    else:
        vector["body_hex"] = body.hex()
    vectors.append(vector)


add("documented scan.created sample", SAMPLE, sign(SECRET, SAMPLE))
emoji = '{"event":"scan.created","id":"evt_🌷","data":{"note":"🎉👍🏽"}}'.encode()
add("emoji in the body", emoji, sign(SECRET, emoji))
separators = '{"event":"x","id":"e","data":{"text":"line\u2028separator\u2029paragraph"}}'.encode()
add("U+2028 and U+2029 unescaped", separators, sign(SECRET, separators))
crlf = b'{\r\n  "event": "scan.created",\r\n  "id": "evt_crlf"\r\n}\r\n'
add("CRLF line endings", crlf, sign(SECRET, crlf))
trailing = SAMPLE.rstrip(b"\n") + b"\n"
add("trailing newline", trailing, sign(SECRET, trailing))
add("signature of the body without its trailing newline", trailing,
    sign(SECRET, trailing.rstrip(b"\n")))
add("empty body", b"", sign(SECRET, b""))
big = repeated(MIB_UNIT, MIB_LEN)
add("1 MiB body", big, sign(SECRET, big), body_repeat=(MIB_UNIT, MIB_LEN))
add("1 MiB body signed with another secret", big, sign(PREVIOUS, big),
    body_repeat=(MIB_UNIT, MIB_LEN))
add("stored secret with surrounding whitespace", SAMPLE, sign(SECRET, SAMPLE),
    secrets=(f"  {SECRET}\n",))
add("secret with non-ASCII characters", SAMPLE, sign("whsec_ünï©ødé", SAMPLE),
    secrets=("whsec_ünï©ødé",))
add("current and previous secrets, signed with the current", SAMPLE, sign(SECRET, SAMPLE),
    secrets=(SECRET, PREVIOUS))
add("current and previous secrets, signed with the previous", SAMPLE, sign(PREVIOUS, SAMPLE),
    secrets=(SECRET, PREVIOUS))
add("current and previous secrets, signed with neither", SAMPLE, sign("whsec_Other", SAMPLE),
    secrets=(SECRET, PREVIOUS))
add("secret without its whsec_ prefix", SAMPLE, sign(SECRET[len("whsec_"):], SAMPLE))
tampered = SAMPLE.replace(b"9142", b"9143")
add("tampered body", tampered, sign(SECRET, SAMPLE))
add("uppercase hex", SAMPLE, "sha256=" + sign(SECRET, SAMPLE)[len("sha256="):].upper())
add("no sha256= prefix", SAMPLE, sign(SECRET, SAMPLE)[len("sha256="):])
add("truncated hex", SAMPLE, sign(SECRET, SAMPLE)[:-2])
add("re-serialised JSON", json.dumps(json.loads(SAMPLE)).encode(), sign(SECRET, SAMPLE))

document = {"generated_by": "make_vectors.py", "vectors": vectors}
print(json.dumps(document, indent=1, ensure_ascii=False))
