/**
 * GPU usage per instance: `nvidia-smi` reports processes by host pid; a process belongs to an
 * instance when its /proc/<pid>/cgroup puts it in (or under) one of the task's cgroups.
 *
 *   sample (once per stats round):  --query-compute-apps pid → MiB
 *                                   pmon pid → SM %          (only when a share runs; "-" for MPS clients)
 *                                   --query-gpu index → utilization %
 *                                   /proc/<pid>/cgroup for each of those pids
 *   usage (per instance):           sum over its pids; utilisation of whole devices from the device
 *
 * Under MPS nvidia-smi lists each client with its own pid and memory, and charges the SM time of all
 * clients to the server (pmon shows "-" for the clients, seen on driver 580): a share's utilisation
 * is then unknown and left out.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JsonValue, TaskHandle } from '../drivers/index.js';
import { COMPUTE_APPS_QUERY, GPU_QUERY, PMON_ARGS, parseComputeApps, parseGpuQuery, parsePmon, runTool, type GpuDevice } from './gpu-tools.js';

/** What nvidia-smi said in one stats round, with the cgroup membership of each pid it named. */
export interface GpuSample {
  memory: Map<number, number>;
  sm: Map<number, number>;
  devices: GpuDevice[];
  /** pid → the text of /proc/<pid>/cgroup (pids that are gone are left out). */
  cgroups: Map<number, string>;
}

export interface GpuUsage {
  /** MiB of device memory held by the instance's processes. */
  gpuMemory: number;
  /** Percent of its devices' time running its kernels, when known. */
  gpuUtilization?: number;
}

/** Samples once; undefined when nvidia-smi cannot be run. `pmon` is slow (about a second): ask for it only when needed. */
export async function sampleGpus(smi: string, opts: { env?: NodeJS.ProcessEnv; procRoot?: string; pmon?: boolean } = {}): Promise<GpuSample | undefined> {
  const run = (args: string[]) => runTool(smi, args, { env: opts.env, timeoutMs: 10_000 });
  const [apps, gpus, pmon] = await Promise.all([run(COMPUTE_APPS_QUERY), run(GPU_QUERY), opts.pmon ? run(PMON_ARGS) : undefined]);
  if (apps.code !== 0) return undefined;
  const memory = parseComputeApps(apps.stdout);
  const sm = pmon?.code === 0 ? parsePmon(pmon.stdout) : new Map<number, number>();
  const cgroups = new Map<number, string>();
  const pids = new Set([...memory.keys(), ...sm.keys()]);
  await Promise.all([...pids].map(async (pid) => {
    const text = await readFile(join(opts.procRoot ?? '/proc', String(pid), 'cgroup'), 'utf8').catch(() => undefined);
    if (text !== undefined) cgroups.set(pid, text);
  }));
  return { memory, sm, devices: gpus.code === 0 ? parseGpuQuery(gpus.stdout) : [], cgroups };
}

/** The cgroup paths a handle names (`state.cgroups`: a map of controller → absolute path, or a list). */
export function handleCgroupPaths(handle: Pick<TaskHandle, 'state'>): string[] {
  const c: JsonValue | undefined = handle.state.cgroups;
  const values = Array.isArray(c) ? c : c && typeof c === 'object' ? Object.values(c) : typeof c === 'string' ? [c] : [];
  return values.filter((v): v is string => typeof v === 'string' && v.startsWith('/'));
}

/**
 * Whether a /proc/<pid>/cgroup text ("0::/stratus/t1", "4:memory:/stratus/t1") puts the process in
 * one of `taskPaths` or below it. Those are absolute paths under some mount (/sys/fs/cgroup/...),
 * the text's paths are relative to the hierarchy's root: a task path must end with the process's
 * path or one of its ancestors (never the root "/").
 */
export function inCgroups(procCgroup: string, taskPaths: string[]): boolean {
  for (const line of procCgroup.split('\n')) {
    const second = line.indexOf(':', line.indexOf(':') + 1);
    if (second < 0) continue;
    for (let p = line.slice(second + 1).trim(); p.length > 1 && p.startsWith('/'); p = p.slice(0, p.lastIndexOf('/'))) {
      if (taskPaths.some((t) => t === p || t.endsWith(p))) return true;
    }
  }
  return false;
}

/**
 * An instance's share of a sample. `devices` are its allocated device indexes and `whole` whether
 * it has them whole: then the devices' own utilisation is the instance's, when no per-process
 * figure exists.
 */
export function usageOf(sample: GpuSample, taskPaths: string[], devices: number[], whole: boolean): GpuUsage {
  let gpuMemory = 0;
  let sm: number | undefined;
  if (taskPaths.length > 0) {
    for (const [pid, text] of sample.cgroups) {
      if (!inCgroups(text, taskPaths)) continue;
      gpuMemory += sample.memory.get(pid) ?? 0;
      const s = sample.sm.get(pid);
      if (s !== undefined) sm = (sm ?? 0) + s;
    }
  }
  const usage: GpuUsage = { gpuMemory };
  if (sm !== undefined) usage.gpuUtilization = Math.min(100, Math.round(sm / Math.max(1, devices.length)));
  else if (whole && devices.length > 0) {
    const utils = devices.map((i) => sample.devices.find((d) => d.index === i)?.utilization).filter((u) => u !== undefined);
    if (utils.length === devices.length) usage.gpuUtilization = Math.round(utils.reduce((a, b) => a + b, 0) / utils.length);
  }
  return usage;
}
