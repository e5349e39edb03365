/**
 * The autoscaler's decision, as a pure function of (metric samples, policy, current count, last
 * scalings, the recommendations of the window, now) → the count to keep and why.
 *
 * The rule is Kubernetes HPA's (kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale,
 * "Algorithm details"), with Nomad's cooldowns on top:
 *
 *   ratio        = average of the ready replicas' samples / target
 *   |ratio - 1| <= tolerance                        → keep (no scaling on noise)
 *   missing samples (a ready replica not measured yet) and unready replicas are then filled in
 *   conservatively: as 0 when the ratio says up, as the target (ratio 1) when it says down;
 *   unready replicas are left out when it says down. If that flips the direction or lands within
 *   the tolerance: keep
 *   recommended  = ceil(ratio × replicas counted), clamped to [min, max]
 *   up           when recommended > current and the scale-up cooldown (since the last scale-up) is over
 *   down         to the highest recommendation of the stabilisation window (none: no flapping),
 *                once the scale-down cooldown since the last scale-up is over (scale-downs may
 *                follow one another: the window alone paces them, as HPA's stabilisation does)
 *   no sample at all (no ready replica measured, no traffic figure) → keep: never down on no data
 *   a count outside [min, max] (the policy changed) goes inside at once, whatever the cooldowns
 */

export interface ReplicaSample {
  /** Ready (health checks pass, not draining): its sample counts; unready ones count only as above. */
  ready: boolean;
  /** The metric of this replica in the target's unit; undefined: not measured yet. */
  value?: number;
}

export interface Recommendation {
  at: number;
  replicas: number;
}

export interface DecideInput {
  now: number;
  /** The count kept now (status.autoscale.desiredReplicas, or spec.replicas before the first decision). */
  current: number;
  /** The live replicas (not draining, not finished). */
  replicas: ReplicaSample[];
  target: number;
  min: number;
  max: number;
  tolerance: number;
  scaleUpCooldownMs: number;
  scaleDownCooldownMs: number;
  windowMs: number;
  lastScaleUp?: number;
  /** Informational: scale-downs are paced by the window, not by each other. */
  lastScaleDown?: number;
  /** Earlier recommendations, oldest first (those older than the window are dropped). */
  window: readonly Recommendation[];
}

export interface Decision {
  desired: number;
  /** What the metric alone asks for (undefined without samples). */
  recommended?: number;
  /** The average per ready replica measured (undefined without samples). */
  value?: number;
  /** up/down: the count changes; hold: it could not now (cooldown, window); keep: nothing to do. */
  action: 'up' | 'down' | 'hold' | 'keep';
  reason: string;
  /** The window to keep for the next decision (this recommendation included). */
  window: Recommendation[];
}

const round1 = (v: number) => Math.round(v * 10) / 10;

export function decide(input: DecideInput): Decision {
  const { now, current, min, max } = input;
  const window = input.window.filter((r) => now - r.at < input.windowMs);
  if (current < min || current > max) {
    const to = Math.min(max, Math.max(min, current));
    return { desired: to, action: to > current ? 'up' : 'down', reason: `${current} is outside min ${min} / max ${max}`, window };
  }
  const rec = recommend(input);
  if (rec.recommended === undefined) return { desired: current, action: 'keep', reason: rec.reason, window };
  const value = rec.value;
  const recommended = Math.min(max, Math.max(min, rec.recommended));
  window.push({ at: now, replicas: recommended });
  const base = { recommended, value, window };
  if (recommended > current) {
    const wait = cooldownLeft(now, input.lastScaleUp, input.scaleUpCooldownMs);
    if (wait > 0) return { ...base, desired: current, action: 'hold', reason: `${rec.reason}; scale-up cooldown: ${Math.ceil(wait / 1000)} s left` };
    return { ...base, desired: recommended, action: 'up', reason: rec.reason };
  }
  // down only as far as the highest recommendation of the window
  const stable = Math.max(...window.map((r) => r.replicas));
  if (stable >= current) {
    const why = recommended < current ? `; the window (${Math.round(input.windowMs / 1000)} s) recommended ${stable}` : '';
    return { ...base, desired: current, action: recommended < current ? 'hold' : 'keep', reason: `${rec.reason}${why}` };
  }
  const wait = cooldownLeft(now, input.lastScaleUp, input.scaleDownCooldownMs);
  if (wait > 0) return { ...base, desired: current, action: 'hold', reason: `${rec.reason}; scale-down cooldown: ${Math.ceil(wait / 1000)} s left` };
  return { ...base, desired: stable, action: 'down', reason: stable > recommended ? `${rec.reason}; the window's highest is ${stable}` : rec.reason };
}

function cooldownLeft(now: number, last: number | undefined, ms: number): number {
  return last === undefined ? 0 : last + ms - now;
}

/** HPA's proportional rule with its conservative filling-in of missing samples. */
function recommend(input: DecideInput): { recommended?: number; value?: number; reason: string } {
  const { target, tolerance } = input;
  const measured = input.replicas.filter((r) => r.ready && r.value !== undefined).map((r) => r.value!);
  if (measured.length === 0) {
    return { reason: input.replicas.some((r) => r.ready) ? 'no measurement of the ready replicas yet: keeping the count' : 'no ready replica to measure: keeping the count' };
  }
  const total = measured.reduce((a, b) => a + b, 0);
  const value = total / measured.length;
  const ratio = value / target;
  const avg = `average ${round1(value)} against target ${round1(target)} over ${measured.length} measured`;
  if (Math.abs(ratio - 1) <= tolerance) return { recommended: input.current, value, reason: `${avg}: within the ${Math.round(tolerance * 100)}% tolerance` };
  const missing = input.replicas.filter((r) => r.ready && r.value === undefined).length;
  const unready = input.replicas.filter((r) => !r.ready).length;
  let count = measured.length;
  let sum = total;
  let filled = '';
  if (ratio > 1 && missing + unready > 0) {
    count += missing + unready; // at 0: they may take load soon
    filled = `; ${missing + unready} unmeasured or unready counted at 0`;
  } else if (ratio < 1 && missing > 0) {
    count += missing;
    sum += missing * target; // at the target: never down for want of data
    filled = `; ${missing} unmeasured counted at the target`;
  }
  const adjusted = sum / count / target;
  if ((ratio > 1) !== (adjusted > 1) || Math.abs(adjusted - 1) <= tolerance) {
    return { recommended: input.current, value, reason: `${avg}${filled}: within tolerance once filled in` };
  }
  const recommended = Math.ceil(adjusted * count - 1e-9);
  return { recommended, value, reason: `${avg}${filled}: ${recommended} wanted` };
}
