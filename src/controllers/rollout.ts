/**
 * The decisions of the service controller, as a pure function of (service, replicas, now).
 *
 * Rolling update with R replicas, S = maxSurge, U = maxUnavailable:
 *   create new-version replicas while  new < R  and  new + old < R + S
 *   remove old replicas: unready ones freely; ready ones while  available - 1 >= R - U
 *   remove replicas beyond R (unready first, newest first)
 * Recreate: remove every old replica first, then create the new ones.
 * A ready replica that has to go is drained first: marked Draining (load balancers send it nothing
 * new), and deleted once drainSeconds have passed. Draining replicas count for nothing.
 * A rollout fails when a new replica keeps crashing (3 restarts, or Failed) or the version is not
 * available before the progress deadline; with autoRollback the last good version comes back.
 */
import { createHash } from 'node:crypto';
import type { Instance } from '../model/kinds/instance.js';
import { amount, REVISION_LABEL, servicePortsOf, type HistoryItem, type Service, type ServiceStatus, type ServiceTemplate } from '../model/kinds/service.js';
import { FINISHED } from '../model/lifecycle.js';
import { conditionOf, setCondition } from '../model/conditions.js';
import { plural } from '../model/format.js';

export const CRASH_RESTARTS = 3;
export const HISTORY_LIMIT = 10;

export interface RolloutPlan {
  /** New-version replicas to create. */
  create: number;
  /** Replicas to delete, and why. */
  remove: { instance: Instance; why: string }[];
  /** Ready replicas to mark Draining first (deleted on a later pass, once drained), and why. */
  drain: { instance: Instance; why: string }[];
  status: ServiceStatus;
  /** Set when the current version failed and an earlier one should come back. */
  rollback?: { to: HistoryItem; from: number; reason: string };
  /** A new version started rolling out (for an event). */
  started?: number;
}

/**
 * Stable hash of a version: same template (and same values of the secrets it uses, `secrets`
 * being their stamp, see secret-stamp.ts), same version.
 */
export function templateHash(t: ServiceTemplate, secrets = ''): string {
  return createHash('sha256').update(canonical(t)).update(secrets ? `\n${secrets}` : '').digest('hex').slice(0, 12);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

export function isDraining(i: Instance): boolean {
  return conditionOf(i.status?.conditions, 'Draining')?.status === 'True';
}

/** How long a replica of `svc` drains before it is stopped. */
export function drainMs(svc: Service): number {
  return (svc.spec.update?.drainSeconds ?? (servicePortsOf(svc.spec).length > 0 ? 2 : 0)) * 1000;
}

export function isReady(i: Instance): boolean {
  return i.status?.phase === 'Running' && conditionOf(i.status.conditions, 'Ready')?.status === 'True';
}

function isAvailable(i: Instance, now: number, minReadyMs: number): boolean {
  if (!isReady(i)) return false;
  const since = Date.parse(conditionOf(i.status!.conditions, 'Ready')?.lastTransitionTime ?? i.status!.startedAt ?? '');
  return Number.isNaN(since) || now - since >= minReadyMs;
}

/** Records the current template in the history; returns the updated history and its revision. */
export function withRevision(svc: Service, now: string, secrets = ''): { history: HistoryItem[]; revision: number; started?: number } {
  const hash = templateHash(svc.spec.template, secrets);
  const history = [...(svc.status?.history ?? [])];
  const found = history.find((h) => h.hash === hash);
  if (found) {
    if (found.state === 'active') return { history, revision: found.revision };
    // An earlier (or failed) version asked for again: roll it out again.
    return { history: history.map((h) => (h === found ? { ...h, state: 'active' as const } : h.state === 'active' ? { ...h, state: 'superseded' as const } : h)), revision: found.revision, started: found.revision };
  }
  const revision = Math.max(0, ...history.map((h) => h.revision)) + 1;
  const next = history.map((h) => (h.state === 'active' ? { ...h, state: 'superseded' as const } : h));
  next.push({ revision, hash, createdAt: now, state: 'active', template: svc.spec.template });
  return { history: next.slice(-HISTORY_LIMIT), revision, started: revision };
}

/** `secrets`: the stamp of the secret values the template uses; a new stamp is a new version. */
export function planRollout(svc: Service, replicas: Instance[], now: number, secrets = ''): RolloutPlan {
  const nowIso = new Date(now).toISOString();
  const { history, revision, started } = withRevision(svc, nowIso, secrets);
  const R = svc.spec.replicas;
  const u = svc.spec.update ?? {};
  const minReadyMs = (u.minReadySeconds ?? 0) * 1000;
  const finished = (i: Instance) => FINISHED.has(i.status?.phase ?? 'Pending');
  const remove: RolloutPlan['remove'] = replicas.filter(finished).map((i) => ({ instance: i, why: `replica ${i.metadata.name} ended (${i.status?.phase}${i.status?.reason ? `: ${i.status.reason}` : ''}); replacing it` }));
  for (const i of replicas.filter((x) => !finished(x) && isDraining(x))) {
    const since = Date.parse(conditionOf(i.status!.conditions, 'Draining')!.lastTransitionTime ?? '');
    if (Number.isNaN(since) || now - since >= drainMs(svc)) remove.push({ instance: i, why: `${i.metadata.name} drained; stopping it` });
  }
  const live = replicas.filter((i) => !finished(i) && !isDraining(i));
  const current = live.filter((i) => i.metadata.labels?.[REVISION_LABEL] === String(revision));
  const old = live.filter((i) => i.metadata.labels?.[REVISION_LABEL] !== String(revision));
  let create = 0;
  if ((u.strategy ?? 'rolling') === 'recreate') {
    for (const i of old) remove.push({ instance: i, why: `recreate: removing ${i.metadata.name} of an earlier version` });
    if (old.length === 0) create = Math.max(0, R - current.length);
  } else {
    const surge = amount(u.maxSurge, R, 1, 'up');
    const maxUnavailable = amount(u.maxUnavailable, R, 0, 'down');
    create = Math.max(0, Math.min(R - current.length, R + surge - live.length));
    let available = live.filter((i) => isAvailable(i, now, minReadyMs)).length;
    const floor = R - maxUnavailable;
    for (const i of [...old].sort(byReadiness)) {
      if (!isReady(i)) remove.push({ instance: i, why: `rolling update: ${i.metadata.name} of an earlier version was not ready` });
      else if (available - 1 >= floor) {
        available--;
        remove.push({ instance: i, why: `rolling update: replacing ${i.metadata.name} (revision ${i.metadata.labels?.[REVISION_LABEL]})` });
      }
    }
  }
  const extra = current.length + create - R;
  if (extra > 0) for (const i of [...current].sort(byReadiness).slice(0, extra)) remove.push({ instance: i, why: `scaling down to ${R}` });
  // Ready replicas chosen to go are drained first, when the service drains at all.
  const drains = (r: RolloutPlan['remove'][number]) => drainMs(svc) > 0 && isReady(r.instance) && !isDraining(r.instance) && !finished(r.instance);
  return finish(svc, { history, revision, started }, {
    current, old, live, create, now, nowIso, minReadyMs,
    remove: remove.filter((r) => !drains(r)),
    drain: remove.filter(drains),
  });
}

/** Unready first, then newest first: the cheapest replicas to lose. */
function byReadiness(a: Instance, b: Instance): number {
  return Number(isReady(a)) - Number(isReady(b)) || b.metadata.createdAt.localeCompare(a.metadata.createdAt);
}

interface Tally {
  current: Instance[];
  old: Instance[];
  live: Instance[];
  remove: RolloutPlan['remove'];
  drain: RolloutPlan['drain'];
  create: number;
  now: number;
  nowIso: string;
  minReadyMs: number;
}

function finish(svc: Service, rev: ReturnType<typeof withRevision>, t: Tally): RolloutPlan {
  const R = svc.spec.replicas;
  const u = svc.spec.update ?? {};
  const removed = new Set([...t.remove, ...t.drain].map((r) => r.instance.metadata.uid));
  const availableCurrent = t.current.filter((i) => !removed.has(i.metadata.uid) && isAvailable(i, t.now, t.minReadyMs)).length;
  const complete = t.old.length === 0 && availableCurrent >= R;
  const startedAt = rev.started !== undefined || !svc.status?.rolloutStartedAt ? t.nowIso : svc.status.rolloutStartedAt;
  const failure = complete ? undefined : rolloutFailure(svc, t.current, startedAt, t.now, R, availableCurrent);
  const status: ServiceStatus = {
    ...svc.status,
    revision: rev.revision,
    replicas: t.live.length,
    updated: t.current.length,
    ready: t.live.filter(isReady).length,
    available: availableCurrent,
    history: rev.history,
    rolloutStartedAt: startedAt,
    observedGeneration: svc.metadata.generation,
  };
  const good = [...rev.history].reverse().find((h) => h.state === 'superseded');
  const plan: RolloutPlan = { create: t.create, remove: t.remove, drain: t.drain, status, ...(rev.started !== undefined ? { started: rev.started } : {}) };
  // A version that only changed secret values has nothing to go back to: old values are gone.
  const templateChanged = good !== undefined && canonical(good.template) !== canonical(svc.spec.template);
  if (failure && good && templateChanged && (u.autoRollback ?? true)) {
    plan.rollback = { to: good, from: rev.revision, reason: failure };
    status.history = rev.history.map((h) => (h.revision === rev.revision ? { ...h, state: 'failed' as const, reason: failure } : h));
  }
  return withConditions(plan, status, { complete, failure, R, maxUnavailable: amount(u.maxUnavailable, R, 0, 'down'), nowIso: t.nowIso });
}

function rolloutFailure(svc: Service, current: Instance[], startedAt: string, now: number, R: number, available: number): string | undefined {
  const crashing = current.find((i) => (i.status?.restarts ?? 0) >= CRASH_RESTARTS);
  if (crashing) return `replica ${crashing.metadata.name} restarted ${plural(crashing.status!.restarts!, 'time')} (${crashing.status?.message ?? crashing.status?.reason ?? 'crashing'})`;
  const deadline = (svc.spec.update?.progressDeadline ?? 120) * 1000;
  if (now - Date.parse(startedAt) > deadline) {
    // A replica whose health check failed says the most: what the check found.
    const unready = current.filter((i) => !isReady(i)).sort((a, b) => Number(healthFailed(b)) - Number(healthFailed(a)))[0];
    const why = unready ? `; ${unready.metadata.name}: ${conditionOf(unready.status?.conditions, 'Ready')?.message ?? unready.status?.message ?? unready.status?.phase ?? 'not ready'}` : '';
    return `only ${available} of ${plural(R, 'replica')} of the new version became available within ${deadline / 1000} s${why}`;
  }
  return undefined;
}

function healthFailed(i: Instance): boolean {
  return conditionOf(i.status?.conditions, 'Ready')?.reason === 'HealthCheckFailed';
}

function withConditions(plan: RolloutPlan, status: ServiceStatus, c: { complete: boolean; failure?: string; R: number; maxUnavailable: number; nowIso: string }): RolloutPlan {
  const availableOk = (status.ready ?? 0) >= c.R - c.maxUnavailable;
  let conds = setCondition(status.conditions, { type: 'Available', status: availableOk ? 'True' : 'False', reason: availableOk ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable', message: `${status.ready}/${plural(c.R, 'replica')} ready` }, c.nowIso);
  conds = setCondition(conds, c.complete
    ? { type: 'Progressing', status: 'False', reason: 'RolloutComplete', message: `revision ${status.revision} runs on ${plural(c.R, 'replica')}` }
    : { type: 'Progressing', status: 'True', reason: 'RollingOut', message: `revision ${status.revision}: ${status.available}/${c.R} available, ${status.updated} updated` }, c.nowIso);
  // RolloutFailing holds only while the failure does (a new version starts without it); RolledBack stays until complete.
  const wasFailing = conditionOf(status.conditions, 'Degraded')?.reason === 'RolloutFailing';
  const degraded = plan.rollback
    ? { type: 'Degraded', status: 'True' as const, reason: 'RolledBack', message: `revision ${plan.rollback.from} failed: ${plan.rollback.reason}; rolling back to revision ${plan.rollback.to.revision}` }
    : c.failure
      ? { type: 'Degraded', status: 'True' as const, reason: 'RolloutFailing', message: c.failure }
      : c.complete ? { type: 'Degraded', status: 'False' as const, reason: 'Healthy' }
        : wasFailing ? { type: 'Degraded', status: 'False' as const, reason: 'RollingOut' } : undefined;
  if (degraded) conds = setCondition(conds, degraded, c.nowIso);
  const isDegraded = conds.find((x) => x.type === 'Degraded')?.status === 'True';
  status.conditions = conds;
  status.phase = isDegraded ? 'Degraded' : c.complete ? 'Available' : 'Progressing';
  status.message = isDegraded ? conds.find((x) => x.type === 'Degraded')!.message : conds.find((x) => x.type === 'Progressing')!.message;
  return plan;
}
