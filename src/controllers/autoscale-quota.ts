/**
 * How many more replicas of a service a project's quotas leave room for: what the quota admission
 * (policy/quota.ts) would let the services controller create, counted ahead so that the
 * autoscaler asks for no more than can exist and says why. Pure.
 */
import type { QuotaName } from '../model/kind.js';
import { instanceKind } from '../model/kinds/index.js';
import { QUOTAS, type Quotas } from '../model/kinds/project.js';
import type { Service } from '../model/kinds/service.js';
import { exceeded } from '../policy/quota.js';

/**
 * Undefined when `more` replicas fit (or no quota applies); else how many fit and why no more:
 * "cpu: 300m used + 3 × 100m asked > 400m allowed". `used`: the project's usage (the quota
 * tracker's, reservations of creates in flight included).
 */
export function quotaRoom(svc: Service, quotas: Quotas | undefined, used: Partial<Record<string, number>>, more: number): { fits: number; why: string } | undefined {
  if (!quotas || more <= 0) return undefined;
  const per = instanceKind.quota!.usage({ metadata: { name: svc.metadata.name, project: svc.metadata.project }, spec: svc.spec.template.spec } as never);
  const times = (k: number) => Object.fromEntries(Object.entries(per).map(([q, v]) => [q, (v ?? 0) * k])) as Partial<Record<QuotaName, number>>;
  if (exceeded(quotas, used, times(more)) === undefined) return undefined;
  let fits = 0;
  while (fits < more && exceeded(quotas, used, times(fits + 1)) === undefined) fits++;
  const over = exceeded(quotas, used, times(fits + 1))!;
  const show = QUOTAS.find((q) => q.name === over)!.show;
  return { fits, why: `${over}: ${show(used[over] ?? 0)} used + ${more} × ${show(per[over] ?? 0)} asked > ${show(quotas[over]!)} allowed (room for ${fits} more)` };
}
