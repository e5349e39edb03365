#!/usr/bin/env bash
# GPU shares on a real NVIDIA GPU (issue 13, point 4). One run, about 3 minutes of GPU time:
#   1. a server with its embedded agent, a fresh --data-dir and --port: `describe node` says how
#      GPU shares are isolated;
#   2. one whole-GPU instance (count: 1): allocates 1 GiB at a time until CUDA is out of memory,
#      then a bf16 matmul loop (TFLOP/s) — the reference;
#   3. two `gpu: {share: 500}` instances at once on the same device: each allocates until CUDA is out
#      of memory (one after the other, while the other one runs), then both run the matmul loop in
#      the same 20 s window. Expected with MPS: each stops near half of the device's memory, each
#      gets about half of the whole-GPU throughput;
#   4. describe node, describe instance (GPU memory in Usage) and the logs; then everything is
#      deleted, the server stopped, and its MPS daemon checked gone (a reused machine keeps processes).
# Usage (GPU machine, from the project root with .gpu/ unpacked: stratus on PATH, or node + bin/;
# runc and tini on PATH or in .gpu/bin):
#   bash .gpu/gpu-check.sh                       exits 0 when every instance printed its results
#   GPU_CHECK_REHEARSE=1 bash scripts/gpu-check.sh   the same flow without a GPU (fake tools first on
#                                                PATH): everything printed, instances fail, exit 1
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# What travels with the check (runc, tini, ...): .gpu/bin, beside this script or in the project root.
for d in "$here/bin" "$here/../.gpu/bin"; do [ -d "$d" ] && PATH="$(cd "$d" && pwd):$PATH"; done
if command -v stratus >/dev/null; then S=(stratus); else S=(node "$here/../bin/stratus.js"); fi
say() { printf '\n=== %s\n' "$*"; }
fail() { echo "gpu-check: $*" >&2; exit 2; }
rehearse=${GPU_CHECK_REHEARSE:-}

# --- what this machine has --------------------------------------------------------------------
say "machine"
uname -r; id -u
if ! gpus=$(timeout 20 nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader 2>&1) || [ -z "$gpus" ]; then
  [ -n "$rehearse" ] || fail "no NVIDIA GPU here: nvidia-smi: ${gpus:-no output} (GPU_CHECK_REHEARSE=1 runs the flow anyway)"
fi
echo "$gpus"
mps=$(command -v nvidia-cuda-mps-control || ls /usr/local/nvidia/bin/nvidia-cuda-mps-control 2>/dev/null || true)
echo "nvidia-cuda-mps-control: ${mps:-not found}"
py=$(python3 -c 'import sys; print(sys.executable)') || fail "python3 not found"  # the real path: shims need dirs the sandbox hides
pyinfo=$(timeout 60 "$py" -c 'import sys, os; print(sys.prefix)
try:
    import torch; print(os.path.dirname(os.path.dirname(torch.__file__))); print("torch", torch.__version__, "cuda", torch.version.cuda, file=sys.stderr)
except Exception as e:
    print("no torch:", e, file=sys.stderr)' 2>&1 >/dev/null; true)
echo "python3: $py; $pyinfo"
echo "runc: $(command -v runc || echo 'not found: sandboxed instances cannot start')"

# --- a server of our own ----------------------------------------------------------------------
data=$(mktemp -d /tmp/stratus-gpucheck.XXXXXX)
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export STRATUS_CONFIG="$data/cli.json" STRATUS_BOOTSTRAP_TOKEN="gpucheck-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
# The sandbox shows the node's system dirs; python's prefix and torch's site dir must be in it too.
view=$(timeout 60 "$py" - 2>/dev/null <<'PYEOF' || echo /bin,/sbin,/lib,/lib32,/lib64,/libx32,/usr,/etc
import os, sys
dirs = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr", "/etc"]
extra = [sys.prefix, os.path.realpath(sys.prefix)]
try:
    import torch
    extra.append(os.path.dirname(os.path.dirname(torch.__file__)))
except Exception:
    pass
for d in extra:  # only what no shown directory holds already (no nested binds)
    if not any(d == v or d.startswith(v + "/") for v in dirs):
        dirs = [v for v in dirs if not v.startswith(d + "/")] + [d]
print(",".join(dirs))
PYEOF
)
say "server on 127.0.0.1:$port, data dir $data, sandbox view $view"
"${S[@]}" server --data-dir "$data" --port "$port" --store-sync normal --network host --sandbox-paths "$view" > "$data/server.log" 2>&1 &
server=$!
names=()
cleanup() {
  say "cleanup"
  for n in "${names[@]}"; do "${S[@]}" delete instance "$n" >/dev/null 2>&1; done
  for _ in $(seq 1 100); do [ -z "$(ls -A "$data/agent/instances" 2>/dev/null)" ] && break; sleep 0.2; done
  kill -TERM "$server" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$server" 2>/dev/null
  grep -E 'MPS control daemon' "$data/server.log" || true
  pidfile="$data/agent/mps/pipe/nvidia-cuda-mps-control.pid"
  if [ -f "$pidfile" ] && grep -q nvidia-cuda-mps-control "/proc/$(cat "$pidfile")/cmdline" 2>/dev/null; then
    echo "the MPS daemon (pid $(cat "$pidfile")) is still running: quitting it"
    echo quit | CUDA_MPS_PIPE_DIRECTORY="$data/agent/mps/pipe" timeout 20 "${mps:-nvidia-cuda-mps-control}"
  else
    echo "no MPS daemon left running"
  fi
}
trap cleanup EXIT
for _ in $(seq 1 150); do grep -q 'ready at' "$data/server.log" && break; kill -0 "$server" 2>/dev/null || break; sleep 0.2; done
grep -q 'ready at' "$data/server.log" || { cat "$data/server.log"; fail "the server did not start"; }
"${S[@]}" login --server "http://127.0.0.1:$port" --token "$STRATUS_BOOTSTRAP_TOKEN" >/dev/null || fail "login failed"
node=""
for _ in $(seq 1 50); do node=$("${S[@]}" get nodes -o json 2>/dev/null | "$py" -c 'import json, sys; i = json.load(sys.stdin)["items"]; print(i[0]["metadata"]["name"] if i else "")' 2>/dev/null) && [ -n "$node" ] && break; sleep 0.2; done
say "describe node $node"
"${S[@]}" describe node "$node" | sed -n '1,/^Spec:/p'

# --- the workload: one program, run by each instance ------------------------------------------
# argv: OOM_AT MATMUL_AT MATMUL_SECONDS (epoch seconds). Prints one result line per phase.
read -r -d '' PROGRAM <<'EOF'
import os, sys, time
name = os.environ.get("STRATUS_INSTANCE", "?")
def say(*a): print(name, time.strftime("%H:%M:%S"), *a, flush=True)
oom_at, mm_at, mm_secs = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
import torch
dev = torch.device("cuda")
say("sees", torch.cuda.get_device_name(0), "limit", os.environ.get("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT", "none"), "threads", os.environ.get("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", "all"))
held = torch.empty(1 << 30, dtype=torch.uint8, device=dev)
time.sleep(max(0.0, oom_at - time.time()))
chunks = [held]
try:
    while True:
        chunks.append(torch.empty(1 << 30, dtype=torch.uint8, device=dev))
except torch.cuda.OutOfMemoryError as e:
    say("RESULT oom: allocated", len(chunks), "GiB, then CUDA out of memory:", str(e).splitlines()[0][:100])
del chunks, held
torch.cuda.empty_cache()
a = torch.randn(8192, 8192, dtype=torch.bfloat16, device=dev)
b = torch.randn_like(a)
for _ in range(3):
    a @ b
torch.cuda.synchronize()
say("still running, waiting for the matmul window")
time.sleep(max(0.0, mm_at - time.time()))
n, t0 = 0, time.time()
while time.time() - t0 < mm_secs:
    for _ in range(10):
        c = a @ b
    torch.cuda.synchronize()
    n += 10
dt = time.time() - t0
say("RESULT matmul: bf16 8192^3 %.1f TFLOP/s over %.1f s, started %+.1f s after the window opened" % (2 * 8192 ** 3 * n / dt / 1e12, dt, t0 - mm_at))
time.sleep(5)
EOF

# A share that leaves MPS: at $1 it drops the CUDA_MPS_* variables the platform set (as a hostile
# workload can) and asks for 100 GiB outside MPS. Where the device is in EXCLUSIVE_PROCESS mode and
# the MPS server holds it, CUDA must refuse. Holds a context until $2 when it got one.
read -r -d '' LEAVE_MPS <<'EOF'
import os, sys, time
name = os.environ.get("STRATUS_INSTANCE", "?")
def say(*a): print(name, time.strftime("%H:%M:%S"), *a, flush=True)
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
left = sorted(k for k in os.environ if k.startswith("CUDA_MPS_"))
for k in left: del os.environ[k]
say("dropped", ",".join(left) or "nothing")
import torch
try:
    x = torch.empty(100 << 30, dtype=torch.uint8, device="cuda")
    say("RESULT leave-mps: allocated 100 GiB outside MPS")
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
except Exception as e:
    say("RESULT leave-mps: refused:", str(e).splitlines()[0][:140])
EOF

# Writes a stack with instance NAME (gpu: GPU_YAML) running PROGRAM with its times, and applies it.
apply() {
  local name=$1 gpu=$2 oom_at=$3 mm_at=$4 mm_secs=$5 program=${6:-$PROGRAM} f="$data/$1.yaml"
  {
    echo "name: gpucheck-$name"
    echo "instances:"
    echo "  $name:"
    echo "    driver: process"
    echo "    restartPolicy: never"
    echo "    resources: {cpu: '2', memory: 8Gi, gpu: $gpu}"
    [ -n "${LD_LIBRARY_PATH:-}" ] && echo "    env: {LD_LIBRARY_PATH: '$LD_LIBRARY_PATH'}"
    echo "    command:"
    echo "      - $py"
    echo "      - -c"
    echo "      - |"
    printf '%s\n' "$program" | sed 's/^/        /'
    echo "      - '$oom_at'"
    echo "      - '$mm_at'"
    echo "      - '$mm_secs'"
  } > "$f"
  names+=("$name")
  "${S[@]}" apply -f "$f" | tail -1
}
# "Running", "Succeeded", "Pending/Unschedulable", ...
phase() { "${S[@]}" get instance "$1" -o json 2>/dev/null | "$py" -c 'import json, sys; s = json.load(sys.stdin).get("status", {}); print(s.get("phase", "?") + ("/" + s["reason"] if s.get("phase") == "Pending" and s.get("reason") else ""))' 2>/dev/null || echo '?'; }
# Waits until the epoch time $1, or until every named instance is over (finished, or unschedulable: it never will run).
wait_until() {
  local until=$1; shift
  while [ "$(date +%s)" -lt "$until" ]; do
    local open=0
    for n in "$@"; do case "$(phase "$n")" in Succeeded|Failed|Lost|Pending/Unschedulable) ;; *) open=1 ;; esac; done
    [ $open = 0 ] && return 0
    sleep 2
  done
  return 1
}
wait_done() { wait_until $(( $(date +%s) + $1 )) "${@:2}" || echo "gpu-check: ${*:2} not finished in time"; }
show() {
  for n in "$@"; do
    say "describe instance $n"
    "${S[@]}" describe instance "$n" | grep -E '^(Phase|Message|Node|GPUs|PID|Exit code|Usage):' || true
  done
}

say "whole GPU (reference)"
now=$(date +%s)
apply whole '{count: 1}' $((now + 25)) $((now + 40)) 15
wait_until $((now + 45)) whole; show whole; timeout 10 nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader || true
wait_done 90 whole
show whole

say "two shares of 500 at once"
now=$(date +%s)
apply share-a '{share: 500}' $((now + 35)) $((now + 65)) 20
apply share-b '{share: 500}' $((now + 50)) $((now + 65)) 20
wait_until $((now + 78)) share-a share-b; show share-a share-b; timeout 10 nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader || true
timeout 15 nvidia-smi pmon -c 1 || true
wait_done 60 share-a share-b
show share-a share-b

say "a share that leaves MPS while another share runs (EXCLUSIVE_PROCESS must refuse it)"
now=$(date +%s)
apply holder '{share: 500}' $((now + 15)) $((now + 20)) 15
apply leave-mps '{share: 500}' $((now + 30)) $((now + 40)) 0 "$LEAVE_MPS"
wait_done 90 holder leave-mps
"${S[@]}" logs leave-mps 2>&1 | tail -n 3
timeout 10 nvidia-smi --query-gpu=index,compute_mode --format=csv,noheader || true

say "a share that leaves MPS when no share runs"
now=$(date +%s)
apply leave-alone '{share: 500}' $((now + 10)) $((now + 12)) 0 "$LEAVE_MPS"
wait_done 60 leave-alone
"${S[@]}" logs leave-alone 2>&1 | tail -n 3

say "describe node $node"
"${S[@]}" describe node "$node" | grep -E '^(GPU shares|Capacity|  GpuShares)' || true
for n in "${names[@]}"; do say "logs $n"; "${S[@]}" logs "$n" 2>&1 | tail -n 20; done
say "summary"
results=$(for n in "${names[@]}"; do "${S[@]}" logs "$n" 2>/dev/null | grep ' RESULT '; done)
echo "$results"
mem=$(grep -o '[0-9]* MiB' <<<"$gpus" | head -1 | cut -d' ' -f1)
RESULTS="$results" "$py" - "${mem:-0}" <<'PYEOF'
import os, re, sys
mib = int(sys.argv[1]) or 1
got = {}
for line in os.environ["RESULTS"].splitlines():
    name = line.split()[0]
    m = re.search(r"allocated (\d+) GiB", line)
    if m: got.setdefault(name, {})["gib"] = int(m.group(1))
    m = re.search(r"([\d.]+) TFLOP/s", line)
    if m: got.setdefault(name, {})["tflops"] = float(m.group(1))
whole = got.get("whole", {}).get("tflops")
for name, r in sorted(got.items()):
    gib, tf = r.get("gib"), r.get("tflops")
    print(f"{name:8} memory {gib if gib is not None else '?'} GiB ({100 * gib * 1024 / mib:.0f} % of the device)" if gib is not None else f"{name:8} memory ?", end="")
    print(f", matmul {tf} TFLOP/s" + (f" ({tf / whole:.2f} of whole)" if tf and whole else "") if tf else ", matmul ?")
PYEOF
echo "($(grep -c ' RESULT ' <<<"$results") of 10 results; the MPS control log is $data/agent/mps/log/control.log)"
tail -n 5 "$data/agent/mps/log/control.log" 2>/dev/null
[ "$(grep -c ' RESULT ' <<<"$results")" = 10 ]
