/**
 * What the service page's buttons send, as the CLI's `stratus service scale|restart|rollback` send
 * it (src/cli/commands/stacks.ts), and how far a rollout is. Pure: the page does the requests.
 */
import type { FieldProblem } from '../../../src/model/errors.js';
import { serviceKind } from '../../../src/model/kinds/index.js';
import { replicasOf, type HistoryItem, type Service } from '../../../src/model/kinds/service.js';
import { quantitiesAsStrings } from '../../../src/model/quantity-fields.js';
import { validateObject } from '../ui/form.js';

/** The annotation whose change makes a new version with the same template: every replica replaced. */
export const RESTARTED_AT = 'stratus.io/restarted-at';

/** The service's spec as a user writes it (stored quantities back as strings, which parse to the same values). */
function writableSpec(svc: Service): Record<string, unknown> {
  return quantitiesAsStrings(serviceKind.spec, svc.spec) as Record<string, unknown>;
}

/**
 * Problems with scaling `svc` to `text` replicas, by the service kind's own schema (so "-1" and
 * "10001" read as the API would say them), at `spec.replicas`. An autoscaled service is refused:
 * the autoscaler's count wins over spec.replicas.
 */
export function scaleProblems(svc: Service, text: string): FieldProblem[] {
  if (svc.spec.autoscale) {
    const a = svc.spec.autoscale;
    return [{ path: 'spec.replicas', message: `the service is autoscaled between ${a.min} and ${a.max} replicas (spec.autoscale); change min and max there` }];
  }
  if (!/^-?\d+$/.test(text.trim())) return [{ path: 'spec.replicas', message: `${JSON.stringify(text)} is not a whole number`, value: text }];
  const body = { kind: 'service', metadata: { name: svc.metadata.name }, spec: { ...writableSpec(svc), replicas: Number(text) } };
  return validateObject(serviceKind, body).filter((p) => p.path === 'spec.replicas' || p.path === 'spec.update');
}

/** The merge patch that restarts every replica: a new restarted-at annotation on the template. */
export function restartPatch(svc: Service, now: string): Record<string, unknown> {
  const metadata = svc.spec.template.metadata ?? {};
  return { spec: { template: { metadata: { ...metadata, annotations: { ...metadata.annotations, [RESTARTED_AT]: now } } } } };
}

/**
 * The body of the PUT that rolls `svc` back to `to`: the old template replaces the current one
 * field for field, and the service's revision guards against a concurrent change (409).
 */
export function rollbackBody(svc: Service, to: HistoryItem): Record<string, unknown> {
  const spec = quantitiesAsStrings(serviceKind.spec, { ...svc.spec, template: to.template });
  return { kind: 'service', metadata: { name: svc.metadata.name, revision: svc.metadata.revision, labels: svc.metadata.labels, annotations: svc.metadata.annotations }, spec };
}

/** Versions the service can go back to: every recorded one but the one it runs, newest first. */
export function rollbackTargets(svc: Service): HistoryItem[] {
  return [...(svc.status?.history ?? [])].filter((h) => h.revision !== svc.status?.revision).reverse();
}

export interface Progress {
  desired: number;
  ready: number;
  /** Replicas of the current version that are available. */
  available: number;
  /** Whether a rollout is under way (replicas of another version, or not all available yet). */
  rolling: boolean;
  text: string;
}

/** How far the service's current version has rolled out: available of desired. */
export function rolloutProgress(svc: Service): Progress {
  const st = svc.status ?? {};
  const desired = replicasOf(svc);
  const available = st.available ?? 0;
  const ready = st.ready ?? 0;
  const rolling = (st.replicas ?? 0) !== (st.updated ?? 0) || available < desired;
  const rev = st.revision !== undefined ? `revision ${st.revision}: ` : '';
  return { desired, ready, available, rolling, text: `${rev}${available} of ${desired} replicas available${rolling ? ', rolling out' : ''}` };
}
