#!/usr/bin/env bash
# Packs everything the GPU machine's checks need into .gpu/ (see ../shared/gpu/README.md): Node and
# the built project (../shared/gpu/bundle.sh), plus what that machine lacks and Stratus needs there:
# runc (with its libseccomp), tini and busybox-static from this machine's Debian packages, and the
# check scripts with .gpu/check.sh, the one command to run there:
#
#   here:   bash scripts/gpu-bundle.sh
#   there:  source .gpu/unpack.sh && bash .gpu/check.sh      (isolation on cgroup v2, then GPU shares)
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
shared="${STRATUS_SHARED:-$root/../shared}"
bash "$shared/gpu/bundle.sh"
mkdir -p .gpu/bin .gpu/lib
for tool in runc tini-static busybox; do
  p=$(command -v "$tool" || true)
  [ -n "$p" ] || { echo "gpu-bundle: $tool is missing here: scripts/install-deps.sh" >&2; exit 1; }
  cp "$(readlink -f "$p")" ".gpu/bin/$tool.real"
done
cp "$(ldd "$(command -v runc)" | awk '/libseccomp/ {print $3}')" .gpu/lib/
cp scripts/gpu-check.sh scripts/gpu-isolation-check.sh .gpu/
cat > .gpu/check.sh <<'EOF'
#!/usr/bin/env bash
# On the GPU machine, after `source .gpu/unpack.sh`: installs runc, tini and busybox where the
# agent and the sandbox look for them (/usr/local, inside the sandbox's host view), then runs the
# isolation check (cgroup v2) and the GPU-share check. Prints both; exits non-zero if either failed.
set -u
g=$(cd "$(dirname "$0")" && pwd)
mkdir -p /usr/local/lib/stratus /usr/local/sbin /usr/local/bin
cp "$g"/lib/libseccomp* /usr/local/lib/stratus/
install -m 0755 "$g/bin/runc.real" /usr/local/lib/stratus/runc
printf '#!/bin/sh\nLD_LIBRARY_PATH=/usr/local/lib/stratus exec /usr/local/lib/stratus/runc "$@"\n' > /usr/local/sbin/runc
chmod 0755 /usr/local/sbin/runc
install -m 0755 "$g/bin/tini-static.real" /usr/local/bin/tini-static
install -m 0755 "$g/bin/busybox.real" /usr/local/bin/busybox
runc --version | head -1
rc=0
# CHECKS=isolation (or gpu) runs one of the two.
case " ${CHECKS:-isolation gpu} " in *" isolation "*) timeout 150 bash "$g/gpu-isolation-check.sh" || rc=1 ;; esac
case " ${CHECKS:-isolation gpu} " in *" gpu "*) timeout 330 bash "$g/gpu-check.sh" || rc=1 ;; esac
exit $rc
EOF
chmod +x .gpu/check.sh
du -sh .gpu
