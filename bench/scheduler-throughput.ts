/**
 * Placement throughput of the scheduler engine on synthetic clusters.
 *
 *   npx tsx bench/scheduler-throughput.ts [--nodes 1000,5000,10000,20000] [--instances 50000] [--batch 1000]
 *       [--scenario cpu,gpu] [--rounds 3] [--policy auto]
 *
 * Each row is the median of `rounds` runs (each on a fresh cluster and engine), every round's
 * rate beside it: the machine is shared and noisy.
 *
 * Workload: services of 5–40 replicas of 16 CPU/memory shapes; 20 % use a node selector, 10 %
 * zones, 30 % required anti-affinity between replicas, 10 % spread over zones, 5 % preferred
 * affinity, 5 % a host port. Ten zones, labelled nodes (16 and 32 cores). Instances are
 * scheduled in batches (as the live loop would), placements assumed, under the cluster default.
 *
 * Scenarios: `cpu` — CPU and memory only, like the peers' benchmarks (default policy binpack);
 * `gpu` — 30 % GPU nodes (4×T4 or 8×A100) and 15 % of services asking GPUs (shares, whole
 * devices, a model constraint): the default policy is then FGD for every instance.
 *
 * This is the engine alone (no API, store or watches; bench/scheduler-e2e.ts times those). The
 * peer figures are quoted, not run here, and neither is an engine-only figure:
 * - Kubernetes: a CI regression floor, not a measurement: scheduler_perf's threshold for
 *   SchedulingBasic/5000Nodes_10000Pods, 680 pods/s (kubernetes/kubernetes,
 *   test/integration/scheduler_perf/misc/performance-config.yaml), measured through an API
 *   server and etcd; the job fails below it.
 * - Nomad: the C1M run (HashiCorp, 2016): a cluster of five Nomad servers placed 1,000,000
 *   containers on 5,000 clients in under five minutes, 3,750 per second, end to end.
 */
import { loadavg } from 'node:os';
import type { Instance } from '../src/model/kinds/instance.js';
import type { Node } from '../src/model/kinds/node.js';
import { createEngine } from '../src/scheduler/engine/engine.js';
import { instance, node } from '../src/scheduler/engine/fixtures.js';
import { createRng, randomInt } from '../src/scheduler/engine/rng.js';
import { ClusterSnapshot } from '../src/scheduler/engine/snapshot.js';
import type { PolicyChoice, Rng } from '../src/scheduler/engine/types.js';

/** Kubernetes scheduler_perf CI threshold, SchedulingBasic/5000Nodes_10000Pods (pods/s, end to end). */
const K8S_FLOOR = 680;
/** Nomad C1M: five servers, end to end (placements/s). */
const NOMAD_C1M = 3750;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

function cluster(n: number, rng: Rng, gpus: boolean): Node[] {
  return Array.from({ length: n }, (_, i) => {
    const zone = `z${i % 10}`;
    const labels = { tier: rng() < 0.5 ? 'gold' : 'silver', disk: rng() < 0.7 ? 'ssd' : 'hdd' };
    const r = gpus ? rng() : rng() * 0.7;
    if (r < 0.35) return node(`n${i}`, { cpu: 16_000, memory: 65_536, disk: 500_000, zone, labels, instances: 110 });
    if (r < 0.7) return node(`n${i}`, { cpu: 32_000, memory: 131_072, disk: 1_000_000, zone, labels, instances: 110 });
    if (r < 0.9) return node(`n${i}`, { cpu: 32_000, memory: 262_144, disk: 1_000_000, zone, labels, gpus: 4, model: 'T4', instances: 110 });
    return node(`n${i}`, { cpu: 64_000, memory: 524_288, disk: 2_000_000, zone, labels, gpus: 8, model: 'A100', instances: 110 });
  });
}

const SHAPES = [
  [250, 256], [500, 512], [500, 1024], [1000, 1024], [1000, 2048], [1000, 4096], [2000, 2048], [2000, 4096],
  [2000, 8192], [4000, 8192], [4000, 16_384], [250, 512], [750, 1536], [1500, 3072], [3000, 6144], [100, 128],
] as const;

function service(s: number, rng: Rng, next: () => number, gpus: boolean): Instance[] {
  const [cpu, memory] = SHAPES[randomInt(rng, SHAPES.length)]!;
  const app = `svc-${s}`;
  const g = gpus ? rng() : 1;
  const gpu = g < 0.05 ? { share: [250, 500][randomInt(rng, 2)]! } : g < 0.1 ? { count: 1 } : g < 0.15 ? { count: 2, models: ['A100'] } : undefined;
  const placement = {
    ...(rng() < 0.2 ? { nodeSelector: rng() < 0.5 ? 'tier=gold' : 'disk=ssd' } : {}),
    ...(rng() < 0.1 ? { zones: [`z${randomInt(rng, 10)}`, `z${randomInt(rng, 10)}`] } : {}),
    ...(rng() < 0.3 ? { antiAffinity: [{ selector: `app=${app}` }] } : {}),
    ...(rng() < 0.1 ? { spread: [{ topology: 'zone' as const, selector: `app=${app}`, maxSkew: 1 }] } : {}),
    ...(rng() < 0.05 ? { affinity: [{ selector: `app=svc-${randomInt(rng, Math.max(1, s))}`, required: false, weight: 50 }] } : {}),
  };
  const ports = rng() < 0.05 ? [{ port: 8080, publish: 30_000 + (s % 2000) }] : undefined;
  const replicas = 5 + randomInt(rng, 36);
  return Array.from({ length: replicas }, () =>
    instance(`i${next()}`, { project: `team-${s % 20}`, cpu, memory, labels: { app }, ...(gpu ? { gpu } : {}), ...(ports ? { ports } : {}), placement }),
  );
}

function workload(count: number, rng: Rng, gpus: boolean): Instance[] {
  const out: Instance[] = [];
  let id = 0;
  for (let s = 0; out.length < count; s++) out.push(...service(s, rng, () => id++, gpus));
  out.length = count;
  // Arrivals interleave services, as a busy cluster's queue would.
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function run(nodes: number, count: number, batch: number, gpus: boolean, policy: PolicyChoice): { placed: number; unplaced: number; seconds: number; cpuSeconds: number } {
  const rng = createRng(nodes);
  const snap = ClusterSnapshot.from(cluster(nodes, rng, gpus));
  const pending = workload(count, rng, gpus);
  const engine = createEngine({ rng: createRng(7), policy });
  let placed = 0;
  let unplaced = 0;
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < pending.length; i += batch) {
    const plan = engine.schedule(snap, pending.slice(i, i + batch), { assume: true });
    placed += plan.placements.length;
    unplaced += plan.unplaced.length;
  }
  const cpu = process.cpuUsage(cpu0);
  return { placed, unplaced, seconds: (performance.now() - start) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

const sizes = arg('nodes', '1000,5000,10000,20000').split(',').map(Number);
const count = Number(arg('instances', '50000'));
const batch = Number(arg('batch', '1000'));
const scenarios = arg('scenario', 'cpu,gpu').split(',');
const rounds = Math.max(1, Number(arg('rounds', '3')));
const policy = arg('policy', 'auto') as PolicyChoice;
const fmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`scheduler throughput: ${fmt.format(count)} pending instances in batches of ${fmt.format(batch)}, one process, policy ${policy}, ${rounds} rounds per row (median shown, each round in brackets)`);
console.log(`wall-clock rates (CPU seconds include V8's background GC threads); load average at start ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
console.log('peers quoted, not run: Kubernetes\' scheduler_perf CI floor (680 pods/s, end to end) and Nomad C1M (3,750/s, five servers, end to end)\n');
console.log('scenario  nodes     placed  unplaced  wall s  (cpu s)  placements/s  decisions/s  vs k8s 680/s  vs nomad 3,750/s  rounds (placements/s)');
for (const scenario of scenarios) {
  for (const n of sizes) {
    const runs = Array.from({ length: rounds }, () => run(n, count, batch, scenario === 'gpu', policy));
    const rate = (r: (typeof runs)[number]) => r.placed / r.seconds;
    const r = runs.find((x) => rate(x) === median(runs.map(rate)))!;
    const pps = rate(r);
    const dps = (r.placed + r.unplaced) / r.seconds;
    console.log(
      [
        scenario.padEnd(9),
        fmt.format(n).padEnd(8),
        fmt.format(r.placed).padStart(7),
        fmt.format(r.unplaced).padStart(9),
        r.seconds.toFixed(2).padStart(7),
        `(${r.cpuSeconds.toFixed(2)})`.padStart(8),
        fmt.format(pps).padStart(13),
        fmt.format(dps).padStart(12),
        `${(pps / K8S_FLOOR).toFixed(1)}×`.padStart(13),
        `${(pps / NOMAD_C1M).toFixed(1)}×`.padStart(17),
        `  [${runs.map((x) => fmt.format(rate(x))).join(', ')}]`,
      ].join(' '),
    );
  }
}
