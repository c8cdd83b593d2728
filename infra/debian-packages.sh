#!/usr/bin/env bash
# Installs those of the named Debian packages that are missing (the tests and the benchmark
# run on a fresh machine), through sudo unless run as root.
#
#   infra/debian-packages.sh PACKAGE...
set -euo pipefail

missing=()
for package in "$@"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -gt 0 ] || exit 0
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
echo "installing ${missing[*]} (Debian)"
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
