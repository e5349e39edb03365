/**
 * The instance lifecycle, in one place: who moves an instance from which phase to which.
 *
 *   Pending ──scheduler──▶ Scheduled ──agent──▶ Starting ──▶ Running ──exit──▶ Succeeded | Failed
 *      ▲                       │                                │         (or back to Starting
 *      │                       │                                │          by restart policy)
 *      │                       └──────── control plane: Stopping (reason Drained | Preempted)
 *      │                                                         │ agent stops it (grace period)
 *      └──── released (restart always) ◀────────────────────────┘ or final: Stopped | Preempted
 *
 *   node Down (missed heartbeats) → bound instances: Pending again (restart always) or Lost
 *
 *   Running ──stratus instance stop──▶ Off (agent stops it: ACPI first for a VM; still bound,
 *   holding its resources, address and disks) ──stratus instance start──▶ Scheduled (same node)
 *
 * An instance holds node resources while it is bound (status.node) and not finished.
 */
import type { Instance, InstanceStatus, Phase } from './kinds/instance.js';

/** Phases after which the instance holds nothing and never runs again on its node. */
export const FINISHED: ReadonlySet<Phase> = new Set<Phase>(['Succeeded', 'Failed', 'Lost', 'Stopped', 'Preempted']);

/** status.reason of an instance set Off by `stratus instance stop`, until its agent has stopped it (then `Stopped`). */
export const STOP_REQUESTED = 'StopRequested';

/** Bound and not finished: counts against its node's capacity. */
export function holdsResources(i: Instance): boolean {
  const s = i.status;
  return s !== undefined && s.node !== undefined && !FINISHED.has(s.phase);
}

/** Waiting for the scheduler. */
export function isPending(i: Instance): boolean {
  return (i.status?.phase ?? 'Pending') === 'Pending' && i.status?.node === undefined;
}

/**
 * The status of an instance taken off its node (drained, preempted, node lost): back to Pending
 * when its restart policy is `always`, so the scheduler places it again; otherwise `final`.
 */
export function release(i: Instance, reason: string, message: string, final: Phase, now: string): InstanceStatus {
  const prev = i.status ?? { phase: 'Pending' as const };
  // The address belongs to the instance for its whole life, wherever it runs; not its node's (host networking).
  const keep = { restarts: prev.restarts, observedGeneration: prev.observedGeneration, ip: prev.hostNetwork ? undefined : prev.ip };
  if (i.spec.restartPolicy === 'always') {
    return { ...clean(keep), phase: 'Pending', reason, message };
  }
  return { ...clean(keep), phase: final, reason, message, ...(prev.node ? { node: prev.node } : {}), finishedAt: now, ...(prev.exitCode !== undefined ? { exitCode: prev.exitCode } : {}) };
}

function clean<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
