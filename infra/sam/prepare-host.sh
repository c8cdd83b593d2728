#!/usr/bin/env bash
# What the SAM tests need from this machine, installed when it is missing (the tests run on a
# fresh one): Debian's qemu-user-static and libc6-arm64-cross, to run the arm64 receiver under
# qemu-user, and the local Lambda base image (infra/sam/base-image.sh), unless SAM_STOCK_IMAGE=1
# (SAM pulls AWS's image then). `make test` runs it in the background while it builds; the tests
# run it again, a no-op by then.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
"$here/../debian-packages.sh" qemu-user-static libc6-arm64-cross
[ "${SAM_STOCK_IMAGE:-}" = 1 ] || "$here/base-image.sh"
