/**
 * Admission checks of issue 18 (cost):
 *
 *   priceListDates  a price list starts at an hour no other list starts at (the list in effect at
 *                   an hour must be one), in the currency of the others (reports sum amounts over
 *                   hours, and budgets compare them with their amount)
 *   budgetAdmission an instance is created (by a user or a service's controller) only while no
 *                   enforced budget of its project is spent this month: the budgets controller
 *                   (controllers/budgets.ts) computes `status.exceeded` every minute, so a project
 *                   can overshoot by what it spends in that minute and by what already runs.
 */
import type { AdmissionPlugin } from './admission.js';
import { StratusError } from '../model/errors.js';
import { budgetKind, priceListKind } from '../model/kinds/index.js';
import type { PriceList, PriceListSpec } from '../model/kinds/price-list.js';
import { budgetBlocks, type Budget } from '../model/kinds/budget.js';

export const priceListDates: AdmissionPlugin = async (req, repo) => {
  if (req.op === 'delete' || !req.object) return;
  const spec = req.object.spec as PriceListSpec;
  const { items } = await repo.list<PriceList>(priceListKind, { filter: (o) => o.metadata.name !== req.name });
  const from = Date.parse(spec.effectiveFrom);
  const same = items.find((o) => Date.parse(o.spec.effectiveFrom) === from);
  if (same) {
    throw new StratusError('STRATUS_ERR_VALIDATION', `spec.effectiveFrom: ${spec.effectiveFrom} is when price list "${same.metadata.name}" starts; each list starts at its own hour (edit that list, or start this one at another hour)`,
      { problems: [{ path: 'spec.effectiveFrom', message: `is also the start of price list "${same.metadata.name}"`, value: spec.effectiveFrom }] });
  }
  const other = items.find((o) => o.spec.currency !== spec.currency);
  if (other) {
    throw new StratusError('STRATUS_ERR_VALIDATION', `spec.currency: ${spec.currency} differs from ${other.spec.currency}, the currency of price list "${other.metadata.name}"; all price lists use one currency (reports add amounts across them)`,
      { problems: [{ path: 'spec.currency', message: `differs from price list "${other.metadata.name}" (${other.spec.currency})`, value: spec.currency }] });
  }
};

export const budgetAdmission: AdmissionPlugin = async (req, repo) => {
  if (req.op !== 'create' || !req.project) return;
  const now = repo.clock.now();
  const { items } = await repo.list<Budget>(budgetKind, { project: req.project, filter: (b) => budgetBlocks(b as Budget, now) });
  const b = items[0];
  if (!b) return;
  const spent = `${(b.status?.spent ?? 0).toFixed(2)} ${b.spec.currency}`;
  throw new StratusError('STRATUS_ERR_BUDGET_EXCEEDED',
    `project "${req.project}" has spent ${spent} of its budget "${b.metadata.name}" (${b.spec.amount.toFixed(2)} ${b.spec.currency} for ${b.status?.month}, enforce: true): no new ${req.kind.plural} until the month ends or a cluster admin raises spec.amount (stratus describe budget ${b.metadata.name} -p ${req.project})`,
    { project: req.project, budget: b.metadata.name, spent: b.status?.spent, amount: b.spec.amount, currency: b.spec.currency, month: b.status?.month });
};
