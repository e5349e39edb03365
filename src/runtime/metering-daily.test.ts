import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../store/memory.js';
import { Records } from '../store/records.js';
import { meteringKeys } from '../model/keyspace.js';
import { DAY_MS, HOUR_MS, type InstanceMeter, type MeterRecords } from '../model/metering.js';
import { computeCost, type CostGroup, type CostReport } from '../model/cost.js';
import { PriceBook, type NamedPriceList } from '../model/cost-prices.js';
import { rollupDay, wholeDays } from './metering-daily.js';
import { StoreMeterReader, type StoredNodeHour, type StoredProjectHour } from './metering-store.js';

const D0 = Date.parse('2026-11-01T00:00:00Z');
const DAYS = 4;
const iso = (ms: number) => new Date(ms).toISOString();

/** A small seeded generator (mulberry32). */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * DAYS days of hourly records: runs that use more than they reserve in some hours and less in
 * others, move between nodes and change labels within a day, hold GPU shares and devices; volumes
 * with empty hours; nodes whose reservations exceed their capacity in some hours.
 */
function hourly(seed: number): MeterRecords {
  const rnd = random(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const out: MeterRecords = { instances: [], volumes: [], nodes: [] };
  for (let h = 0; h < DAYS * 24; h++) {
    const hour = iso(D0 + h * HOUR_MS);
    for (let n = 0; n < 3; n++) {
      out.nodes.push({ hour, node: `n${n}`, pool: n === 2 ? 'gpu' : 'cpu', labels: { tier: n % 2 ? 'fast' : 'slow' }, seconds: 3600, cpuCoreSeconds: 4 * 3600 * rnd(), memoryGiBSeconds: 16 * 3600, ...(n === 2 ? { gpu: [{ model: 'a100', seconds: 2 * 3600 }] } : {}) });
    }
    for (let i = 0; i < 8; i++) {
      if (rnd() < 0.1) continue; // not running that hour
      const seconds = rnd() < 0.2 ? 3600 * rnd() : 3600;
      const reserved = (i % 3) + 0.5;
      const m: InstanceMeter = {
        hour, project: `p${i % 3}`, name: `i${i}`, uid: `u${i}`, node: pick(['n0', 'n1', 'n2']), driver: i % 4 ? 'process' : 'vm',
        ...(i % 2 ? { service: 's' } : {}), ...(i !== 5 ? { labels: { team: pick(['a', 'b']) } } : {}),
        seconds, cpuSeconds: reserved * seconds * 2 * rnd(), cpuReservedSeconds: reserved * seconds,
        memoryGiBSeconds: 2 * seconds * 2 * rnd(), memoryReservedGiBSeconds: 2 * seconds, memoryPeakMiB: Math.floor(4096 * rnd()),
        ...(i % 4 === 1 ? { gpu: [{ model: 'a100', share: pick([0.5, 1]), seconds }] } : {}),
      };
      out.instances.push(m);
    }
    for (let v = 0; v < 2; v++) out.volumes.push({ hour, project: `p${v}`, name: `v${v}`, node: 'n0', gibSeconds: rnd() < 0.3 ? 0 : 10 * 3600 });
  }
  return out;
}

const lists: NamedPriceList[] = [
  // from 06:00 of day 0 (inside it: day 0 is read by the hour), at a day boundary (day 1: rolled up), mid-hour on day 2
  { name: 'a', spec: { currency: 'EUR', effectiveFrom: iso(D0 + 6 * HOUR_MS), prices: { cpuCoreHour: 1, memoryGiBHour: 0.1, gpuHour: { a100: 3 }, gpuShareHour: { a100: 4 }, volumeGiBMonth: 73, instanceHour: { vm: 0.5 } }, nodes: [{ pool: 'gpu', prices: { cpuCoreHour: 2 } }, { selector: { tier: 'fast' }, prices: { memoryGiBHour: 0.3 } }], projects: [{ project: 'p1', discountPercent: 25 }] } },
  { name: 'b', spec: { currency: 'EUR', effectiveFrom: iso(D0 + DAY_MS), prices: { cpuCoreHour: 0.5, memoryGiBHour: 0.2, gpuHour: { a100: 5 }, volumeGiBMonth: 30 }, projects: [{ project: 'p2', prices: { cpuCoreHour: 3 } }] } },
  { name: 'c', spec: { currency: 'EUR', effectiveFrom: iso(D0 + 2 * DAY_MS + 13.5 * HOUR_MS), prices: { cpuCoreHour: 2, memoryGiBHour: 0.05, gpuHour: { a100: 1 }, instanceHour: { vm: 1, process: 0.1 } } } },
];

/** A store holding `r` as the meter writes it (a record per hour and project, one per hour for the nodes), and the rollups of `days`. */
async function store(r: MeterRecords, days: number[]): Promise<Records> {
  const records = new Records(new MemoryBackend());
  const groups = new Map<string, StoredProjectHour | StoredNodeHour>();
  const rec = <T extends StoredProjectHour | StoredNodeHour>(key: string, make: () => T): T => (groups.get(key) ?? groups.set(key, make()).get(key)!) as T;
  const project = (hour: string, p: string) => rec<StoredProjectHour>(meteringKeys.project(hour, p, 0), () => ({ instances: [], volumes: [] }));
  for (const { hour, project: p, ...row } of r.instances) project(hour, p).instances.push(row);
  for (const { hour, project: p, ...row } of r.volumes) project(hour, p).volumes.push(row);
  for (const { hour, ...row } of r.nodes) rec<StoredNodeHour>(meteringKeys.nodes(hour, 0), () => ({ nodes: [] })).nodes.push(row);
  await records.txn([...groups].map(([key, value]) => ({ op: 'put' as const, key, value: JSON.stringify(value) })));
  for (const d of days) {
    const inDay = <T extends { hour: string }>(xs: T[]) => xs.filter((x) => x.hour >= iso(d) && x.hour < iso(d + DAY_MS));
    const rows = rollupDay(iso(d), { instances: inDay(r.instances), volumes: inDay(r.volumes), nodes: inDay(r.nodes) });
    await records.txn(rows.map((x) => ({ op: 'put' as const, key: x.key, value: x.value })));
  }
  return records;
}

/** The figures of a report, rounded to 9 significant digits (sums in another order differ in the last bits). */
function figures(rep: CostReport): unknown {
  return JSON.parse(JSON.stringify(rep, (_k, v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(9)) : v)));
}

const every = Array.from({ length: DAYS }, (_, i) => D0 + i * DAY_MS);

describe('daily rollups', () => {
  it('a day is read from its rollup only when whole in the period and no price list takes effect inside it', () => {
    const splits = new PriceBook(lists).changes();
    expect(wholeDays(D0, D0 + DAYS * DAY_MS, splits)).toEqual([D0 + DAY_MS, D0 + 3 * DAY_MS]); // day 0: 06:00, day 2: 13:30
    expect(wholeDays(D0 + 3 * HOUR_MS, D0 + 4 * DAY_MS - HOUR_MS, [])).toEqual([D0 + DAY_MS, D0 + 2 * DAY_MS]); // partial first and last days by the hour
  });

  it('the reader returns a rolled-up day\'s rows, every other hour\'s own, in time order; without a marker, the hours', async () => {
    const r = hourly(1);
    const s = await store(r, every);
    const got = await new StoreMeterReader(s).read({ since: new Date(D0), until: new Date(D0 + DAYS * DAY_MS), daily: { splits: new PriceBook(lists).changes() } });
    const hours = [...new Set(got.instances.map((m) => m.hour))];
    expect(hours).toHaveLength(24 + 1 + 24 + 1);
    expect(hours).toEqual([...hours].sort());
    expect(hours).toContain(iso(D0 + DAY_MS));
    expect(hours).not.toContain(iso(D0 + DAY_MS + HOUR_MS));
    expect(got.instances.find((m) => m.hour === iso(D0 + DAY_MS))).toHaveProperty('cpuChargedSeconds');
    const unrolled = await new StoreMeterReader(await store(r, [])).read({ since: new Date(D0), until: new Date(D0 + DAYS * DAY_MS), daily: { splits: [] } });
    expect(unrolled.instances).toHaveLength(r.instances.length);
  });

  it.each([1, 2, 3, 4, 5])('prices the same from rollups as from the hours, every grouping, idle and unpriced hours (seed %i)', async (seed) => {
    const r = hourly(seed);
    const s = await store(r, every);
    const reader = new StoreMeterReader(s);
    for (const [since, until] of [[D0, D0 + DAYS * DAY_MS], [D0 + 5 * HOUR_MS, D0 + 3 * DAY_MS + 7 * HOUR_MS]] as const) {
      const q = { since: new Date(since), until: new Date(until) };
      const daily = await reader.read({ ...q, daily: { splits: new PriceBook(lists).changes() } });
      const hourlyRecs = await reader.read(q);
      expect(daily.instances.length).toBeLessThan(hourlyRecs.instances.length);
      for (const by of ['project', 'instance', 'service', 'node-pool', 'label:team'] as CostGroup[]) {
        const a = computeCost(daily, new PriceBook(lists), { ...q, by, idle: true });
        const b = computeCost(hourlyRecs, new PriceBook(lists), { ...q, by, idle: true });
        expect(figures(a)).toEqual(figures(b));
      }
    }
  });

  it('is deterministic: the same hours roll up to the same records', () => {
    const r = hourly(7);
    const day = <T extends { hour: string }>(xs: T[]) => xs.filter((x) => x.hour < iso(D0 + DAY_MS));
    const once = rollupDay(iso(D0), { instances: day(r.instances), volumes: day(r.volumes), nodes: day(r.nodes) });
    expect(rollupDay(iso(D0), { instances: day(r.instances), volumes: day(r.volumes), nodes: day(r.nodes) })).toEqual(once);
    expect(once[once.length - 1]!.key).toMatch(/\/done$/);
  });
});
