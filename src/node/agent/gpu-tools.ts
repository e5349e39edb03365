/**
 * The NVIDIA tools the agent calls (`nvidia-smi`, `nvidia-cuda-mps-control`): where they are, how
 * they are run (argument arrays, a timeout, never a shell), and pure parsers of their output.
 * Tests put fake tools first on PATH; every function takes the environment it searches.
 */
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Where NVIDIA installs its tools besides PATH (the driver container layout, then the distro's). */
export const NVIDIA_DIRS = ['/usr/local/nvidia/bin', '/usr/bin'];

/** The first executable `name` on PATH, then in `extra`; undefined when there is none. */
export function findTool(name: string, env: NodeJS.ProcessEnv = process.env, extra: string[] = NVIDIA_DIRS): string | undefined {
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), ...extra];
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `path args` with `input` on stdin; resolves with the exit code and output, never rejects
 * (a tool that cannot start or outlives `timeoutMs` resolves with code null and the reason in stderr).
 */
export function runTool(path: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<ToolResult> {
  return new Promise((resolve) => {
    const child = execFile(path, args, { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 10_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
      if (!e) return resolve({ code: 0, stdout, stderr });
      const code = typeof e.code === 'number' ? e.code : null;
      resolve({ code, stdout, stderr: stderr || (e.killed ? `timed out after ${opts.timeoutMs ?? 10_000} ms` : e.message) });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input ?? '');
  });
}

/**
 * Starts `path args` detached in its own session (stderr kept for errors), for a tool that daemonizes
 * (`nvidia-cuda-mps-control -d`): resolves with the exit status of the foreground part.
 */
export function runDaemonizing(path: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 10_000): Promise<ToolResult> {
  return new Promise((resolve) => {
    const child = spawn(path, args, { env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ code: null, stdout: '', stderr: `timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, stdout: '', stderr: e.message });
    });
    child.on('exit', (code) => {
      if (code !== 0) return; // 'close' follows once its output is read
      clearTimeout(timer);
      // The daemon it left may hold the pipe open: stop reading.
      child.stderr!.destroy();
      resolve({ code, stdout: '', stderr });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: '', stderr });
    });
  });
}

/** One device as `nvidia-smi --query-gpu=index,uuid,memory.total,utilization.gpu` reports it. */
export interface GpuDevice {
  index: number;
  uuid?: string;
  /** MiB. */
  memory?: number;
  /** Percent of the last sample period in which a kernel ran; absent when not supported. */
  utilization?: number;
}

export const GPU_QUERY = ['--query-gpu=index,uuid,memory.total,utilization.gpu', '--format=csv,noheader,nounits'];

/** Parses GPU_QUERY's output ("0, GPU-c6db..., 143771, 12"); "[N/A]" and unknown fields are left out. */
export function parseGpuQuery(text: string): GpuDevice[] {
  const out: GpuDevice[] = [];
  for (const line of text.split('\n')) {
    const [index, uuid, memory, util] = line.split(',').map((s) => s.trim());
    if (!index || !/^\d+$/.test(index)) continue;
    const d: GpuDevice = { index: Number(index) };
    if (uuid && /^GPU-[0-9a-fA-F-]+$/.test(uuid)) d.uuid = uuid;
    if (memory && /^\d+$/.test(memory)) d.memory = Number(memory);
    if (util && /^\d+$/.test(util)) d.utilization = Number(util);
    out.push(d);
  }
  return out;
}

export const COMPUTE_APPS_QUERY = ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'];

/** Parses COMPUTE_APPS_QUERY's output ("1234, 9732") into pid → MiB; a pid listed twice (two devices) adds up. */
export function parseComputeApps(text: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of text.split('\n')) {
    const [pid, mem] = line.split(',').map((s) => s.trim());
    if (!pid || !/^\d+$/.test(pid) || !mem || !/^\d+$/.test(mem)) continue;
    out.set(Number(pid), (out.get(Number(pid)) ?? 0) + Number(mem));
  }
  return out;
}

export const PMON_ARGS = ['pmon', '-c', '1', '-s', 'u'];

/**
 * Parses `nvidia-smi pmon -c 1 -s u` into pid → SM percent. Columns are found by the header
 * ("# gpu pid type sm mem ..."), which differs between driver versions; rows whose sm is "-" (MPS
 * clients: the server is charged for them) are left out.
 */
export function parsePmon(text: string): Map<number, number> {
  const out = new Map<number, number>();
  let cols: string[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] === '#') {
      if (cols.length === 0) cols = fields.slice(1).map((f) => f.toLowerCase());
      continue;
    }
    const pid = fields[cols.indexOf('pid')];
    const sm = fields[cols.indexOf('sm')];
    if (!pid || !/^\d+$/.test(pid) || !sm || !/^\d+$/.test(sm)) continue;
    out.set(Number(pid), (out.get(Number(pid)) ?? 0) + Number(sm));
  }
  return out;
}
