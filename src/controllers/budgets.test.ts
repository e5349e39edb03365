import { describe, expect, it } from 'vitest';
import { budgetStatus, BudgetController } from './budgets.js';
import { MemoryBackend } from '../store/memory.js';
import { Repository } from '../store/repository.js';
import { FakeClock, sequentialIds } from '../model/runtime.js';
import { budgetKind, priceListKind } from '../model/kinds/index.js';
import { EventRecorder } from '../runtime/events.js';
import { CostSource } from '../runtime/costs.js';
import type { InstanceMeter, MeterReader, MeterRecords } from '../model/metering.js';
import type { Budget, BudgetStatus } from '../model/kinds/budget.js';

const budget = (status?: BudgetStatus, thresholds?: number[]): Budget => ({
  kind: 'budget', metadata: { name: 'monthly', project: 'p', uid: 'u', revision: 1, generation: 1, createdAt: '2026-12-01T00:00:00Z' },
  spec: { amount: 100, currency: 'EUR', enforce: true, ...(thresholds ? { thresholds } : {}) }, ...(status ? { status } : {}),
});
const now = '2026-12-05T03:00:00.000Z';

describe('budgetStatus', () => {
  it.each([
    { spent: 10, before: undefined, crossed: [], all: [], exceeded: false, why: 'below every threshold' },
    { spent: 55, before: undefined, crossed: [50], all: [50], exceeded: false, why: '50 % crossed' },
    { spent: 85, before: { month: '2026-12', crossed: [50] }, crossed: [80], all: [50, 80], exceeded: false, why: 'only the new threshold raises an event' },
    { spent: 85, before: { month: '2026-12', crossed: [50, 80] }, crossed: [], all: [50, 80], exceeded: false, why: 'once per month per threshold' },
    { spent: 85, before: { month: '2026-11', crossed: [50, 80, 100] }, crossed: [50, 80], all: [50, 80], exceeded: false, why: 'a new month starts afresh' },
    { spent: 100, before: { month: '2026-12', crossed: [50, 80] }, crossed: [100], all: [50, 80, 100], exceeded: true, why: '100 %: exceeded' },
    { spent: 250, before: undefined, crossed: [50, 80, 100], all: [50, 80, 100], exceeded: true, why: 'a jump crosses several at once' },
  ])('$why', ({ spent, before, crossed, all, exceeded }) => {
    const r = budgetStatus(budget(before), '2026-12', spent, 'EUR', now);
    expect(r.crossed).toEqual(crossed);
    expect(r.status).toMatchObject({ month: '2026-12', spent, percent: spent, crossed: all, exceeded });
  });

  it('own thresholds', () => {
    expect(budgetStatus(budget(undefined, [90, 25]), '2026-12', 30, 'EUR', now).crossed).toEqual([25]);
  });

  it('another currency: no figures, a message saying what to do', () => {
    const r = budgetStatus(budget(), '2026-12', 500, 'USD', now);
    expect(r.crossed).toEqual([]);
    expect(r.status.exceeded).toBeUndefined();
    expect(r.status.message).toMatch(/spec.currency to USD/);
  });
});

describe('BudgetController: month-to-date from settled and recent hours', () => {
  const H = 3_600_000;
  const at = (hour: string, project: string): InstanceMeter => ({
    hour, project, name: 'web', uid: `u-${project}`, node: 'n1', driver: 'process',
    seconds: 3600, cpuSeconds: 0, cpuReservedSeconds: 3600, memoryGiBSeconds: 0, memoryReservedGiBSeconds: 0,
  });
  /** One core-hour (1 EUR) per project and hour of the month so far; remembers what it was asked. */
  class CountingReader implements MeterReader {
    asked: [string, string][] = [];
    constructor(private readonly clock: FakeClock) {}
    async read(q: { since: Date; until: Date }): Promise<MeterRecords> {
      this.asked.push([q.since.toISOString().slice(8, 13), q.until.toISOString().slice(8, 13)]);
      const instances: InstanceMeter[] = [];
      for (let t = q.since.getTime(); t < q.until.getTime() && t <= this.clock.now(); t += H) instances.push(at(new Date(t).toISOString(), 'shop'));
      return { instances, volumes: [], nodes: [] };
    }
  }

  it('reads the month once, then only the last hours; a price change reads it again', async () => {
    const clock = new FakeClock(Date.parse('2026-12-03T05:30:00Z'));
    const repo = new Repository(new MemoryBackend(), clock, sequentialIds());
    const reader = new CountingReader(clock);
    const ctl = new BudgetController(repo, new EventRecorder(repo, 'test'), { costs: new CostSource(repo, reader) });
    await repo.create(priceListKind, { metadata: { name: 'p' }, spec: { currency: 'EUR', effectiveFrom: '2026-11-01T00:00:00Z', prices: { cpuCoreHour: 1 } } });
    await repo.create(budgetKind, { metadata: { name: 'monthly', project: 'shop' }, spec: { amount: 1000, currency: 'EUR' } });
    const spent = async () => (await repo.get<Budget>(budgetKind, 'monthly', 'shop')).status?.spent;

    await ctl.pass();
    // 2 days and 6 hours (00:00 to 05:30, the current hour included): 54 core-hours
    expect(await spent()).toBe(54);
    expect(reader.asked).toEqual([['01T00', '03T03'], ['03T03', '03T06']]);
    clock.advance(H);
    await ctl.pass();
    expect(await spent()).toBe(55);
    expect(reader.asked.slice(2)).toEqual([['03T03', '03T04'], ['03T04', '03T07']]);
    await repo.update(priceListKind, 'p', undefined, (l) => ({ ...l, spec: { ...(l.spec as object), prices: { cpuCoreHour: 2 } } }));
    await ctl.pass();
    expect(await spent()).toBe(110);
    expect(reader.asked.slice(4)).toEqual([['01T00', '03T04'], ['03T04', '03T07']]);
  });
});
