/**
 * One instance on this node: starts it, watches it, restarts it by its policy with exponential
 * backoff, stops it when the control plane asks (drain, preemption) or the instance goes away.
 *
 *   desired (from the control plane)        local run
 *   Scheduled/Starting/Running   ──▶ start, then Running {pid}; on exit → restart or final phase
 *   Stopping (Drained/Preempted) ──▶ stop within the grace period, then release the instance
 *   finished (Lost, Succeeded...) ─▶ make sure nothing runs
 *   removed (deleted, moved away) ─▶ stop, destroy every run, forget
 *
 * Work is serialized per runner: `kick()` runs `reconcile()` again after the current pass.
 */
import type { Driver, ExitResult, GuestNetwork, TaskDevice, TaskDisk, TaskFile, TaskHandle, TaskMount, TaskTap, UserNet } from '../drivers/index.js';
import { taskIdFor } from '../drivers/index.js';
import type { Instance, InstanceStatus, RunSpec } from '../../model/kinds/instance.js';
import { FINISHED, STOP_REQUESTED, release } from '../../model/lifecycle.js';
import { isoNow, type Clock } from '../../model/runtime.js';
import { setCondition } from '../../model/conditions.js';
import { resolveHealth, type ResolvedHealthCheck } from '../../model/health.js';
import { isExecCapable } from '../drivers/index.js';
import { Prober } from './probes.js';
import { instanceEndpoint } from '../../model/host-networking.js';
import type { LocalRecord, RecordStore } from './records.js';

export interface Backoff {
  baseMs: number;
  maxMs: number;
  /** A run longer than this resets the backoff. */
  resetAfterMs: number;
}

/** Phases in which an instance bound to this node should be running here. */
const RUNNABLE: ReadonlySet<string> = new Set(['Scheduled', 'Starting', 'Running']);

export const DEFAULT_BACKOFF: Backoff = { baseMs: 1000, maxMs: 300_000, resetAfterMs: 600_000 };

/** Writes an instance's status; `change` returns undefined to leave it alone. Resolves with the stored object. */
export type StatusWriter = (inst: Instance, change: (status: InstanceStatus, latest: Instance) => InstanceStatus | undefined) => Promise<Instance | undefined>;

/** What a run needs besides the instance: see RunnerDeps.prepare. */
export interface PreparedRun {
  /** Secret references resolved (see prepareInstance). */
  spec: RunSpec;
  env: Record<string, string>;
  netns?: string;
  wait?: string;
  /** Status fields the run sets when it starts (host networking: status.ip, the node's address, and status.hostNetwork). */
  status?: Pick<InstanceStatus, 'ip' | 'hostNetwork'>;
  files?: TaskFile[];
  mounts?: TaskMount[];
  devices?: (string | TaskDevice)[];
  /** Disks handed over whole (a VM's root disk, its volumes). */
  disks?: TaskDisk[];
  /** A VM's NIC on the overlay (network/instance-links.ts) and how its guest configures it. */
  tap?: TaskTap;
  guestNetwork?: GuestNetwork;
  /** A VM in host networking: QEMU's user-mode network with its ports forwarded. */
  userNet?: UserNet;
}

export interface RunnerDeps {
  node: string;
  driver: (name: string) => Driver | undefined;
  records: RecordStore;
  writeStatus: StatusWriter;
  /**
   * What to run: the spec with local image names, the environment the agent adds, the network
   * namespace to join. `wait` says why the run cannot start yet (say, no address assigned): the
   * runner tries again on the next change of the instance, or after a second.
   */
  prepare: (inst: Instance) => Promise<PreparedRun>;
  /** Called once everything of the instance on this node is gone (after remove()). */
  removed?: (record: LocalRecord) => Promise<void>;
  /** Called after its run was stopped for good here (finished, or bound elsewhere): what it held (volumes) may go. Idempotent. */
  stopped?: (record: LocalRecord) => Promise<void>;
  clock: Clock;
  backoff: Backoff;
  /** How soon a start that waits (no address yet, network not ready) looks again unprompted. Default 1 s. */
  waitRetryMs?: number;
  log: (msg: string) => void;
}

export class InstanceRunner {
  private handle: TaskHandle | undefined;
  private stopRequested = false;
  private removed = false;
  private backoffUntil = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;
  private again = false;
  private startedAtMs = 0;
  private prober: Prober | undefined;
  /** Why the run cannot start yet (from prepare), if it cannot. */
  private waiting: string | undefined;

  constructor(private inst: Instance, private readonly record: LocalRecord, private readonly deps: RunnerDeps) {}

  get uid(): string {
    return this.record.uid;
  }

  /** The run whose output `logs` shows: the current one, else the last one. */
  get logHandle(): TaskHandle | undefined {
    return this.handle ?? this.record.previous.at(-1);
  }

  get running(): TaskHandle | undefined {
    return this.handle;
  }

  get driverName(): string {
    return this.record.driver;
  }

  /** The latest copy of the instance this runner has seen. */
  get instance(): Instance {
    return this.inst;
  }

  /** Takes in a run recovered after an agent restart. */
  adopt(handle: TaskHandle): void {
    this.handle = handle;
    this.startedAtMs = Date.parse(handle.startedAt);
    this.watchExit(handle);
  }

  update(inst: Instance): void {
    if (inst.metadata.revision < this.inst.metadata.revision) return; // an older copy than one we wrote
    this.inst = inst;
    if (this.waiting) this.clearRetry(); // what it waited for may have come with this change
    this.kick();
  }

  /** Looks again now if the start waits for something (instead of at its next retry). */
  wake(): void {
    if (!this.waiting) return;
    this.clearRetry();
    this.kick();
  }

  /** Stops and destroys everything of this instance on this node; resolves when done. */
  async remove(): Promise<void> {
    this.removed = true;
    this.kick();
    while (this.busy) await this.busy;
  }

  private kick(): void {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = (async () => {
      do {
        this.again = false;
        try {
          await this.reconcile();
        } catch (e) {
          this.deps.log(`instance ${this.inst.metadata.project}/${this.inst.metadata.name}: ${(e as Error).message}`);
        }
      } while (this.again);
      this.busy = undefined;
    })();
  }

  private async reconcile(): Promise<void> {
    if (this.removed) return this.teardown();
    const phase = this.inst.status?.phase ?? 'Pending';
    if (phase === 'Stopping') return this.evict();
    if (phase === 'Off') return this.powerOff();
    if (FINISHED.has(phase) || this.inst.status?.node !== this.deps.node) {
      await this.stopRun();
      return this.deps.stopped?.(this.record);
    }
    if (!RUNNABLE.has(phase) || this.handle || this.retryTimer) return;
    if (this.deps.clock.now() < this.backoffUntil) return this.retryLater(this.backoffUntil - this.deps.clock.now());
    await this.start();
  }

  private async start(): Promise<void> {
    const driver = this.deps.driver(this.inst.spec.driver);
    if (!driver) return this.finish('Failed', 'DriverUnavailable', `the ${this.inst.spec.driver} driver is not available on node ${this.deps.node}`);
    // No "Starting" write first: it would put a round trip and a commit before every start.
    let prepared;
    const revision = this.inst.metadata.revision;
    try {
      prepared = await this.deps.prepare(this.inst);
    } catch (e) {
      return this.startFailed(e);
    }
    if (prepared.wait) {
      this.waiting = prepared.wait;
      // What it waited for (its address) may have come while it was being prepared: look again at once.
      if (this.inst.metadata.revision !== revision) this.again = true;
      else this.retryLater(this.deps.waitRetryMs ?? 1000);
      return;
    }
    this.waiting = undefined;
    this.record.attempt++;
    this.deps.records.save(this.record);
    let handle: TaskHandle;
    try {
      const ref = { project: this.record.project, name: this.record.name, uid: this.record.uid };
      handle = await driver.start({
        id: taskId(ref, this.record.attempt, this.deps.node),
        instance: ref,
        spec: prepared.spec,
        dir: this.deps.records.taskDir(this.record, this.record.attempt),
        env: prepared.env,
        ...(prepared.netns ? { netns: prepared.netns } : {}),
        ...(prepared.files?.length ? { files: prepared.files } : {}),
        ...(prepared.mounts?.length ? { mounts: prepared.mounts } : {}),
        ...(prepared.devices?.length ? { devices: prepared.devices } : {}),
        ...(prepared.disks?.length ? { disks: prepared.disks } : {}),
        ...(prepared.tap ? { tap: prepared.tap } : {}),
        ...(prepared.guestNetwork ? { guestNetwork: prepared.guestNetwork } : {}),
        ...(prepared.userNet ? { userNet: prepared.userNet } : {}),
      });
      this.handle = handle;
      this.startedAtMs = this.deps.clock.now();
      this.record.handle = handle;
      this.deps.records.save(this.record);
      this.watchExit(handle);
    } catch (e) {
      return this.startFailed(e);
    }
    const health = this.inst.spec.health;
    const ready = health
      ? { type: 'Ready', status: 'False' as const, reason: 'HealthCheckPending', message: 'waiting for the first passing health check' }
      : { type: 'Ready', status: 'True' as const, reason: 'Running', message: 'running (no health check)' };
    // The workload runs: a status write the control plane does not take now (a server failing
    // over, the store without quorum) is tried again, never counted as a failed start.
    await this.writeRetrying(handle, (s) => ({
      ...s, ...prepared.status, phase: 'Running', reason: 'Started', message: `running as pid ${handle.pid}`, pid: handle.pid, startedAt: handle.startedAt, restarts: this.record.restarts,
      conditions: setCondition(s.conditions, ready, isoNow(this.deps.clock)),
    }));
    if (health && this.handle === handle) this.startProbes(handle, resolveHealth(health));
  }

  /** `write`, again after 0.5, 1, 2, 4, 5, 5... s while it fails, as long as `handle` is this instance's run. */
  private async writeRetrying(handle: TaskHandle, change: (s: InstanceStatus) => InstanceStatus): Promise<void> {
    for (let delay = 500; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        return await this.write(change);
      } catch (e) {
        if (this.handle !== handle || this.removed) return;
        this.deps.log(`instance ${this.inst.metadata.project}/${this.inst.metadata.name}: its status write failed (${(e as Error).message}); trying again in ${delay} ms`);
        await new Promise((r) => setTimeout(r, delay));
        if (this.handle !== handle || this.removed) return;
      }
    }
  }

  /** A start that failed counts as a run that ended with an error (restart policy, backoff). */
  private startFailed(e: unknown): Promise<void> {
    return this.onExit(undefined, { code: null, signal: null, oomKilled: false, reason: 'Error', message: `could not start: ${(e as Error).message}`, finishedAt: isoNow(this.deps.clock) });
  }

  private startProbes(handle: TaskHandle, check: ResolvedHealthCheck): void {
    this.prober?.stop();
    const driver = this.deps.driver(handle.driver);
    this.prober = new Prober(check, () => ({
      // where it listens: its address (in host networking 127.0.0.1, a declared port at its host port)
      host: instanceEndpoint(this.inst, 0, true).host,
      portOf: (port: number) => instanceEndpoint(this.inst, port, true).port,
      ...(driver && isExecCapable(driver) ? { exec: async (argv: string[], timeoutMs: number) => {
        const r = await driver.exec(handle, argv, { timeoutMs });
        return { code: r.code, output: `${r.stdout}\n${r.stderr}` };
      } } : {}),
    }), (ok, message) => {
      if (handle !== this.handle) return;
      // The last result, passing or not, is the Ready condition's message: describe and rollouts show it.
      const ready = { type: 'Ready', status: ok ? 'True' as const : 'False' as const, reason: ok ? 'HealthCheckPassed' : 'HealthCheckFailed', message: `health check ${ok ? 'passed' : 'failed'}: ${message}` };
      // best effort: the next probe result writes again
      void this.write((s) => ({ ...s, conditions: setCondition(s.conditions, ready, isoNow(this.deps.clock)) })).catch((e: Error) => this.deps.log(`instance ${this.inst.metadata.project}/${this.inst.metadata.name}: health status not written: ${e.message}`));
    });
    this.prober.start();
  }

  private watchExit(handle: TaskHandle): void {
    const driver = this.deps.driver(handle.driver);
    if (!driver) return;
    driver.wait(handle).then((exit) => this.onExit(handle, exit), (e: Error) => this.deps.log(`wait failed: ${e.message}`));
  }

  /** A run ended (or could not start): restart it by policy, or record the final phase. */
  private async onExit(handle: TaskHandle | undefined, exit: ExitResult): Promise<void> {
    if (handle && handle !== this.handle) return;
    if (handle) this.retire(handle);
    if (this.stopRequested || this.removed) return;
    const policy = this.inst.spec.restartPolicy;
    const failed = exit.code !== 0 || exit.oomKilled;
    if (policy === 'always' || (policy === 'on-failure' && failed)) {
      const ran = handle ? this.deps.clock.now() - this.startedAtMs : 0;
      if (ran > this.deps.backoff.resetAfterMs) this.record.restarts = 0;
      this.record.restarts++;
      this.deps.records.save(this.record);
      const delay = Math.min(this.deps.backoff.maxMs, this.deps.backoff.baseMs * 2 ** Math.min(20, this.record.restarts - 1));
      this.backoffUntil = this.deps.clock.now() + delay;
      await this.write((s) => ({
        ...s, phase: 'Starting', reason: exit.oomKilled ? 'OOMKilled' : 'BackOff',
        message: `${exit.message}; restarting in ${Math.round(delay / 1000)} s (restart ${this.record.restarts})`,
        restarts: this.record.restarts, finishedAt: exit.finishedAt, ...exitFields(exit), conditions: notReady(s, exit.message, this.deps.clock),
      }));
      this.retryLater(delay);
      return;
    }
    const ok = exit.code === 0 && !exit.oomKilled;
    await this.finish(ok ? 'Succeeded' : 'Failed', exit.oomKilled ? 'OOMKilled' : exit.reason, exit.message, exit);
  }

  private async finish(phase: 'Succeeded' | 'Failed', reason: string, message: string, exit?: ExitResult): Promise<void> {
    await this.write((s) => ({ ...s, phase, reason, message, finishedAt: exit?.finishedAt ?? isoNow(this.deps.clock), restarts: this.record.restarts, ...(exit ? exitFields(exit) : {}), conditions: notReady(s, message, this.deps.clock) }));
  }

  /** The control plane asked it to stop (drain, preemption): stop, then release the instance. */
  private async evict(): Promise<void> {
    await this.stopRun();
    const reason = this.inst.status?.reason ?? 'Stopped';
    const final = reason === 'Preempted' ? 'Preempted' : 'Stopped';
    await this.deps.writeStatus(this.inst, (s, latest) => {
      if (s.phase !== 'Stopping' || s.node !== this.deps.node) return undefined;
      return release(latest, reason, `${s.message ?? reason}; stopped on node ${this.deps.node}`, final, isoNow(this.deps.clock));
    });
  }

  /**
   * Stopped by a person (`stratus instance stop`, phase Off): stop the run within its grace period
   * (a VM: ACPI shutdown first) and say so; everything else stays (the node, the address, the
   * disks) until `stratus instance start` sets it Scheduled again.
   */
  private async powerOff(): Promise<void> {
    await this.stopRun();
    await this.deps.stopped?.(this.record);
    if (this.inst.status?.reason !== STOP_REQUESTED) return;
    const message = `stopped on node ${this.deps.node}; stratus instance start ${this.inst.metadata.name} runs it again`;
    const stored = await this.deps.writeStatus(this.inst, (s) => {
      if (s.phase !== 'Off' || s.node !== this.deps.node || s.reason !== STOP_REQUESTED) return undefined;
      return { ...s, reason: 'Stopped', message, conditions: notReady(s, message, this.deps.clock) };
    });
    if (stored) this.inst = stored;
  }

  private async stopRun(): Promise<void> {
    this.clearRetry();
    const handle = this.handle;
    if (!handle) return;
    this.stopRequested = true;
    try {
      const exit = await this.deps.driver(handle.driver)?.stop(handle, this.inst.spec.gracePeriod * 1000);
      if (handle === this.handle) this.retire(handle);
      if (exit && !this.removed && !FINISHED.has(this.inst.status?.phase ?? 'Pending')) {
        await this.write((s) => ({ ...s, finishedAt: exit.finishedAt, ...exitFields(exit) }), true);
      }
    } finally {
      this.stopRequested = false;
    }
  }

  private async teardown(): Promise<void> {
    await this.stopRun();
    for (const h of [...this.record.previous, ...(this.record.handle ? [this.record.handle] : [])]) {
      await this.deps.driver(h.driver)?.destroy(h).catch((e: Error) => this.deps.log(`destroy ${h.taskId}: ${e.message}`));
    }
    await this.deps.removed?.(this.record).catch((e: Error) => this.deps.log(`cleanup of ${this.record.name}: ${e.message}`));
    this.deps.records.remove(this.record.uid);
  }

  /** The run is over: keep it for its logs, destroy the one before. */
  private retire(handle: TaskHandle): void {
    this.prober?.stop();
    this.prober = undefined;
    this.handle = undefined;
    this.record.handle = undefined;
    this.record.previous.push(handle);
    while (this.record.previous.length > 1) {
      const old = this.record.previous.shift()!;
      void this.deps.driver(old.driver)?.destroy(old).catch(() => undefined);
    }
    this.deps.records.save(this.record);
  }

  private retryLater(ms: number): void {
    this.clearRetry();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, Math.max(0, ms));
    this.retryTimer.unref();
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /**
   * Writes run state unless the control plane moved the instance on (stopping, finished, elsewhere)
   * or a person stopped it (Off: a start that was under way must not write it back to Running).
   */
  private async write(change: (s: InstanceStatus) => InstanceStatus, evenIfStopping = false): Promise<void> {
    const stored = await this.deps.writeStatus(this.inst, (s) => {
      if (s.node !== this.deps.node || FINISHED.has(s.phase) || ((s.phase === 'Stopping' || s.phase === 'Off') && !evenIfStopping)) return undefined;
      return change(s);
    });
    if (stored) this.inst = stored;
  }
}

/**
 * Task ids name cgroups and runc containers, which every agent of a machine shares: the node
 * name keeps the runs of one instance apart when it moves between two agents of one machine.
 */
export function taskId(ref: { project: string; name: string; uid: string }, attempt: number, node: string): string {
  const base = taskIdFor(ref, attempt);
  return `${base.slice(0, 127 - node.length)}.${node}`;
}

function notReady(s: InstanceStatus, message: string, clock: Clock): InstanceStatus['conditions'] {
  return setCondition(s.conditions, { type: 'Ready', status: 'False', reason: 'NotRunning', message }, isoNow(clock));
}

function exitFields(exit: ExitResult): Partial<InstanceStatus> {
  return { ...(exit.code !== null ? { exitCode: exit.code } : {}), ...(exit.signal ? { signal: exit.signal } : {}) };
}
