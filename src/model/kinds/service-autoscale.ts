/**
 * A service's `spec.autoscale` (what the user asks) and `status.autoscale` (what the autoscaler,
 * controllers/autoscaler.ts, decided and why). Pure: schema, defaults, validation, the replica
 * count the services controller keeps, and the lines `stratus describe service` shows.
 *
 * Metrics, each compared with `target` as an average per replica:
 *   cpu, memory              percent of what each replica requests (spec.template.spec.resources),
 *                            measured by the agents from cgroups (like Kubernetes' HPA utilization)
 *   connections-per-second   new TCP connections per second to the service's load balancers,
 *                            summed over nodes, divided by the replicas. Connections, not HTTP
 *                            requests: a keep-alive client sends many requests on one connection.
 *                            It equals requests per second only for clients that open one
 *                            connection per request. No HTTP is parsed anywhere on the data path.
 * There is no `custom` metric: nothing ingests user-defined metrics yet, and a metric without a
 * source would only ever hold the service where it is.
 */
import { Type, type Static } from '@sinclair/typebox';
import { StringEnum, Strict, Timestamp } from '../schema.js';
import type { FieldProblem } from '../errors.js';
import type { DescribeLine } from '../checklist.js';
import { parseDuration, plural } from '../format.js';

export const AUTOSCALE_METRICS = ['cpu', 'memory', 'connections-per-second'] as const;
export type AutoscaleMetric = (typeof AUTOSCALE_METRICS)[number];

/** The most replicas a service may have (spec.replicas' maximum). */
export const MAX_REPLICAS = 10000;

const Duration = (description: string) =>
  Type.String({ pattern: '^\\d{1,7}(ms|s|m|h)$', description, errorMessage: 'is not a duration (use e.g. "15s", "2m" or "500ms")' });

export const AutoscaleSchema = Type.Object(
  {
    min: Type.Integer({ minimum: 1, maximum: MAX_REPLICAS, description: 'Fewest replicas.' }),
    max: Type.Integer({ minimum: 1, maximum: MAX_REPLICAS, description: 'Most replicas (at least min).' }),
    metric: StringEnum(AUTOSCALE_METRICS, {
      description: 'cpu or memory: percent of each replica\'s request; connections-per-second: new connections to the service\'s load balancers per replica (not HTTP requests).',
      errorMessage: `is not a metric Stratus measures: one of ${AUTOSCALE_METRICS.join(', ')} (the load balancer counts connections, not HTTP requests, so there is no requests-per-second)`,
    }),
    target: Type.Number({ exclusiveMinimum: 0, maximum: 1_000_000, description: 'The average per replica to keep: percent for cpu and memory, per second for connections-per-second.' }),
    scaleUpCooldown: Type.Optional(Duration('Time after a scale-up before the next one. Default 15s.')),
    scaleDownCooldown: Type.Optional(Duration('Time after a scale-up before a scale-down. Default 2m.')),
    window: Type.Optional(Duration('Scale-down stabilisation window: a scale-down goes only to the highest count recommended within it. Default: the scaleDownCooldown.')),
    tolerance: Type.Optional(Type.Integer({ minimum: 0, maximum: 99, description: 'Percent the metric may differ from the target without scaling. Default 10.' })),
  },
  { ...Strict, description: 'Keep the replicas between min and max so that the metric stays near the target. spec.replicas is then only the count before the first decision.' },
);

const Decision = Type.Object(
  {
    at: Timestamp('When it was decided.'),
    from: Type.Integer({ minimum: 0 }),
    to: Type.Integer({ minimum: 0 }),
    reason: Type.String(),
  },
  Strict,
);

export const AutoscaleStatusSchema = Type.Object(
  {
    metric: Type.Optional(Type.String()),
    target: Type.Optional(Type.Number()),
    current: Type.Optional(Type.Number({ description: 'The metric now, as an average per replica (in the target\'s unit).' })),
    measuredAt: Type.Optional(Timestamp('When current was computed.')),
    desiredReplicas: Type.Integer({ minimum: 0, maximum: MAX_REPLICAS, description: 'What the services controller keeps.' }),
    recommended: Type.Optional(Type.Integer({ minimum: 0, description: 'What the metric alone asks for (before window, cooldowns and quota).' })),
    reason: Type.Optional(Type.String({ description: 'Why the last evaluation kept or changed the count.' })),
    blocked: Type.Optional(Type.String({ description: 'Why a scale-up could not go as far as recommended (project quota).' })),
    lastScaleUp: Type.Optional(Timestamp('Last scale-up.')),
    lastScaleDown: Type.Optional(Timestamp('Last scale-down.')),
    decisions: Type.Optional(Type.Array(Decision, { maxItems: 10, description: 'The last changes and refusals, newest last.' })),
  },
  Strict,
);

export type AutoscaleSpec = Static<typeof AutoscaleSchema>;
export type AutoscaleStatus = Static<typeof AutoscaleStatusSchema>;
export type AutoscaleDecision = Static<typeof Decision>;

/** The timings and tolerance of a policy, defaults filled, in ms and as a fraction. */
export interface AutoscaleTimings {
  scaleUpCooldownMs: number;
  scaleDownCooldownMs: number;
  windowMs: number;
  tolerance: number;
}

export function timingsOf(a: AutoscaleSpec): AutoscaleTimings {
  const down = parseDuration(a.scaleDownCooldown ?? '2m') ?? 120_000;
  return {
    scaleUpCooldownMs: parseDuration(a.scaleUpCooldown ?? '15s') ?? 15_000,
    scaleDownCooldownMs: down,
    windowMs: a.window !== undefined ? parseDuration(a.window) ?? down : down,
    tolerance: (a.tolerance ?? 10) / 100,
  };
}

/** Problems of `spec.autoscale` that its schema cannot see. */
export function autoscaleProblems(a: AutoscaleSpec | undefined, problems: FieldProblem[]): void {
  if (!a) return;
  if (a.max < a.min) problems.push({ path: 'spec.autoscale.max', message: `${a.max} is less than min (${a.min})`, value: a.max });
  if (a.metric !== 'connections-per-second' && a.target > 100) {
    problems.push({ path: 'spec.autoscale.target', message: `${a.target} is above 100: the target is a percent of each replica's ${a.metric} request, which is also its limit`, value: a.target });
  }
  for (const f of ['scaleUpCooldown', 'scaleDownCooldown', 'window'] as const) {
    const v = a[f];
    if (v !== undefined && (parseDuration(v) ?? Infinity) > 86_400_000) problems.push({ path: `spec.autoscale.${f}`, message: `${JSON.stringify(v)} is longer than a day (at most "24h")`, value: v });
  }
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}

/**
 * The replicas the services controller keeps: spec.replicas, or with autoscale the autoscaler's
 * desiredReplicas (before its first decision: spec.replicas), always within min and max.
 */
export function replicasWanted(spec: { replicas: number; autoscale?: AutoscaleSpec }, status?: { autoscale?: AutoscaleStatus }): number {
  const a = spec.autoscale;
  if (!a) return spec.replicas;
  return clamp(status?.autoscale?.desiredReplicas ?? spec.replicas, a.min, Math.max(a.min, a.max));
}

/** "60%", "12.5/s". */
export function formatMetric(metric: string, v: number): string {
  const n = Math.round(v * 10) / 10;
  return metric === 'connections-per-second' ? `${n} connections/s` : `${n}%`;
}

/** The autoscale lines of `stratus describe service`. */
export function describeAutoscale(a: AutoscaleSpec, s: AutoscaleStatus | undefined, replicas: number): DescribeLine[] {
  const unit = a.metric === 'connections-per-second' ? 'per replica' : 'of request per replica';
  const out: DescribeLine[] = [
    { field: 'Autoscale', value: `${a.min}-${a.max} replicas on ${a.metric}, target ${formatMetric(a.metric, a.target)} ${unit}` },
    { field: '  Current', value: s?.current !== undefined ? `${formatMetric(a.metric, s.current)} ${unit}${s.measuredAt ? ` (at ${s.measuredAt})` : ''}` : '<no measurement yet>' },
    { field: '  Desired', value: `${plural(s?.desiredReplicas ?? replicas, 'replica')}${s?.recommended !== undefined && s.recommended !== s.desiredReplicas ? ` (metric alone: ${s.recommended})` : ''}` },
  ];
  if (s?.reason) out.push({ field: '  Why', value: s.reason });
  if (s?.blocked) out.push({ field: '  Blocked', value: s.blocked });
  const t = timingsOf(a);
  out.push({ field: '  Policy', value: `tolerance ${Math.round(t.tolerance * 100)}%, up cooldown ${a.scaleUpCooldown ?? '15s'}, down cooldown ${a.scaleDownCooldown ?? '2m'}, window ${a.window ?? a.scaleDownCooldown ?? '2m'}` });
  if (s?.decisions?.length) out.push({ title: 'Scaling decisions', headers: ['AT', 'FROM', 'TO', 'WHY'], rows: s.decisions.map((d) => [d.at, String(d.from), String(d.to), d.reason]) });
  return out;
}
