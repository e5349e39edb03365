/**
 * budget: what a project may spend in a calendar month (UTC), with alert thresholds.
 *
 * The budgets controller (controllers/budgets.ts, on the leader) computes the project's
 * month-to-date charged cost every minute from the meter records and the price lists, writes it
 * to the status, and records a Warning event the first time each threshold is crossed in a month.
 * With `enforce: true`, once the cost reaches the amount, creating instances and services in the
 * project is refused (the `budget` admission check, policy/budget-admission.ts) until the month
 * ends or the amount is raised.
 *
 * Cluster admins write budgets: a project admin could otherwise lift the limit set on their own
 * project. Project members read them (their status says how much is spent).
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineKind, type DescribeLine, type StoredObject } from '../kind.js';
import { Strict, Timestamp } from '../schema.js';
import { currencyProblem } from './price-list.js';

export const DEFAULT_THRESHOLDS = [50, 80, 100] as const;

export const BudgetSpecSchema = Type.Object(
  {
    amount: Type.Number({ exclusiveMinimum: 0, maximum: 1e12, description: 'What the project may spend per calendar month (UTC), in currency.', errorMessage: 'is not an amount: a number > 0' }),
    currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code: that of the price lists.', errorMessage: 'is not an ISO 4217 currency code (three capital letters, e.g. EUR)' }),
    thresholds: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 1000, errorMessage: 'is not a percentage between 1 and 1000' }), { minItems: 1, maxItems: 10, uniqueItems: true, description: 'Percents of the amount that raise a Warning event when crossed, once a month each. Default [50, 80, 100].' })),
    enforce: Type.Optional(Type.Boolean({ description: 'At 100 %, refuse new instances and services in the project until the month ends. Default false.' })),
  },
  Strict,
);

export const BudgetStatusSchema = Type.Object(
  {
    month: Type.Optional(Type.String({ pattern: '^\\d{4}-\\d{2}$', description: 'The month the figures are of (UTC), e.g. 2026-12.' })),
    spent: Type.Optional(Type.Number({ description: 'Month-to-date charged cost of the project.' })),
    percent: Type.Optional(Type.Number({ description: 'spent ÷ amount, in percent.' })),
    crossed: Type.Optional(Type.Array(Type.Integer(), { maxItems: 10, description: 'Thresholds crossed this month (each raised one event).' })),
    exceeded: Type.Optional(Type.Boolean({ description: 'spent ≥ amount this month.' })),
    updatedAt: Type.Optional(Timestamp('When the figures were computed.')),
    message: Type.Optional(Type.String({ maxLength: 4096, description: 'Why the figures could not be computed (no price list, another currency).' })),
  },
  Strict,
);

export type BudgetSpec = Static<typeof BudgetSpecSchema>;
export type BudgetStatus = Static<typeof BudgetStatusSchema>;
export type Budget = StoredObject<BudgetSpec, BudgetStatus>;

/** The thresholds of a budget, defaults filled, ascending. */
export function thresholdsOf(spec: BudgetSpec): number[] {
  return [...(spec.thresholds ?? DEFAULT_THRESHOLDS)].sort((a, b) => a - b);
}

/** "2026-12" of a time (UTC). */
export function monthOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

/** Whether the budget blocks new instances now: enforced, and spent ≥ amount in the current month. */
export function budgetBlocks(b: Budget, nowMs: number): boolean {
  return b.spec.enforce === true && b.status?.month === monthOf(nowMs) && b.status.exceeded === true;
}

const budget = (o: StoredObject<never, never>) => o as unknown as Budget;
const money = (v: number | undefined, c: string) => (v === undefined ? '-' : `${v.toFixed(2)} ${c}`);

function describeBudget(b: Budget): DescribeLine[] {
  const s = b.status;
  return [
    { field: 'Amount', value: `${money(b.spec.amount, b.spec.currency)} per month` },
    { field: 'Thresholds', value: thresholdsOf(b.spec).map((t) => `${t} %`).join(', ') },
    { field: 'Enforce', value: b.spec.enforce ? 'yes: new instances are refused at 100 %' : 'no: events only' },
    { field: 'Month', value: s?.month ?? '-' },
    { field: 'Spent', value: s?.spent === undefined ? '-' : `${money(s.spent, b.spec.currency)} (${(s.percent ?? 0).toFixed(1)} %)` },
    { field: 'Crossed', value: (s?.crossed ?? []).map((t) => `${t} %`).join(', ') || '-' },
    ...(s?.message ? [{ field: 'Message', value: s.message }] : []),
  ];
}

export const budgetKind = defineKind({
  kind: 'budget',
  plural: 'budgets',
  title: 'Budget',
  aliases: ['budgets'],
  scope: 'project',
  description: 'What a project may spend per month, with thresholds that raise events and, with enforce, a stop on new instances at 100 %.',
  spec: BudgetSpecSchema,
  status: BudgetStatusSchema,
  // A project admin must not lift their own project's budget.
  writers: 'cluster-admins',
  normalize: (spec, problems) => {
    const c = currencyProblem(spec.currency);
    if (c) problems.push(c);
    return spec;
  },
  describe: (o) => describeBudget(o as unknown as Budget),
  columns: [
    { header: 'NAME', get: (o) => o.metadata.name },
    { header: 'AMOUNT', get: (o) => money(budget(o).spec.amount, budget(o).spec.currency) },
    { header: 'SPENT', get: (o) => money(budget(o).status?.spent, budget(o).spec.currency) },
    { header: '%', get: (o) => (budget(o).status?.percent === undefined ? '-' : `${budget(o).status!.percent!.toFixed(1)}`) },
    { header: 'MONTH', get: (o) => budget(o).status?.month ?? '-' },
    { header: 'ENFORCE', get: (o) => String(budget(o).spec.enforce === true) },
  ],
});
