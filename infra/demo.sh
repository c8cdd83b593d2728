#!/usr/bin/env bash
# The local demo: the local stack up, the receiver under `cargo lambda watch`, the sender posting
# the five sample events plus a tampered and an unsigned one, then what each queue holds.
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

echo "== building the receiver and the sender"
cargo build --quiet -p receiver
cargo build --quiet -p sender

echo "== starting the local stack (moto on 127.0.0.1)"
infra/local-stack.sh up
export PATH="$root/.venv/bin:$PATH"

echo "== starting the receiver under cargo lambda watch on 127.0.0.1:$port"
# setsid: the emulator and the receiver it runs form one group, stopped together at the end.
setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --ignore-changes \
  --env-file "$state/receiver.env" >"$log" 2>&1 &
watch_pid=$!
for _ in $(seq 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

url="http://127.0.0.1:$port/lambda-url/receiver/webhooks/3qpr"
secret=$(sed -n "s/^WEBHOOK_SECRET='\(.*\)'$/\1/p" "$state/receiver.env")
sender=target/debug/sender

echo
echo "== 3QPR sends the five documented events, signed ($url)"
"$sender" --url "$url" --secret "$secret" --all
echo
echo "== someone changes a byte on the way, and someone sends no signature"
"$sender" --url "$url" --secret "$secret" --tamper
"$sender" --url "$url" --unsigned
echo
echo "== what the queues hold now"
infra/local-stack.sh messages
echo
echo "== the receiver's log: one line per request, no secret, signature or body"
grep -E '"webhook"| webhook ' "$log" || true

# Stop the emulator's whole group (it runs the receiver as a child).
kill -- "-$watch_pid" 2>/dev/null || true
