/**
 * Admission rules that keep tenants inside the lines the platform draws:
 *
 *   reservedEnv       user env never sets the platform's STRATUS_* variables
 *   publishedPorts    host ports come from the cluster's node-port range, or from the ranges a
 *                     cluster admin allowed the project (project spec.hostPorts)
 *   lastClusterAdmin  the last enabled cluster-admin user is never deleted, disabled or demoted
 *   unisolated        isolation: none only in projects a cluster admin allowed (spec.allowUnisolated)
 *
 * They apply to every writer (the service controller's replicas too), whatever its role.
 */
import type { AdmissionPlugin, AdmissionRequest } from './admission.js';
import type { TxnOp } from '../store/backend.js';
import { formatProblem, StratusError, ValidationError, type FieldProblem } from '../model/errors.js';
import { projectKind, userKind } from '../model/kinds/index.js';
import { guardKeys } from '../model/keyspace.js';
import { formatPortRanges, inPortRanges, parsePortRanges, type PortRange, type Project } from '../model/kinds/project.js';
import type { User, UserSpec } from '../model/kinds/user.js';

/** Kubernetes' NodePort range. */
export const DEFAULT_NODE_PORT_RANGE: PortRange = [30000, 32767];
export const RESERVED_ENV_PREFIX = 'STRATUS_';

interface Workload {
  isolation?: string;
  env?: Record<string, unknown>;
  ports?: { publish?: number }[];
}

/** The instance specs a request writes, with the path of each, as its kind's `workloads` says: an instance's, a service's template. */
function workloadsOf(req: AdmissionRequest): { at: string; spec: Workload }[] {
  if (req.op === 'delete' || !req.object) return [];
  return (req.kind.workloads?.(req.object.spec) ?? []).map((w) => ({ at: w.at, spec: w.spec as Workload }));
}

export const reservedEnv: AdmissionPlugin = async (req) => {
  const problems: FieldProblem[] = [];
  for (const { at, spec } of workloadsOf(req)) {
    for (const name of Object.keys(spec.env ?? {})) {
      if (name.startsWith(RESERVED_ENV_PREFIX)) {
        problems.push({ path: `${at}.env.${name}`, message: `names starting with ${RESERVED_ENV_PREFIX} are reserved for the platform; choose another name`, value: name });
      }
    }
  }
  if (problems.length > 0) throw new ValidationError(problems);
};

/** Host ports published by an instance or a service (its own ports and its template's). */
function publishedOf(req: AdmissionRequest): { path: string; port: number }[] {
  const out = workloadsOf(req).flatMap(({ at, spec }) =>
    (spec.ports ?? []).flatMap((p, i) => (p.publish === undefined ? [] : [{ path: `${at}.ports[${i}].publish`, port: p.publish }])));
  if (req.kind.kind === 'service' && req.object) {
    const ports = (req.object.spec as { ports?: { publish?: number }[] }).ports ?? [];
    ports.forEach((p, i) => {
      if (p.publish !== undefined) out.push({ path: `spec.ports[${i}].publish`, port: p.publish });
    });
  }
  return out;
}

/** Refuses published host ports outside `range` unless the project's spec.hostPorts allows them. */
export function publishedPorts(range: PortRange = DEFAULT_NODE_PORT_RANGE): AdmissionPlugin {
  return async (req, repo) => {
    const ports = publishedOf(req).filter((p) => !inPortRanges(p.port, [range]));
    if (ports.length === 0 || !req.project) return;
    const project = await repo.find<Project>(projectKind, req.project);
    const allowed = parsePortRanges(project?.spec.hostPorts ?? '') ?? [];
    const refused = ports.filter((p) => !inPortRanges(p.port, allowed));
    if (refused.length === 0) return;
    const extra = allowed.length > 0 ? ` or ${formatPortRanges(allowed)} (allowed for project "${req.project}")` : '';
    const problems = refused.map((p) => ({
      path: p.path,
      value: p.port,
      message: `host port ${p.port} is outside the published port range ${formatPortRanges([range])}${extra}; publish a port in the range, or ask a cluster admin to allow it for project "${req.project}" (project spec.hostPorts)`,
    }));
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    throw new StratusError('STRATUS_ERR_FORBIDDEN', `${formatProblem(problems[0]!)}${more}`, { problems, range: formatPortRanges([range]) });
  };
}

const isAdmin = (spec: UserSpec | undefined) => spec?.clusterAdmin === true && spec.disabled !== true;

/**
 * Refuses deleting, disabling or demoting the last enabled cluster-admin user (robot cluster-admin
 * tokens do not count: they expire and get lost; `stratus server --reset-admin-token` recovers).
 * A write that removes a cluster admin carries a guard, so concurrent ones cannot each leave the other.
 */
export const lastClusterAdmin: AdmissionPlugin = async (req, repo) => {
  if (req.kind !== userKind || req.op === 'create') return;
  const before = req.prev?.spec as UserSpec | undefined;
  const after = req.op === 'delete' ? undefined : (req.object?.spec as UserSpec | undefined);
  if (!isAdmin(before) || isAdmin(after)) return;
  const guard = await repo.records.get(guardKeys.clusterAdmins);
  const others = await repo.list<User>(userKind, { filter: (u) => u.metadata.name !== req.name && isAdmin((u as User).spec) });
  if (others.items.length === 0) {
    const what = req.op === 'delete' ? 'delete' : after?.disabled ? 'disable' : 'demote';
    throw new StratusError('STRATUS_ERR_LAST_ADMIN', `cannot ${what} user "${req.name}": it is the last enabled cluster admin; make another user a cluster admin first (stratus user create NAME --cluster-admin)`, { user: req.name });
  }
  const op: TxnOp = { op: 'put', key: guardKeys.clusterAdmins, value: JSON.stringify({ user: req.name }), expectRevision: guard?.modRevision ?? 0 };
  return [op];
};

/**
 * An unisolated process (isolation: none) runs as root and sees the whole node: only projects a
 * cluster admin allowed may ask for one (the node must allow it too: stratus agent --allow-unisolated).
 */
export const unisolated: AdmissionPlugin = async (req, repo) => {
  const asks = workloadsOf(req).find(({ spec }) => spec.isolation === 'none');
  if (!asks || !req.project) return;
  const project = await repo.find<Project>(projectKind, req.project);
  if (project?.spec.allowUnisolated === true) return;
  throw new StratusError(
    'STRATUS_ERR_FORBIDDEN',
    `${asks.at}.isolation: project "${req.project}" may not run unisolated processes (isolation: none runs as root on the node); drop the field to run sandboxed, or ask a cluster admin to allow it (project spec.allowUnisolated: true)`,
    { path: `${asks.at}.isolation`, project: req.project },
  );
};

/** Every rule above, with the cluster's node-port range. */
export function platformAdmission(opts: { nodePortRange?: PortRange } = {}): AdmissionPlugin[] {
  return [reservedEnv, publishedPorts(opts.nodePortRange), lastClusterAdmin, unisolated];
}
