#!/usr/bin/env bash
# Builds the Lambda base image that `sam local` runs functions in, with no registry: FROM
# scratch with this machine's glibc (what the Rust bootstraps link against) and busybox-static
# (SAM's own image layer runs `sh -c 'mv ... && chmod ...'` to add the emulator). Only the
# x86_64 image: arm64 bootstraps do not run on an x86_64 host.
#
#   infra/sam/base-image.sh    builds $SAM_BASE_IMAGE (default local/lambda-provided-al2023:x86_64)
#
# On a machine with registry access none of this is needed: sam pulls
# public.ecr.aws/lambda/provided:al2023 itself (drop --invoke-image and --skip-pull-image).
set -euo pipefail

image=${SAM_BASE_IMAGE:-local/lambda-provided-al2023:x86_64}
if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
# busybox-static gives the base image its shell.
[ -x /bin/busybox ] || "$(dirname "${BASH_SOURCE[0]}")/../debian-packages.sh" busybox-static

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
root="$context/rootfs"
libdir=/lib/x86_64-linux-gnu
mkdir -p "$root"/{bin,lib64,etc/ssl/certs,tmp,var/task,var/runtime,var/rapid,opt} "$root$libdir"
for lib in ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libgcc_s.so.1 libpthread.so.0 libdl.so.2 \
  librt.so.1 libresolv.so.2 libutil.so.1 libnss_files.so.2 libnss_dns.so.2; do
  [ -e "$libdir/$lib" ] && cp -L "$libdir/$lib" "$root$libdir/"
done
ln -s "..$libdir/ld-linux-x86-64.so.2" "$root/lib64/ld-linux-x86-64.so.2"
cp /bin/busybox "$root/bin/busybox"
for applet in sh mv chmod cp rm ls cat mkdir env; do
  ln -s busybox "$root/bin/$applet"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/" 2>/dev/null || true
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
chmod 1777 "$root/tmp"
cat >"$context/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin:/usr/bin:/bin LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime LANG=C.UTF-8
WORKDIR /var/task
ENTRYPOINT ["/var/rapid/aws-lambda-rie"]
DOCKERFILE
docker build -q -t "$image" "$context" >/dev/null
# SAM caches its emulator layer on top as <repository>:rapid-x86_64; rebuild it from this image.
docker rmi "${image%:*}:rapid-x86_64" >/dev/null 2>&1 || true
echo "built $image"
