/**
 * Metrics benchmarks (issue 17: overhead of metrics).
 *
 *   server   GET /metrics of a server holding --nodes nodes and --instances running instances
 *            (created through the repository, bound to the nodes, each with a usage row), over HTTP
 *            with a cluster admin's token, against two limits measured in the same run on the same
 *            objects: prom-client alone serialising the same number of series (gauges set once:
 *            the floor of any prom-client exporter) and GET /v1/instances listing the same instances.
 *   agent    the agent's scrape with --agent-instances running instances whose cgroups are real
 *            (created in this host's hierarchies, empty), with and without the per-instance series:
 *            wall time and CPU time per scrape; at a 15 s scrape interval the CPU share is
 *            cpu-per-scrape / 15 s.
 *
 *   npx tsx bench/metrics.ts [--nodes 1000] [--instances 10000] [--scrapes 20] [--agent-instances 100]
 */
import { mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Gauge, Registry } from 'prom-client';
import { startServer, type RunningServer } from '../src/server/main.js';
import type { UsageRow } from '../src/server/metrics-cluster.js';
import { AgentMetrics, type RunnerView } from '../src/node/agent/metrics.js';
import { detectCgroups, TaskCgroup } from '../src/node/drivers/cgroups.js';
import type { TaskHandle } from '../src/node/drivers/index.js';
import type { Instance } from '../src/model/kinds/instance.js';
import { fmt, median, percentile, onInterrupt, BENCH_TOKEN } from './lib/util.js';
import { nodeName, seedCluster } from './lib/seed.js';

const { values } = parseArgs({ options: {
  nodes: { type: 'string', default: '1000' }, instances: { type: 'string', default: '10000' }, scrapes: { type: 'string', default: '20' }, 'agent-instances': { type: 'string', default: '100' },
} });
const NODES = Number(values.nodes);
const INSTANCES = Number(values.instances);
const SCRAPES = Number(values.scrapes);
const AGENT_INSTANCES = Number(values['agent-instances']);
const AUTH = { authorization: `Bearer ${BENCH_TOKEN}` };

/** Times `fn` `n` times after 2 warm-ups; returns sorted milliseconds. */
async function times(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < 2; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

const show = (ms: number[]) => `p50 ${fmt(median(ms), 1)} ms, p90 ${fmt(percentile(ms, 90), 1)} ms`;

/** 1,000 nodes and 10,000 Running instances (bench/lib/seed.ts), every 4th of service `web`, and a usage row each. */
async function populate(server: RunningServer): Promise<UsageRow[]> {
  const service = (k: number) => (k % 4 === 0 ? 'web' : undefined);
  await seedCluster(server.repo, { nodes: NODES, instances: INSTANCES, labels: (k): Record<string, string> => (k % 4 === 0 ? { 'stratus.io/service': 'web' } : {}) });
  return Array.from({ length: INSTANCES }, (_, k) => ({
    project: 'default', name: `i-${k}`, node: nodeName(k % NODES), ...(service(k) ? { service: service(k) } : {}),
    cpuSeconds: k, throttledPeriods: 3, periods: 100, memory: 200, memoryPeak: 220, pids: 4, netRxBytes: 1e6, netTxBytes: 2e6,
  }));
}

/** prom-client alone: `series` samples over `families` gauges, set once, serialised per call. */
function floorRegistry(series: number, families: number): Registry {
  const registry = new Registry();
  const gauges = Array.from({ length: families }, (_, f) => new Gauge({ name: `floor_${f}`, help: 'floor', labelNames: ['project', 'name', 'node', 'service'], registers: [registry] }));
  for (let s = 0; s < series; s++) gauges[s % families]!.set({ project: 'default', name: `i-${s}`, node: `n${s % 1000}`, service: '' }, s);
  return registry;
}

async function serverBench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-metrics-'));
  // no components: nothing moves the objects while they are measured
  const server = await startServer({ dataDir: dir, port: 0, listen: '127.0.0.1', store: 'memory:', bootstrapToken: BENCH_TOKEN });
  const stopWatching = onInterrupt(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    const t0 = performance.now();
    const rows = await populate(server);
    server.metrics.attach({ usage: { instances: () => rows } });
    // the informers the scrape reads are up to date once a list through the API shows the last instance
    for (;;) {
      const text = await (await fetch(`${server.url}/metrics`, { headers: AUTH })).text();
      if (text.includes(`stratus_node_allocated{node="${nodeName(NODES - 1)}",resource="instances"}`) && (text.match(/^stratus_node_allocated\{[^}]*resource="instances"\} [1-9]/gm)?.length ?? 0) === NODES) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const created = (performance.now() - t0) / 1000;
    let bytes = 0;
    let text = '';
    const scrape = await times(SCRAPES, async () => {
      const res = await fetch(`${server.url}/metrics`, { headers: AUTH });
      text = await res.text();
      bytes = text.length;
    });
    const samples = text.split('\n').filter((l) => l && !l.startsWith('#')).length;
    const families = (text.match(/^# TYPE /gm) ?? []).length;
    const floor = floorRegistry(samples, families);
    const promOnly = await times(SCRAPES, () => floor.metrics());
    const list = await times(SCRAPES, async () => {
      const res = await fetch(`${server.url}/v1/projects/default/instances`, { headers: AUTH });
      const body = (await res.json()) as { items: unknown[] };
      if (body.items.length !== INSTANCES) throw new Error(`listed ${body.items.length} instances, not ${INSTANCES}`);
    });
    console.log(`\n## Server: GET /metrics with ${NODES} nodes and ${INSTANCES} running instances (each with a usage row)\n`);
    console.log(`objects created through the repository (memory store) in ${fmt(created, 1)} s; ${SCRAPES} scrapes after 2 warm-ups; load ${fmt(loadavg()[0]!, 2)}`);
    console.log(`GET /metrics                        ${show(scrape)}  (${samples} samples in ${families} families, ${fmt(bytes / 1024 / 1024, 1)} MiB)`);
    console.log(`prom-client alone, same ${samples} samples  ${show(promOnly)}  (the floor: gauges already set, serialised only)`);
    console.log(`GET /v1/projects/default/instances  ${show(list)}  (the same ${INSTANCES} instances as JSON)`);
    console.log(`ratio /metrics ÷ prom-client alone: ${fmt(median(scrape) / median(promOnly), 2)}; ÷ list: ${fmt(median(scrape) / median(list), 2)}`);
  } finally {
    stopWatching();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const handle = (cgroups: Record<string, string>): TaskHandle => ({ driver: 'process', taskId: 't', pid: 1, startedAt: new Date(0).toISOString(), dir: '/', state: { cgroups } } as unknown as TaskHandle);
const instance = (k: number): Instance => ({
  kind: 'instance', metadata: { name: `a-${k}`, project: 'default', uid: `u-${k}`, revision: 1, generation: 1, createdAt: new Date(0).toISOString() },
  spec: { driver: 'process', resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'never', gracePeriod: 10 },
  status: { phase: 'Running', node: 'bench' },
} as Instance);

/** Removes the benchmark's cgroups and their parent directories. */
async function removeCgroups(cgroups: TaskCgroup[]): Promise<void> {
  for (const cg of cgroups) await cg.remove().catch(() => undefined);
  for (const dir of new Set(cgroups.flatMap((cg) => cg.dirs().map((d) => join(d, '..'))))) {
    try {
      rmdirSync(dir);
    } catch {
      // already gone, or not ours to remove
    }
  }
}

async function agentBench(): Promise<void> {
  if (AGENT_INSTANCES < 1) return;
  const host = await detectCgroups();
  const cgroups: TaskCgroup[] = [];
  const stopWatching = onInterrupt(() => removeCgroups(cgroups));
  try {
    for (let k = 0; k < AGENT_INSTANCES; k++) cgroups.push((await TaskCgroup.create(host, `stratus-bench-metrics-${process.pid}/i${k}`, { cpu: 100, memory: 64, pids: 64 })).cgroup);
  } catch (e) {
    console.log(`\n## Agent: skipped (cannot create cgroups here: ${(e as Error).message})`);
    await removeCgroups(cgroups);
    stopWatching();
    return;
  }
  try {
    const runners: RunnerView[] = cgroups.map((cg, k) => ({ instance: instance(k), handle: handle(cg.paths as Record<string, string>) }));
    const rounds = Math.max(SCRAPES * 5, 50);
    const measure = async (views: RunnerView[]) => {
      const m = new AgentMetrics(() => views);
      const cpu0 = process.cpuUsage();
      const wall = await times(rounds, () => m.metrics());
      const cpu = process.cpuUsage(cpu0);
      return { wall, cpuMs: (cpu.user + cpu.system) / 1000 / (rounds + 2) };
    };
    const without = await measure(runners.map((r) => ({ instance: r.instance })));
    const withUsage = await measure(runners);
    const sample = (await new AgentMetrics(() => runners).metrics()).split('\n').filter((l) => l.startsWith('stratus_agent_instance_')).length;
    console.log(`\n## Agent: a scrape with ${AGENT_INSTANCES} running instances (real, empty cgroups: ${Object.keys(cgroups[0]!.paths).join(', ')}), ${rounds} scrapes\n`);
    console.log(`without per-instance series  ${show(without.wall)}, CPU ${fmt(without.cpuMs, 2)} ms per scrape`);
    console.log(`with per-instance series     ${show(withUsage.wall)}, CPU ${fmt(withUsage.cpuMs, 2)} ms per scrape (${sample} samples read from the cgroups)`);
    console.log(`cost of per-instance collection: ${fmt(withUsage.cpuMs - without.cpuMs, 2)} ms CPU per scrape, ${fmt((withUsage.cpuMs - without.cpuMs) / AGENT_INSTANCES * 1000, 0)} µs per instance; at one scrape per 15 s: ${fmt(((withUsage.cpuMs - without.cpuMs) / 15_000) * 100, 3)} % of a core`);
  } finally {
    await removeCgroups(cgroups);
    stopWatching();
  }
}

await serverBench();
await agentBench();
