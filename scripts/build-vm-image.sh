#!/bin/sh
# Builds a small bootable VM disk image from Debian packages, with no internet beyond the Debian
# archive: Debian's kernel (linux-image-amd64, fetched with `apt-get download` and unpacked, never
# installed on the host), a busybox-static initramfs, and syslinux on a FAT filesystem made
# without loop mounts (mkfs.vfat + mtools), converted to qcow2.
#
#   OUT.qcow2 ─ FAT (label STRATUSVM), syslinux boot sector
#               ├─ vmlinuz         Debian's kernel
#               ├─ initrd.img      busybox + virtio/ACPI/iso9660/vfat modules + /init (below)
#               └─ syslinux.cfg    console=ttyS0
#
# The guest's /init (the whole OS; it runs from RAM and never touches the disk again):
#   - mounts proc, sys, devtmpfs; loads the virtio, ACPI button, evdev, iso9660 and vfat modules
#   - reads the NoCloud seed (the disk labelled `cidata`): meta-data local-hostname → hostname;
#     network-config v2 → eth0's static address, gateway, MTU and DNS (or DHCP with `dhcp4: true`,
#     and DHCP when there is no seed: QEMU's user-mode network)
#   - serves HTTP on :80 (busybox httpd): a page naming the instance
#   - runs the user-data when it starts with `#!` (output on the serial console)
#   - powers off on the ACPI power button (busybox acpid), so `system_powerdown` is a clean stop
#   - gives a root shell on the serial console (ttyS0), respawned when it exits
# Everything it says on the console starts with "stratus-vm:".
#
# Usage: scripts/build-vm-image.sh OUT.qcow2
#   STRATUS_VM_KERNEL_DEB=path   use this linux-image .deb instead of downloading one
#   STRATUS_VM_CACHE=dir         where downloaded .debs are kept (default /var/cache/stratus, else $TMPDIR)
# Needs (scripts/install-deps.sh installs them): busybox-static, syslinux, syslinux-common, mtools,
# dosfstools, qemu-utils, kmod (modinfo), apt (apt-get download).
set -eu

say() { printf 'build-vm-image: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUT.qcow2"
OUT=$1
case "$OUT" in -*) die "usage: $0 OUT.qcow2 (OUT must not start with '-')" ;; esac

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: install the Debian package $2 (scripts/install-deps.sh)"; }
need mkfs.vfat dosfstools
need mcopy mtools
need syslinux syslinux
need qemu-img qemu-utils
need modinfo kmod
need dpkg-deb dpkg
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] && "$BUSYBOX" --help 2>&1 | head -1 | grep -q BusyBox || die "$BUSYBOX not found: install the Debian package busybox-static"
file -L "$BUSYBOX" 2>/dev/null | grep -q dynamically && die "$BUSYBOX is dynamically linked: install busybox-static"
[ -f /usr/lib/syslinux/modules/bios/ldlinux.c32 ] || die "syslinux's BIOS modules not found: install the Debian package syslinux-common"

CACHE=${STRATUS_VM_CACHE:-/var/cache/stratus}
mkdir -p "$CACHE" 2>/dev/null && [ -w "$CACHE" ] || CACHE=${TMPDIR:-/tmp}/stratus-cache
mkdir -p "$CACHE"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/stratus-vm-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM

# --- the kernel -----------------------------------------------------------------------------
DEB=${STRATUS_VM_KERNEL_DEB:-}
if [ -z "$DEB" ]; then
  need apt-get apt
  PKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
  [ -n "$PKG" ] || die "apt knows no linux-image-amd64 (run apt-get update, or set STRATUS_VM_KERNEL_DEB to a linux-image .deb)"
  DEB=$(ls "$CACHE"/"${PKG}"_*.deb 2>/dev/null | head -n 1 || true)
  if [ -z "$DEB" ]; then
    say "downloading $PKG (apt-get download)"
    (cd "$CACHE" && apt-get download -q "$PKG" >/dev/null 2>"$WORK/apt.log") || { cat "$WORK/apt.log" >&2; die "apt-get download $PKG failed"; }
    DEB=$(ls "$CACHE"/"${PKG}"_*.deb | head -n 1)
  fi
fi
say "kernel from $DEB"
dpkg-deb -x "$DEB" "$WORK/kernel"
KVER=$(ls "$WORK/kernel/lib/modules" | head -n 1)
KMOD="$WORK/kernel/lib/modules/$KVER/kernel"
VMLINUZ=$(ls "$WORK"/kernel/boot/vmlinuz-* | head -n 1)

# --- the initramfs --------------------------------------------------------------------------
ROOT="$WORK/root"
mkdir -p "$ROOT/bin" "$ROOT/lib/modules" "$ROOT/etc/acpi" "$ROOT/www" "$ROOT/usr/share/udhcpc"
cp "$BUSYBOX" "$ROOT/bin/busybox"

# Modules in load order (dependencies first); a module built into this kernel is skipped.
ORDER="$ROOT/lib/modules/order"
: >"$ORDER"
add_module() {
  local f dep # sh functions share variables: the recursion below must not overwrite this call's
  grep -qx "$1" "$ORDER" && return 0
  f=$(find "$KMOD" -name "$1.ko" -o -name "$1.ko.xz" | head -n 1)
  [ -n "$f" ] || return 0 # built into this kernel (or absent: /init carries on without it)
  for dep in $(modinfo -F depends "$f" | tr ',' ' '); do add_module "$dep"; done
  case "$f" in
    *.xz) xz -dc "$f" >"$ROOT/lib/modules/$1.ko" ;;
    *) cp "$f" "$ROOT/lib/modules/$1.ko" ;;
  esac
  echo "$1" >>"$ORDER"
}
for m in virtio_pci virtio_blk virtio_net button evdev isofs vfat nls_cp437 nls_iso8859_1; do add_module "$m"; done

cat >"$ROOT/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /run /tmp /seed /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
say() { echo "stratus-vm: $*"; }
say "booting ($(uname -r))"
for m in $(cat /lib/modules/order); do insmod "/lib/modules/$m.ko" 2>/dev/null; done

# The NoCloud seed: the disk labelled cidata (iso9660 from cloud-localds, or vfat).
seed=""
for _ in 1 2 3 4 5 6 7 8 9 10; do
  seed=$(findfs LABEL=cidata 2>/dev/null || findfs LABEL=CIDATA 2>/dev/null || true)
  [ -n "$seed" ] && break
  ls /dev/vd* >/dev/null 2>&1 && break # disks are there and none is a seed
  sleep 0.2
done
if [ -n "$seed" ] && mount -o ro "$seed" /seed; then say "seed from $seed"; else say "no seed disk (label cidata)"; fi

name=$(sed -n 's/^local-hostname: *//p' /seed/meta-data 2>/dev/null | tr -d "\"' ")
[ -n "$name" ] || name=stratus-vm
hostname "$name"
echo "$name" >/etc/hostname

# network-config v2, the subset the vm driver writes: eth0's addresses, gateway4, mtu,
# nameservers (flow lists: [a, b]), or dhcp4: true.
netcfg=/seed/network-config
field() { sed -n "s/^ *$1: *//p" "$netcfg" 2>/dev/null | head -n 1 | tr -d '[]"'"'" | tr ',' ' '; }
ip link set lo up
mtu=$(field mtu)
[ -n "$mtu" ] && ip link set eth0 mtu "$mtu"
ip link set eth0 up 2>/dev/null || say "no eth0"
addr=$(field addresses | awk '{ print $1 }')
if [ -n "$addr" ]; then
  ip addr add "$addr" dev eth0
  gw=$(field gateway4)
  [ -n "$gw" ] && ip route add default via "$gw"
  : >/etc/resolv.conf
  dns=$(sed -n '/nameservers:/,$ s/^ *addresses: *//p' "$netcfg" | head -n 1 | tr -d '[]"'"'" | tr ',' ' ')
  for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
  search=$(field search)
  [ -n "$search" ] && echo "search $search" >>/etc/resolv.conf
  say "eth0 $addr gateway ${gw:-none} dns ${dns:-none}"
else
  udhcpc -i eth0 -b -q -t 5 -T 1 -s /usr/share/udhcpc/default.script >/dev/null 2>&1
  say "eth0 $(ip -4 -o addr show eth0 | awk '{ print $4 }') (dhcp)"
fi

# ACPI power button → clean power off.
acpid -c /etc/acpi -a /etc/acpid.conf -l /tmp/acpid.log

cat >/www/index.html <<HTML
<!doctype html><title>$name</title><h1>stratus vm $name</h1>
HTML
httpd -p 80 -h /www
say "http on :80"

if [ -f /seed/user-data ] && [ "$(head -c 2 /seed/user-data)" = '#!' ]; then
  cp /seed/user-data /run/user-data && chmod 0700 /run/user-data
  ( /run/user-data; say "user-data exited $?" ) &
fi
say "ready: $name"

while :; do
  setsid -c sh -l </dev/ttyS0 >/dev/ttyS0 2>&1
  sleep 1
done
EOF
chmod 0755 "$ROOT/init"

cat >"$ROOT/etc/acpid.conf" <<'EOF'
PWRF power
PWRB power
EOF
cat >"$ROOT/etc/acpi/power" <<'EOF'
#!/bin/sh
echo "stratus-vm: power button: powering off" >/dev/console
sync
poweroff -f
EOF
chmod 0755 "$ROOT/etc/acpi/power"

cat >"$ROOT/usr/share/udhcpc/default.script" <<'EOF'
#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route add default via "$r"; break; done
    : >/etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done ;;
esac
EOF
chmod 0755 "$ROOT/usr/share/udhcpc/default.script"
echo 'export PS1="\h:\w# "' >"$ROOT/etc/profile"

(cd "$ROOT" && find . | sort | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -9) >"$WORK/initrd.img"

# --- the boot filesystem --------------------------------------------------------------------
cat >"$WORK/syslinux.cfg" <<'EOF'
DEFAULT stratus
PROMPT 0
TIMEOUT 0
LABEL stratus
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND console=ttyS0,115200 quiet panic=-1
EOF
cp "$VMLINUZ" "$WORK/vmlinuz"
KIB=$(du -k "$WORK/vmlinuz" "$WORK/initrd.img" | awk '{ s += $1 } END { print s + 4096 }')
truncate -s "${KIB}K" "$WORK/disk.raw"
mkfs.vfat -n STRATUSVM "$WORK/disk.raw" >/dev/null
export MTOOLS_SKIP_CHECK=1
mcopy -i "$WORK/disk.raw" "$WORK/vmlinuz" "$WORK/initrd.img" "$WORK/syslinux.cfg" ::/
syslinux --install "$WORK/disk.raw"
# An unpartitioned FAT: syslinux's boot sector is the disk's first sector, which the BIOS runs.

mkdir -p "$(dirname "$OUT")"
qemu-img convert -q -f raw -O qcow2 "$WORK/disk.raw" "$OUT.tmp.$$"
mv "$OUT.tmp.$$" "$OUT"
say "wrote $OUT ($(du -k "$OUT" | awk '{ print $1 }') KiB; kernel $KVER)"
