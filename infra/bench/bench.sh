#!/usr/bin/env bash
# `make bench`: issue 12's side-by-side benchmark, from a fresh clone.
#
#   infra/bench/bench.sh
#
# The receiver (archive off and on) and the Python peer (infra/bench/python_peer) under AWS's
# Lambda Runtime Interface Emulator against a local stack of its own: cold start, warm latency
# p50/p99, CPU per event and peak RSS, and instructions per warm event with callgrind for the
# three and the floor (floor-runtime, floor-sqs: infra/bench/src/bin). Prints one table and
# writes target/bench/report.json; infra/bench/bench.py says how each figure is taken.
#
# It installs what it needs: valgrind from Debian when missing, the project's tools
# (infra/local-stack.sh setup), the peer's venv from infra/bench/python_peer/requirements.txt,
# and builds the release binaries plus the same binaries with symbols (profile bench-symbols,
# for callgrind_annotate; target/bench-symbols). Everything it starts is stopped on exit.
#
# Knobs: BENCH_OUT (target/bench), MOTO_PORT (5600), BENCH_COLD (10 cold starts), BENCH_WARM
# (1000 warm webhooks), BENCH_K (200 extra invocations under callgrind), BENCH_PEER_CALLGRIND=0
# (skip counting the Python peer's instructions, CPython under valgrind: about 30 s).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
out=${BENCH_OUT:-$root/target/bench}
export STACK_STATE=$out/stack
export MOTO_PORT=${MOTO_PORT:-5600}
# moto refuses a second PurgeQueue within 60 s, as SQS does; the rounds purge more often.
export MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR=false
mkdir -p "$out"

infra/debian-packages.sh valgrind qemu-user-static libc6-arm64-cross

infra/local-stack.sh setup

peer_venv=$out/peer-venv
requirements=infra/bench/python_peer/requirements.txt
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ "$(cat "$peer_venv/.requirements.sha256" 2>/dev/null)" != "$wanted" ]; then
  echo "creating the Python peer's venv ($requirements)"
  rm -rf "$peer_venv"
  python3 -m venv "$peer_venv"
  "$peer_venv/bin/pip" install --disable-pip-version-check --quiet -r "$requirements"
  echo "$wanted" >"$peer_venv/.requirements.sha256"
fi

# What ships (stripped), for the timings; the same code with its symbols, for callgrind.
cargo build --release --locked -p receiver -p bench-floor -p scans-consumer
cargo build --locked -p receiver -p bench-floor --profile bench-symbols

harness_pid=
cleanup() {
  if [ -n "$harness_pid" ]; then
    kill "$harness_pid" 2>/dev/null || true
    wait "$harness_pid" 2>/dev/null || true
  fi
  infra/local-stack.sh down
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ -f "$STACK_STATE/moto.pid" ]; then
  infra/local-stack.sh down  # a run that was killed outright left its moto behind
fi
infra/local-stack.sh up >/dev/null

args=(--state "$STACK_STATE" --out "$out"
  --receiver target/release/receiver --floor-dir target/release
  --callgrind-dir target/bench-symbols --peer-python "$peer_venv/bin/python"
  --cold "${BENCH_COLD:-10}" --warm "${BENCH_WARM:-1000}" --k "${BENCH_K:-200}")
[ "${BENCH_PEER_CALLGRIND:-1}" = 0 ] && args+=(--no-peer-callgrind)
.venv/bin/python infra/bench/bench.py "${args[@]}" &
harness_pid=$!
wait "$harness_pid"
harness_pid=

# A consumer's batch of 10, with the idempotency store and without.
.venv/bin/python infra/bench/consumer_bench.py --state "$STACK_STATE" --out "$out" \
  --binary target/release/scans-consumer

# One verification of a 16 KiB body on each architecture: x86_64 under callgrind (which hides
# the CPU's SHA extensions, so sha2 runs its software rounds there), arm64 under qemu-user
# (whose CPU has the ARMv8 SHA-2 instructions, as Graviton does). 1 and 1+100 verifications,
# the difference over 100.
echo
echo "verification of a 16 KiB body, instructions:"
export PATH="$root/.venv/bin:$PATH"
cargo lambda build --release --arm64 --bin verify-loop >/dev/null 2>&1
x86=()
arm=()
for count in 1 101; do
  valgrind --tool=callgrind --callgrind-out-file="$out/callgrind/verify.$count.out" \
    target/release/verify-loop "$count" >/dev/null 2>"$out/logs/verify.$count.log"
  x86+=("$(sed -n 's/^summary: //p' "$out/callgrind/verify.$count.out")")
  arm+=("$(.venv/bin/python infra/bench/qemu_instructions.py \
    target/lambda/verify-loop/bootstrap "$count")")
done
x86_each=$(((x86[1] - x86[0]) / 100))
arm_each=$(((arm[1] - arm[0]) / 100))
echo "  x86_64 (software SHA-256 under callgrind): $x86_each"
echo "  arm64 (SHA-2 instructions, qemu-user):      $arm_each"
printf '{"x86_64_software": %s, "arm64_sha2": %s}\n' "$x86_each" "$arm_each" \
  >"$out/verification.json"
