import { describe, expect, it } from 'vitest';
import { Meter, type MeterLookup, type MeteredInstance, type MeteredNode } from './metering.js';
import type { InstanceUsage, NodeUsageReport } from '../model/usage.js';
import type { StoredProjectHour } from './metering-store.js';
import { splitByHour } from '../model/metering.js';

const H = '2026-12-05T03:00:00.000Z';
const H0 = Date.parse(H);
const inst: MeteredInstance = { driver: 'process', cpu: 500, memory: 1024, gpus: [{ index: 1, share: 0.5 }], labels: { team: 'a' }, startedAt: H0 - 60_000 };
const node: MeteredNode = { pool: 'gpu', cpu: 4000, memory: 8192, gpus: [{ index: 0, model: 'A100' }, { index: 1, model: 'H100' }] };
const lookup: MeterLookup = { instance: () => inst, node: () => node };

function usage(cpuSeconds: number, extra: Partial<InstanceUsage> = {}): InstanceUsage {
  return { uid: 'u1', project: 'alpha', name: 'web', cpu: 0, cpuSeconds, memory: 512, ...extra };
}
function report(atMs: number, instances: InstanceUsage[], intervalMs = 5000): NodeUsageReport {
  return { node: 'n1', at: new Date(atMs).toISOString(), intervalMs, cpu: 0, memory: 0, instances, services: [] };
}
/** The instance rows of the meter's records, by hour. */
function rows(m: Meter): Record<string, StoredProjectHour['instances'][number]> {
  const out: Record<string, StoredProjectHour['instances'][number]> = {};
  for (const r of m.dirty()) if (r.project) for (const i of (r.value as StoredProjectHour).instances) out[r.hour] = i;
  return out;
}

describe('splitByHour', () => {
  it('splits an interval at hour boundaries in proportion', () => {
    expect(splitByHour(H0 - 1000, H0 + 3000)).toEqual([
      { hour: '2026-12-05T02:00:00.000Z', fraction: 0.25 },
      { hour: H, fraction: 0.75 },
    ]);
    expect(splitByHour(H0, H0 + 3000)).toEqual([{ hour: H, fraction: 1 }]);
  });
});

describe('Meter', () => {
  it('counts counter deltas and quantity × dt between reports', () => {
    const m = new Meter();
    m.apply(report(H0 + 1000, [usage(10)]), lookup); // a new run: its whole counter
    m.apply(report(H0 + 6000, [usage(12.5, { memoryPeak: 700, netRxBytes: 100 })]), lookup);
    const r = rows(m)[H]!;
    expect(r.cpuSeconds).toBeCloseTo(12.5);
    expect(r.seconds).toBeCloseTo(5);
    expect(r.cpuReservedSeconds).toBeCloseTo(2.5);
    expect(r.memoryGiBSeconds).toBeCloseTo(2.5);
    expect(r.memoryReservedGiBSeconds).toBeCloseTo(5);
    expect(r.memoryPeakMiB).toBe(700);
    expect(r.gpu).toEqual([{ model: 'H100', share: 0.5, seconds: 5 }]);
    expect(r).toMatchObject({ pool: 'gpu', driver: 'process', labels: { team: 'a' }, node: 'n1', last: { at: H0 + 6000, cpuSeconds: 12.5 } });
  });

  it('counts a run it never saw from its first report on when it started long before (not its whole past)', () => {
    const m = new Meter();
    const old: MeterLookup = { instance: () => ({ ...inst, startedAt: H0 - 86_400_000 }), node: () => node };
    m.apply(report(H0 + 1000, [usage(5000)]), old);
    m.apply(report(H0 + 6000, [usage(5002.5)]), old);
    expect(rows(m)[H]).toMatchObject({ cpuSeconds: 2.5, seconds: 5 });
  });

  it('adds nothing for a report seen twice or an older one', () => {
    const m = new Meter();
    const a = report(H0 + 1000, [usage(10)]);
    const b = report(H0 + 6000, [usage(12)]);
    for (const r of [a, b, b, a, b]) m.apply(r, lookup);
    expect(rows(m)[H]).toMatchObject({ cpuSeconds: 12, seconds: 5 });
  });

  it('counts a counter that went down as a new run from zero', () => {
    const m = new Meter();
    m.apply(report(H0 + 1000, [usage(10)]), lookup);
    m.apply(report(H0 + 6000, [usage(12)]), lookup);
    m.apply(report(H0 + 11000, [usage(1.5)]), lookup);
    expect(rows(m)[H]!.cpuSeconds).toBeCloseTo(13.5);
  });

  it('keeps an instance\'s runs on two nodes apart: the old node\'s late reports do not mix with the new counter', () => {
    const m = new Meter();
    const on = (nodeName: string, atMs: number, cpu: number) => ({ ...report(atMs, [usage(cpu)]), node: nodeName });
    m.apply(on('n1', H0 + 1000, 100), lookup);
    m.apply(on('n2', H0 + 2000, 1), lookup); // moved: a new run on n2
    m.apply(on('n1', H0 + 6000, 101), lookup); // n1's last report of the old run
    m.apply(on('n2', H0 + 7000, 3), lookup);
    const total = m.dirty().flatMap((r) => (r.project ? (r.value as StoredProjectHour).instances : [])).reduce((a, r) => a + r.cpuSeconds, 0);
    expect(total).toBeCloseTo(104);
  });

  it('does not measure time over a gap longer than 3 intervals (30 s at least), but counts the counter', () => {
    const m = new Meter();
    m.apply(report(H0 + 1000, [usage(10)]), lookup);
    m.apply(report(H0 + 31000, [usage(20)]), lookup); // 30 s: measured
    m.apply(report(H0 + 100000, [usage(30)]), lookup); // 69 s: not measured
    expect(rows(m)[H]).toMatchObject({ cpuSeconds: 30, seconds: 30 });
  });

  it('splits an interval across an hour boundary proportionally, with the counters interpolated there', () => {
    const m = new Meter();
    m.apply(report(H0 - 2000, [usage(100)]), lookup);
    m.apply(report(H0 + 2000, [usage(104)]), lookup);
    const before = rows(m)['2026-12-05T02:00:00.000Z']!;
    const after = rows(m)[H]!;
    expect(before.cpuSeconds).toBeCloseTo(102);
    expect(before.seconds).toBeCloseTo(2);
    expect(before.last).toEqual({ at: H0, cpuSeconds: 102 });
    expect(after.cpuSeconds).toBeCloseTo(2);
    expect(after.seconds).toBeCloseTo(2);
    expect(after.last).toEqual({ at: H0 + 2000, cpuSeconds: 104 });
  });

  it('a meter loaded from written records continues from their counters: nothing lost, nothing doubled', () => {
    const a = new Meter();
    a.apply(report(H0 + 1000, [usage(10)]), lookup);
    a.apply(report(H0 + 6000, [usage(12)]), lookup);
    const stored = a.dirty();
    a.apply(report(H0 + 11000, [usage(14)]), lookup); // counted by a, never written (a crashed)
    const b = new Meter();
    for (const r of stored) b.load(r.hour, r.project, r.shard, r.value);
    b.apply(report(H0 + 11000, [usage(14)]), lookup); // b sees the same report again
    b.apply(report(H0 + 16000, [usage(15)]), lookup);
    expect(rows(b)[H]).toMatchObject({ cpuSeconds: 15, seconds: 15 });
    // a report from before what was written adds nothing
    b.apply(report(H0 + 6000, [usage(12)]), lookup);
    expect(rows(b)[H]!.cpuSeconds).toBe(15);
  });

  it('allows the flush period more for the first interval after a takeover', () => {
    const a = new Meter();
    a.apply(report(H0 + 1000, [usage(1)]), lookup);
    const b = new Meter();
    for (const r of a.dirty()) b.load(r.hour, r.project, r.shard, r.value);
    b.apply(report(H0 + 61000, [usage(2)]), lookup); // 60 s: within 30 s + 60 s
    expect(rows(b)[H]!.seconds).toBeCloseTo(60);
  });

  it('meters node capacity and volume size × time', () => {
    const m = new Meter();
    m.apply(report(H0 + 1000, []), lookup);
    m.apply(report(H0 + 11000, []), lookup);
    m.meterVolumes(H0 + 1000, [{ project: 'alpha', name: 'data', size: 2048 }]);
    m.meterVolumes(H0 + 11000, [{ project: 'alpha', name: 'data', size: 2048 }]);
    const recs = m.dirty();
    const nodes = recs.find((r) => !r.project)!.value as { nodes: unknown[] };
    expect(nodes.nodes).toEqual([{ node: 'n1', pool: 'gpu', seconds: 10, cpuCoreSeconds: 40, memoryGiBSeconds: 80, gpu: [{ model: 'A100', seconds: 10 }, { model: 'H100', seconds: 10 }], lastAt: H0 + 11000 }]);
    const p = recs.find((r) => r.project === 'alpha')!.value as StoredProjectHour;
    expect(p.volumes).toEqual([{ name: 'data', gibSeconds: 20, lastAt: H0 + 11000 }]);
  });

  it('keeps records under the store\'s request limit: rows per shard, labels bounded', () => {
    const labels = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`label-${i}`, 'v'.repeat(63)]));
    const big: MeterLookup = { instance: () => ({ ...inst, labels }), node: () => ({ ...node, labels }) };
    const many = Array.from({ length: 700 }, (_, i) => usage(1, { uid: `uid-${i}`, name: `web-${i}` }));
    const m = new Meter();
    m.apply(report(H0 + 1000, many), big);
    m.apply(report(H0 + 6000, many.map((u) => ({ ...u, cpuSeconds: 2 }))), big);
    const recs = m.dirty().filter((r) => r.project);
    expect(recs.map((r) => [r.shard, (r.value as StoredProjectHour).instances.length])).toEqual([[0, 300], [1, 300], [2, 100]]);
    for (const r of m.dirty()) expect(JSON.stringify(r.value).length).toBeLessThan(1_000_000);
    expect(Object.keys((recs[0]!.value as StoredProjectHour).instances[0]!.labels!).length).toBeLessThan(30);
  });

  it('written records are no longer dirty; retire drops clean old hours', () => {
    const m = new Meter();
    m.apply(report(H0 - 2000, [usage(1)]), lookup);
    m.apply(report(H0 + 2000, [usage(2)]), lookup);
    m.written(m.dirty());
    expect(m.dirty()).toEqual([]);
    m.retire(H, 0);
    expect([...m.hours.keys()]).toEqual([H]);
  });
});
