/**
 * The admission checks kinds name (`admission` in their description, model/checklist.ts
 * AdmissionCheck), bound to their implementations here, so that a new kind that needs only
 * existing checks is admitted without any change to the server:
 *
 *   model/kinds/volume.ts: admission: ['quota', 'not-in-use']  ─▶  admissionChecks(...)['quota'] ...
 *
 * The quota check needs the server's QuotaTracker (it keeps usage from a watch), the published
 * ports check the cluster's node-port range.
 */
import type { AdmissionCheck } from '../model/kind.js';
import type { AdmissionPlugin } from './admission.js';
import type { PortRange } from '../model/kinds/project.js';
import { networkNotInUse } from './network-admission.js';
import { imageFits, imageNotInUse } from './image-admission.js';
import { volumeFree } from './volume-admission.js';
import { secretNotInUse, secretRefsExist } from './secret-admission.js';
import { nodeDeleteNeedsDrain } from './nodes.js';
import { lastClusterAdmin, publishedPorts, reservedEnv, unisolated } from './platform-admission.js';
import { notInUse, refsExist } from './ref-admission.js';
import { budgetAdmission, priceListDates } from './cost-admission.js';

export type AdmissionChecks = Partial<Record<AdmissionCheck, AdmissionPlugin>>;

/** Every check, bound; without `quota` (a QuotaTracker's admission) the quota check is left out. */
export function admissionChecks(deps: { quota?: AdmissionPlugin; nodePortRange?: PortRange } = {}): AdmissionChecks {
  return {
    ...(deps.quota ? { quota: deps.quota } : {}),
    'reserved-env': reservedEnv,
    'published-ports': publishedPorts(deps.nodePortRange),
    unisolated,
    'secret-refs': secretRefsExist,
    'refs-exist': refsExist,
    'not-in-use': notInUse,
    'network-not-in-use': networkNotInUse,
    'image-not-in-use': imageNotInUse,
    'image-fits': imageFits,
    'volume-free': volumeFree,
    'secret-not-in-use': secretNotInUse,
    'drain-before-delete': nodeDeleteNeedsDrain,
    'last-cluster-admin': lastClusterAdmin,
    'price-list-dates': priceListDates,
    budget: budgetAdmission,
  };
}
