#!/usr/bin/env bash
# `make test`: every test, from a fresh clone as from a warm checkout, with what can overlap
# overlapped (the machine has two cores and most tests wait on moto, Docker or the emulator):
#
#   1. the x86_64 build of the workspace (`cargo build-workspace`, .cargo/config.toml), which
#      the Rust tests, the binaries they start and the SAM tests all share; meanwhile .venv is
#      installed and the infrastructure's own tests run;
#   2. the arm64 `sam build` (SAM's debug mode, its own target directory so it never waits on
#      cargo's lock), at the lowest priority, while the tests run;
#   3. the Rust tests, and beside them the SAM tests on x86_64 (they mostly wait on moto,
#      Docker and the emulator); what those need from the host (qemu-user, the local base
#      image) was installed in the background from the start;
#   4. the SAM tests on the arm64 build.
#
# A step's output is shown when it fails. Knobs: SAM_STOCK_IMAGE (see infra/sam/test_sam_local.py).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export SAM_CLI_TELEMETRY=0
logs=$(mktemp -d)
# Each background step in its own process group (to stop it whole), in this session: a new
# session would be a scheduler autogroup of its own, where `nice` means nothing to the others.
set -m
background=()
cleanup() {
  for pid in "${background[@]}"; do
    kill -- "-$pid" 2>/dev/null || true
  done
  rm -rf "$logs"
}
trap cleanup EXIT

step() { printf '== [%4ds] %s\n' "$SECONDS" "$*"; }

# Waits for a background step; on failure shows its log and fails.
await() {
  local pid=$1 name=$2
  if ! wait "$pid"; then
    cat "$logs/$name.log" >&2
    step "$name failed"
    exit 1
  fi
}

step "building the workspace for x86_64 (cargo build-workspace)"
cargo build-workspace >"$logs/x86_64.log" 2>&1 &
x86_64=$!
background+=("$x86_64")

step "preparing the host for the SAM tests in the background (infra/sam/prepare-host.sh)"
infra/sam/prepare-host.sh >"$logs/host.log" 2>&1 &
host=$!
background+=("$host")

step "installing the local tools (.venv)"
infra/local-stack.sh setup
step "the infrastructure's tests"
.venv/bin/pytest -p no:cacheprovider -q infra/tests

arm64_dir=$root/.aws-sam/build-arm64
step "sam build for arm64 in the background (into ${arm64_dir#"$root"/})"
PATH="$root/.venv/bin:$PATH" SAM_BUILD_MODE=debug \
  CARGO_TARGET_DIR="$root/target/sam-arm64" \
  nice -n 19 .venv/bin/python infra/sam/sam_host_network.py build \
  --build-dir "$arm64_dir" >"$logs/arm64.log" 2>&1 &
arm64=$!
background+=("$arm64")

await "$x86_64" x86_64
await "$host" host
step "the SAM tests on x86_64 in the background (sam local in Docker)"
.venv/bin/pytest -p no:cacheprovider -q -m "not arm64" infra/sam >"$logs/sam.log" 2>&1 &
sam=$!
background+=("$sam")
step "the Rust tests"
cargo nextest run --workspace --locked

step "waiting for the SAM tests on x86_64"
await "$sam" sam
cat "$logs/sam.log"
step "waiting for the arm64 build"
await "$arm64" arm64
step "the SAM tests on arm64"
SAM_ARM64_BUILD="$arm64_dir" .venv/bin/pytest -p no:cacheprovider -q -m arm64 infra/sam
step "all tests passed"
