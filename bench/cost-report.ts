/**
 * Cost report generation (issue 18): 30 days × 1,000 instances = 720,000 instance-hours (and 50
 * nodes' hours for the idle cost), priced by two price lists that switch mid-period, with node
 * pool and label rates and project discounts (model/cost.ts computeCost). Target: < 1 s.
 *
 * Limits measured in the same run, on the same records:
 *   sum     a plain sum of the records' quantities grouped by project: no pricing, no rates lookup
 *           (what any report must at least do with them)
 *   parse   JSON.parse of the records as the store keeps them (runtime/metering-store.ts shards of
 *           up to 2,000 rows per hour and project): what reading them costs at least, before pricing
 *   --store also writes them to a SQLite store in a temporary directory and times StoreMeterReader.read
 *           then the report: the whole GET /v1/costs but HTTP (slow to set up: off by default)
 *
 *   npx tsx bench/cost-report.ts [--days 30] [--instances 1000] [--runs 5] [--store]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { computeCost, type CostGroup } from '../src/model/cost.js';
import { PriceBook, type NamedPriceList } from '../src/model/cost-prices.js';
import type { InstanceMeter, MeterRecords, NodeMeter } from '../src/model/metering.js';
import { HOUR_MS } from '../src/model/metering.js';
import type { StoredProjectHour } from '../src/runtime/metering-store.js';

const { values } = parseArgs({ options: { days: { type: 'string', default: '30' }, instances: { type: 'string', default: '1000' }, runs: { type: 'string', default: '5' }, store: { type: 'boolean', default: false } } });
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
  { name: 'mid', spec: { currency: 'EUR', effectiveFrom: new Date(START + DAYS * 12 * HOUR_MS).toISOString(), prices: { cpuCoreHour: 0.025, memoryGiBHour: 0.004, gpuHour: { a100: 2 } }, projects: [{ project: 'p5', prices: { memoryGiBHour: 0.002 } }] } },
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

async function storeRun(r: MeterRecords, since: Date, until: Date, book: PriceBook): Promise<void> {
  const { openBackend } = await import('../src/store/index.js');
  const { Records } = await import('../src/store/records.js');
  const { StoreMeterReader } = await import('../src/runtime/metering-store.js');
  const { meteringKeys } = await import('../src/model/keyspace.js');
  const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-cost-'));
  const backend = await openBackend(`sqlite://${join(dir, 'stratus.db')}`);
  try {
    const groups = new Map<string, { hour: string; project: string; rec: StoredProjectHour }>();
    for (const { hour, project, ...row } of r.instances) {
      const k = `${hour}/${project}`;
      (groups.get(k) ?? groups.set(k, { hour, project, rec: { instances: [], volumes: [] } }).get(k)!).rec.instances.push(row);
    }
    const ops = [...groups.values()].map((g) => ({ op: 'put' as const, key: meteringKeys.project(g.hour, g.project, 0), value: JSON.stringify(g.rec) }));
    for (let i = 0; i < ops.length; i += 500) await backend.txn(ops.slice(i, i + 500));
    const reader = new StoreMeterReader(new Records(backend));
    const reads: number[] = [];
    const whole: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let t = performance.now();
      const got = await reader.read({ since, until });
      reads.push(performance.now() - t);
      t = performance.now();
      computeCost(got, book, { since, until, by: 'project' });
      whole.push(reads[i]! + performance.now() - t);
    }
    console.log(`store   read ${fmt(median(reads))}, read + report ${fmt(median(whole))} (SQLite, ${ops.length} records)`);
  } finally {
    await backend.close();
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
  if (values.store) await storeRun(r, since, until, new PriceBook(lists));
}

void main();
