/**
 * mock driver: tasks that live in memory, with behaviour chosen per task, for tests of the agent.
 *
 * Behaviour comes from, in order: the driver's `defaults`, `behaviorFor(task)`, and the task's
 * environment (so a test that only writes a spec can steer it):
 *
 *   STRATUS_MOCK_START_DELAY_MS  start() takes this long
 *   STRATUS_MOCK_START_ERROR     start() fails with this message
 *   STRATUS_MOCK_RUN_FOR_MS      the task exits after this long (default: runs until stopped)
 *   STRATUS_MOCK_EXIT_CODE       ... with this code (default 0)
 *   STRATUS_MOCK_OOM_AFTER_MS    the task is OOM-killed after this long
 *   STRATUS_MOCK_IGNORE_TERM     "1": stop() waits for the whole grace period, then kills
 *
 * A `MockWorld` plays the machine: driver instances that share one see the same tasks, so a test
 * simulates an agent restart with `new MockDriver({ world })` and `recover(handle)`.
 * Timers are plain setTimeout, so vitest's fake timers drive them.
 */
import { type Clock, isoNow, systemClock } from '../../model/runtime.js';
import {
  DriverError,
  type Driver,
  type ExecCapable,
  type ExecResult,
  type ExitResult,
  type Fingerprint,
  type LogLine,
  type LogOptions,
  type Task,
  type TaskHandle,
  type TaskState,
  type TaskStats,
} from './driver.js';
import { classifyExit } from './exit.js';

export interface MockBehavior {
  startDelayMs: number;
  startError?: string;
  runForMs?: number;
  exitCode: number;
  oomAfterMs?: number;
  ignoreTerm: boolean;
  /** What stats() reports: millicores and MiB. */
  stats: { cpu: number; memory: number };
  /** Lines the task "prints" on stdout when it starts. */
  logLines: string[];
}

const DEFAULT_BEHAVIOR: MockBehavior = { startDelayMs: 0, exitCode: 0, ignoreTerm: false, stats: { cpu: 10, memory: 16 }, logLines: [] };

interface MockTask {
  handle: TaskHandle;
  behavior: MockBehavior;
  memoryMiB: number;
  exit?: ExitResult;
  exited: Promise<ExitResult>;
  end(status: number, oom: boolean): void;
  stopRequested: boolean;
  timers: NodeJS.Timeout[];
  logs: LogLine[];
}

/** The simulated machine: its tasks outlive any one driver instance. */
export class MockWorld {
  readonly tasks = new Map<string, MockTask>();
  private nextPid = 1000;
  pid(): number {
    return this.nextPid++;
  }
}

export interface MockDriverOptions {
  /** Registered name; a mock can stand in for "process" or "container". Default "mock". */
  name?: string;
  defaults?: Partial<MockBehavior>;
  behaviorFor?: (task: Task) => Partial<MockBehavior>;
  world?: MockWorld;
  clock?: Clock;
  fingerprint?: Partial<Fingerprint>;
}

export class MockDriver implements Driver, ExecCapable {
  readonly name: string;
  readonly world: MockWorld;
  /** Every call, in order, for assertions. */
  readonly calls: Array<{ method: string; taskId?: string }> = [];
  private readonly clock: Clock;

  constructor(private readonly options: MockDriverOptions = {}) {
    this.name = options.name ?? 'mock';
    this.world = options.world ?? new MockWorld();
    this.clock = options.clock ?? systemClock;
  }

  async fingerprint(): Promise<Fingerprint> {
    this.calls.push({ method: 'fingerprint' });
    return { driver: this.name, available: true, version: 'mock', enforcesLimits: true, details: ['in-memory tasks for tests'], attributes: {}, ...this.options.fingerprint };
  }

  async start(task: Task): Promise<TaskHandle> {
    this.calls.push({ method: 'start', taskId: task.id });
    const b = this.behavior(task);
    if (b.startDelayMs > 0) await new Promise((r) => setTimeout(r, b.startDelayMs));
    if (b.startError) throw new DriverError('START_FAILED', b.startError);
    const previous = this.world.tasks.get(task.id);
    if (previous && !previous.exit) throw new DriverError('START_FAILED', `task ${task.id} already runs`);
    const handle: TaskHandle = {
      driver: this.name,
      version: 1,
      taskId: task.id,
      instance: { ...task.instance },
      dir: task.dir,
      pid: this.world.pid(),
      startedAt: isoNow(this.clock),
      state: { mock: true },
    };
    let end!: (status: number, oom: boolean) => void;
    const t: MockTask = {
      handle,
      behavior: b,
      memoryMiB: task.spec.resources.memory,
      exited: new Promise<ExitResult>((resolve) => {
        end = (status, oom) => {
          if (t.exit) return;
          t.timers.forEach(clearTimeout);
          t.exit = classifyExit({
            status,
            oom: { oomKills: oom ? 1 : 0, limitHits: oom ? 1 : 0 },
            stopRequested: t.stopRequested,
            memoryMiB: t.memoryMiB,
            finishedAt: isoNow(this.clock),
          });
          resolve(t.exit);
        };
      }),
      end: (s, o) => end(s, o),
      stopRequested: false,
      timers: [],
      logs: b.logLines.map((line) => ({ stream: 'stdout', line })),
    };
    if (b.runForMs !== undefined) t.timers.push(setTimeout(() => t.end(b.exitCode, false), b.runForMs));
    if (b.oomAfterMs !== undefined) t.timers.push(setTimeout(() => t.end(128 + 9, true), b.oomAfterMs));
    this.world.tasks.set(task.id, t);
    return handle;
  }

  private behavior(task: Task): MockBehavior {
    const env = { ...task.env, ...task.spec.env };
    const num = (k: string) => (env[k] !== undefined && env[k] !== '' ? Number(env[k]) : undefined);
    const fromEnv: Partial<MockBehavior> = {};
    if (num('STRATUS_MOCK_START_DELAY_MS') !== undefined) fromEnv.startDelayMs = num('STRATUS_MOCK_START_DELAY_MS');
    if (env.STRATUS_MOCK_START_ERROR) fromEnv.startError = env.STRATUS_MOCK_START_ERROR;
    if (num('STRATUS_MOCK_RUN_FOR_MS') !== undefined) fromEnv.runForMs = num('STRATUS_MOCK_RUN_FOR_MS');
    if (num('STRATUS_MOCK_EXIT_CODE') !== undefined) fromEnv.exitCode = num('STRATUS_MOCK_EXIT_CODE');
    if (num('STRATUS_MOCK_OOM_AFTER_MS') !== undefined) fromEnv.oomAfterMs = num('STRATUS_MOCK_OOM_AFTER_MS');
    if (env.STRATUS_MOCK_IGNORE_TERM !== undefined) fromEnv.ignoreTerm = env.STRATUS_MOCK_IGNORE_TERM === '1';
    return { ...DEFAULT_BEHAVIOR, ...this.options.defaults, ...this.options.behaviorFor?.(task), ...fromEnv };
  }

  private task(handle: TaskHandle, method: string): MockTask {
    this.calls.push({ method, taskId: handle.taskId });
    const t = this.world.tasks.get(handle.taskId);
    if (!t) throw new DriverError('UNKNOWN_TASK', `mock task ${handle.taskId} does not exist (destroyed, or never started)`);
    return t;
  }

  async wait(handle: TaskHandle): Promise<ExitResult> {
    return this.task(handle, 'wait').exited;
  }

  async stop(handle: TaskHandle, gracePeriodMs: number): Promise<ExitResult> {
    const t = this.task(handle, 'stop');
    if (t.exit) return t.exit;
    t.stopRequested = true;
    if (!t.behavior.ignoreTerm || gracePeriodMs <= 0) t.end(t.behavior.ignoreTerm ? 128 + 9 : 128 + 15, false);
    else t.timers.push(setTimeout(() => t.end(128 + 9, false), gracePeriodMs));
    return t.exited;
  }

  async destroy(handle: TaskHandle): Promise<void> {
    this.calls.push({ method: 'destroy', taskId: handle.taskId });
    const t = this.world.tasks.get(handle.taskId);
    if (!t) return;
    t.stopRequested = true;
    t.end(128 + 9, false);
    this.world.tasks.delete(handle.taskId);
  }

  async inspect(handle: TaskHandle): Promise<TaskState> {
    const t = this.task(handle, 'inspect');
    return { running: !t.exit, pid: t.handle.pid, startedAt: t.handle.startedAt, ...(t.exit ? { exit: t.exit } : {}) };
  }

  async recover(persisted: unknown): Promise<TaskHandle> {
    const h = persisted as Partial<TaskHandle> | null;
    if (!h || typeof h !== 'object' || h.driver !== this.name || h.version !== 1 || typeof h.taskId !== 'string') {
      throw new DriverError('INVALID_HANDLE', `not a ${this.name} task handle`);
    }
    this.calls.push({ method: 'recover', taskId: h.taskId });
    const t = this.world.tasks.get(h.taskId);
    if (!t) throw new DriverError('UNKNOWN_TASK', `mock task ${h.taskId} is gone (the simulated machine does not have it)`);
    return t.handle;
  }

  async stats(handle: TaskHandle): Promise<TaskStats> {
    const t = this.task(handle, 'stats');
    const { cpu, memory } = t.behavior.stats;
    return { at: isoNow(this.clock), cpu, cpuUsageNs: 0, memory, memoryBytes: memory * 1024 * 1024, source: 'mock' };
  }

  async *logs(handle: TaskHandle, options: LogOptions = {}): AsyncIterable<LogLine> {
    const t = this.task(handle, 'logs');
    const streams = options.streams ?? ['stdout', 'stderr'];
    const lines = t.logs.filter((l) => streams.includes(l.stream));
    yield* options.tail !== undefined ? lines.slice(Math.max(0, lines.length - options.tail)) : lines;
    if (options.follow && !t.exit) await t.exited;
  }

  async exec(handle: TaskHandle, argv: string[]): Promise<ExecResult> {
    const t = this.task(handle, 'exec');
    if (t.exit) throw new DriverError('NOT_RUNNING', `task ${handle.taskId} has ended`);
    return { code: 0, signal: null, stdout: `${argv.join(' ')}\n`, stderr: '' };
  }

  /** Test hook: ends a running task now, as if it exited with `code`. */
  exitNow(handle: TaskHandle, code: number): void {
    this.world.tasks.get(handle.taskId)?.end(code, false);
  }
}
