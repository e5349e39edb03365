/**
 * End-to-end scheduling throughput (issue 19): instances created through the API until every one
 * is bound to a node, through the real server and store (SQLite, fsync on every commit), at
 * 1,000 and 5,000 registered nodes. Beside bench/scheduler-throughput.ts, which times the engine
 * alone, this is what a user of the API sees.
 *
 *   npx tsx bench/scheduler-e2e.ts [--nodes 1000,5000] [--instances 10000] [--rounds 3]
 *                                  [--workload basic,mixed] [--concurrency 32]
 *
 * One server per node count; each round creates `--instances` new instances (in 50 projects; past
 * 253 in a project its default /24 network is full, and the network controller records a
 * NetworkFull event per instance instead of an address) with `--concurrency` creates in flight, and a watch
 * of every project's instances sees them bound. Throughput = instances bound / (first create
 * sent → last binding, or unschedulable verdict, seen); those that fit nowhere are counted apart.
 * Workloads: `basic` — one small shape, no constraints (the shape of Kubernetes' scheduler_perf
 * SchedulingBasic); `mixed` — 8 shapes in services of 5–40 replicas, 20 % with a node selector,
 * 30 % with required anti-affinity between replicas, 10 % spread over zones. Rounds run the
 * workloads in turn, on a cluster (32 cores per node) that fills up from round to round.
 *
 * Included: the create request (authentication, validation, admission, audit, its commit), the
 * watch to the scheduler, planning, the binding commit (compare-and-set), the watch back to this
 * client, and everything else the server does meanwhile (addresses, events). Not included: an
 * agent starting anything (none runs). The client (this process) shares the machine's cores.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startChild, percentile, fmt, median, spread, adminJson, BIN, BENCH_TOKEN as TOKEN, ADMIN_HEADERS as H, type Child } from './lib/util.js';
import { readEvents } from '../src/client/index.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000,5000' }, instances: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '3' },
    workload: { type: 'string', default: 'basic,mixed' }, concurrency: { type: 'string', default: '32' },
  },
});
const SIZES = values.nodes!.split(',').map(Number);
const N = Number(values.instances);
const ROUNDS = Number(values.rounds);
const WORKLOADS = values.workload!.split(',') as Workload[];
const CONCURRENCY = Number(values.concurrency);
const PROJECTS = 50;
/** Kubernetes scheduler_perf CI floor, SchedulingBasic/5000Nodes_10000Pods (see docs/benchmarks.md). */
const K8S_FLOOR = 680;

type Workload = 'basic' | 'mixed';
interface RoundResult { workload: Workload; nodes: number; rate: number; createRate: number; lagMs: number; unplaced: number; p50: number; p99: number; max: number; load: number }
/** When the scheduler decided about an instance: bound, or found to fit nowhere. */
interface Decision { t: number; bound: boolean }

async function registerNodes(url: string, n: number): Promise<void> {
  const zones = Array.from({ length: 10 }, (_, i) => `z${i}`);
  for (let i = 0; i < n; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, n - i) }, async (_, j) => {
      const k = i + j;
      const name = `n${String(k).padStart(5, '0')}`;
      await adminJson(url, 'POST', '/v1/nodes', { metadata: { name, labels: { disk: k % 3 ? 'hdd' : 'ssd', tier: k % 2 ? 'silver' : 'gold' } }, spec: { zone: zones[k % 10] } });
      const res = { cpu: 32_000, memory: 131_072, disk: 1_000_000, gpus: [] };
      await adminJson(url, 'PUT', `/v1/nodes/${name}/status`, { phase: 'Ready', capacity: res, allocatable: res });
    }));
  }
}

/** CPU and memory shapes; `basic` uses the first. Three rounds of each workload fill a 1,000-node cluster to about 55 %. */
const SHAPES = [['100m', '128Mi'], ['250m', '256Mi'], ['250m', '512Mi'], ['500m', '512Mi'], ['500m', '1Gi'], ['1', '1Gi'], ['1', '2Gi'], ['250m', '1Gi']] as const;

/** The bodies of one round's instances, in arrival order (services interleaved). */
function workload(kind: Workload, round: number, n: number): { project: string; body: unknown }[] {
  let seed = round * 7919 + 17;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const out: { project: string; body: unknown }[] = [];
  for (let s = 0; out.length < n; s++) {
    const app = `r${round}-s${s}`;
    const project = `team-${s % PROJECTS}`;
    const [cpu, memory] = kind === 'basic' ? SHAPES[0]! : SHAPES[Math.floor(rand() * SHAPES.length)]!;
    const placement = kind === 'basic' ? undefined : {
      ...(rand() < 0.2 ? { nodeSelector: rand() < 0.5 ? 'tier=gold' : 'disk=ssd' } : {}),
      ...(rand() < 0.3 ? { antiAffinity: [{ selector: `app=${app}` }] } : {}),
      ...(rand() < 0.1 ? { spread: [{ topology: 'zone', selector: `app=${app}`, maxSkew: 1 }] } : {}),
    };
    const replicas = 5 + Math.floor(rand() * 36);
    for (let r = 0; r < replicas && out.length < n; r++) {
      out.push({ project, body: { kind: 'instance', metadata: { name: `${app}-${r}`, labels: { app } }, spec: { driver: 'process', command: ['sleep', '1'], resources: { cpu, memory }, ...(placement ? { placement } : {}) } } });
    }
  }
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

type Watch = { decided: (key: string) => Promise<Decision> };

/**
 * Follows every project's instances; `decided(key)` resolves when that one is first seen bound to
 * a node, or pending as unschedulable (a full cluster: counted apart, so that a round ends).
 */
async function followDecisions(url: string, signal: AbortSignal): Promise<Watch> {
  const seen = new Map<string, Decision>();
  const waiters = new Map<string, (d: Decision) => void>();
  const res = await fetch(`${url}/v1/instances?watch=true`, { headers: H, signal });
  void (async () => {
    for await (const m of readEvents(res.body!)) {
      const o = m.object as { metadata: { name: string; project: string }; status?: { node?: string; reason?: string } } | undefined;
      const bound = o?.status?.node !== undefined;
      if (!o || (!bound && o.status?.reason !== 'Unschedulable')) continue;
      const key = `${o.metadata.project}/${o.metadata.name}`;
      if (seen.has(key)) continue;
      const d = { t: performance.now(), bound };
      seen.set(key, d);
      waiters.get(key)?.(d);
    }
  })().catch(() => undefined);
  return { decided: (key) => (seen.has(key) ? Promise.resolve(seen.get(key)!) : new Promise((r) => waiters.set(key, r))) };
}

async function round(server: Child, nodes: number, kind: Workload, r: number, watch: Watch): Promise<RoundResult> {
  const items = workload(kind, r, N);
  const latencies: number[] = [];
  const done: Promise<Decision>[] = [];
  let next = 0;
  let lastAck = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < items.length) {
      const { project, body } = items[next++]!;
      const sent = performance.now();
      const key = `${project}/${(body as { metadata: { name: string } }).metadata.name}`;
      done.push(watch.decided(key).then((d) => {
        if (d.bound) latencies.push(d.t - sent);
        return d;
      }));
      await adminJson(server.url, 'POST', `/v1/projects/${project}/instances`, body);
      lastAck = performance.now();
    }
  }));
  const decisions = await Promise.all(done);
  const last = Math.max(...decisions.map((d) => d.t));
  latencies.sort((a, b) => a - b);
  return {
    workload: kind, nodes, rate: (latencies.length / (last - t0)) * 1000, createRate: (N / (lastAck - t0)) * 1000, lagMs: last - lastAck, unplaced: N - latencies.length,
    p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1)!, load: loadavg()[0]!,
  };
}

async function run(nodes: number): Promise<RoundResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-e2e-'));
  // Nodes registered by hand never heartbeat; the node controller leaves those alone.
  const server = await startChild([BIN, 'server', '--data-dir', dir, '--port', '0', '--no-agent'], { STRATUS_BOOTSTRAP_TOKEN: TOKEN });
  const controller = new AbortController();
  try {
    const t0 = performance.now();
    await registerNodes(server.url, nodes);
    for (let p = 0; p < PROJECTS; p++) await adminJson(server.url, 'POST', '/v1/projects', { metadata: { name: `team-${p}` }, spec: {} });
    console.log(`${fmt(nodes, 0)} nodes and ${PROJECTS} projects registered in ${fmt((performance.now() - t0) / 1000, 1)} s`);
    const watch = await followDecisions(server.url, controller.signal);
    const results: RoundResult[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      for (const kind of WORKLOADS) {
        const res = await round(server, nodes, kind, results.length, watch);
        results.push(res);
        console.log(`  round ${r + 1} ${kind.padEnd(5)}: ${fmt(res.rate, 0)} bound/s${res.unplaced ? ` (${res.unplaced} fit nowhere)` : ''} (creates answered at ${fmt(res.createRate, 0)}/s; last decision ${fmt(res.lagMs, 0)} ms after the last create's answer); create → bound p50 ${fmt(res.p50, 1)} ms, p99 ${fmt(res.p99, 1)} ms, max ${fmt(res.max, 1)} ms; load ${fmt(res.load, 2)}`);
      }
    }
    return results;
  } finally {
    controller.abort();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`end-to-end scheduling: ${fmt(N, 0)} instances per round through the API (${CONCURRENCY} creates in flight), SQLite fsync on, ${ROUNDS} rounds of ${WORKLOADS.join(' and ')}\n`);
const all: RoundResult[] = [];
for (const nodes of SIZES) all.push(...(await run(nodes)));
console.log(`\n| nodes | workload | bound/s, median (min–max) | vs Kubernetes CI floor ${K8S_FLOOR}/s | creates answered/s | create → bound p50 / p99 / max ms (median of rounds) | fit nowhere | load |`);
console.log('|---|---|---|---|---|---|---|---|');
for (const nodes of SIZES) {
  for (const kind of WORKLOADS) {
    const rs = all.filter((r) => r.nodes === nodes && r.workload === kind);
    const med = (f: (r: RoundResult) => number) => fmt(median(rs.map(f)), 1);
    console.log(`| ${fmt(nodes, 0)} | ${kind} | **${spread(rs.map((r) => r.rate))}** | ${(median(rs.map((r) => r.rate)) / K8S_FLOOR).toFixed(1)}× | ${spread(rs.map((r) => r.createRate))} | ${med((r) => r.p50)} / ${med((r) => r.p99)} / ${med((r) => r.max)} | ${rs.reduce((a, r) => a + r.unplaced, 0)} | ${fmt(Math.min(...rs.map((r) => r.load)), 1)}–${fmt(Math.max(...rs.map((r) => r.load)), 1)} |`);
  }
}
