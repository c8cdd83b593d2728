#!/usr/bin/env bash
# The local demo, the whole path, as a user lives it after `sam deploy`:
#   1. the local stack up (moto: the template's secret and queues); the receiver and the three
#      consumers under `cargo lambda watch`;
#   2. a local 3QPR (`qpr-webhooks simulate`): `qpr-webhooks register` registers the receiver
#      with it and stores the secret it returns, unseen; the local 3QPR then delivers the five
#      documented events and a poison one, signed, retrying until accepted;
#   3. a tampered and an unsigned request, refused; `qpr-webhooks check --send`;
#   4. a 2 MiB event: queued by claim-check (S3 object + SQS Extended Client pointer);
#   5. the event-source runner feeds each queue to its consumer; the poison record ends in its
#      dead-letter queue (listed with `dlq`); every webhook is in the archive;
#   6. `replay` of one archived event: the consumer skips it as a duplicate (idempotency
#      store); with --force it runs it again; what each queue holds, the logs and the metrics.
# Knobs: DEMO_PORT (9000) for the emulator, THREEQPR_PORT (8300) for the local 3QPR, MOTO_PORT
# (5000) for moto.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
port=${DEMO_PORT:-9000}
threeqpr=127.0.0.1:${THREEQPR_PORT:-8300}
state=${STACK_STATE:-$root/infra/.state}
log="$state/functions.log"
tool=target/debug/qpr-webhooks

cleanup() {
  [ -n "${simulate_pid:-}" ] && kill "$simulate_pid" 2>/dev/null
  [ -n "${watch_pid:-}" ] && kill -- "-$watch_pid" 2>/dev/null
  infra/local-stack.sh down
}
trap cleanup EXIT

echo "== building the functions and the operator tool (qpr-webhooks)"
cargo build --quiet --bins

echo "== starting the local stack (moto on 127.0.0.1)"
MAX_RECEIVE_COUNT=${MAX_RECEIVE_COUNT:-3} infra/local-stack.sh up
export PATH="$root/.venv/bin:$PATH"

echo "== starting cargo lambda watch on 127.0.0.1:$port (the receiver and the consumers)"
# setsid: the emulator and the functions it runs form one group, stopped together at the end.
setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --ignore-changes \
  --env-file "$state/receiver.env" >"$log" 2>&1 &
watch_pid=$!
for _ in $(seq 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
url="http://127.0.0.1:$port/lambda-url/receiver/webhooks/3qpr"

echo
echo "== a local 3QPR on $threeqpr; register the receiver with it"
"$tool" simulate --listen "$threeqpr" --file infra/events/poison-scan.created.json \
  --deliver-after 2 --first-backoff-ms 500 --max-backoff 5 --give-up-after 60 &
simulate_pid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/${threeqpr%:*}/${threeqpr#*:}") 2>/dev/null && break
  sleep 0.1
done
THREEQPR_API_KEY=local-demo-key "$tool" register --local "$state" --url "$url" \
  --api-base "http://$threeqpr"
echo
echo "== the local 3QPR delivers the five documented events and a poison one, signed"
echo "   (the receiver reads the new secret on the first webhook signed with it)"
wait "$simulate_pid"
simulate_pid=
echo
echo "== someone changes a byte on the way, and someone sends no signature: both refused"
secret=$(.venv/bin/python infra/layout.py value "$state" secret.value)
WEBHOOK_SECRET="$secret" "$tool" send --url "$url" --signing tampered || true
"$tool" send --url "$url" --signing unsigned || true
echo
echo "== qpr-webhooks check --send: the deployment doctor"
"$tool" check --local "$state" --send --url "$url" || true
echo
echo "== a 2 MiB scan.created: too large for SQS, so its body goes to S3 and a pointer is queued"
large="$state/large-scan.json"
.venv/bin/python - "$large" <<'PYTHON'
import json, sys
note = "a large scan " * 160_000
json.dump({"event": "scan.created", "id": "evt_LARGE0001", "created_at": "2026-03-20T15:31:00Z",
           "data": {"scan_id": 9143, "qpr_code_id": "qpr_01HXYZ789ABC", "short_id": "big",
                    "scanned_at": "2026-03-20T15:31:00Z", "metadata": {"note": note}}},
          open(sys.argv[1], "w"))
PYTHON
current=$(PYTHONPATH=infra .venv/bin/python - "$state" <<'PYTHON'
import sys
import boto3
from layout import load_state
state = load_state(sys.argv[1])
client = boto3.client("secretsmanager", endpoint_url=state["endpoint"], region_name=state["region"],
                      aws_access_key_id=state["access_key_id"],
                      aws_secret_access_key=state["secret_access_key"])
print(client.get_secret_value(SecretId=state["secret"]["id"])["SecretString"])
PYTHON
)
# (The demo reads the registered secret back only to play 3QPR for this one event.)
WEBHOOK_SECRET="$current" "$tool" send --url "$url" --file "$large" | cut -c1-120
echo
echo "== what the queues hold before the consumers run (in SQS, looking is a receive: it counts)"
infra/local-stack.sh messages
echo
echo "== the event-source runner feeds each queue to its consumer (visibility timeout 1 s here)"
"$tool" event-source --invoke-url "http://127.0.0.1:$port" --local "$state" \
  --batch-size 10 --batch-window-ms 200 --visibility-timeout 1 --exit-when-idle 4
echo
echo "== what the queues hold now: the poison record in scans-dlq, nothing else"
infra/local-stack.sh messages
"$tool" dlq scans --local "$state"
echo
echo "== the archive: every verified webhook, by date, type and id"
PYTHONPATH=infra .venv/bin/python - "$state" <<'PYTHON'
import sys
import boto3
from layout import load_state
state = load_state(sys.argv[1])
s3 = boto3.client("s3", endpoint_url=state["endpoint"], region_name=state["region"],
                  aws_access_key_id=state["access_key_id"],
                  aws_secret_access_key=state["secret_access_key"])
for prefix in ("archive/", "payloads/"):
    for item in s3.list_objects_v2(Bucket=state["bucket"], Prefix=prefix).get("Contents", []):
        print(f"  s3://{state['bucket']}/{item['Key']}  {item['Size']} bytes")
PYTHON
echo
echo "== replay one archived event: the consumer has processed it, so it is skipped as a duplicate"
"$tool" replay --local "$state" --id evt_01HXYZ
"$tool" event-source --invoke-url "http://127.0.0.1:$port" --local "$state" \
  --batch-size 10 --visibility-timeout 1 --exit-when-idle 3
echo
echo "== replay it with --force: the consumer runs its handler again"
"$tool" replay --local "$state" --id evt_01HXYZ --force
"$tool" event-source --invoke-url "http://127.0.0.1:$port" --local "$state" \
  --batch-size 10 --visibility-timeout 1 --exit-when-idle 3
echo
echo "== the functions' log lines (one per request or event; never the secret, signature or body)"
grep -E 'webhook|event processed|duplicate skipped|record failed' "$log" | cut -c1-400 |
  sed -E 's/^ *(INFO|WARN) Lambda runtime invoke\{[^}]*\}: / \1 /' || true
echo
echo "== the consumers' metrics (CloudWatch Embedded Metric Format, one line per batch)"
grep '"_aws"' "$log" || true
