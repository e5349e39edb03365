/**
 * cgroups for tasks, on cgroup v1, v2 or both ("hybrid": v1 controllers plus a v2 tree without
 * controllers, which still gives `cgroup.kill` and a reliable membership list).
 *
 *   host (from /proc/self/mountinfo)     task cgroup = <mount>/<parent>/<task id> in every hierarchy we use
 *   ├─ v1: cpu, cpuacct, memory, pids, freezer        limits: cpu quota/shares, memory (+swap), pids
 *   └─ v2: /sys/fs/cgroup[/unified]                    kill:   cgroup.kill | freezer+SIGKILL | SIGKILL loop
 *
 * A process joins by writing its pid into `procsFiles()` (the driver's wrapper does that before it
 * execs the workload, so nothing runs outside the limits).
 */
import { readFile, rmdir, writeFile, access } from 'node:fs/promises';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { signalProcess, sleep } from './proc.js';

export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids', 'freezer'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

export interface CgroupHost {
  mode: 'v1' | 'v2' | 'hybrid' | 'none';
  /** Mountpoint of each v1 controller we use (co-mounted controllers share one). */
  v1: Partial<Record<V1Controller, string>>;
  /** The cgroup2 mount, the controllers it offers (cgroup.controllers of its root), and whether it has cgroup.kill (Linux 5.14+). */
  unified?: { mount: string; controllers: string[]; kill?: boolean };
}

/** Reads the cgroup mounts from mountinfo text. Pure; `controllers` reads a v2 root's cgroup.controllers. */
export function parseCgroupMounts(mountinfo: string): { v1: CgroupHost['v1']; unified?: string } {
  const v1: CgroupHost['v1'] = {};
  let unified: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const mountpoint = left.split(' ')[4];
    const [fstype, , superOptions = ''] = right.split(' ');
    if (!mountpoint) continue;
    if (fstype === 'cgroup2') unified ??= unescapeMount(mountpoint);
    if (fstype !== 'cgroup') continue;
    for (const opt of superOptions.split(',')) {
      if ((V1_CONTROLLERS as readonly string[]).includes(opt)) v1[opt as V1Controller] ??= unescapeMount(mountpoint);
    }
  }
  return { v1, unified };
}

const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export async function detectCgroups(mountinfoPath = '/proc/self/mountinfo'): Promise<CgroupHost> {
  let text = '';
  try {
    text = await readFile(mountinfoPath, 'utf8');
  } catch {
    return { mode: 'none', v1: {} };
  }
  const { v1, unified } = parseCgroupMounts(text);
  const hasV1 = Object.keys(v1).length > 0;
  let controllers: string[] = [];
  if (unified) controllers = (await readText(join(unified, 'cgroup.controllers')))?.split(/\s+/).filter(Boolean) ?? [];
  const mode = hasV1 && unified ? 'hybrid' : hasV1 ? 'v1' : unified ? 'v2' : 'none';
  const [major = 0, minor = 0] = release().split('.').map(Number);
  const kill = major > 5 || (major === 5 && minor >= 14);
  return { mode, v1, ...(unified ? { unified: { mount: unified, controllers, kill } } : {}) };
}

/** Where a resource is controlled on this host, if anywhere. */
export function controllerVersion(host: CgroupHost, c: 'cpu' | 'memory' | 'pids'): 'v1' | 'v2' | undefined {
  if (host.v1[c]) return 'v1';
  if (host.unified?.controllers.includes(c)) return 'v2';
  return undefined;
}

/** Human-readable notes for a fingerprint: what is and is not enforced. */
export function describeCgroups(host: CgroupHost, root: boolean): { enforces: boolean; notes: string[] } {
  const notes: string[] = [];
  const missing = (['cpu', 'memory', 'pids'] as const).filter((c) => !controllerVersion(host, c));
  const where = (['cpu', 'memory', 'pids'] as const).map((c) => `${c}: ${controllerVersion(host, c) ?? 'none'}`).join(', ');
  notes.push(`cgroup ${host.mode} (${where})${host.unified ? '; v2 tree for kill and membership' : ''}`);
  for (const c of missing) notes.push(`limits not enforced: no cgroup ${c} controller`);
  if (!root) notes.push('limits not enforced: not running as root, cannot create cgroups');
  return { enforces: root && missing.length === 0, notes };
}

export interface CgroupLimits {
  /** Millicores: the CFS quota per 100 ms period. */
  cpu: number;
  /** MiB: hard limit, swap included (no swap). */
  memory: number;
  pids: number;
}

export const CFS_PERIOD_US = 100_000;

/** CFS quota for a millicore limit: 1000m = one full period per period. At least 1 ms (the kernel's minimum). */
export function cpuQuotaUs(millicores: number): number {
  return Math.max(1000, Math.round((millicores * CFS_PERIOD_US) / 1000));
}

/** v1 cpu.shares for millicores (1024 per core, at least 2), and the v2 cpu.weight that matches it. */
export function cpuShares(millicores: number): number {
  return Math.max(2, Math.round((millicores * 1024) / 1000));
}
export function cpuWeight(millicores: number): number {
  // Kubernetes' mapping of shares [2, 262144] onto weight [1, 10000].
  return Math.min(10_000, 1 + Math.floor(((cpuShares(millicores) - 2) * 9999) / 262_142));
}

/** Serializable location of one task's cgroup: a directory per hierarchy. */
export type CgroupPaths = Partial<Record<V1Controller | 'unified', string>>;

export interface CgroupSample {
  cpuUsageNs: number;
  memoryBytes: number;
  workingSetBytes: number;
  memoryLimitBytes?: number;
  throttling?: { periods: number; throttledPeriods: number; throttledNs: number };
  pids?: number;
}

export interface OomCounters {
  /** Processes the kernel OOM killer killed in this cgroup (v1 memory.oom_control / v2 memory.events); undefined when the kernel does not count them. */
  oomKills: number | undefined;
  /** Times the limit was hit (v1 memory.failcnt, v2 memory.events max). */
  limitHits: number;
}

export class TaskCgroup {
  private constructor(readonly paths: CgroupPaths) {}

  /**
   * The cgroup of `relPath` (e.g. "stratus/p.web.1234") in the hierarchies a task needs; creates nothing.
   * Each hierarchy costs the workload's start a write to cgroup.procs (an RCU grace period, ~1-5 ms
   * on cgroup v1), so v1 cpuacct and freezer are skipped when the v2 tree gives CPU usage and cgroup.kill.
   */
  static at(host: CgroupHost, relPath: string): TaskCgroup {
    const paths: CgroupPaths = {};
    for (const c of V1_CONTROLLERS) {
      const m = host.v1[c];
      if (!m) continue;
      if (c === 'cpuacct' && host.unified && m !== host.v1.cpu) continue; // v2 cpu.stat has usage_usec
      if (c === 'freezer' && host.unified?.kill) continue; // cgroup.kill does the job
      paths[c] = join(m, relPath);
    }
    if (host.unified) paths.unified = join(host.unified.mount, relPath);
    return new TaskCgroup(paths);
  }

  static fromPaths(paths: CgroupPaths): TaskCgroup {
    return new TaskCgroup({ ...paths });
  }

  /**
   * Creates the cgroup in every hierarchy and writes the limits. Returns notes on what could not be
   * limited (e.g. swap accounting off). Throws when a directory cannot be created.
   */
  static async create(host: CgroupHost, relPath: string, limits: CgroupLimits): Promise<{ cgroup: TaskCgroup; notes: string[] }> {
    const cg = TaskCgroup.at(host, relPath);
    // Synchronous on purpose: cgroupfs operations are in-kernel and take microseconds, while a
    // dozen awaited thread-pool round trips add milliseconds to every start.
    for (const dir of cg.dirs()) mkdirSync(dir, { recursive: true });
    if (host.unified && host.unified.controllers.length > 0) enableV2Controllers(host.unified, relPath);
    const notes = cg.applyLimits(host, limits);
    return { cgroup: cg, notes };
  }

  /** Distinct directories, v2 last (so rmdir order works for nested v1 co-mounts too). */
  dirs(): string[] {
    const out = new Set<string>();
    for (const c of V1_CONTROLLERS) if (this.paths[c]) out.add(this.paths[c]);
    if (this.paths.unified) out.add(this.paths.unified);
    return [...out];
  }

  /** Where a process writes its pid to join the task (one file per hierarchy). */
  procsFiles(): string[] {
    return this.dirs().map((d) => join(d, 'cgroup.procs'));
  }

  private applyLimits(host: CgroupHost, l: CgroupLimits): string[] {
    const notes: string[] = [];
    const p = this.paths;
    const bytes = l.memory * 1024 * 1024;
    if (p.cpu) {
      writeFileSync(join(p.cpu, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
      writeFileSync(join(p.cpu, 'cpu.cfs_quota_us'), String(cpuQuotaUs(l.cpu)));
      writeFileSync(join(p.cpu, 'cpu.shares'), String(cpuShares(l.cpu)));
    } else if (controllerVersion(host, 'cpu') === 'v2' && p.unified) {
      writeFileSync(join(p.unified, 'cpu.max'), `${cpuQuotaUs(l.cpu)} ${CFS_PERIOD_US}`);
      writeFileSync(join(p.unified, 'cpu.weight'), String(cpuWeight(l.cpu)));
    }
    if (p.memory) {
      writeFileSync(join(p.memory, 'memory.limit_in_bytes'), String(bytes));
      if (!tryWriteSync(join(p.memory, 'memory.memsw.limit_in_bytes'), String(bytes))) notes.push('swap not limited: no swap accounting (memory.memsw)');
      tryWriteSync(join(p.memory, 'memory.swappiness'), '0');
    } else if (controllerVersion(host, 'memory') === 'v2' && p.unified) {
      writeFileSync(join(p.unified, 'memory.max'), String(bytes));
      if (!tryWriteSync(join(p.unified, 'memory.swap.max'), '0')) notes.push('swap not limited: no memory.swap.max');
      tryWriteSync(join(p.unified, 'memory.oom.group'), '1');
    }
    if (p.pids) writeFileSync(join(p.pids, 'pids.max'), String(l.pids));
    else if (controllerVersion(host, 'pids') === 'v2' && p.unified) writeFileSync(join(p.unified, 'pids.max'), String(l.pids));
    return notes;
  }

  /** Pids in the cgroup (from the v2 tree when there is one, else the first v1 hierarchy). */
  async members(): Promise<number[]> {
    for (const dir of [this.paths.unified, ...V1_CONTROLLERS.map((c) => this.paths[c])]) {
      if (!dir) continue;
      const text = await readText(join(dir, 'cgroup.procs'));
      if (text !== undefined) return text.split('\n').filter(Boolean).map(Number);
    }
    return [];
  }

  /**
   * SIGKILL to every process in the cgroup, so nothing escapes (not even children that left the
   * process group): `cgroup.kill` when the kernel has it, else freeze-kill-thaw with the v1 freezer,
   * else repeated rounds of SIGKILL. Resolves once the cgroup is empty (or after ~5 s).
   */
  async killAll(): Promise<void> {
    const kill = this.paths.unified ? join(this.paths.unified, 'cgroup.kill') : undefined;
    if (kill && (await exists(kill)) && (await tryWrite(kill, '1'))) {
      // done: the kernel kills every member, including ones forking right now
    } else if (this.paths.freezer) {
      const state = join(this.paths.freezer, 'freezer.state');
      await tryWrite(state, 'FROZEN');
      for (let i = 0; i < 50 && (await readText(state))?.trim() === 'FREEZING'; i++) await sleep(10);
      for (const pid of await this.members()) signalProcess(pid, 'SIGKILL');
      await tryWrite(state, 'THAWED');
    }
    for (let i = 0; i < 250; i++) {
      const pids = await this.members();
      if (pids.length === 0) return;
      if (i % 10 === 0) for (const pid of pids) signalProcess(pid, 'SIGKILL');
      await sleep(20);
    }
  }

  async oomCounters(): Promise<OomCounters> {
    const p = this.paths;
    if (p.memory) {
      const ctl = parseFlatKeyed((await readText(join(p.memory, 'memory.oom_control'))) ?? '');
      const failcnt = Number((await readText(join(p.memory, 'memory.failcnt')))?.trim() ?? 0);
      return { oomKills: ctl.oom_kill, limitHits: failcnt };
    }
    if (p.unified) {
      const ev = parseFlatKeyed((await readText(join(p.unified, 'memory.events'))) ?? '');
      return { oomKills: ev.oom_kill, limitHits: ev.max ?? 0 };
    }
    return { oomKills: undefined, limitHits: 0 };
  }

  /**
   * The task's counters. The files are in-kernel and answer in microseconds, so they are read
   * synchronously: a thread-pool round trip per file cost about 5x more CPU for 100 tasks (bench/usage.ts).
   */
  async sample(): Promise<CgroupSample> {
    const p = this.paths;
    const out: CgroupSample = { cpuUsageNs: 0, memoryBytes: 0, workingSetBytes: 0 };
    const v2stat = p.unified ? parseFlatKeyed(readTextNow(join(p.unified, 'cpu.stat')) ?? '') : {};
    if (p.cpuacct) out.cpuUsageNs = Number(readTextNow(join(p.cpuacct, 'cpuacct.usage'))?.trim() ?? 0);
    else if (v2stat.usage_usec !== undefined) out.cpuUsageNs = v2stat.usage_usec * 1000;
    if (p.cpu) {
      const s = parseFlatKeyed(readTextNow(join(p.cpu, 'cpu.stat')) ?? '');
      out.throttling = { periods: s.nr_periods ?? 0, throttledPeriods: s.nr_throttled ?? 0, throttledNs: s.throttled_time ?? 0 };
    } else if (v2stat.nr_periods !== undefined) {
      out.throttling = { periods: v2stat.nr_periods, throttledPeriods: v2stat.nr_throttled ?? 0, throttledNs: (v2stat.throttled_usec ?? 0) * 1000 };
    }
    if (p.memory) {
      out.memoryBytes = Number(readTextNow(join(p.memory, 'memory.usage_in_bytes'))?.trim() ?? 0);
      const st = parseFlatKeyed(readTextNow(join(p.memory, 'memory.stat')) ?? '');
      out.workingSetBytes = Math.max(0, out.memoryBytes - (st.total_inactive_file ?? 0));
      out.memoryLimitBytes = Number(readTextNow(join(p.memory, 'memory.limit_in_bytes'))?.trim() ?? 0) || undefined;
    } else if (p.unified && existsSync(join(p.unified, 'memory.current'))) {
      out.memoryBytes = Number(readTextNow(join(p.unified, 'memory.current'))?.trim() ?? 0);
      const st = parseFlatKeyed(readTextNow(join(p.unified, 'memory.stat')) ?? '');
      out.workingSetBytes = Math.max(0, out.memoryBytes - (st.inactive_file ?? 0));
      const max = readTextNow(join(p.unified, 'memory.max'))?.trim();
      if (max && max !== 'max') out.memoryLimitBytes = Number(max);
    }
    const pidsDir = p.pids ?? p.unified;
    const current = pidsDir ? readTextNow(join(pidsDir, 'pids.current')) : undefined;
    if (current !== undefined) out.pids = Number(current.trim());
    return out;
  }

  /** Kills what is left and removes every directory. Idempotent. */
  async remove(): Promise<void> {
    if ((await this.members()).length > 0) await this.killAll();
    for (const dir of this.dirs()) {
      for (let attempt = 0; ; attempt++) {
        try {
          await rmdir(dir);
          break;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') break;
          if (code !== 'EBUSY' || attempt >= 100) throw e;
          await sleep(20);
        }
      }
    }
  }
}

/** On a v2 host with controllers, each ancestor must delegate cpu/memory/pids to its children. */
function enableV2Controllers(unified: NonNullable<CgroupHost['unified']>, relPath: string): void {
  const want = ['cpu', 'memory', 'pids'].filter((c) => unified.controllers.includes(c));
  if (want.length === 0) return;
  const parts = relPath.split('/').filter(Boolean);
  let dir = unified.mount;
  for (const part of parts.slice(0, -1)) {
    tryWriteSync(join(dir, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' '));
    dir = join(dir, part);
  }
  tryWriteSync(join(dir, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' '));
}

/** "key value" lines (cpu.stat, memory.stat, memory.events, memory.oom_control) to numbers. */
export function parseFlatKeyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** readText without the thread pool: for small in-kernel files (cgroup counters). */
function readTextNow(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

async function tryWrite(path: string, value: string): Promise<boolean> {
  try {
    await writeFile(path, value);
    return true;
  } catch {
    return false;
  }
}

function tryWriteSync(path: string, value: string): boolean {
  try {
    writeFileSync(path, value);
    return true;
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
