/**
 * The agent's usage reporter: every `usageMs` (default 5 s) it measures each running instance
 * and sends the node's report (model/usage.ts) to PUT /v1/nodes/{node}/usage.
 *
 *   per running instance: driver.stats(handle)  ─ cumulative CPU ns, working set, CFS counters, pids (cgroup v1 or v2)
 *                         memoryPeakBytes       ─ v1 memory.max_usage_in_bytes / v2 memory.peak
 *                         netnsBytes(pid)       ─ its network namespace's interfaces (none in host networking)
 *                         gpu.sample + usage    ─ nvidia-smi, once per round for every instance
 *   per node:             network.serviceTraffic?() ─ cumulative connections per service ([] when absent)
 *
 * CPU millicores are computed here from the cumulative counter (its increase since this
 * reporter's previous reading of the same run, over the time between them), so they do not
 * depend on other callers of stats() (the agent's status.usage writes). Node totals are the sums
 * over its instances: what workloads use of the node.
 *
 * Contracts: rounds never overlap; a failed send is retried at the next round (a report replaces
 * the last, nothing is queued); a failing reader leaves its field out, never the instance.
 */
import type { Instance } from '../../model/kinds/instance.js';
import { SERVICE_LABEL } from '../../model/kinds/service.js';
import type { Clock } from '../../model/runtime.js';
import { counterIncrease, DEFAULT_USAGE_MS, type InstanceUsage, type NodeUsageReport, type ServiceTraffic } from '../../model/usage.js';
import type { Driver, TaskHandle } from '../drivers/index.js';
import type { GpuSample, GpuUsage } from './gpu-usage.js';
import { cgroupPathsOf, memoryPeakBytes, netnsBytes, ownNetns } from './usage-sample.js';

const MIB = 1024 * 1024;

/** A run of an instance on this node, with the driver that runs it. */
export interface RunningTask {
  instance: Instance;
  handle: TaskHandle;
  driver: Pick<Driver, 'stats'> | undefined;
}

export interface UsageReporterDeps {
  node: string;
  clock: Clock;
  /** The runs now. */
  running(): RunningTask[];
  gpu?: {
    sample(running: Instance[]): Promise<GpuSample | undefined>;
    usage(sample: GpuSample, inst: Instance, handle: Pick<TaskHandle, 'state'>): GpuUsage | undefined;
  };
  serviceTraffic?(): Promise<ServiceTraffic[]>;
  send(report: NodeUsageReport): Promise<unknown>;
  log(msg: string): void;
  /** Where /proc is (tests). */
  procRoot?: string;
}

/** What an instance's status.usage shows (model/kinds/instance.ts). */
export interface StatusUsage { cpu: number; memory: number; at: string; gpuMemory?: number; gpuUtilization?: number }

/**
 * How the agent's status.usage writes measure each run: from the reporter's last round when it
 * runs, since drivers' stats() average CPU since their previous call for the task, and a second
 * reader would shorten the other's averages (a read a few ms after another can see a burst of a
 * whole core under a 200m quota); without the reporter, from stats() and one GPU sample.
 */
export async function statusUsageSource(reporter: UsageReporter | undefined, deps: {
  driver(name: string): Pick<Driver, 'stats'> | undefined;
  gpu?: UsageReporterDeps['gpu'];
  running: Instance[];
}): Promise<(inst: Instance, handle: TaskHandle) => Promise<StatusUsage | undefined>> {
  if (reporter) return async (_inst, handle) => reporter.measured(handle.taskId);
  const sample = await deps.gpu?.sample(deps.running).catch(() => undefined);
  return async (inst, handle) => {
    const stats = await deps.driver(handle.driver)?.stats(handle).catch(() => undefined);
    if (!stats) return undefined;
    const gpu = sample ? deps.gpu!.usage(sample, inst, handle) : undefined;
    return { cpu: stats.cpu, memory: stats.memory, at: stats.at, ...gpu };
  };
}

export class UsageReporter {
  /** taskId → the previous reading of its CPU counter. */
  private readonly prev = new Map<string, { ns: number; at: number }>();
  /** taskId → what the last round measured (for the agent's status.usage writes). */
  private lastRound = new Map<string, StatusUsage>();
  private lastAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastError = '';

  constructor(private readonly deps: UsageReporterDeps, private readonly ms = DEFAULT_USAGE_MS) {}

  /** Starts the rounds (the first after one interval). */
  start(): void {
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** '' or the last failure to send (said once in the log per distinct failure). */
  health(): string {
    return this.lastError;
  }

  /** One round: measures and sends. Never throws. */
  async round(): Promise<void> {
    try {
      await this.deps.send(await this.collect());
      if (this.lastError) this.deps.log('usage reports are accepted again');
      this.lastError = '';
    } catch (e) {
      const msg = `could not send the usage report: ${(e as Error).message}`;
      if (msg !== this.lastError) this.deps.log(msg);
      this.lastError = msg;
    }
  }

  /** Measures every running instance now. */
  async collect(): Promise<NodeUsageReport> {
    const now = this.deps.clock.now();
    const tasks = this.deps.running();
    const sample = this.deps.gpu ? await this.deps.gpu.sample(tasks.map((t) => t.instance)).catch(() => undefined) : undefined;
    const netns = await ownNetns(this.deps.procRoot);
    const measured = await Promise.all(tasks.map((t) => this.measure(t, now, sample, netns)));
    const instances = measured.filter((u): u is InstanceUsage => u !== undefined);
    const at = new Date(now).toISOString();
    this.lastRound = new Map(tasks.flatMap((t, i) => {
      const u = measured[i];
      return u ? [[t.handle.taskId, { cpu: u.cpu, memory: u.memory, at, ...(u.gpuMemory !== undefined ? { gpuMemory: u.gpuMemory } : {}), ...(u.gpuUtilization !== undefined ? { gpuUtilization: u.gpuUtilization } : {}) }]] : [];
    }));
    const live = new Set(tasks.map((t) => t.handle.taskId));
    for (const id of this.prev.keys()) if (!live.has(id)) this.prev.delete(id);
    const services = this.deps.serviceTraffic ? await this.deps.serviceTraffic().catch((e: Error) => (this.deps.log(`service traffic counters: ${e.message}`), [])) : [];
    const intervalMs = Math.max(1, Math.round(this.lastAt === undefined ? this.ms : now - this.lastAt));
    this.lastAt = now;
    return {
      node: this.deps.node, at, intervalMs,
      cpu: instances.reduce((n, u) => n + u.cpu, 0),
      memory: instances.reduce((n, u) => n + u.memory, 0),
      instances, services,
    };
  }

  /** What the last round measured of the run `taskId`, or undefined (not measured yet, or not running then). */
  measured(taskId: string): StatusUsage | undefined {
    return this.lastRound.get(taskId);
  }

  private async measure(t: RunningTask, now: number, sample: GpuSample | undefined, ownNetns: string | undefined): Promise<InstanceUsage | undefined> {
    const stats = await t.driver?.stats(t.handle).catch(() => undefined);
    if (!stats) return undefined;
    const m = t.instance.metadata;
    const prev = this.prev.get(t.handle.taskId) ?? { ns: 0, at: Date.parse(t.handle.startedAt) };
    this.prev.set(t.handle.taskId, { ns: stats.cpuUsageNs, at: now });
    const elapsedMs = Math.max(1, now - prev.at);
    const cpu = Math.round(counterIncrease(prev.ns, stats.cpuUsageNs) / 1e6 / elapsedMs * 1000);
    const [peak, net] = await Promise.all([
      memoryPeakBytes(cgroupPathsOf(t.handle.state)).catch(() => undefined),
      netnsBytes(t.handle.pid, this.deps.procRoot, ownNetns).catch(() => undefined),
    ]);
    const gpu = sample ? this.deps.gpu!.usage(sample, t.instance, t.handle) : undefined;
    const service = m.labels?.[SERVICE_LABEL];
    return {
      uid: m.uid, project: m.project!, name: m.name, ...(service ? { service } : {}),
      cpu, cpuSeconds: stats.cpuUsageNs / 1e9, memory: stats.memory,
      ...(stats.throttling ? { throttledPeriods: stats.throttling.throttledPeriods, periods: stats.throttling.periods } : {}),
      ...(peak !== undefined ? { memoryPeak: Math.ceil(peak / MIB) } : {}),
      ...(stats.pids !== undefined ? { pids: stats.pids } : {}),
      ...(net ? { netRxBytes: net.rx, netTxBytes: net.tx } : {}),
      ...(gpu ? gpu : {}),
    };
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.round().finally(() => this.schedule()), this.ms);
    this.timer.unref();
  }
}
