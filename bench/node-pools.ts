/**
 * Node pools (issue 17): an instance Pending for capacity → a new node Ready → the instance
 * Running, with the `local` provider (each machine a `stratus agent` in a network namespace of
 * its own on this machine), against cluster-autoscaler's documented 10 s scan interval (its
 * `--scan-interval` default: the time before it even looks, machine boot not counted).
 *
 * A pool of 2-core machines starts at its min (1 node, kept busy by a 2-core filler). Each round
 * creates one instance asking 2 cores: it fits no node, so the autoscaler must add a machine.
 * Per round: created → seen Pending for capacity (the scheduler's explanation), → the scale-up
 * decision (the pool's lastScaleUp), → the new node Ready, → the instance Running. Rounds keep
 * their instances (the pool's max grows with the rounds), so each round adds exactly one machine.
 *
 * Then what the autoscaler's questions cost at size (pure, no processes): planScaleUp for 200
 * pending instances and 3 pools on 1,000 full nodes with 10,000 instances, and checkRemoval of one
 * of those nodes, p50 of 7 runs after a warm-up.
 *
 *   npx tsx bench/node-pools.ts [--rounds 5]      (root, `ip`, `nsenter` for the first part)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { adminJson, BENCH_TOKEN, BIN, fmt, median, onInterrupt, startChild, type Child } from './lib/util.js';
import { networkTestSkipReason } from '../src/node/network/testing.js';
import { removeLocalMachines } from '../src/scheduler/pools/providers/local-testing.js';
import { Engine } from '../src/scheduler/engine/engine.js';
import { instance as fixtureInstance, node as fixtureNode } from '../src/scheduler/engine/fixtures.js';
import { checkRemoval, planScaleUp, type PoolView } from '../src/scheduler/pools/simulate.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const ROUNDS = Number(values.rounds);
const SUBNET = 232;
const PEER_SCAN_MS = 10_000;

interface Round { pending: number; decided: number; ready: number; running: number }

const work = mkdtempSync(join(tmpdir(), 'stratus-bench-pools-'));
let server: Child | undefined;

async function cleanup(): Promise<void> {
  if (server) {
    for (let i = 0; i <= ROUNDS; i++) await adminJson(server.url, 'DELETE', `/v1/projects/default/instances/b${i}`, undefined, [404]).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 2000)); // the agents stop their workloads
    await server.stop();
  }
  await removeLocalMachines(join(work, 'pools'), SUBNET);
  rmSync(work, { recursive: true, force: true });
}

/** Polls `get` every 20 ms until `ok`; the time it first held (ms since the epoch). */
async function when<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 60_000): Promise<number> {
  const end = Date.now() + ms;
  for (;;) {
    if (ok(await get())) return Date.now();
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const instance = (name: string) => ({ metadata: { name }, spec: { driver: 'process', command: ['sleep', '3600'], resources: { cpu: '2', memory: '64Mi' } } });

async function round(url: string, i: number): Promise<Round> {
  const get = (path: string) => adminJson(url, 'GET', path);
  const readyNodes = async () => ((await get('/v1/nodes')).items as { status?: { phase: string } }[]).filter((n) => n.status?.phase === 'Ready').length;
  const before = await readyNodes();
  const lastBefore = (await get('/v1/node-pools/bench')).status?.lastScaleUp;
  const t0 = Date.now();
  await adminJson(url, 'POST', '/v1/projects/default/instances', instance(`b${i}`));
  const inst = () => get(`/v1/projects/default/instances/b${i}`);
  const pending = await when('Pending for capacity', inst, (o) => o.status?.reason === 'Unschedulable' || o.status?.phase === 'Running');
  let decided = 0; // when the autoscaler decided (the pool's lastScaleUp: the server's clock, this machine's)
  await when('scale-up decided', () => get('/v1/node-pools/bench'), (p) => {
    const last = p.status?.lastScaleUp as string | undefined;
    if (last && last !== lastBefore) decided = Date.parse(last);
    return decided > 0;
  });
  const ready = await when('new node Ready', readyNodes, (n) => n > before);
  const running = await when('instance Running', inst, (o) => o.status?.phase === 'Running');
  return { pending: pending - t0, decided: decided - t0, ready: ready - t0, running: running - t0 };
}

/** The simulations' cost on a large cluster (see the file comment). */
function simulationCost(): void {
  const nodes = Array.from({ length: 1000 }, (_, i) => fixtureNode(`n${i}`, { cpu: 4000, memory: 16384, spec: { pool: 'base' } }));
  const bound = nodes.flatMap((n, i) => Array.from({ length: 10 }, (_, j) => fixtureInstance(`i${i}-${j}`, { cpu: 400, memory: 512, node: n.metadata.name })));
  const pending = Array.from({ length: 200 }, (_, i) => ({ ...fixtureInstance(`p${i}`, { cpu: 1000 }), status: { phase: 'Pending' as const, reason: 'Unschedulable' } }));
  const pool = (name: string, cpu: number): PoolView => ({ name, spec: { min: 0, max: 100, shape: { cpu, memory: 16384, disk: 0, gpus: [], labels: {} } }, size: 0, upcoming: [] });
  const engine = new Engine({ policy: 'binpack', preemption: false });
  const all = [...bound, ...pending];
  const up: number[] = [];
  const down: number[] = [];
  let choice = '';
  for (let r = 0; r < 8; r++) {
    let t = performance.now();
    const plan = planScaleUp(engine, nodes, all, [pool('a', 4000), pool('b', 8000), pool('c', 16000)], pending);
    if (r > 0) up.push(performance.now() - t);
    choice = `${plan.choice?.count} machines of pool ${plan.choice?.pool}`;
    t = performance.now();
    checkRemoval(engine, nodes, all, [], 'n0');
    if (r > 0) down.push(performance.now() - t);
  }
  console.log(`\nsimulation cost, 1,000 nodes, 10,000 instances (p50 of ${up.length}): planScaleUp, 200 pending, 3 pools: ${fmt(median(up), 0)} ms (${choice}); checkRemoval of one node: ${fmt(median(down), 0)} ms`);
}

async function main(): Promise<void> {
  simulationCost();
  const skip = networkTestSkipReason();
  if (skip) {
    console.log(`node-pools: the local pool skipped (${skip})`);
    return;
  }
  onInterrupt(cleanup);
  server = await startChild([BIN, 'server', '--data-dir', work, '--port', '0', '--no-agent', '--store-sync', 'normal'], { STRATUS_BOOTSTRAP_TOKEN: BENCH_TOKEN });
  const url = server.url;
  await adminJson(url, 'POST', '/v1/node-pools', {
    metadata: { name: 'bench' },
    spec: { min: 1, max: 1 + ROUNDS, shape: { cpu: 2, memory: '2Gi' }, provider: { type: 'local', subnet: SUBNET, agentArgs: ['--drivers', 'process', '--heartbeat', '500ms'] }, scaleDownDelay: '1h' },
  });
  await when('the pool\'s first node Ready', async () => ((await adminJson(url, 'GET', '/v1/nodes')).items as { status?: { phase: string } }[]).filter((n) => n.status?.phase === 'Ready').length, (n) => n === 1);
  await adminJson(url, 'POST', '/v1/projects/default/instances', instance('b0')); // fills it
  await when('filler Running', () => adminJson(url, 'GET', '/v1/projects/default/instances/b0'), (o) => o.status?.phase === 'Running');
  const rounds: Round[] = [];
  for (let i = 1; i <= ROUNDS; i++) {
    const r = await round(url, i);
    rounds.push(r);
    console.log(`round ${i}: Pending (no room) ${fmt(r.pending / 1000, 2)} s, scale-up ${fmt(r.decided / 1000, 2)} s, node Ready ${fmt(r.ready / 1000, 2)} s, Running ${fmt(r.running / 1000, 2)} s`);
  }
  const p50 = (k: keyof Round) => median(rounds.map((r) => r[k])) / 1000;
  console.log(`\nPending for capacity → new node Ready → instance Running, local provider, ${ROUNDS} rounds (p50):`);
  console.log(`  scale-up decided ${fmt(p50('decided'), 2)} s after the create (the pool's lastScaleUp; the autoscaler looks every second); node Ready ${fmt(p50('ready'), 2)} s; instance Running ${fmt(p50('running'), 2)} s`);
  console.log(`  target < 10 s: ${p50('running') < 10 ? 'met' : 'NOT met'}; cluster-autoscaler: up to ${PEER_SCAN_MS / 1000} s before its first look (scan interval), machine boot excluded: ratio ${fmt(p50('running') / (PEER_SCAN_MS / 1000), 2)}`);
}

main().then(cleanup, async (e: Error) => {
  console.error(`node-pools: ${e.message}`);
  await cleanup();
  process.exit(1);
});
