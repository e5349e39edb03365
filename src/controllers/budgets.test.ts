import { describe, expect, it } from 'vitest';
import { budgetStatus } from './budgets.js';
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
