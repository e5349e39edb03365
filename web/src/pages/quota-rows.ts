/**
 * A project's quotas as the quota bars show them (used of limit, in the units people read: cores,
 * MiB/GiB, GPUs, counts), and the quota form's text back into spec.quotas. Pure.
 */
import type { Project, Quotas } from '../../../src/model/kinds/project.js';
import { QUOTAS } from '../../../src/model/kinds/project.js';
import type { QuotaName } from '../../../src/model/kind.js';
import { formatCpu, formatMebibytes } from '../../../src/model/quantity.js';

export interface QuotaRow {
  name: QuotaName;
  used: number;
  /** undefined: unlimited. */
  limit?: number;
  /** "1.5 of 4", "300Mi of unlimited". */
  text: string;
}

/** An amount of quota `name` as quotas are written: CPUs and GPUs "500m" or "2", sizes "512Mi" or "4Gi", counts as numbers. */
export function showQuota(name: QuotaName, n: number): string {
  if (name === 'cpu' || name === 'gpu') return formatCpu(n);
  if (name === 'memory' || name === 'disk' || name === 'storage') return formatMebibytes(n);
  return String(n);
}

/** Every quota of `p`, in the order people read them: its usage (status.usage) and limit. */
export function quotaRows(p: Project): QuotaRow[] {
  const used: Partial<Record<QuotaName, number>> = p.status?.usage ?? {};
  const limits: Quotas = p.spec.quotas ?? {};
  return QUOTAS.map(({ name }) => {
    const u = used[name] ?? 0;
    const limit = limits[name];
    return { name, used: u, ...(limit !== undefined ? { limit } : {}), text: `${showQuota(name, u)} of ${limit === undefined ? 'unlimited' : showQuota(name, limit)}` };
  });
}

/** The quota form's fields as they start: each limit as the quota is written ("2", "4Gi"), empty when unlimited. */
export function quotaDraft(p: Project): Record<QuotaName, string> {
  const q: Quotas = p.spec.quotas ?? {};
  return Object.fromEntries(QUOTAS.map(({ name }) => [name, q[name] === undefined ? '' : showQuota(name, q[name]!)])) as Record<QuotaName, string>;
}

const COUNTS: readonly QuotaName[] = ['instances', 'volumes'];

/**
 * spec.quotas from the form's text: empty fields left out (unlimited), counts as numbers when they
 * are whole numbers (else left as text for the schema to refuse by name), quantities as written.
 */
export function quotasFromDraft(draft: Record<QuotaName, string>): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const { name } of QUOTAS) {
    const v = (draft[name] ?? '').trim();
    if (!v) continue;
    out[name] = COUNTS.includes(name) && /^\d+$/.test(v) ? Number(v) : v;
  }
  return out;
}
