/**
 * What a drain may stop now (a pure function, used by the node controller on each pass).
 *
 * A service keeps a disruption budget, as a Kubernetes PodDisruptionBudget or Nomad's
 * `migrate.max_parallel`: at most `max(1, maxUnavailable)` of its R replicas may be unavailable
 * at once, so a drain moves its replicas a few at a time and each next one only once the moved
 * one is ready again elsewhere:
 *
 *   available = replicas of the service (any node) that are Running, Ready and not draining
 *   a ready replica on the node may stop   while  available - 1 >= R - max(1, maxUnavailable)
 *   a replica that is not ready (it serves nothing) and an instance of no service stop at once
 *
 * Past the drain's deadline (`node drain --timeout` ran out and `--force`, or `--force` alone)
 * the budget no longer holds: everything left stops.
 */
import type { Instance } from '../model/kinds/instance.js';
import { amount, replicasOf as wantedOf, SERVICE_LABEL, type Service } from '../model/kinds/service.js';
import { isDraining, isReady } from './rollout.js';
import { plural } from '../model/format.js';

export interface DrainPlan {
  /** Instances of the node to stop now. */
  stop: Instance[];
  /** Instances that wait for their service's budget, and why (for an event). */
  waiting: { instance: Instance; why: string }[];
}

/**
 * `onNode`: the node's instances not yet stopping; `replicasOf(project, service)`: every live
 * replica of a service, on any node; `services`: by `project/name`.
 */
export function planDrain(onNode: Instance[], replicasOf: (project: string, service: string) => Instance[], services: ReadonlyMap<string, Service>, pastDeadline: boolean): DrainPlan {
  const plan: DrainPlan = { stop: [], waiting: [] };
  /** Per service: how many more of its ready replicas may stop in this pass. */
  const room = new Map<string, number>();
  for (const i of onNode) {
    const name = i.metadata.labels?.[SERVICE_LABEL];
    const svc = name ? services.get(`${i.metadata.project}/${name}`) : undefined;
    if (!svc || pastDeadline || !isReady(i)) {
      plan.stop.push(i);
      continue;
    }
    const key = `${i.metadata.project}/${name}`;
    const R = wantedOf(svc);
    const budget = Math.max(1, amount(svc.spec.update?.maxUnavailable, R, 0, 'down'));
    if (!room.has(key)) {
      const available = replicasOf(i.metadata.project!, name!).filter((r) => isReady(r) && !isDraining(r)).length;
      room.set(key, available - (R - budget));
    }
    if (room.get(key)! > 0) {
      room.set(key, room.get(key)! - 1);
      plan.stop.push(i);
    } else {
      const available = replicasOf(i.metadata.project!, name!).filter((r) => isReady(r) && !isDraining(r)).length;
      plan.waiting.push({ instance: i, why: `service ${name}: ${available} of ${plural(R, 'replica')} available and at most ${budget} may be unavailable; ${i.metadata.name} stops once a moved replica is ready elsewhere` });
    }
  }
  return plan;
}
