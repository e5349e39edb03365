import { describe, expect, it } from 'vitest';
import { computeCost, costGroupProblem, priceInstance, reportPeriod } from './cost.js';
import { PriceBook, resolve, type NamedPriceList, type NodeInfo } from './cost-prices.js';
import type { InstanceMeter, MeterRecords, NodeMeter } from './metering.js';
import type { PriceListSpec } from './kinds/price-list.js';
import { priceListProblems } from './kinds/price-list.js';

const H = 3600;
const list = (name: string, from: string, spec: Partial<PriceListSpec> = {}): NamedPriceList => ({
  name, spec: { currency: 'EUR', effectiveFrom: from, prices: { cpuCoreHour: 1, memoryGiBHour: 0.1 }, ...spec },
});
/** One instance-hour: 2 cores reserved, 1 used; 4 GiB reserved, 2 used (the whole hour by default). */
const inst = (o: Partial<InstanceMeter> = {}): InstanceMeter => ({
  hour: '2026-12-01T00:00:00.000Z', project: 'p', name: 'web', uid: 'u1', node: 'n1', driver: 'process',
  seconds: H, cpuSeconds: 1 * H, cpuReservedSeconds: 2 * H, memoryGiBSeconds: 2 * H, memoryReservedGiBSeconds: 4 * H, ...o,
});
const recs = (instances: InstanceMeter[], nodes: NodeMeter[] = []): MeterRecords => ({ instances, volumes: [], nodes });
const window = { since: new Date('2026-12-01T00:00:00Z'), until: new Date('2026-12-02T00:00:00Z') };

describe('priceInstance: max(request, usage) per resource', () => {
  it.each([
    // [cpu used, cpu reserved, mem used, mem reserved] in core-h / GiB-h → charged cpu, memory
    { used: 1, res: 2, memUsed: 2, memRes: 4, cpu: 2, memory: 0.4 }, //   under its requests: charged as reserved (2 × 1; 4 × 0.1)
    { used: 3, res: 2, memUsed: 2, memRes: 4, cpu: 3, memory: 0.4 }, //   a CPU burst above the request: charged as used (3 × 1)
    { used: 1, res: 2, memUsed: 6, memRes: 4, cpu: 2, memory: 0.6 }, //   memory above its request: 6 × 0.1
  ])('used $used/$res cores, $memUsed/$memRes GiB → cpu $cpu, memory $memory', ({ used, res, memUsed, memRes, cpu, memory }) => {
    const r = resolve(list('a', '2026-12-01T00:00:00Z'), 'p', {});
    const p = priceInstance(inst({ cpuSeconds: used * H, cpuReservedSeconds: res * H, memoryGiBSeconds: memUsed * H, memoryReservedGiBSeconds: memRes * H }), r);
    expect(p.cpu.charged).toBeCloseTo(cpu);
    expect(p.memory.charged).toBeCloseTo(memory);
    expect(p.cpu.reserved).toBeCloseTo(res);
    expect(p.cpu.usage).toBeCloseTo(used);
  });

  it('prices GPU devices and shares by model, shares at gpuShareHour, and instance-hours by driver', () => {
    const r = resolve(list('a', '2026-12-01T00:00:00Z', { prices: { gpuHour: { a100: 3 }, gpuShareHour: { a100: 4 }, instanceHour: { vm: 0.5 } } }), 'p', {});
    const p = priceInstance(inst({ driver: 'vm', gpu: [{ model: 'a100', share: 1, seconds: H }, { model: 'a100', share: 0.25, seconds: H }] }), r);
    expect(p.gpu.charged).toBeCloseTo(3 + 0.25 * 4); // a device at 3/h + a quarter share at 4/h
    expect(p.instance).toBeCloseTo(0.5);
    expect(p.gpuHours).toBeCloseTo(1.25);
  });
});

describe('PriceBook: which list and which rates', () => {
  const book = new PriceBook([
    list('dec', '2026-12-01T00:00:00Z', {
      prices: { cpuCoreHour: 1, memoryGiBHour: 0.1 },
      nodes: [{ pool: 'gpu', zone: 'b', prices: { cpuCoreHour: 5 } }, { selector: { tier: 'fast' }, prices: { cpuCoreHour: 2 } }, { pool: 'gpu', prices: { cpuCoreHour: 3 } }],
      projects: [{ project: 'research', discountPercent: 25 }, { project: 'vip', prices: { memoryGiBHour: 0 } }],
    }),
    list('mid-dec', '2026-12-15T12:00:00Z', { prices: { cpuCoreHour: 10, memoryGiBHour: 0.1 } }),
  ]);
  it.each([
    { hour: '2026-11-30T23:00:00.000Z', node: {}, project: 'p', want: undefined, why: 'before the first list: unpriced' },
    { hour: '2026-12-01T00:00:00.000Z', node: {}, project: 'p', want: 1, why: 'base rate' },
    { hour: '2026-12-15T11:00:00.000Z', node: {}, project: 'p', want: 1, why: 'the hour before the new list' },
    { hour: '2026-12-15T12:00:00.000Z', node: {}, project: 'p', want: 10, why: 'the new list from its hour on' },
    { hour: '2026-12-02T00:00:00.000Z', node: { pool: 'gpu', zone: 'b' }, project: 'p', want: 5, why: 'pool and zone: the first entry' },
    { hour: '2026-12-02T00:00:00.000Z', node: { pool: 'gpu', zone: 'a' }, project: 'p', want: 3, why: 'the pool in another zone: the third entry' },
    { hour: '2026-12-02T00:00:00.000Z', node: { labels: { tier: 'fast', x: 'y' } }, project: 'p', want: 2, why: 'label selector' },
    { hour: '2026-12-02T00:00:00.000Z', node: { pool: 'gpu', labels: { tier: 'fast' } }, project: 'p', want: 2, why: 'first match wins (selector before pool)' },
    { hour: '2026-12-02T00:00:00.000Z', node: {}, project: 'research', want: 0.75, why: '25 % discount' },
  ] as { hour: string; node: NodeInfo; project: string; want: number | undefined; why: string }[])('$why', ({ hour, node, project, want }) => {
    const r = book.rates(hour, project, node);
    expect(r === undefined ? undefined : r.cpuCoreHour * r.factor).toBe(want);
  });
  it('a project entry replaces only the rates it sets', () => {
    const r = book.rates('2026-12-02T00:00:00.000Z', 'vip', {})!;
    expect([r.cpuCoreHour, r.memoryGiBHour]).toEqual([1, 0]);
  });
});

describe('computeCost', () => {
  it('switches price lists mid-period hour by hour, and counts hours without a list as unpriced', () => {
    const book = new PriceBook([list('a', '2026-12-01T01:00:00Z'), list('b', '2026-12-01T02:00:00Z', { prices: { cpuCoreHour: 2, memoryGiBHour: 0.1 } })]);
    const hours = ['00', '01', '02'].map((h) => inst({ hour: `2026-12-01T${h}:00:00.000Z` }));
    const r = computeCost(recs(hours), book, { ...window, by: 'project' });
    // hour 00: no list (0); hour 01: 2 cores × 1 + 4 GiB × 0.1 = 2.4; hour 02: 2 × 2 + 0.4 = 4.4
    expect(r.total.total.charged).toBeCloseTo(6.8);
    expect(r.unpricedHours).toBe(1);
    expect(r.currency).toBe('EUR');
  });

  it('shows reservation, usage and charged costs, and efficiency', () => {
    const book = new PriceBook([list('a', '2026-12-01T00:00:00Z')]);
    const r = computeCost(recs([inst(), inst({ name: 'burst', uid: 'u2', cpuSeconds: 3 * H })]), book, { ...window, by: 'instance' });
    const [burst, web] = r.rows;
    expect(burst!.key).toBe('p/burst'); // the most charged first
    expect(burst!.total).toEqual({ reserved: expect.closeTo(2.4), usage: expect.closeTo(3.2), charged: expect.closeTo(3.4) });
    expect(web!.total).toEqual({ reserved: expect.closeTo(2.4), usage: expect.closeTo(1.2), charged: expect.closeTo(2.4) });
    expect(web!.efficiency.cpu).toBeCloseTo(0.5);
    expect(web!.efficiency.memory).toBeCloseTo(0.5);
    expect(r.total.total.charged).toBeCloseTo(5.8);
  });

  it.each([
    { by: 'project', keys: ['a', 'b'] },
    { by: 'service', keys: ['a/(none)', 'a/api', 'b/api'] },
    { by: 'label:team', keys: ['(none)', 'red'] },
    { by: 'node-pool', keys: ['(none)', 'big'] },
  ] as const)('groups by $by', ({ by, keys }) => {
    const book = new PriceBook([list('a', '2026-12-01T00:00:00Z')]);
    const r = computeCost(recs([
      inst({ project: 'a', service: 'api', labels: { team: 'red' }, pool: 'big' }),
      inst({ project: 'b', service: 'api', uid: 'u2' }),
      inst({ project: 'a', uid: 'u3', name: 'lone', node: 'n2' }),
    ]), book, { ...window, by });
    expect(r.rows.map((x) => x.key).sort()).toEqual(keys);
  });

  it('keeps only the asked project and window', () => {
    const book = new PriceBook([list('a', '2026-12-01T00:00:00Z')]);
    const r = computeCost(recs([inst({ project: 'a' }), inst({ project: 'b' }), inst({ project: 'a', hour: '2026-12-02T00:00:00.000Z' })]), book, { ...window, by: 'project', project: 'a' });
    expect(r.rows.map((x) => [x.key, x.instanceHours])).toEqual([['a', 1]]);
  });

  it('prices volumes per GiB-month over 730 hours', () => {
    const book = new PriceBook([list('a', '2026-12-01T00:00:00Z', { prices: { volumeGiBMonth: 73 } })]);
    const r = computeCost({ instances: [], nodes: [], volumes: [{ hour: '2026-12-01T00:00:00.000Z', project: 'p', name: 'data', gibSeconds: 10 * H }] }, book, { ...window, by: 'instance' });
    expect(r.rows[0]!.key).toBe('p/volume/data');
    expect(r.rows[0]!.volume).toBeCloseTo(1); // 10 GiB × 1 h × 73 / 730
  });

  it('idle cost per pool: capacity nobody reserved, per resource, never below 0', () => {
    const book = new PriceBook([list('a', '2026-12-01T00:00:00Z', { prices: { cpuCoreHour: 1, memoryGiBHour: 0.1, gpuHour: { a100: 2 } } })]);
    const nodes: NodeMeter[] = [
      { hour: '2026-12-01T00:00:00.000Z', node: 'n1', pool: 'big', seconds: H, cpuCoreSeconds: 8 * H, memoryGiBSeconds: 3 * H, gpu: [{ model: 'a100', seconds: 2 * H }] },
      { hour: '2026-12-01T00:00:00.000Z', node: 'n2', pool: 'small', seconds: H, cpuCoreSeconds: 2 * H, memoryGiBSeconds: 4 * H },
    ];
    const r = computeCost(recs([inst({ gpu: [{ model: 'a100', share: 0.5, seconds: H }] })], nodes), book, { ...window, by: 'project', idle: true });
    // big: cpu (8 − 2) × 1 = 6; memory 3 − 4 < 0 → 0; gpu (2 − 0.5) × 2 = 3
    expect(r.idle).toEqual([
      { pool: 'big', cpu: 6, memory: 0, gpu: 3, total: 9 },
      { pool: 'small', cpu: 2, memory: expect.closeTo(0.4), gpu: 0, total: expect.closeTo(2.4) },
    ]);
    expect(computeCost(recs([inst()], nodes), book, { ...window, by: 'project' }).idle).toBeUndefined();
  });

  it('checks groupings', () => {
    expect(costGroupProblem('label:team')).toBeUndefined();
    expect(costGroupProblem('team')).toMatch(/label:<key>/);
    expect(costGroupProblem('label:')).toBeDefined();
  });
});

describe('price list validation', () => {
  const spec = (o: Partial<PriceListSpec>): PriceListSpec => ({ currency: 'EUR', effectiveFrom: '2026-12-01T00:00:00Z', prices: {}, ...o });
  it.each([
    { o: { currency: 'XYZ' }, path: 'spec.currency' },
    { o: { effectiveFrom: '2026-12-01T00:30:00Z' }, path: 'spec.effectiveFrom' },
    { o: { nodes: [{ prices: {} }] }, path: 'spec.nodes[0]' },
    { o: { nodes: [{ selector: { 'bad key!': 'x' }, prices: {} }] }, path: 'spec.nodes[0].selector.bad key!' },
    { o: { projects: [{ project: 'a' }, { project: 'a' }] }, path: 'spec.projects[1].project' },
  ])('names $path', ({ o, path }) => {
    expect(priceListProblems(spec(o as Partial<PriceListSpec>)).map((p) => p.path)).toEqual([path]);
  });
  it('accepts a good list', () => expect(priceListProblems(spec({ currency: 'JPY' }))).toEqual([]));
});

describe('reportPeriod', () => {
  const now = Date.parse('2026-12-05T03:20:00Z');
  it.each([
    { q: {}, want: ['2026-12-01T00:00:00.000Z', '2026-12-05T04:00:00.000Z'] }, // month to date, to the end of this hour
    { q: { since: '2026-11-01', until: '2026-12-01' }, want: ['2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z'] },
    { q: { since: '2026-12-01T10:30:00Z', until: '2026-12-01T11:10:00+00:00' }, want: ['2026-12-01T10:00:00.000Z', '2026-12-01T12:00:00.000Z'] }, // rounded out to hours
  ])('$q', ({ q, want }) => {
    const p = reportPeriod(q, now) as { since: Date; until: Date };
    expect([p.since.toISOString(), p.until.toISOString()]).toEqual(want);
  });
  it.each([
    { q: { since: 'yesterday' }, path: 'since' },
    { q: { until: '12/01/2026' }, path: 'until' },
    { q: { since: '2026-12-02', until: '2026-12-01' }, path: 'until' },
    { q: { since: '2024-01-01', until: '2026-01-01' }, path: 'until' },
  ])('refuses $q naming $path', ({ q, path }) => {
    expect(reportPeriod(q, now)).toMatchObject({ path });
  });
});

describe('idle with a project filter', () => {
  it('subtracts what every project reserved on the node, not only the shown one', () => {
    const book = new PriceBook([list('a', '2026-12-01T00:00:00Z', { prices: { cpuCoreHour: 1 } })]);
    const nodes: NodeMeter[] = [{ hour: '2026-12-01T00:00:00.000Z', node: 'n1', pool: 'big', seconds: H, cpuCoreSeconds: 8 * H, memoryGiBSeconds: 0 }];
    const r = computeCost(recs([inst({ project: 'a' }), inst({ project: 'b', uid: 'u2' })], nodes), book, { ...window, by: 'project', project: 'a', idle: true });
    expect(r.idle![0]!.cpu).toBe(4); // 8 cores − 2 (a) − 2 (b)
    expect(r.rows.map((x) => x.key)).toEqual(['a']);
  });
});
