/**
 * Fake NVIDIA tools for tests (CI has no GPU): `nvidia-smi` and `nvidia-cuda-mps-control` as shell
 * scripts in a directory that tests put first on PATH. Both record every call (arguments and the
 * MPS environment) in `calls.log`; the fake control daemon is a real background process that writes
 * its pid file into CUDA_MPS_PIPE_DIRECTORY and ends on `quit` (or when the directory is removed).
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FakeGpu {
  index: number;
  name: string;
  memory: number;
  uuid?: string;
  utilization?: number;
}

export interface FakeGpuTools {
  /** Put first on PATH. */
  bin: string;
  /** Every call so far, one line each: "<tool> <args> | PIPE=... LOG=... CVD=...". */
  calls(): string[];
  /** The devices nvidia-smi reports from now on (uuid, utilization: "[N/A]" when absent). */
  setGpus(gpus: FakeGpu[]): void;
  setComputeApps(csv: string): void;
  setPmon(text: string): void;
  /** Makes `nvidia-smi -i N -c MODE` fail (as where compute modes cannot be set). */
  computeModeFails(): void;
}

/**
 * Writes the fakes into `dir`. `mps: false` leaves out nvidia-cuda-mps-control; `multiUser: false`
 * makes its `-h` lack the -M option (drivers without multi-user MPS); `startFails` makes `-d` fail.
 */
export function fakeGpuTools(dir: string, opts: { mps?: boolean; multiUser?: boolean; startFails?: boolean } = {}): FakeGpuTools {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const log = join(dir, 'calls.log');
  writeFileSync(log, '');
  const record = `echo "$(basename "$0") $* | PIPE=\${CUDA_MPS_PIPE_DIRECTORY-} LOG=\${CUDA_MPS_LOG_DIRECTORY-} CVD=\${CUDA_VISIBLE_DEVICES-unset}" >> '${log}'`;
  script(join(bin, 'nvidia-smi'), `${record}
case "$*" in
  *--query-gpu=index,name,memory.total*) cat '${dir}/names.csv' ;;
  *--query-gpu=*) cat '${dir}/gpus.csv' ;;
  *--query-compute-apps=*) cat '${dir}/apps.csv' ;;
  pmon*) cat '${dir}/pmon.txt' ;;
  "-i "*" -c "*) [ -e '${dir}/compute-mode-fails' ] && { echo "Setting compute mode is not supported." >&2; exit 3; }; echo "Set compute mode to $4 for GPU $2." ;;
  *) echo "fake nvidia-smi: $*" >&2; exit 2 ;;
esac
`);
  if (opts.mps !== false) {
    const help = opts.multiUser === false ? '  -d,--daemon  Setup the daemon in the background' : '  -d,--daemon  Setup the daemon in the background\n  -M,--multiuser-server    Enable multi-user mode';
    const daemon = `rm -f "$CUDA_MPS_PIPE_DIRECTORY/fake-quit"
      ( while [ ! -e "$CUDA_MPS_PIPE_DIRECTORY/fake-quit" ] && [ -d '${dir}' ]; do sleep 0.05; done ) </dev/null >/dev/null 2>&1 &
      echo $! > "$pidfile"`;
    script(join(bin, 'nvidia-cuda-mps-control'), `${record}
pidfile="$CUDA_MPS_PIPE_DIRECTORY/nvidia-cuda-mps-control.pid"
case "$1" in
  -h) printf '%s\\n' 'CUDA MPS Control (fake)' '${help}' ;;
  -d) ${opts.startFails ? 'echo "An instance of this daemon is already running" >&2; exit 1' : daemon} ;;
  *) read -r cmd; echo "command $cmd" >> '${log}'
     if [ "$cmd" = quit ] && [ -e "$pidfile" ]; then
       pid=$(cat "$pidfile"); rm -f "$pidfile"; touch "$CUDA_MPS_PIPE_DIRECTORY/fake-quit"
       while [ -e "/proc/$pid" ] && ! grep -q ') Z' "/proc/$pid/stat" 2>/dev/null; do sleep 0.05; done
     fi ;;
esac
`);
  }
  const fake: FakeGpuTools = {
    bin,
    calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean),
    setGpus: (gpus) => {
      writeFileSync(join(dir, 'names.csv'), gpus.map((g) => `${g.index}, ${g.name}, ${g.memory}\n`).join(''));
      writeFileSync(join(dir, 'gpus.csv'), gpus.map((g) => `${g.index}, ${g.uuid ?? '[N/A]'}, ${g.memory}, ${g.utilization ?? '[N/A]'}\n`).join(''));
    },
    setComputeApps: (csv) => writeFileSync(join(dir, 'apps.csv'), csv),
    setPmon: (text) => writeFileSync(join(dir, 'pmon.txt'), text),
    computeModeFails: () => writeFileSync(join(dir, 'compute-mode-fails'), ''),
  };
  fake.setGpus([
    { index: 0, name: 'NVIDIA H200', memory: 143771, uuid: 'GPU-c6dbe07f-8881-de54-993f-947b9b1e0bbd', utilization: 7 },
    { index: 1, name: 'NVIDIA H100 80GB HBM3', memory: 81559, uuid: 'GPU-11111111-2222-3333-4444-555555555555', utilization: 0 },
  ]);
  fake.setComputeApps('');
  fake.setPmon('# gpu         pid   type     sm    mem    enc    dec    command\n# Idx           #    C/G      %      %      %      %    name\n');
  return fake;
}

function script(path: string, body: string): void {
  writeFileSync(path, `#!/bin/sh\n${body}`);
  chmodSync(path, 0o755);
}

/** A fake /dev with the NVIDIA nodes of `indexes` (plain files stand in for device nodes). */
export function fakeDevRoot(dir: string, indexes: number[], extra: { uvmTools?: boolean; caps?: boolean } = {}): string {
  const dev = join(dir, 'dev');
  mkdirSync(dev, { recursive: true });
  for (const n of ['nvidiactl', 'nvidia-uvm', ...(extra.uvmTools === false ? [] : ['nvidia-uvm-tools']), ...indexes.map((i) => `nvidia${i}`)]) writeFileSync(join(dev, n), '');
  if (extra.caps !== false) {
    mkdirSync(join(dev, 'nvidia-caps'), { recursive: true });
    // as on an H200 node: cap1 (config) 0400, cap2 (monitor) 0444
    writeFileSync(join(dev, 'nvidia-caps', 'nvidia-cap1'), '', { mode: 0o400 });
    writeFileSync(join(dev, 'nvidia-caps', 'nvidia-cap2'), '', { mode: 0o444 });
  }
  return dev;
}
