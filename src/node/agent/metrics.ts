/**
 * The agent's Prometheus metrics: its own work (heartbeats sent and failed, runners by phase,
 * stats rounds, driver start latency) and each running instance's usage, read from its cgroup at
 * scrape time. One prom-client Registry per agent.
 *
 *   stratus agent --metrics-token-file F   GET /metrics on the agent's listener (logs-server.ts), bearer F only
 *   stratus server (embedded agent)        the same text inside the server's /metrics (one scrape)
 *
 * Reading a cgroup does not touch the driver's stats() (whose CPU average is since its last call,
 * which the usage reports own). A run without cgroup paths (no cgroups, the mock driver) is read
 * through stats(). Per-instance series are named stratus_agent_instance_* so that the server's
 * cluster-wide stratus_instance_* (from the usage reports) and these never collide in one scrape.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Instance } from '../../model/kinds/instance.js';
import type { Driver, TaskHandle } from '../drivers/index.js';
import { TaskCgroup } from '../drivers/cgroups.js';
import { cgroupPathsOf } from './usage-sample.js';

/** One runner as the metrics see it. */
export interface RunnerView {
  instance: Instance;
  /** The current run, if any, and the driver that runs it. */
  handle?: TaskHandle;
  driver?: Driver;
}

export interface InstanceSample {
  cpuSeconds: number;
  workingSetBytes: number;
  memoryBytes: number;
  throttledPeriods?: number;
  periods?: number;
  pids?: number;
}

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A run's usage now: from its cgroup when it has one, else from the driver's stats(); undefined when neither answers. */
export async function sampleRun(handle: TaskHandle, driver: Driver | undefined): Promise<InstanceSample | undefined> {
  const paths = cgroupPathsOf(handle.state);
  if (Object.keys(paths).length > 0) {
    const s = await TaskCgroup.fromPaths(paths).sample().catch(() => undefined);
    if (s) {
      return {
        cpuSeconds: s.cpuUsageNs / 1e9, workingSetBytes: s.workingSetBytes, memoryBytes: s.memoryBytes,
        ...(s.throttling ? { throttledPeriods: s.throttling.throttledPeriods, periods: s.throttling.periods } : {}),
        ...(s.pids !== undefined ? { pids: s.pids } : {}),
      };
    }
  }
  const st = await driver?.stats(handle).catch(() => undefined);
  if (!st) return undefined;
  return {
    cpuSeconds: st.cpuUsageNs / 1e9, workingSetBytes: st.memory * 1024 * 1024, memoryBytes: st.memoryBytes,
    ...(st.throttling ? { throttledPeriods: st.throttling.throttledPeriods, periods: st.throttling.periods } : {}),
    ...(st.pids !== undefined ? { pids: st.pids } : {}),
  };
}

type InstanceLabel = 'project' | 'name' | 'service';

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly heartbeats = new Counter({ name: 'stratus_agent_heartbeats_total', help: 'Heartbeats (node status writes) this agent sent, by result (ok, failed).', labelNames: ['result'], registers: [this.registry] });
  private readonly statsSeconds = new Histogram({ name: 'stratus_agent_stats_round_duration_seconds', help: 'Duration of a round of reading every running instance\'s usage (for the status and usage reports).', buckets: BUCKETS, registers: [this.registry] });
  private readonly startSeconds = new Histogram({ name: 'stratus_agent_driver_start_duration_seconds', help: 'Latency of a driver\'s start() (until the workload\'s process exists), by driver and result.', labelNames: ['driver', 'result'], buckets: BUCKETS, registers: [this.registry] });

  /**
   * `runners` lists the agent's runners at scrape time; `defaults` adds Node's process metrics
   * (off for the server's embedded agent: the server's own registry has them).
   */
  constructor(private readonly runners: () => Iterable<RunnerView>, options: { defaults?: boolean; node?: string } = {}) {
    if (options.defaults !== false) collectDefaultMetrics({ register: this.registry });
    if (options.node) this.registry.setDefaultLabels({ node: options.node });
    const byPhase: Gauge<'phase'> = new Gauge({ name: 'stratus_agent_runners', help: 'Instances this agent runs or tracks, by phase.', labelNames: ['phase'], registers: [this.registry], collect: () => {
      byPhase.reset();
      const n = new Map<string, number>();
      for (const r of this.runners()) {
        const phase = r.instance.status?.phase ?? 'Pending';
        n.set(phase, (n.get(phase) ?? 0) + 1);
      }
      for (const [phase, count] of n) byPhase.set({ phase }, count);
    } });
    this.instanceMetrics();
  }

  heartbeat(ok: boolean): void {
    this.heartbeats.inc({ result: ok ? 'ok' : 'failed' });
  }

  statsRound(seconds: number): void {
    this.statsSeconds.observe(seconds);
  }

  driverStarted(driver: string, seconds: number, ok: boolean): void {
    this.startSeconds.observe({ driver, result: ok ? 'ok' : 'error' }, seconds);
  }

  /** `driver`, with each start() timed here; everything else passes through. */
  timed(driver: Driver): Driver {
    const start: Driver['start'] = async (task) => {
      const t = performance.now();
      try {
        const h = await driver.start(task);
        this.driverStarted(driver.name, (performance.now() - t) / 1000, true);
        return h;
      } catch (e) {
        this.driverStarted(driver.name, (performance.now() - t) / 1000, false);
        throw e;
      }
    };
    return new Proxy(driver, {
      get(target, prop) {
        if (prop === 'start') return start;
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  /** The Prometheus text (the server's /metrics includes it for its embedded agent). */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private instanceMetrics(): void {
    const labelNames: InstanceLabel[] = ['project', 'name', 'service'];
    const series: { name: string; help: string; counter?: boolean; value: (s: InstanceSample) => number | undefined }[] = [
      { name: 'stratus_agent_instance_cpu_seconds_total', counter: true, help: 'CPU time of the instance\'s current run, read from its cgroup at scrape time, seconds.', value: (s) => s.cpuSeconds },
      { name: 'stratus_agent_instance_cpu_throttled_periods_total', counter: true, help: 'CFS periods in which the instance was throttled.', value: (s) => s.throttledPeriods },
      { name: 'stratus_agent_instance_cpu_periods_total', counter: true, help: 'CFS periods in which the instance could run.', value: (s) => s.periods },
      { name: 'stratus_agent_instance_memory_working_set_bytes', help: 'Memory working set of the instance (usage less inactive file cache), bytes.', value: (s) => s.workingSetBytes },
      { name: 'stratus_agent_instance_memory_usage_bytes', help: 'Memory charged to the instance\'s cgroup, bytes.', value: (s) => s.memoryBytes },
      { name: 'stratus_agent_instance_pids', help: 'Processes (tasks) in the instance\'s cgroup.', value: (s) => s.pids },
    ];
    for (const m of series) {
      const config = {
        name: m.name, help: m.help, labelNames, registers: [this.registry],
        // every series awaits the same sampling of the runs (one cgroup read per run and scrape)
        collect: async () => {
          const rows = await this.sampleOnce();
          metric.reset();
          for (const { labels, sample } of rows) {
            const v = m.value(sample);
            if (v === undefined) continue;
            if (metric instanceof Counter) metric.inc(labels, v);
            else metric.set(labels, v);
          }
        },
      };
      const metric: Counter<InstanceLabel> | Gauge<InstanceLabel> = m.counter ? new Counter(config) : new Gauge(config);
    }
  }

  private sampling: Promise<{ labels: Record<InstanceLabel, string>; sample: InstanceSample }[]> | undefined;

  /** The usage of every run, read once for all the series of one scrape (their collect() calls start together). */
  private sampleOnce() {
    this.sampling ??= (async () => {
      const runs = [...this.runners()].filter((r) => r.handle);
      const samples = await Promise.all(runs.map((r) => sampleRun(r.handle!, r.driver)));
      return runs.flatMap((r, i) => {
        const m = r.instance.metadata;
        const sample = samples[i];
        return sample ? [{ labels: { project: m.project ?? '', name: m.name, service: m.labels?.['stratus.io/service'] ?? '' }, sample }] : [];
      });
    })().finally(() => (this.sampling = undefined));
    return this.sampling;
  }
}
