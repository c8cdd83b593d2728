#!/usr/bin/env bash
# The local AWS stand-in for the receiver: a moto server on 127.0.0.1 holding the signing
# secret, the payload bucket, the idempotency table and the queues.
#
#   infra/local-stack.sh setup      create .venv with the pinned tools (infra/requirements.txt)
#   infra/local-stack.sh up         setup, start moto, create the secret, bucket, table, queues
#   infra/local-stack.sh messages   print what each queue holds
#   infra/local-stack.sh down       stop moto and forget its state
#
# All of them are those of template.yaml (infra/layout.py reads it). The state directory gets
# stack.json, the description every tool reads, and from it receiver.env (`cargo lambda watch
# --env-file`) and sam-env.json (`sam local --env-vars`).
#
# Knobs: MOTO_PORT (5000), STACK_STATE (infra/.state: moto's pid and log, stack.json,
# receiver.env, sam-env.json), WEBHOOK_SECRET (a random whsec_ value), VENV (.venv),
# MAX_RECEIVE_COUNT and VISIBILITY_TIMEOUT (the template's, for the queues), STACK_PARAMETERS
# (template parameters for the functions' variables, e.g. "Archive=false Idempotency=false").
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VENV:-$root/.venv}
state=${STACK_STATE:-$root/infra/.state}
port=${MOTO_PORT:-5000}

setup() {
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  local stamp="$venv/.requirements.sha256" wanted
  wanted=$(sha256sum "$root/infra/requirements.txt" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "installing the local tools into $venv (infra/requirements.txt)"
    "$venv/bin/pip" install --disable-pip-version-check --quiet -r "$root/infra/requirements.txt"
    echo "$wanted" >"$stamp"
  fi
}

up() {
  setup
  if [ -f "$state/moto.pid" ] && kill -0 "$(cat "$state/moto.pid")" 2>/dev/null; then
    echo "the local stack is already up (pid $(cat "$state/moto.pid")); run '$0 down' first" >&2
    exit 1
  fi
  mkdir -p "$state"
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$state/moto.log" 2>&1 &
  echo $! >"$state/moto.pid"
  "$venv/bin/python" "$root/infra/local_stack.py" create \
    --endpoint "http://127.0.0.1:$port" --state-dir "$state"
}

down() {
  if [ -f "$state/moto.pid" ]; then
    kill "$(cat "$state/moto.pid")" 2>/dev/null || true
  fi
  rm -rf "$state"
}

messages() {
  "$venv/bin/python" "$root/infra/local_stack.py" messages --state-dir "$state"
}

case "${1:-}" in
  setup | up | down | messages) "$1" ;;
  *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
