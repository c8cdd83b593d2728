#!/usr/bin/env bash
# The local demo, the whole path: the local stack up; the receiver and the three consumers under
# `cargo lambda watch`; the sender posting the five sample events, a tampered and an unsigned
# one, and one the consumers can never process; the event-source runner feeding each queue to
# its consumer; then what each queue and dead-letter queue holds, and the functions' log lines.
# Knobs: DEMO_PORT (9000) for the emulator, MOTO_PORT (5000) for moto.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
port=${DEMO_PORT:-9000}
state=${STACK_STATE:-$root/infra/.state}
log="$state/receiver.log"

cleanup() {
  [ -n "${watch_pid:-}" ] && kill "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
  infra/local-stack.sh down
}
trap cleanup EXIT

echo "== building the functions and the operator tool (qpr-webhooks)"
cargo build --quiet --bins

echo "== starting the local stack (moto on 127.0.0.1)"
MAX_RECEIVE_COUNT=${MAX_RECEIVE_COUNT:-3} infra/local-stack.sh up
export PATH="$root/.venv/bin:$PATH"

echo "== starting cargo lambda watch on 127.0.0.1:$port (the receiver and the consumers)"
# setsid: the emulator and the receiver it runs form one group, stopped together at the end.
setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --ignore-changes \
  --env-file "$state/receiver.env" >"$log" 2>&1 &
watch_pid=$!
for _ in $(seq 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

url="http://127.0.0.1:$port/lambda-url/receiver/webhooks/3qpr"
secret=$(.venv/bin/python infra/layout.py value "$state" secret.value)
tool=target/debug/qpr-webhooks

echo
echo "== 3QPR sends the five documented events, signed ($url)"
"$tool" send --url "$url" --secret "$secret" --all
echo
echo "== someone changes a byte on the way, and someone sends no signature"
"$tool" send --url "$url" --secret "$secret" --signing tampered
"$tool" send --url "$url" --signing unsigned
echo
echo "== 3QPR sends a scan.created whose data the consumers can never process (a poison record)"
"$tool" send --url "$url" --secret "$secret" --file infra/events/poison-scan.created.json
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
echo
echo "== the functions' log lines (one per request or event; never the secret, signature or body)"
grep -E 'webhook|event processed|record failed' "$log" | sed -E 's/^ *(INFO|WARN) Lambda runtime invoke\{[^}]*\}: / \1 /' || true
echo
echo "== the consumers' metrics (CloudWatch Embedded Metric Format, one line per batch)"
grep '"_aws"' "$log" || true

# Stop the emulator's whole group (it runs the receiver as a child).
kill -- "-$watch_pid" 2>/dev/null || true
