/**
 * Cost report generation (issue 18): 30 days × 1,000 instances = 720,000 instance-hours (and 50
 * nodes' hours for the idle cost), priced by two price lists that switch mid-period, with node
 * pool and label rates and project discounts (model/cost.ts computeCost). Target: < 1 s. The
 * second list takes effect at 10:00 on the middle day: that day is read by the hour, the others
 * from their daily rollups.
 *
 * The headline is the whole request: the hourly records are written to a SQLite store, a server
 * started on it (its metering controller rolls the settled days up: runtime/metering-daily.ts),
 * then GET /v1/costs over the period as a cluster admin (idle cost included). In the same run:
 *   sum     a plain sum of the records' quantities grouped by project: no pricing, no rates lookup
 *           (what any report must at least do with them): the limit
 *   parse   JSON.parse of the hourly records as the store keeps them (a record per hour and project)
 *   report  computeCost on the records in memory (pricing alone)
 *   read + report, hours: the same report through the store read by the hour (the path before rollups)
 *   --pricing-only skips the store and the server
 *
 *   npx tsx bench/cost-report.ts [--days 30] [--instances 1000] [--runs 5] [--pricing-only]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { computeCost, type CostGroup } from '../src/model/cost.js';
import { PriceBook, type NamedPriceList } from '../src/model/cost-prices.js';
import type { InstanceMeter, MeterRecords, NodeMeter } from '../src/model/metering.js';
import { HOUR_MS } from '../src/model/metering.js';
import type { StoredNodeHour, StoredProjectHour } from '../src/runtime/metering-store.js';
import { BENCH_TOKEN } from './lib/util.js';

const { values } = parseArgs({ options: { days: { type: 'string', default: '30' }, instances: { type: 'string', default: '1000' }, runs: { type: 'string', default: '5' }, 'pricing-only': { type: 'boolean', default: false } } });
const DAYS = Number(values.days);
const N = Number(values.instances);
const RUNS = Number(values.runs);
const NODES = 50;
const PROJECTS = 20;
const START = Date.parse('2026-11-01T00:00:00Z');

/** Deterministic records: instance i in project i % 20, on node i % 50, label team i % 7, a GPU share on every 10th. */
function records(): MeterRecords {
  const instances: InstanceMeter[] = [];
  const nodes: NodeMeter[] = [];
  for (let h = 0; h < DAYS * 24; h++) {
    const hour = new Date(START + h * HOUR_MS).toISOString();
    for (let n = 0; n < NODES; n++) nodes.push({ hour, node: `n${n}`, pool: `pool-${n % 3}`, labels: { tier: n % 2 ? 'fast' : 'slow' }, seconds: 3600, cpuCoreSeconds: 64 * 3600, memoryGiBSeconds: 256 * 3600, ...(n % 10 === 0 ? { gpu: [{ model: 'a100', seconds: 4 * 3600 }] } : {}) });
    for (let i = 0; i < N; i++) {
      const cores = 0.5 + (i % 4);
      instances.push({
        hour, project: `p${i % PROJECTS}`, name: `i${i}`, uid: `u${i}`, node: `n${i % NODES}`, pool: `pool-${(i % NODES) % 3}`, driver: i % 5 ? 'process' : 'vm',
        service: `s${i % 40}`, labels: { team: `t${i % 7}`, app: `a${i % 13}` },
        seconds: 3600, cpuSeconds: cores * 3600 * ((i * 7 + h) % 10) / 6, cpuReservedSeconds: cores * 3600, memoryGiBSeconds: (i % 8) * 3600 * 0.7, memoryReservedGiBSeconds: (i % 8) * 3600,
        ...(i % 10 === 0 ? { gpu: [{ model: 'a100', share: 0.5, seconds: 3600 }] } : {}),
      });
    }
  }
  return { instances, volumes: [], nodes };
}

const lists: NamedPriceList[] = [
  { name: 'nov', spec: { currency: 'EUR', effectiveFrom: '2026-10-01T00:00:00Z', prices: { cpuCoreHour: 0.03, memoryGiBHour: 0.004, gpuHour: { a100: 2.5 }, instanceHour: { vm: 0.01 } }, nodes: [{ pool: 'pool-1', prices: { cpuCoreHour: 0.04 } }, { selector: { tier: 'fast' }, prices: { cpuCoreHour: 0.05 } }], projects: [{ project: 'p3', discountPercent: 20 }] } },
  { name: 'mid', spec: { currency: 'EUR', effectiveFrom: new Date(START + (DAYS * 12 + 10) * HOUR_MS).toISOString(), prices: { cpuCoreHour: 0.025, memoryGiBHour: 0.004, gpuHour: { a100: 2 } }, projects: [{ project: 'p5', prices: { memoryGiBHour: 0.002 } }] } },
];

/** The limit: quantities summed by project, nothing priced. */
function plainSum(r: MeterRecords): number {
  const by = new Map<string, number[]>();
  for (const m of r.instances) {
    const a = by.get(m.project) ?? by.set(m.project, [0, 0, 0, 0]).get(m.project)!;
    a[0]! += m.cpuSeconds;
    a[1]! += m.cpuReservedSeconds;
    a[2]! += m.memoryGiBSeconds;
    a[3]! += m.memoryReservedGiBSeconds;
  }
  return by.size;
}

/** The records as the store keeps them: one JSON text per hour, project and 2,000 rows. */
function storedTexts(r: MeterRecords): string[] {
  const groups = new Map<string, StoredProjectHour>();
  for (const { hour, project, ...row } of r.instances) {
    const k = `${hour}/${project}`;
    (groups.get(k) ?? groups.set(k, { instances: [], volumes: [] }).get(k)!).instances.push(row);
  }
  return [...groups.values()].map((g) => JSON.stringify(g));
}

function time(fn: () => unknown): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (ms: number) => `${ms.toFixed(0)} ms`;

/** Writes the hourly records as the meter does (a record per hour and project, one per hour for the nodes) into the store at `url`. */
async function writeHours(url: string, r: MeterRecords): Promise<number> {
  const { openBackend } = await import('../src/store/index.js');
  const { meteringKeys } = await import('../src/model/keyspace.js');
  const backend = await openBackend(url);
  try {
    const groups = new Map<string, StoredProjectHour | StoredNodeHour>();
    for (const { hour, project, ...row } of r.instances) {
      const k = meteringKeys.project(hour, project, 0);
      ((groups.get(k) ?? groups.set(k, { instances: [], volumes: [] }).get(k)!) as StoredProjectHour).instances.push(row);
    }
    for (const { hour, ...row } of r.nodes) {
      const k = meteringKeys.nodes(hour, 0);
      ((groups.get(k) ?? groups.set(k, { nodes: [] }).get(k)!) as StoredNodeHour).nodes.push(row);
    }
    const ops = [...groups].map(([key, value]) => ({ op: 'put' as const, key, value: JSON.stringify(value) }));
    for (let i = 0; i < ops.length; i += 200) await backend.txn(ops.slice(i, i + 200));
    return ops.length;
  } finally {
    await backend.close();
  }
}

/**
 * The whole request: a server on a SQLite store holding the hourly records; its metering
 * controller rolls the settled days up at start (timed); then GET /v1/costs over the period, and
 * in the same process the same report read by the hour (the path before rollups) as the before.
 */
async function serverRun(r: MeterRecords, since: Date, until: Date, sum: number): Promise<void> {
  const { startServer } = await import('../src/server/main.js');
  const { serverComponents } = await import('../src/server/components.js');
  const { priceListKind } = await import('../src/model/kinds/index.js');
  const { meteringDayKeys } = await import('../src/model/keyspace.js');
  const { CostSource } = await import('../src/runtime/costs.js');
  const { StoreMeterReader } = await import('../src/runtime/metering-store.js');
  const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-cost-'));
  try {
    let t = performance.now();
    const records = await writeHours(`sqlite://${join(dir, 'stratus.db')}`, r);
    console.log(`store   ${records} hourly records written to SQLite in ${fmt(performance.now() - t)}`);
    t = performance.now();
    // the leader's controllers (metering among them), as `stratus server` runs them; no scheduler
    const server = await startServer({ dataDir: dir, port: 0, listen: '127.0.0.1', bootstrapToken: BENCH_TOKEN, components: serverComponents({ scheduler: false, policy: 'auto' }) });
    try {
      for (const l of lists) await server.repo.create(priceListKind, { metadata: { name: l.name }, spec: l.spec } as never);
      const last = new Date(until.getTime() - 86_400_000).toISOString();
      while (!(await server.repo.records.get(meteringDayKeys.done(last)))) await new Promise((res) => setTimeout(res, 100));
      console.log(`rollup  ${DAYS} days rolled up by the server's metering controller ${fmt(performance.now() - t)} after it started (once per day in steady state)`);
      const get = async (by: string) => {
        const res = await fetch(`${server.url}/v1/costs?since=${since.toISOString()}&until=${until.toISOString()}&by=${by}`, { headers: { authorization: `Bearer ${BENCH_TOKEN}` } });
        if (res.status !== 200) throw new Error(`GET /v1/costs: ${res.status} ${await res.text()}`);
        return (await res.json()) as { total: { total: { charged: number } } };
      };
      const hourly = new CostSource(server.repo, { read: (q) => new StoreMeterReader(server.repo.records).read({ since: q.since, until: q.until, ...(q.project ? { project: q.project } : {}) }) });
      const daily = new CostSource(server.repo);
      const results: Record<string, number[]> = {};
      let totals: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        for (const by of ['project', 'instance']) {
          t = performance.now();
          const rep = await get(by);
          (results[`GET /v1/costs?by=${by} (+ idle)`] ??= []).push(performance.now() - t);
          if (by === 'project') totals.push(rep.total.total.charged);
        }
        t = performance.now();
        const d = await daily.report({ since, until, by: 'project', idle: true });
        (results['read + report, rollups (in process)'] ??= []).push(performance.now() - t);
        t = performance.now();
        const h = await hourly.report({ since, until, by: 'project', idle: true });
        (results['read + report, hours (before)'] ??= []).push(performance.now() - t);
        totals.push(d.total.total.charged, h.total.total.charged);
      }
      totals = [...new Set(totals.map((x) => x.toPrecision(9)))].map(Number);
      for (const [k, xs] of Object.entries(results)) console.log(`${k.padEnd(40)} median ${fmt(median(xs)).padStart(7)}  (min ${fmt(Math.min(...xs))}, max ${fmt(Math.max(...xs))})  ${(median(xs) / sum).toFixed(1)} × sum`);
      console.log(`charged total ${totals.join(' / ')} (the request, rollups and hours agree to 9 digits when one figure)`);
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  let t = performance.now();
  const r = records();
  console.log(`records ${r.instances.length} instance-hours, ${r.nodes.length} node-hours (${DAYS} days × ${N} instances, ${NODES} nodes), made in ${fmt(performance.now() - t)}`);
  const since = new Date(START);
  const until = new Date(START + DAYS * 24 * HOUR_MS);
  const texts = storedTexts(r);
  const results: Record<string, number[]> = { sum: [], parse: [] };
  const groups: { by: CostGroup; idle: boolean }[] = [{ by: 'project', idle: false }, { by: 'project', idle: true }, { by: 'instance', idle: false }, { by: 'label:team', idle: false }];
  for (let i = 0; i < RUNS; i++) {
    results.sum!.push(time(() => plainSum(r)));
    results.parse!.push(time(() => texts.map((x) => JSON.parse(x) as unknown)));
    for (const g of groups) {
      const k = `report by ${g.by}${g.idle ? ' + idle' : ''}`;
      // a fresh book each run: its caches start empty, as a request's do
      (results[k] ??= []).push(time(() => computeCost(r, new PriceBook(lists), { since, until, by: g.by, idle: g.idle })));
    }
  }
  t = median(results.sum!);
  for (const [k, xs] of Object.entries(results)) console.log(`${k.padEnd(28)} median ${fmt(median(xs)).padStart(7)}  (min ${fmt(Math.min(...xs))}, max ${fmt(Math.max(...xs))})${k.startsWith('report') ? `  ${(median(xs) / t).toFixed(1)} × sum` : ''}`);
  if (!values['pricing-only']) await serverRun(r, since, until, median(results.sum!));
}

void main();
