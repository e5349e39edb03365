/**
 * Service autoscaling (issue 17): a load spike → new replicas serving, and load end → back to one
 * replica, on a real server with its embedded agent (host networking, default 5 s usage reports),
 * against Kubernetes' HPA computed from its documented algorithm on the same load trace, in the
 * same run.
 *
 * Each run: a fresh service of 1 replica (100m CPU, 10 ms of CPU per request; autoscale cpu,
 * target 50 %, min 1, max 4, the default 15 s scale-up cooldown, a 30 s window and scale-down
 * cooldown), idle 12 s, then a spike: autocannon, 2 connections asking as fast as answered, in
 * 1-second bursts (fresh connections, which the balancer spreads), until 10 s after a new replica
 * serves; then idle until it is back to 1 replica. Measured:
 *   spike → decision      status.autoscale's first scale-up decision
 *   spike → serving       a probe (5 GETs a second through the service) first answered by a new replica
 *   startup               the new replica's creation → serving
 *   end → 1 replica       load end → 1 replica left (desired 1, the others drained and gone)
 * Every second the original replica's reported CPU utilization is recorded: the trace.
 *
 * HPA on the same trace (kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale,
 * "Algorithm details"; controller defaults): a sync every 15 s, at each of the 15 phases of the
 * sync clock against the spike (0..14 s, the p50 over phases and runs is given);
 * desired = ceil(current × utilization / target), no change within 10 %; scale-up stabilisation
 * 0 s; scale-down stabilisation 5 min (down only once every recommendation of the last 300 s is
 * lower). Assumptions, stated:
 *   1. the utilization HPA sees at a sync is the trace's mean over the 15 s before it
 *      (metrics-server's default --metric-resolution=15s);
 *   2. a pod HPA adds starts and becomes ready (and serving) in the startup time measured for
 *      Stratus's replica in the same run (same workload, same machine);
 *   3. until the first added replica serves, the trace is what one pod under this load shows,
 *      for HPA as for Stratus (the same single replica takes all of the load).
 *
 *   npx tsx bench/autoscale.ts [--runs 3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { get } from 'node:http';
import { adminJson, BENCH_TOKEN, BIN, median, onInterrupt, percentile, startChild, fmt } from './lib/util.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const RUNS = Number(values.runs);
const SYNC_S = 15;
const TOLERANCE = 0.1;
const HPA_DOWN_S = 300;
const TARGET = 50;
const WINDOW_S = 30;

const REPLICA = `
const http = require('http');
const srv = http.createServer((req, res) => { const end = Date.now() + 10; while (Date.now() < end) {} res.end(process.env.STRATUS_INSTANCE); });
srv.listen(Number(process.env.PORT || 8080));
process.on('SIGTERM', () => srv.close(() => process.exit(0)));
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One GET on a connection of its own (fetch would reuse one, which the balancer keeps on one replica); '' on failure. */
function answer(url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = get(url, { agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(res.statusCode === 200 ? body : ''));
      res.on('error', () => resolve(''));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(''));
  });
}

interface Run { decisionS: number; servingS: number; startupS: number; downS: number; trace: { t: number; util: number }[] }

/** HPA's spike → scale-up decision for one sync phase: the first sync whose 15-s mean of the trace is over the target by more than the tolerance. */
export function hpaDecision(trace: readonly { t: number; util: number }[], phaseS: number): number | undefined {
  const last = trace.at(-1)?.t ?? 0;
  for (let tick = phaseS; tick <= last; tick += SYNC_S) {
    const window = trace.filter((p) => p.t > tick - SYNC_S && p.t <= tick);
    if (window.length === 0) continue;
    const util = window.reduce((a, p) => a + p.util, 0) / window.length;
    // one pod: desired = ceil(1 × util / target), a change only past the tolerance
    if (util / TARGET > 1 + TOLERANCE && Math.ceil(util / TARGET) > 1) return tick;
  }
  return undefined;
}

/**
 * HPA's load end → scale-down, the sync clock `phaseS` (0..14) after the load end: the first
 * sync after it still has load in its 15-s window (its recommendation is taken as high), and the
 * scale-down comes at the first sync 300 s after it (300 is 20 syncs): phaseS + 300.
 */
export function hpaDown(phaseS: number): number {
  return phaseS + HPA_DOWN_S;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-autoscale-'));
  const node = `bench-as-${process.pid}`;
  const server = await startChild([BIN, 'server', '--data-dir', join(dir, 'data'), '--port', '0', '--node-name', node, '--network', 'host', '--capacity', 'cpu=16,memory=16Gi'], { STRATUS_BOOTSTRAP_TOKEN: BENCH_TOKEN });
  const done = onInterrupt(async () => { await server.stop(); rmSync(dir, { recursive: true, force: true }); });
  const api = (method: string, path: string, body?: unknown) => adminJson(server.url, method, path, body, [404]);
  try {
    const runs: Run[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await oneRun(api, `spike${i}`));
    report(runs);
  } finally {
    done();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

type Api = (method: string, path: string, body?: unknown) => Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function waitFor<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get().catch(() => undefined as T);
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(200);
  }
}

async function oneRun(api: Api, name: string): Promise<Run> {
  await api('POST', '/v1/projects/default/services', {
    kind: 'service', metadata: { name },
    spec: {
      replicas: 1,
      template: { spec: { driver: 'process', command: [process.execPath, '-e', REPLICA], resources: { cpu: '100m', memory: '64Mi' }, gracePeriod: 5, ports: [{ port: 8080 }], health: { http: { port: 8080, path: '/' }, interval: 2, timeout: 2 } } },
      ports: [{ port: 80, targetPort: 8080 }],
      update: { drainSeconds: 3 },
      autoscale: { min: 1, max: 4, metric: 'cpu', target: TARGET, window: `${WINDOW_S}s`, scaleDownCooldown: `${WINDOW_S}s` },
    },
  });
  const svc = await waitFor('ready on a host port', () => api('GET', `/v1/projects/default/services/${name}`), (s) => s.status?.ready >= 1 && s.status?.hostPorts?.length, 60_000);
  const url = `http://127.0.0.1:${svc.status.hostPorts[0].hostPort}/`;
  const first = await waitFor('answers', () => answer(url), (b) => b !== '', 30_000);
  await sleep(12_000); // idle reports: the window starts quiet
  const t0 = Date.now();
  const at = (ms: number) => (ms - t0) / 1000;
  const trace: Run['trace'] = [];
  let servingAt: number | undefined;
  let stopAt = Infinity;
  const sampler = (async () => {
    while (Date.now() < stopAt + 5000) {
      const rows = (await api('GET', `/v1/usage/instances?project=default&selector=${encodeURIComponent(`stratus.io/service=${name}`)}`).catch(() => ({ items: [] }))).items as { name: string; requests: { cpu: number }; usage?: { cpu: number } }[];
      const orig = rows.find((r) => r.name === first);
      if (orig?.usage) trace.push({ t: at(Date.now()), util: (orig.usage.cpu / orig.requests.cpu) * 100 });
      await sleep(1000);
    }
  })();
  const probe = (async () => {
    while (servingAt === undefined && Date.now() < t0 + 90_000) {
      const body = await answer(url);
      if (body && body !== first) servingAt = Date.now();
      await sleep(200);
    }
  })();
  while (servingAt === undefined && Date.now() < t0 + 90_000) await autocannon({ url, connections: 2, duration: 1 });
  await probe;
  if (servingAt === undefined) throw new Error(`${name}: no new replica served within 90 s`);
  stopAt = servingAt + 10_000;
  while (Date.now() < stopAt) await autocannon({ url, connections: 2, duration: 1 });
  const endAt = Date.now();
  const replicas = () => api('GET', `/v1/projects/default/instances?selector=${encodeURIComponent(`stratus.io/service=${name}`)}`).then((r) => r.items as { metadata: { name: string; createdAt: string }; status?: { phase?: string } }[]);
  const created = (await replicas()).filter((r) => r.metadata.name !== first).map((r) => Date.parse(r.metadata.createdAt)).sort((a, b) => a - b)[0]!;
  const after = await api('GET', `/v1/projects/default/services/${name}`);
  const decision = (after.status.autoscale.decisions as { at: string; from: number; to: number }[]).find((d) => d.to > d.from)!;
  await waitFor('back to 1 replica', async () => ({ s: await api('GET', `/v1/projects/default/services/${name}`), n: (await replicas()).filter((r) => !['Succeeded', 'Failed'].includes(r.status?.phase ?? '')).length }), (v) => v.s.status.autoscale.desiredReplicas === 1 && v.n === 1, 180_000);
  const downAt = Date.now();
  await sampler;
  await api('DELETE', `/v1/projects/default/services/${name}`);
  await waitFor('replicas gone', replicas, (rs) => rs.length === 0, 60_000);
  const run = { decisionS: at(Date.parse(decision.at)), servingS: at(servingAt), startupS: (servingAt - created) / 1000, downS: (downAt - endAt) / 1000, trace };
  console.log(`run ${name}: decision ${fmt(run.decisionS)} s, serving ${fmt(run.servingS)} s (startup ${fmt(run.startupS)} s), down ${fmt(run.downS)} s after the load ended`);
  return run;
}

function report(runs: Run[]): void {
  const phases = Array.from({ length: SYNC_S }, (_, i) => i);
  const decisions = runs.flatMap((r) => phases.map((p) => ({ d: hpaDecision(r.trace, p), startup: r.startupS })).filter((x): x is { d: number; startup: number } => x.d !== undefined));
  const hpaDecided = decisions.map((x) => x.d).sort((a, b) => a - b);
  const hpaUp = decisions.map((x) => x.d + x.startup).sort((a, b) => a - b);
  const hpaDownS = phases.map(hpaDown).sort((a, b) => a - b);
  const ours = runs.map((r) => r.servingS).sort((a, b) => a - b);
  console.log(`\n## Elasticity: service autoscaling (${runs.length} runs; HPA over ${phases.length} sync phases per run)\n`);
  console.log('| | Stratus | Kubernetes HPA (computed, same trace) |');
  console.log('|---|---|---|');
  console.log(`| spike → scale-up decision, p50 | ${fmt(median(runs.map((r) => r.decisionS)))} s | ${fmt(median(hpaDecided))} s |`);
  console.log(`| spike → new replica serving, p50 (max) | **${fmt(median(ours))} s** (${fmt(ours.at(-1)!)}) | ${fmt(median(hpaUp))} s (${fmt(percentile(hpaUp, 100))}) |`);
  console.log(`| of which replica startup (created → serving) | ${fmt(median(runs.map((r) => r.startupS)))} s | the same (assumption 2) |`);
  console.log(`| load end → back to 1 replica, p50 (max) | ${fmt(median(runs.map((r) => r.downS)))} s (${fmt(Math.max(...runs.map((r) => r.downS)))}); window ${WINDOW_S} s | ${fmt(median(hpaDownS))} s (${fmt(Math.max(...hpaDownS))}) |`);
  console.log(`\nTarget: new replicas serving within 20 s of the spike: ${median(ours) <= 20 ? 'met' : 'NOT met'} (p50 ${fmt(median(ours))} s; ratio to HPA ${fmt(median(hpaUp) / median(ours), 2)}×).`);
}

await main();
