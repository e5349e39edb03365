/**
 * What metering costs the leader (issue 18), in process: per usage report of N instances (default
 * 100, over 10 projects), the CPU of
 *   apply      what every server already does with a report: decode it, UsageHistory.apply
 *   meter      what the leader adds: decode it again, Meter.hoursOf + Meter.apply (runtime/metering.ts)
 *   flush      the records' JSON and their write to a SQLite store (one transaction), which the
 *              controller does once a minute (every 12 reports of a node at 5 s): shown per write and per report
 * in the same run, alternating, p50 and p99 of `--rounds` reports after a warm-up. The agent does
 * no work for metering (it already sends cumulative counters), so there is no agent figure.
 *
 *   npx tsx bench/metering.ts [--instances 100] [--rounds 2000]
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { UsageHistory } from '../src/runtime/usage.js';
import { Meter, type MeterLookup } from '../src/runtime/metering.js';
import { openBackend } from '../src/store/index.js';
import { Records } from '../src/store/records.js';
import { meteringKeys } from '../src/model/keyspace.js';
import type { NodeUsageReport } from '../src/model/usage.js';

const { values } = parseArgs({ options: { instances: { type: 'string', default: '100' }, rounds: { type: 'string', default: '2000' } } });
const N = Number(values.instances);
const ROUNDS = Number(values.rounds);
const T0 = Date.parse('2026-12-05T03:00:00.000Z');

// the objects stay the same between reports, as the informers' do
const instances = new Map(Array.from({ length: N }, (_, i) => [`web-${i}`, { driver: 'process', cpu: 250, memory: 512, startedAt: T0, labels: { app: 'web', team: 'a' } }]));
const theNode = { pool: 'general', cpu: 32_000, memory: 131_072, gpus: [] };
const lookup: MeterLookup = { instance: (_p, name) => instances.get(name), node: () => theNode };

function report(k: number): string {
  const r: NodeUsageReport = {
    node: 'n1', at: new Date(T0 + k * 5000).toISOString(), intervalMs: 5000, cpu: 4000, memory: 20_000, services: [],
    instances: Array.from({ length: N }, (_, i) => ({
      uid: `uid-${i}-0000-0000-0000-000000000000`, project: `project-${i % 10}`, name: `web-${i}`, service: 'web',
      cpu: 120, cpuSeconds: k * 0.6 + i, throttledPeriods: k, periods: k * 50, memory: 200 + (i % 7), memoryPeak: 260, pids: 3, netRxBytes: k * 1000, netTxBytes: k * 2000,
    })),
  };
  return JSON.stringify(r);
}

const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const ms = (us: number) => (us / 1000).toFixed(3);

async function main(): Promise<void> {
  const history = new UsageHistory(undefined);
  const meter = new Meter();
  const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-metering-'));
  const backend = await openBackend(`sqlite://${join(dir, 'stratus.db')}`);
  const records = new Records(backend);
  const revisions = new Map<string, number>();
  const apply: number[] = [];
  const metered: number[] = [];
  const flush: number[] = [];
  let bytes = 0;
  try {
    const texts = Array.from({ length: ROUNDS + 200 }, (_, k) => report(k + 1));
    for (let k = 0; k < texts.length; k++) {
      const warm = k >= 200;
      let t = cpuUs();
      history.apply(JSON.parse(texts[k]!) as NodeUsageReport);
      if (warm) apply.push(cpuUs() - t);
      t = cpuUs();
      const r = JSON.parse(texts[k]!) as NodeUsageReport;
      meter.hoursOf(r);
      meter.apply(r, lookup);
      if (warm) metered.push(cpuUs() - t);
      if ((k + 1) % 12 === 0) {
        t = cpuUs();
        const dirty = meter.dirty();
        const ops = dirty.map((d) => {
          const key = d.project === undefined ? meteringKeys.nodes(d.hour, d.shard) : meteringKeys.project(d.hour, d.project, d.shard);
          const value = JSON.stringify(d.value);
          bytes = Math.max(bytes, value.length);
          return { op: 'put' as const, key, value, expectRevision: revisions.get(key) ?? 0 };
        });
        const res = await records.txn(ops);
        res.results.forEach((kv) => revisions.set(kv.key, kv.modRevision));
        meter.written(dirty);
        if (warm) flush.push(cpuUs() - t);
      }
    }
  } finally {
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`${N} instances a report (10 projects), ${ROUNDS} reports after 200 of warm-up, load average ${loadavg()[0]!.toFixed(2)}`);
  console.log('| per report | CPU p50 ms | CPU p99 ms |\n|---|---|---|');
  console.log(`| apply (decode + UsageHistory.apply, every server) | ${ms(pct(apply, 50))} | ${ms(pct(apply, 99))} |`);
  console.log(`| meter (decode + Meter.apply, the leader) | ${ms(pct(metered, 50))} | ${ms(pct(metered, 99))} |`);
  console.log(`| flush (11 records, largest ${(bytes / 1024).toFixed(1)} KiB, one SQLite transaction), per write | ${ms(pct(flush, 50))} | ${ms(pct(flush, 99))} |`);
  console.log(`| flush per report (÷ 12) | ${ms(pct(flush, 50) / 12)} | |`);
  console.log(`meter ÷ apply (p50): ${(pct(metered, 50) / pct(apply, 50)).toFixed(2)}`);
}

await main();
