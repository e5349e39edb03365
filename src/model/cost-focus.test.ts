import { describe, expect, it } from 'vitest';
import { billingPeriod, FOCUS_COLUMNS, focusCsv, focusRows } from './cost-focus.js';
import { PriceBook } from './cost-prices.js';
import { csvCell, parseCsv, toCsv } from './csv.js';
import type { InstanceMeter } from './metering.js';

const H = 3600;
const book = new PriceBook([{ name: 'a', spec: { currency: 'EUR', effectiveFrom: '2026-12-01T00:00:00Z', prices: { cpuCoreHour: 1, memoryGiBHour: 0.1, volumeGiBMonth: 73 }, projects: [{ project: 'p', discountPercent: 50 }] } }]);
const inst = (labels: Record<string, string>): InstanceMeter => ({
  hour: '2026-12-31T23:00:00.000Z', project: 'p', name: 'web', uid: 'u1', node: 'n1', driver: 'process', labels,
  seconds: H, cpuSeconds: 3 * H, cpuReservedSeconds: 2 * H, memoryGiBSeconds: 1 * H, memoryReservedGiBSeconds: 4 * H,
});
const window = { since: new Date('2026-12-01T00:00:00Z'), until: new Date('2027-01-01T00:00:00Z') };

describe('csv', () => {
  it.each([
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['=HYPERLINK("http://x")', `"'=HYPERLINK(""http://x"")"`], // formula neutralised, then quoted
    ['+1', "'+1"],
    ['-1+2', "'-1+2"],
    ['@SUM(A1)', "'@SUM(A1)"],
    [-1.5, '-1.5'], // numbers are numbers
  ] as const)('%j → %s', (v, want) => expect(csvCell(v)).toBe(want));

  it('parses back what it writes, row and column counts intact', () => {
    const nasty = ['a,b', 'x"y', 'l1\r\nl2', '=cmd|calc', ''];
    const text = toCsv(['h1', 'h2', 'h3', 'h4', 'h5'], [nasty, ['1', '2', '3', '4', '5']]);
    const back = parseCsv(text);
    expect(back).toHaveLength(3);
    expect(back[1]).toEqual(['a,b', 'x"y', 'l1\r\nl2', "'=cmd|calc", '']);
  });
});

describe('FOCUS rows', () => {
  it('one row per resource: quantities, list and contracted prices, periods, project, tags', () => {
    const rows = focusRows({ instances: [inst({ team: 'red' })], volumes: [{ hour: '2026-12-31T23:00:00.000Z', project: 'p', name: 'd', gibSeconds: 10 * H }], nodes: [] }, book, { ...window, nodes: new Map([['n1', { zone: 'zone-b' }]]) });
    expect(rows.map((r) => r.SkuId)).toEqual(['cpu', 'memory', 'volume']);
    const [cpu, memory, volume] = rows;
    // CPU: max(2 reserved, 3 used) = 3 core-hours at 1 EUR, 50 % off
    expect(cpu).toMatchObject({ PricingQuantity: 3, ConsumedQuantity: 3, ListCost: 3, BilledCost: 1.5, EffectiveCost: 1.5, ContractedCost: 1.5, ListUnitPrice: 1, ContractedUnitPrice: 0.5, PricingUnit: 'Core-Hours', BillingCurrency: 'EUR', SubAccountId: 'p', AvailabilityZone: 'zone-b', ResourceId: 'u1', ResourceType: 'Instance', ServiceCategory: 'Compute', ChargeCategory: 'Usage' });
    expect(cpu).toMatchObject({ ChargePeriodStart: '2026-12-31T23:00:00.000Z', ChargePeriodEnd: '2027-01-01T00:00:00.000Z', BillingPeriodStart: '2026-12-01T00:00:00.000Z', BillingPeriodEnd: '2027-01-01T00:00:00.000Z' });
    expect(JSON.parse(cpu!.Tags as string)).toEqual({ team: 'red', 'stratus.io/node': 'n1' });
    // memory: max(4 reserved, 1 used) = 4 GiB-hours at 0.1
    expect(memory).toMatchObject({ PricingQuantity: 4, ConsumedQuantity: 1, ListCost: 0.4, BilledCost: 0.2 });
    // volume: 10 GiB-hours = 10/730 GiB-months at 73
    expect(volume).toMatchObject({ PricingUnit: 'GiB-Months', ListCost: 1, BilledCost: 0.5, ServiceCategory: 'Storage' });
  });

  it('a hostile label value neither breaks the CSV nor runs as a formula', () => {
    const evil = '=HYPERLINK("http://evil","x"),\n"injected",row';
    const text = focusCsv(focusRows({ instances: [inst({ team: evil })], volumes: [], nodes: [] }, book, window));
    const [header, ...rows] = parseCsv(text);
    expect(header).toEqual([...FOCUS_COLUMNS]);
    expect(rows).toHaveLength(2);
    for (const r of rows) expect(r).toHaveLength(FOCUS_COLUMNS.length);
    const tags = rows[0]![FOCUS_COLUMNS.indexOf('Tags')]!;
    expect(JSON.parse(tags)).toMatchObject({ team: evil });
  });

  it('billing periods are calendar months (UTC)', () => {
    expect(billingPeriod('2026-02-10T05:00:00.000Z')).toEqual(['2026-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z']);
  });
});
