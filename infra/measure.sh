#!/usr/bin/env bash
# The numbers in the README's performance section, each measured here:
#   1. the stripped release binary's size (x86_64, this machine);
#   2. the arm64 Lambda zip from `cargo lambda build --release --arm64 --output-format zip`;
#   3. process start to first answered webhook: the release receiver under cargo lambda's
#      emulator against the local stack (moto), one signed scan.created already waiting, as on a
#      Lambda cold start. RUNS (default 10) starts; prints each and the median.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
runs=${RUNS:-10}
port=${MEASURE_PORT:-9400}
export STACK_STATE=${STACK_STATE:-$root/infra/.state-measure}
export MOTO_PORT=${MOTO_PORT:-5400}

infra/local-stack.sh setup
export PATH="$root/.venv/bin:$PATH"

cargo build --release --locked -p receiver -p qpr-webhooks-cli
echo "1. stripped release binary (x86_64): $(stat -c %s target/release/receiver) bytes"

if [ "${SKIP_ARM64:-}" != 1 ]; then
  cargo lambda build --release --arm64 --output-format zip --bin receiver
  echo "2. arm64 bootstrap.zip: $(stat -c %s target/lambda/receiver/bootstrap.zip) bytes"
fi

emulator_pid=
cleanup() {
  [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null
  infra/local-stack.sh down
}
trap cleanup EXIT
infra/local-stack.sh up >/dev/null
cargo lambda watch --only-lambda-apis -A 127.0.0.1 -P "$port" --timeout 30 >/dev/null 2>&1 &
emulator_pid=$!
for _ in $(seq 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

set -a
# shellcheck disable=SC1091
. "$STACK_STATE/receiver.env"
set +a
# shellcheck disable=SC2016  # $LATEST is the literal version name, not a variable
export AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$port/.rt/receiver" \
  AWS_LAMBDA_FUNCTION_NAME=receiver AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 \
  AWS_LAMBDA_FUNCTION_VERSION='$LATEST' AWS_LAMBDA_LOG_FORMAT=json
url="http://127.0.0.1:$port/lambda-url/receiver/webhooks/3qpr"

times=()
for _ in $(seq "$runs"); do
  target/release/qpr-webhooks send --url "$url" --secret "$WEBHOOK_SECRET" >/dev/null &
  sender_pid=$!
  start=$(date +%s%N)
  target/release/receiver >/dev/null 2>&1 &
  receiver_pid=$!
  wait "$sender_pid"
  end=$(date +%s%N)
  kill "$receiver_pid"
  wait "$receiver_pid" 2>/dev/null || true
  times+=($(((end - start) / 1000)))
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(echo "$sorted" | sed -n "$(((runs + 1) / 2))p")
echo "3. process start to first answered webhook (µs): ${times[*]}"
echo "   median: ${median} µs over $runs starts"
