/**
 * The costs routes (api/routes/costs.ts) as typed functions of an ApiClient: what `stratus cost`
 * and the dashboard read.
 */
import type { ApiClient } from './index.js';
import type { CostReport } from '../model/cost.js';
import { paths } from './paths.js';

export interface CostQuery {
  project?: string;
  /** A date (2026-12-01) or an RFC 3339 time; default the start of this month. */
  since?: string;
  until?: string;
}

/** GET /v1/costs: the report grouped by `by` (project, service, instance, node-pool, label:<key>). */
export function costReport(api: ApiClient, q: CostQuery & { by?: string } = {}): Promise<CostReport> {
  return api.request('GET', paths.costs(), { query: { ...q } });
}

/** GET /v1/costs/focus: the FOCUS CSV of the period, whole. */
export async function costFocusCsv(api: ApiClient, q: CostQuery = {}): Promise<string> {
  let text = '';
  await api.stream(paths.costsFocus(), { ...q }, (chunk) => { text += chunk; }, new AbortController().signal);
  return text;
}
