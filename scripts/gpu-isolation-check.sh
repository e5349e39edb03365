#!/usr/bin/env bash
# Tenant isolation on a cgroup-v2-only machine (the GPU check machine is one; the development
# machine is hybrid v1/v2). One server with its embedded agent; a member of team-a runs a
# sandboxed process and a container (user namespace) that try the escapes of the isolation suite
# against team-b's instances; each prints "name=exit code" and must fail. Also: the memory limit
# (an OOM kill reported as OOMKilled) and the CPU quota (cpu.max) of a sandboxed process on v2.
#
# Usage: bash scripts/gpu-isolation-check.sh     (root; runc, tini and busybox-static on PATH or in
#        .gpu/bin, see scripts/gpu-bundle.sh). Prints PASS/FAIL lines; exits 0 when all pass.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if command -v stratus >/dev/null; then S=(stratus); else S=(node "$here/../bin/stratus.js"); fi
say() { printf '\n=== %s\n' "$*"; }
failures=0
check() { if [ "$1" = ok ]; then echo "PASS $2"; else echo "FAIL $2"; failures=$((failures + 1)); fi; }

say "machine"
uname -r; id -u
grep -E ' - cgroup2? ' /proc/self/mountinfo | awk '{print $5, $9}'
echo "runc: $(command -v runc || echo missing) $(runc --version 2>/dev/null | head -1)"
echo "tini: $(command -v tini-static || command -v tini || echo missing)"
busybox=$(command -v busybox || true)
echo "busybox: ${busybox:-missing}"

data=$(mktemp -d /tmp/stratus-isocheck.XXXXXX)
port=$(( 20000 + RANDOM % 20000 ))
export STRATUS_CONFIG="$data/cli.json" STRATUS_BOOTSTRAP_TOKEN="isocheck-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
"${S[@]}" server --data-dir "$data" --port "$port" --store-sync normal --netns-prefix "isochk-" > "$data/server.log" 2>&1 &
server=$!
cleanup() {
  say "cleanup"
  "${S[@]}" delete project team-a --cascade >/dev/null 2>&1
  "${S[@]}" delete project team-b --cascade >/dev/null 2>&1
  for _ in $(seq 1 100); do [ -z "$(ls -A "$data/agent/tasks" 2>/dev/null)" ] && break; sleep 0.2; done
  kill -TERM "$server" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$server" 2>/dev/null
  echo "left in $data/agent/tasks: $(ls "$data/agent/tasks" 2>/dev/null | wc -l)"
}
trap cleanup EXIT
for _ in $(seq 1 150); do grep -q 'ready at' "$data/server.log" && break; kill -0 "$server" 2>/dev/null || break; sleep 0.2; done
grep -q 'ready at' "$data/server.log" || { cat "$data/server.log"; echo "FAIL the server did not start"; exit 2; }
"${S[@]}" login --server "http://127.0.0.1:$port" --token "$STRATUS_BOOTSTRAP_TOKEN" >/dev/null
node=""
for _ in $(seq 1 50); do node=$("${S[@]}" get nodes -o name 2>/dev/null | head -1 | sed 's|^node/||') && [ -n "$node" ] && break; sleep 0.2; done
for _ in $(seq 1 50); do "${S[@]}" get nodes 2>/dev/null | grep -q Ready && break; sleep 0.2; done
say "describe node $node"
"${S[@]}" describe node "$node" | sed -n '/^Drivers:/,/^Spec:/p'

for p in team-a team-b; do "${S[@]}" project create "$p" >/dev/null; done
"${S[@]}" user create alice --role team-a:member >/dev/null
alice=$("${S[@]}" token create --user alice -o secret 2>/dev/null | tail -1)
[ -n "$alice" ] || { echo "FAIL could not make a token for alice"; exit 2; }
A=("${S[@]}" --token "$alice" -p team-a)

if [ -n "$busybox" ]; then
  mkdir -p "$data/busybox/bin" "$data/busybox/etc" "$data/busybox/proc" "$data/busybox/sys" "$data/busybox/dev" "$data/busybox/tmp"
  cp "$busybox" "$data/busybox/bin/busybox"
  for a in $("$busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$data/busybox/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$data/busybox/etc/passwd"
  for p in team-a team-b; do "${S[@]}" -p "$p" image import busybox "$data/busybox" >/dev/null; done
fi

waitphase() { # project name phases-regex
  for _ in $(seq 1 300); do
    ph=$("${S[@]}" -p "$1" get instance "$2" -o json 2>/dev/null | sed -n 's/.*"phase": *"\([A-Za-z]*\)".*/\1/p' | head -1)
    echo "$ph" | grep -qE "^($3)$" && { echo "$ph"; return 0; }
    sleep 0.2
  done
  echo "${ph:-none}"; return 1
}
field() { "${S[@]}" -p "$1" get instance "$2" -o json | sed -n "s/.*\"$3\": *\([0-9]*\).*/\1/p" | head -1; }

say "team-b's instances (a secret in their env)"
"${S[@]}" -p team-b apply -f - >/dev/null <<'EOF'
kind: instance
metadata: {name: db}
spec: {driver: process, command: [sleep, "3600"], env: {DB_PASSWORD: hunter2-team-b}, resources: {cpu: 100m, memory: 64Mi}}
EOF
echo "db: $(waitphase team-b db Running)"
V=$(field team-b db pid)
NS=$(ls /run/netns 2>/dev/null | grep '^isochk-' | head -1)
echo "victim pid $V, a namespace of this node: ${NS:-none}"

ESCAPES='echo "uid=$(id -u)"; cat /proc/$V/environ >/dev/null 2>&1; echo "read-environ=$?"; grep -l hunter2-team-b /proc/*/environ >/dev/null 2>&1; echo "grep-environ=$?"; cat '"$data"'/agent/credential.json >/dev/null 2>&1; echo "credential=$?"; cat '"$data"'/stratus.db >/dev/null 2>&1; echo "database=$?"; kill -9 $V 2>/dev/null; echo "signal=$?"; nsenter --net=/run/netns/$NS true 2>/dev/null; echo "setns=$?"; unshare -U true 2>/dev/null; echo "unshare-user=$?"; unshare -n true 2>/dev/null; echo "unshare-net=$?"'
run_escape() { # name driver-yaml
  "${A[@]}" apply -f - >/dev/null <<EOF
kind: instance
metadata: {name: $1}
spec: {$2, restartPolicy: never, resources: {cpu: 100m, memory: 64Mi}, env: {V: "$V", NS: "${NS:-none}"}, command: [sh, -c, '$(printf '%s' "$ESCAPES" | sed "s/'/''/g")']}
EOF
  echo "$1: $(waitphase team-a "$1" 'Succeeded|Failed')"
  out=$("${A[@]}" logs "$1"); echo "$out"
  for k in read-environ grep-environ credential database signal setns unshare-user unshare-net; do
    rc=$(echo "$out" | sed -n "s/^$k=\([0-9]*\)$/\1/p")
    [ -n "$rc" ] && [ "$rc" != 0 ] && check ok "$1: $k refused (exit $rc)" || check no "$1: $k (exit ${rc:-missing})"
  done
  echo "$out" | grep -q hunter2 && check no "$1: the secret leaked" || check ok "$1: no secret in its output"
}
say "a sandboxed process of team-a tries to escape"
run_escape escape-process 'driver: process'
uid=$("${A[@]}" logs escape-process | sed -n 's/^uid=//p')
[ -n "$uid" ] && [ "$uid" -gt 65535 ] && check ok "process runs as the project's uid $uid" || check no "process uid ${uid:-?}"
if [ -n "$busybox" ]; then
  say "a container of team-a tries to escape"
  run_escape escape-container 'driver: container, image: busybox'
fi
[ "$(waitphase team-b db Running)" = Running ] && [ "$(field team-b db pid)" = "$V" ] && check ok "team-b's instance untouched (pid $V)" || check no "team-b's instance changed"

say "limits of a sandboxed process on this cgroup hierarchy"
"${A[@]}" apply -f - >/dev/null <<'EOF'
kind: instance
metadata: {name: hog}
spec: {driver: process, restartPolicy: never, resources: {cpu: 250m, memory: 32Mi}, command: [sh, -c, 'cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us; cat /proc/self/cgroup; a=x; while :; do a=$a$a; done']}
EOF
echo "hog: $(waitphase team-a hog 'Succeeded|Failed')"
reason=$("${A[@]}" get instance hog -o json | sed -n 's/.*"reason": *"\([A-Za-z]*\)".*/\1/p' | head -1)
[ "$reason" = OOMKilled ] && check ok "memory hog OOMKilled at 32Mi" || check no "memory hog ended with ${reason:-?}"
quota=$("${A[@]}" logs hog | head -1)
echo "cpu quota seen inside: $quota"
case "$quota" in "25000 100000"|25000) check ok "cpu quota 250m";; *) check no "cpu quota ($quota)";; esac
own=$("${A[@]}" logs hog | sed -n '2,$p')
echo "its /proc/self/cgroup: $own"
if [ -n "$own" ] && ! echo "$own" | grep -qv ':/$'; then check ok "own cgroup namespace"; else check no "cgroup namespace (it sees the node's cgroup paths: $own)"; fi
ls -ld /run/stratus /run/stratus/userns 2>/dev/null

say "result: $failures failed"
[ "$failures" = 0 ]
