/**
 * What the process and container drivers share: tasks run under a supervisor (see supervisor.ts),
 * in a cgroup, with output in rotated files. This base keeps one record per task and implements
 * wait, stop, inspect, stats, logs, recover and the generic half of destroy; a driver supplies
 * start, how to signal its workload, and its own teardown.
 *
 *   <task dir>/run/   exit (shell status), exit.json (final ExitResult), stop-requested, driver files
 *   <task dir>/logs/  stdout.log, stderr.log (+ rotated .1 … .N)
 */
import type { ChildProcess } from 'node:child_process';
import { rm, rmdir, writeFile, access } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import { type Clock, isoNow, systemClock } from '../../model/runtime.js';
import {
  DriverError,
  type Driver,
  type ExitResult,
  type Fingerprint,
  type JsonValue,
  type LogLine,
  type LogOptions,
  type Task,
  type TaskHandle,
  type TaskState,
  type TaskStats,
} from './driver.js';
import { TaskCgroup, type CgroupPaths, type CgroupSample } from './cgroups.js';
import { classifyExit } from './exit.js';
import { DEFAULT_ROTATION, LogRotator, readLogs, type LogRotation } from './logs.js';
import { isAlive, listProcesses, readProcStatSync, signalProcess } from './proc.js';
import { readExitStatus, readJson, watchExit, writeJsonAtomic } from './supervisor.js';

/** Handle state every supervised task has; drivers add their own keys. */
export interface SupervisedState {
  supervisorPid: number;
  supervisorStart: number;
  pidStart: number;
  cgroups: CgroupPaths;
  memoryMiB: number;
}

export interface SupervisedOptions {
  clock?: Clock;
  logs?: Partial<LogRotation>;
  /** How often /proc is polled for tasks that are not our children (recovered ones). Default 250 ms. */
  pollIntervalMs?: number;
  /** After the final SIGKILL, how long to wait for the exit before giving up on the supervisor. Default 10 s. */
  killTimeoutMs?: number;
}

export interface TaskRecord {
  handle: TaskHandle;
  state: SupervisedState;
  exit?: ExitResult;
  exited: Promise<ExitResult>;
  stopRequested: boolean;
  rotator: LogRotator;
  cancelWatch(): void;
  lastCpu?: { usageNs: number; at: number };
}

export const runDir = (dir: string) => join(dir, 'run');
export const logDir = (dir: string) => join(dir, 'logs');

export abstract class SupervisedDriver implements Driver {
  abstract readonly name: string;
  protected readonly clock: Clock;
  protected readonly rotation: LogRotation;
  protected readonly pollMs: number;
  private readonly killTimeoutMs: number;
  private readonly records = new Map<string, TaskRecord>();

  constructor(options: SupervisedOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.rotation = { ...DEFAULT_ROTATION, ...options.logs };
    this.pollMs = options.pollIntervalMs ?? 250;
    this.killTimeoutMs = options.killTimeoutMs ?? 10_000;
  }

  abstract fingerprint(): Promise<Fingerprint>;
  abstract start(task: Task): Promise<TaskHandle>;
  /** Asks the workload to finish (SIGTERM). */
  protected abstract terminate(rec: TaskRecord): Promise<void>;
  /** SIGKILL to every process of the task. */
  protected abstract kill(rec: TaskRecord): Promise<void>;
  /** Driver-specific teardown once nothing runs (runc delete, unmount). Idempotent. */
  protected abstract teardown(handle: TaskHandle): Promise<void>;
  /** Throws unless `state` has this driver's keys (beyond SupervisedState). */
  protected abstract checkState(state: Record<string, JsonValue>): void;
  /** Called once the main process is gone, before the exit is classified. */
  protected async afterExit(_rec: TaskRecord): Promise<void> {}

  /** Starts tracking a task this driver just started (`child` is its supervisor) or recovered. */
  protected track(handle: TaskHandle, child?: ChildProcess): TaskRecord {
    const state = handle.state as unknown as SupervisedState;
    const watch = watchExit(
      [
        { pid: state.supervisorPid, starttime: state.supervisorStart },
        { pid: handle.pid, starttime: state.pidStart },
      ],
      this.pollMs,
      child,
    );
    const rotator = new LogRotator(logDir(handle.dir), this.rotation);
    const rec: TaskRecord = { handle, state, stopRequested: false, rotator, cancelWatch: watch.cancel, exited: undefined as never };
    rec.exited = watch.done.then(() => this.finish(rec));
    rotator.start();
    this.records.set(handle.taskId, rec);
    return rec;
  }

  private async finish(rec: TaskRecord): Promise<ExitResult> {
    const run = runDir(rec.handle.dir);
    const saved = await readJson<ExitResult>(join(run, 'exit.json'));
    if (saved) return (rec.exit = saved);
    const cg = cgroupOf(rec.state);
    const oom = cg ? await cg.oomCounters() : undefined;
    await this.afterExit(rec).catch(() => undefined);
    const stopRequested = rec.stopRequested || (await exists(join(run, 'stop-requested')));
    const result = classifyExit({
      status: await readExitStatus(join(run, 'exit')),
      oom,
      stopRequested,
      memoryMiB: rec.state.memoryMiB,
      finishedAt: isoNow(this.clock),
    });
    rec.rotator.stop();
    await writeJsonAtomic(join(run, 'exit.json'), result).catch(() => undefined);
    return (rec.exit = result);
  }

  protected record(handle: TaskHandle): TaskRecord {
    const rec = this.records.get(handle.taskId);
    if (!rec) throw new DriverError('UNKNOWN_TASK', `task ${handle.taskId} is not known to this ${this.name} driver; call recover() with its handle first`);
    return rec;
  }

  async wait(handle: TaskHandle): Promise<ExitResult> {
    return this.record(handle).exited;
  }

  async stop(handle: TaskHandle, gracePeriodMs: number): Promise<ExitResult> {
    const rec = this.record(handle);
    if (rec.exit) return rec.exit;
    rec.stopRequested = true;
    await writeFile(join(runDir(handle.dir), 'stop-requested'), isoNow(this.clock)).catch(() => undefined);
    if (gracePeriodMs > 0) {
      await this.terminate(rec).catch(() => undefined);
      if (await settlesWithin(rec.exited, gracePeriodMs)) return rec.exited;
    }
    await this.kill(rec).catch(() => undefined);
    if (!(await settlesWithin(rec.exited, this.killTimeoutMs))) {
      // The workload is gone but its supervisor is not (or is wedged): end it; the exit becomes Unknown.
      if (await isAlive(rec.state.supervisorPid, rec.state.supervisorStart)) signalProcess(rec.state.supervisorPid, 'SIGKILL');
    }
    return rec.exited;
  }

  async inspect(handle: TaskHandle): Promise<TaskState> {
    const rec = this.record(handle);
    return { running: rec.exit === undefined, pid: handle.pid, startedAt: handle.startedAt, ...(rec.exit ? { exit: rec.exit } : {}) };
  }

  async recover(persisted: unknown): Promise<TaskHandle> {
    const handle = this.parseHandle(persisted);
    const known = this.records.get(handle.taskId);
    if (known) return known.handle;
    const rec = this.track(handle);
    const s = rec.state;
    // Ended while the agent was away: settle the exit now, so inspect() right after says so.
    if (!(await isAlive(s.supervisorPid, s.supervisorStart)) && !(await isAlive(handle.pid, s.pidStart))) await rec.exited;
    return rec.handle;
  }

  async stats(handle: TaskHandle): Promise<TaskStats> {
    const rec = this.record(handle);
    const now = this.clock.now();
    const cg = cgroupOf(rec.state);
    const s = cg ? await cg.sample() : await this.procSample(rec);
    const prev = rec.lastCpu ?? { usageNs: 0, at: Date.parse(handle.startedAt) };
    const elapsedMs = Math.max(1, now - prev.at);
    rec.lastCpu = { usageNs: s.cpuUsageNs, at: now };
    const mib = Math.ceil(s.workingSetBytes / (1024 * 1024));
    return {
      at: new Date(now).toISOString(),
      cpu: Math.max(0, Math.round(((s.cpuUsageNs - prev.usageNs) / 1e6 / elapsedMs) * 1000)),
      cpuUsageNs: s.cpuUsageNs,
      memory: mib,
      memoryBytes: s.memoryBytes,
      ...(s.memoryLimitBytes !== undefined ? { memoryLimitBytes: s.memoryLimitBytes } : {}),
      ...(s.throttling ? { throttling: s.throttling } : {}),
      ...(s.pids !== undefined ? { pids: s.pids } : {}),
      source: cg ? 'cgroup' : 'proc',
    };
  }

  /** Without cgroups: the processes of the task's session (the supervisor's), summed from /proc. */
  private async procSample(rec: TaskRecord): Promise<CgroupSample> {
    const procs = (await listProcesses()).filter((p) => p.session === rec.state.supervisorPid && p.pid !== rec.state.supervisorPid);
    const ticks = procs.reduce((n, p) => n + p.utime + p.stime, 0);
    const rss = procs.reduce((n, p) => n + p.rss, 0) * 4096;
    return { cpuUsageNs: ticks * 10_000_000, memoryBytes: rss, workingSetBytes: rss, pids: procs.length };
  }

  logs(handle: TaskHandle, options: LogOptions = {}): AsyncIterable<LogLine> {
    const rec = this.records.get(handle.taskId);
    return readLogs(logDir(handle.dir), {
      ...options,
      maxFiles: this.rotation.maxFiles,
      isDone: () => rec === undefined || rec.exit !== undefined,
    });
  }

  async destroy(handle: TaskHandle): Promise<void> {
    const h = this.parseHandle(handle);
    const rec = this.records.get(h.taskId) ?? this.track(h);
    if (!rec.exit) await this.stop(h, 0);
    rec.cancelWatch();
    rec.rotator.stop();
    await this.teardown(h);
    const cg = cgroupOf(rec.state);
    if (cg) await cg.remove();
    for (const sub of ['run', 'logs', 'work', 'tmp', 'files', 'bundle', 'overlay']) await rm(join(h.dir, sub), { recursive: true, force: true });
    await rmdir(h.dir).catch(() => undefined); // only if empty: the agent may keep its own files there
    this.records.delete(h.taskId);
  }

  /** Validates a persisted handle of this driver. */
  protected parseHandle(value: unknown): TaskHandle {
    const bad = (why: string): never => {
      throw new DriverError('INVALID_HANDLE', `not a ${this.name} task handle: ${why}`);
    };
    if (typeof value !== 'object' || value === null) return bad('expected an object');
    const h = value as Partial<TaskHandle>;
    if (h.driver !== this.name) bad(`driver is "${String(h.driver)}"`);
    if (h.version !== 1) bad(`unsupported version ${String(h.version)}`);
    if (typeof h.taskId !== 'string' || typeof h.dir !== 'string' || !h.dir.startsWith('/')) bad('taskId and an absolute dir are required');
    if (!Number.isInteger(h.pid) || (h.pid as number) <= 0) bad('pid must be a positive integer');
    const s = h.state as Partial<SupervisedState> | undefined;
    if (!s || !Number.isInteger(s.supervisorPid) || !Number.isInteger(s.supervisorStart) || !Number.isInteger(s.pidStart)) {
      bad('state.supervisorPid, supervisorStart and pidStart are required');
    }
    if (typeof s?.cgroups !== 'object' || s.cgroups === null) bad('state.cgroups is required');
    for (const p of Object.values(s?.cgroups ?? {})) {
      if (typeof p !== 'string' || !p.startsWith('/sys/fs/cgroup/') || normalize(p) !== p) bad(`cgroup path ${String(p)} is not a directory under /sys/fs/cgroup`);
    }
    try {
      this.checkState(h.state as Record<string, JsonValue>);
    } catch (e) {
      bad((e as Error).message);
    }
    return h as TaskHandle;
  }
}

/** The common half of a handle's state: the supervisor and the workload, each with its start time (pid reuse guard). */
export function supervisedState(supervisorPid: number, pid: number, cgroups: CgroupPaths, task: Task): SupervisedState {
  return {
    supervisorPid,
    supervisorStart: readProcStatSync(supervisorPid)?.starttime ?? -1, // -1: already gone, matches no live process
    pidStart: readProcStatSync(pid)?.starttime ?? -1,
    cgroups,
    memoryMiB: task.spec.resources.memory,
  };
}

export function makeHandle(driver: string, task: Task, pid: number, startedAt: string, state: SupervisedState): TaskHandle {
  return {
    driver,
    version: 1,
    taskId: task.id,
    instance: { ...task.instance },
    dir: task.dir,
    pid,
    startedAt,
    state: state as unknown as Record<string, JsonValue>,
  };
}

export function cgroupOf(state: SupervisedState): TaskCgroup | undefined {
  return Object.keys(state.cgroups).length > 0 ? TaskCgroup.fromPaths(state.cgroups) : undefined;
}

function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    void p.then(() => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
