#!/bin/bash
# Runs the API, scheduler end-to-end and live-latency benchmarks on two commits, interleaved
# (before, after, before, after), each from its own clone and build, so that a change's cost is
# measured in the same conditions as what it replaced.
#
#   bash bench/compare-commits.sh BEFORE AFTER [SETS]     e.g. bash bench/compare-commits.sh 171783e HEAD 2
#
# Clones go to a temporary directory (removed at the end; node_modules are hard links of this
# checkout's). Prints each benchmark's table rows, labelled.
set -euo pipefail
before=$(git rev-parse "${1:?usage: compare-commits.sh BEFORE AFTER [SETS]}")
after=$(git rev-parse "${2:?usage: compare-commits.sh BEFORE AFTER [SETS]}")
sets=${3:-2}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d /tmp/stratus-compare-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
for c in before after; do
  git clone -q "$root" "$tmp/$c"
  git -C "$tmp/$c" checkout -q "${!c}"
  cp -al "$root/node_modules" "$tmp/$c/node_modules"
  (cd "$tmp/$c" && npm run build >/dev/null)
done
run() { # label, command...
  local label=$1; shift
  for i in $(seq 1 "$sets"); do
    for c in before after; do
      echo "=== $label $c (${!c:0:7}) set $i, load $(cut -d' ' -f1-3 /proc/loadavg)"
      (cd "$tmp/$c" && "$@" 2>&1 | grep -E '^\| (create|get|list|1,000|5,000)|^watch|^p50' || true)
    done
  done
}
run api npx tsx bench/api.ts --rounds 3 --seconds 3 --watch-samples 1000
run scheduler-e2e npx tsx bench/scheduler-e2e.ts --nodes 1000 --instances 3000 --rounds 2
sets=$((sets * 4)) run scheduler-live npx tsx bench/scheduler-live.ts
