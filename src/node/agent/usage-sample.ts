/**
 * What the usage reporter reads besides the driver's stats(): an instance's memory peak from its
 * cgroup, and the bytes of its network namespace. Each reader takes its roots as arguments (tests
 * point them at fixture directories) and answers undefined where the kernel has nothing to say.
 *
 *   memory peak   cgroup v1  <memory>/memory.max_usage_in_bytes
 *                 cgroup v2  <unified>/memory.peak            (Linux 5.19+; absent before)
 *   network       /proc/<pid>/net/dev of the workload's main process, all interfaces but lo;
 *                 undefined when that process shares the agent's network namespace (host networking)
 *
 * Synchronous on purpose (as cgroups.ts creates cgroups): these files are in-kernel and read in
 * microseconds, while each awaited read costs a thread-pool round trip (tens of µs of CPU) per
 * instance per report.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupPaths } from '../drivers/cgroups.js';

/** The peak memory of a task's cgroup in bytes, or undefined (no memory controller, or a kernel without memory.peak). */
export async function memoryPeakBytes(paths: CgroupPaths): Promise<number | undefined> {
  if (paths.memory) return readNumber(join(paths.memory, 'memory.max_usage_in_bytes'));
  if (paths.unified) return readNumber(join(paths.unified, 'memory.peak'));
  return undefined;
}

/** The cgroup paths a driver's handle keeps in `state.cgroups` (supervised drivers), or {}. */
export function cgroupPathsOf(state: { readonly [key: string]: unknown }): CgroupPaths {
  const c = state.cgroups;
  if (!c || typeof c !== 'object' || Array.isArray(c)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(c)) if (typeof v === 'string' && v.startsWith('/')) out[k] = v;
  return out as CgroupPaths;
}

/** Received and sent bytes summed over the interfaces of /proc/net/dev text, loopback left out. Pure. */
export function parseNetDev(text: string): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const iface = line.slice(0, colon).trim();
    if (iface === 'lo' || iface === '') continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (f.length < 9 || f.some(Number.isNaN)) continue;
    rx += f[0]!;
    tx += f[8]!;
  }
  return { rx, tx };
}

/**
 * The bytes in and out of the network namespace of process `pid`, or undefined when it is the
 * agent's own namespace (host networking: the host's traffic is not the instance's) or the process is gone.
 */
export async function netnsBytes(pid: number, procRoot = '/proc', ours?: string): Promise<{ rx: number; tx: number } | undefined> {
  ours ??= await ownNetns(procRoot);
  const theirs = attempt(() => readlinkSync(join(procRoot, String(pid), 'ns', 'net')));
  if (!theirs || theirs === ours) return undefined;
  const text = attempt(() => readFileSync(join(procRoot, String(pid), 'net', 'dev'), 'utf8'));
  return text === undefined ? undefined : parseNetDev(text);
}

/** The agent's own network namespace ("net:[4026531992]"), to tell host networking apart; read once per round by the reporter. */
export async function ownNetns(procRoot = '/proc'): Promise<string | undefined> {
  return attempt(() => readlinkSync(join(procRoot, 'self', 'ns', 'net')));
}

/** `read()`, or undefined when it throws (a file that is not there, a process that is gone). */
function attempt<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

async function readNumber(path: string): Promise<number | undefined> {
  const text = attempt(() => readFileSync(path, 'utf8'));
  const n = text === undefined ? NaN : Number(text.trim());
  return Number.isFinite(n) ? n : undefined;
}
