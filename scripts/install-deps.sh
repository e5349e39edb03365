#!/bin/sh
# Installs the host packages the Stratus drivers use, from the distribution's registry (Debian/Ubuntu).
#
#   runc            the OCI runtime of containers and of sandboxed process instances
#   tini            pid 1 of a sandboxed process: forwards stop signals, reaps orphans
#   busybox-static  a statically linked /bin/busybox, used to build tiny test and example images
#   iproute2        `ip` for network namespaces and veth pairs
#   procps          `ps`, `pkill` for diagnostics
#   nftables        `nft`: project isolation, security groups, published ports, the service load balancer
#   conntrack       `conntrack`: counts a draining backend's open connections (optional; a timeout is used without it)
#   ca-certificates so HTTPS works for later downloads
#   etcd-server     `etcd`: the store of several servers (--store etcd://...); tests start their own members
#   etcd-client     `etcdctl`: inspect, back up and repair an etcd cluster by hand
#   qemu-system-x86 `qemu-system-x86_64`: the vm driver's hypervisor (KVM where it works, else TCG)
#   qemu-utils      `qemu-img`: VM disk images, root disk overlays
#   cloud-image-utils `cloud-localds`: a VM's NoCloud seed disk (user-data, network-config)
#   syslinux        the boot loader of scripts/build-vm-image.sh's image (with syslinux-common)
#   syslinux-common syslinux's BIOS modules
#   mtools          `mcopy`: files onto that image's FAT filesystem without loop mounts
#   dosfstools      `mkfs.vfat`: that FAT filesystem
#
# With --bench, also what the benchmarks compare against (not needed to run Stratus):
#   haproxy         the peer of the load-balancer benchmark (bench/network-lb.ts)
#   wrk             the load generator of that benchmark
#
# With --test, also what only the test suite uses:
#   prometheus      the scrape test (test/prometheus.test.ts starts its own on loopback; Debian's
#                   package also enables a system service on :9090, which the test does not need)
#   chromium        the browser of the dashboard's tests, screenshots and benchmark (test/ui/,
#                   scripts/screenshots.mjs, bench/ui.ts drive it with playwright-core)
#
# Idempotent: packages already installed are skipped; nothing is upgraded.
# Prints what it could not install and why, and exits non-zero only if a package is still missing.
#
# Usage: scripts/install-deps.sh [--no-update] [--bench] [--test] [package ...]
#   --no-update   do not run `apt-get update` first (faster when the package lists are fresh)
#   --bench       also install the benchmarks' peers (haproxy, wrk)
#   --test        also install what only the tests use (prometheus, chromium)
#   package ...   install these instead of the default list
set -u

DEFAULT_PACKAGES="runc tini busybox-static iproute2 procps nftables conntrack ca-certificates etcd-server etcd-client qemu-system-x86 qemu-utils cloud-image-utils syslinux syslinux-common mtools dosfstools"
BENCH_PACKAGES="haproxy wrk"
TEST_PACKAGES="prometheus chromium"
UPDATE=1
PACKAGES=""
for arg in "$@"; do
  case "$arg" in
    --no-update) UPDATE=0 ;;
    --bench) EXTRA="${EXTRA:-} $BENCH_PACKAGES" ;;
    --test) EXTRA="${EXTRA:-} $TEST_PACKAGES" ;;
    -h|--help) sed -n '2,/^set/{ /^#/p; }' "$0"; exit 0 ;;
    -*) echo "install-deps: unknown option '$arg' (known: --no-update, --bench, --test, --help)" >&2; exit 2 ;;
    *) PACKAGES="$PACKAGES $arg" ;;
  esac
done
[ -n "$PACKAGES" ] || PACKAGES="$DEFAULT_PACKAGES"
PACKAGES="$PACKAGES ${EXTRA:-}"

say() { printf 'install-deps: %s\n' "$*"; }

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
  say "apt-get/dpkg-query not found: this script supports Debian and Ubuntu only."
  say "install these packages with your distribution's tools instead:$PACKAGES"
  exit 1
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    SUDO="none"
  fi
fi

installed() {
  status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
  [ "$status" = "install ok installed" ]
}

MISSING=""
for p in $PACKAGES; do
  if installed "$p"; then
    say "$p: already installed ($(dpkg-query -W -f='${Version}' "$p")), skipping"
  else
    MISSING="$MISSING $p"
  fi
done

if [ -z "$MISSING" ]; then
  say "all packages present"
  exit 0
fi

if [ "$SUDO" = "none" ]; then
  say "not root and sudo is not available; cannot install:$MISSING"
  say "run this script as root, or: apt-get install -y$MISSING"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if [ "$UPDATE" = "1" ]; then
  say "apt-get update"
  if ! $SUDO apt-get update -q >/tmp/stratus-install-deps-update.log 2>&1; then
    say "apt-get update failed (continuing with the existing package lists); last lines:"
    tail -n 5 /tmp/stratus-install-deps-update.log | sed 's/^/    /'
  fi
fi

# One package at a time, so one unavailable package does not block the others.
FAILED=""
for p in $MISSING; do
  if ! apt-cache show "$p" >/dev/null 2>&1; then
    say "$p: FAILED - no such package in the configured apt sources (try without --no-update, or check /etc/apt/sources.list)"
    FAILED="$FAILED $p"
    continue
  fi
  say "$p: installing"
  log="/tmp/stratus-install-deps-$p.log"
  if $SUDO apt-get install -y -q --no-install-recommends "$p" >"$log" 2>&1 && installed "$p"; then
    say "$p: installed ($(dpkg-query -W -f='${Version}' "$p"))"
  else
    say "$p: FAILED - apt-get install did not succeed; last lines of $log:"
    tail -n 5 "$log" | sed 's/^/    /'
    FAILED="$FAILED $p"
  fi
done

if [ -n "$FAILED" ]; then
  say "could not install:$FAILED"
  exit 1
fi
say "done"
