/**
 * Budgets (model/kinds/budget.ts), on the leader: every `intervalMs` (default 1 min) each project
 * with budgets gets its month-to-date charged cost (the settled hours read once, then the recent ones) (runtime/costs.ts: the same figures as
 * `stratus cost report`), written to its budgets' status. The first time in a month (UTC) the cost
 * reaches a threshold, a Warning event "BudgetThreshold" names the budget, the month, the amount
 * spent and the threshold: once per month per threshold (the crossed ones are kept in the status,
 * so a new leader does not raise them again). `status.exceeded` is what the `budget` admission
 * check (policy/cost-admission.ts) reads to refuse new instances of an enforced budget.
 */
import type { Repository } from '../store/repository.js';
import type { Component } from '../runtime/component.js';
import { every } from '../runtime/component.js';
import type { EventRecorder } from '../runtime/events.js';
import { budgetKind, priceListKind } from '../model/kinds/index.js';
import { HOUR_MS, SETTLE_MS } from '../model/metering.js';
import { monthOf, thresholdsOf, type Budget, type BudgetStatus } from '../model/kinds/budget.js';
import { isoNow } from '../model/runtime.js';
import { CostSource } from '../runtime/costs.js';

export interface BudgetControllerOptions {
  intervalMs?: number;
  costs?: CostSource;
}

/** A budget's status for `spent` in `month`, and the thresholds newly crossed (to raise events for). Pure. */
export function budgetStatus(b: Budget, month: string, spent: number, currency: string | undefined, now: string): { status: BudgetStatus; crossed: number[] } {
  if (currency !== undefined && currency !== b.spec.currency) {
    return { status: { month, message: `the price lists are in ${currency}, the budget in ${b.spec.currency}: set spec.currency to ${currency}`, updatedAt: now }, crossed: [] };
  }
  const percent = (spent / b.spec.amount) * 100;
  const before = b.status?.month === month ? (b.status.crossed ?? []) : [];
  const crossed = thresholdsOf(b.spec).filter((t) => percent >= t && !before.includes(t));
  const round = (v: number) => Math.round(v * 1e6) / 1e6;
  return {
    status: { month, spent: round(spent), percent: round(percent), crossed: [...before, ...crossed].sort((x, y) => x - y), exceeded: spent >= b.spec.amount, updatedAt: now, ...(currency === undefined ? { message: 'no price list yet: nothing is priced' } : {}) },
    crossed,
  };
}

export class BudgetController implements Component {
  readonly name = 'budgets';
  private loop: { stop(): void } | undefined;
  private readonly costs: CostSource;
  /** The charged cost of the month's settled hours, by project, and what it was computed for. */
  private settled: { key: string; until: number; spent: Map<string, number> } | undefined;

  constructor(private readonly repo: Repository, private readonly events: EventRecorder, private readonly opts: BudgetControllerOptions = {}) {
    this.costs = opts.costs ?? new CostSource(repo);
  }

  async start(): Promise<void> {
    this.loop = every(this.opts.intervalMs ?? 60_000, () => this.pass(), () => undefined);
    void this.pass().catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.loop?.stop();
  }

  /** One round over every budget. */
  async pass(): Promise<void> {
    const { items } = await this.repo.list<Budget>(budgetKind);
    const byProject = new Map<string, Budget[]>();
    for (const b of items) byProject.set(b.metadata.project!, [...(byProject.get(b.metadata.project!) ?? []), b]);
    if (byProject.size === 0) return;
    const nowMs = this.repo.clock.now();
    const month = monthOf(nowMs);
    const { spent, currency } = await this.monthToDate(new Set(byProject.keys()), nowMs);
    for (const [project, budgets] of byProject) {
      for (const b of budgets) await this.apply(b, month, spent.get(project) ?? 0, currency);
    }
  }

  /**
   * Each project's charged cost from the start of the month to the end of the current hour. Hours
   * older than SETTLE_MS are summed once and kept (the meter writes the current hour; a report
   * sent late still lands in its own recent hour), so a pass reads the last few hours only; the
   * kept sums start again with a new month, another set of projects or any price list change.
   */
  private async monthToDate(projects: Set<string>, nowMs: number): Promise<{ spent: Map<string, number>; currency: string | undefined }> {
    const monthStart = Date.parse(`${monthOf(nowMs)}-01T00:00:00Z`);
    const end = Math.ceil((nowMs + 1) / HOUR_MS) * HOUR_MS;
    const settleAt = Math.max(monthStart, Math.floor(nowMs / HOUR_MS) * HOUR_MS - SETTLE_MS);
    const { items: lists } = await this.repo.list(priceListKind);
    const key = [monthStart, [...projects].sort().join(','), ...lists.map((l) => `${l.metadata.name}@${l.metadata.revision}`).sort()].join('|');
    if (this.settled?.key !== key || this.settled.until > settleAt) this.settled = { key, until: monthStart, spent: new Map() };
    const settled = this.settled;
    if (settled.until < settleAt) {
      const older = await this.costs.report({ since: new Date(settled.until), until: new Date(settleAt), by: 'project', projects });
      for (const r of older.rows) settled.spent.set(r.key, (settled.spent.get(r.key) ?? 0) + r.total.charged);
      settled.until = settleAt;
    }
    const recent = await this.costs.report({ since: new Date(settleAt), until: new Date(end), by: 'project', projects });
    const spent = new Map(settled.spent);
    for (const r of recent.rows) spent.set(r.key, (spent.get(r.key) ?? 0) + r.total.charged);
    return { spent, currency: recent.currency };
  }

  private async apply(b: Budget, month: string, spent: number, currency: string | undefined): Promise<void> {
    const { status, crossed } = budgetStatus(b, month, spent, currency, isoNow(this.repo.clock));
    const project = b.metadata.project!;
    await this.repo.update<Budget>(budgetKind, b.metadata.name, project, (cur) => (cur.spec.amount !== b.spec.amount || sameFigures(cur.status, status) ? undefined : { ...cur, status: { ...status } })).catch(() => undefined);
    for (const t of crossed) {
      const money = (v: number) => `${v.toFixed(2)} ${b.spec.currency}`;
      void this.events.record({ kind: 'budget', name: b.metadata.name, project }, 'Warning', 'BudgetThreshold',
        `project "${project}" has spent ${money(spent)} of its budget "${b.metadata.name}" (${money(b.spec.amount)} for ${month}): ${t} % crossed${t >= 100 && b.spec.enforce ? '; new instances are refused (enforce: true)' : ''}`);
    }
  }
}

/** Whether two statuses say the same but for when they were computed (no write then). */
function sameFigures(a: BudgetStatus | undefined, b: BudgetStatus): boolean {
  const { updatedAt: _a, ...x } = a ?? {};
  const { updatedAt: _b, ...y } = b;
  return JSON.stringify(x) === JSON.stringify(y);
}
