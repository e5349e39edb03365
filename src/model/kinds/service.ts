/**
 * service: N replicas of an instance template, kept running and updated by the service
 * controller: rolling (maxSurge, maxUnavailable, minReadySeconds) or recreate, with revision
 * history and automatic rollback of a version whose replicas do not become healthy in time.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineKind, type StoredObject } from '../kind.js';
import { Conditions, DnsLabel, LabelMap, StringEnum, Strict, Timestamp } from '../schema.js';
import { HostPort, InstanceSpecSchema, instanceRefs, normalizeInstanceSpec, type InstanceSpec, type InstanceSpecInput } from './instance.js';
import { redactService } from '../redact.js';
import type { FieldProblem } from '../errors.js';
import type { DescribeLine } from '../checklist.js';
import { labelKeyProblem, labelValueProblem } from '../labels.js';
import { age } from '../format.js';
import { QUANTITY_SHAPE } from '../quantity-fields.js';
import { AutoscaleSchema, AutoscaleStatusSchema, autoscaleProblems, describeAutoscale, replicasWanted } from './service-autoscale.js';

/** An absolute count or a percentage of the replicas ("25%"). */
const Amount = (description: string) =>
  Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^\\d{1,3}%$' })], { description, errorMessage: 'is not a count or a percentage (e.g. 1 or "25%")' });

export const UpdateStrategySchema = Type.Object(
  {
    strategy: Type.Optional(StringEnum(['rolling', 'recreate'], { description: 'Default rolling.' })),
    maxSurge: Type.Optional(Amount('Replicas above the desired count during a rolling update. Default 1.')),
    maxUnavailable: Type.Optional(Amount('Replicas that may be unready during a rolling update. Default 0.')),
    minReadySeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600, description: 'Seconds a replica must stay ready to count as available. Default 0.' })),
    progressDeadline: Type.Optional(Type.Integer({ minimum: 5, maximum: 86400, description: 'Seconds a rollout may take before it counts as failed. Default 120.' })),
    autoRollback: Type.Optional(Type.Boolean({ description: 'Go back to the last good version when a rollout fails. Default true.' })),
    drainSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600, description: 'Seconds a replica gets no new connections before it is stopped. Default 2 for services with ports, else 0.' })),
  },
  Strict,
);

const ServicePort = Type.Object(
  {
    name: Type.Optional(DnsLabel()),
    port: Type.Integer({ minimum: 1, maximum: 65535, description: 'Port of the service address.' }),
    targetPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'Port of the replicas. Default: port.' })),
    protocol: Type.Optional(StringEnum(['tcp', 'udp'])),
    publish: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'Host port on every node that forwards to the service.' })),
  },
  Strict,
);

export const ServiceSpecSchema = Type.Object(
  {
    replicas: Type.Optional(Type.Integer({ minimum: 0, maximum: 10000, description: 'Default 1.' })),
    template: Type.Object(
      {
        metadata: Type.Optional(Type.Object({ labels: Type.Optional(LabelMap()), annotations: Type.Optional(Type.Record(Type.String(), Type.String())) }, Strict)),
        spec: InstanceSpecSchema,
      },
      { ...Strict, description: 'What each replica is.' },
    ),
    update: Type.Optional(UpdateStrategySchema),
    ports: Type.Optional(Type.Array(ServicePort, { maxItems: 32, description: 'Ports of the service\'s stable address. Default: the template\'s ports, at the same numbers (an empty list: none).' })),
    loadBalancer: Type.Optional(Type.Object({ algorithm: Type.Optional(StringEnum(['round-robin', 'least-connections'])) }, Strict)),
    paused: Type.Optional(Type.Boolean({ description: 'Stop rolling out changes (replicas are still replaced).' })),
    autoscale: Type.Optional(AutoscaleSchema),
  },
  Strict,
);

const HistoryEntry = Type.Object(
  {
    revision: Type.Integer({ minimum: 1 }),
    hash: Type.String(),
    createdAt: Timestamp('When this version was first rolled out.'),
    state: StringEnum(['active', 'superseded', 'failed']),
    reason: Type.Optional(Type.String()),
    template: Type.Unknown({ description: 'The template of this version.', [QUANTITY_SHAPE]: ServiceSpecSchema.properties.template }),
  },
  Strict,
);

export const ServiceStatusSchema = Type.Object(
  {
    phase: Type.Optional(StringEnum(['Progressing', 'Available', 'Degraded', 'Paused'])),
    message: Type.Optional(Type.String()),
    revision: Type.Optional(Type.Integer({ minimum: 1, description: 'The version being run (or rolled out).' })),
    replicas: Type.Optional(Type.Integer({ minimum: 0, description: 'Replicas that exist.' })),
    updated: Type.Optional(Type.Integer({ minimum: 0, description: 'Replicas of the current version.' })),
    ready: Type.Optional(Type.Integer({ minimum: 0, description: 'Replicas passing their health checks.' })),
    available: Type.Optional(Type.Integer({ minimum: 0, description: 'Ready replicas of the current version, ready for minReadySeconds.' })),
    rolloutStartedAt: Type.Optional(Timestamp('When the current rollout began.')),
    conditions: Type.Optional(Conditions),
    history: Type.Optional(Type.Array(HistoryEntry, { maxItems: 20 })),
    address: Type.Optional(Type.String({ description: 'The stable virtual address of the service.' })),
    hostPorts: Type.Optional(Type.Array(HostPort, { maxItems: 32, description: 'Host networking: each port of the service and the host port it answers on, on every node that balances it there (its publish port, else one the control plane chose from the node-port range). Set while the cluster has nodes with host networking.' })),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
    autoscale: Type.Optional(AutoscaleStatusSchema),
  },
  Strict,
);

export type UpdateStrategy = Static<typeof UpdateStrategySchema>;
export type ServiceTemplate = { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: InstanceSpec };
export type ServiceSpec = Omit<Static<typeof ServiceSpecSchema>, 'template' | 'replicas'> & { replicas: number; template: ServiceTemplate };
export type ServicePortSpec = Static<typeof ServicePort>;

/** The ports of the service's address: spec.ports, or when absent the template's ports at the same numbers. */
export function servicePortsOf(spec: Pick<ServiceSpec, 'ports' | 'template'>): ServicePortSpec[] {
  if (spec.ports) return spec.ports;
  return (spec.template.spec.ports ?? []).map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port, ...(p.protocol ? { protocol: p.protocol } : {}) }));
}
export type ServiceStatus = Static<typeof ServiceStatusSchema>;
export type Service = StoredObject<ServiceSpec, ServiceStatus>;
export type HistoryItem = Static<typeof HistoryEntry>;

/** The replicas the services controller keeps: spec.replicas, or the autoscaler's count (service-autoscale.ts). */
export function replicasOf(svc: Pick<Service, 'spec' | 'status'>): number {
  return replicasWanted(svc.spec, svc.status);
}

/** The label every replica of service S carries; the controller finds replicas by it. */
export const SERVICE_LABEL = 'stratus.io/service';
export const REVISION_LABEL = 'stratus.io/revision';

/** maxSurge/maxUnavailable as a count for `replicas` (percentages round up for surge, down for unavailable). */
export function amount(v: number | string | undefined, replicas: number, fallback: number, round: 'up' | 'down'): number {
  if (v === undefined) return fallback;
  if (typeof v === 'number') return v;
  const pct = (Number(v.slice(0, -1)) * replicas) / 100;
  return round === 'up' ? Math.ceil(pct) : Math.floor(pct);
}

function normalizeService(spec: Static<typeof ServiceSpecSchema>, problems: FieldProblem[]): ServiceSpec {
  const template: ServiceTemplate = {
    ...(spec.template.metadata ? { metadata: spec.template.metadata } : {}),
    spec: normalizeInstanceSpec(spec.template.spec as InstanceSpecInput, problems, 'spec.template.spec'),
  };
  for (const [k, v] of Object.entries(spec.template.metadata?.labels ?? {})) {
    const p = labelKeyProblem(k) ?? labelValueProblem(v);
    if (p) problems.push({ path: `spec.template.metadata.labels.${k}`, message: p, value: v });
    if (k === SERVICE_LABEL || k === REVISION_LABEL) problems.push({ path: `spec.template.metadata.labels.${k}`, message: 'is set by the platform' });
  }
  if ((template.spec.restartPolicy ?? 'always') !== 'always') {
    problems.push({ path: 'spec.template.spec.restartPolicy', message: `a service keeps its replicas running, so it must be "always" (not ${JSON.stringify(template.spec.restartPolicy)}); run a batch job as an instance`, value: template.spec.restartPolicy });
  }
  const u = spec.update;
  const replicas = spec.replicas ?? 1;
  if (u && (u.strategy ?? 'rolling') === 'rolling' && amount(u.maxSurge, replicas, 1, 'up') === 0 && amount(u.maxUnavailable, replicas, 0, 'down') === 0) {
    problems.push({ path: 'spec.update', message: 'maxSurge and maxUnavailable cannot both be 0: a rolling update could never make progress' });
  }
  autoscaleProblems(spec.autoscale, problems);
  const seen = new Set<string>();
  spec.ports?.forEach((p, i) => {
    const key = `${p.port}/${p.protocol ?? 'tcp'}`;
    if (seen.has(key)) problems.push({ path: `spec.ports[${i}].port`, message: `${key} is listed twice`, value: p.port });
    seen.add(key);
  });
  return { ...spec, replicas, template };
}

export const serviceKind = defineKind({
  kind: 'service',
  plural: 'services',
  title: 'Service',
  aliases: ['svc'],
  scope: 'project',
  description: 'Replicas of an instance template, kept healthy and updated by rolling out new versions.',
  spec: ServiceSpecSchema,
  status: ServiceStatusSchema,
  normalize: (spec, problems) => normalizeService(spec, problems) as unknown as Static<typeof ServiceSpecSchema>,
  initialStatus: () => ({ phase: 'Progressing' as const, replicas: 0, updated: 0, ready: 0, available: 0 }),
  access: { node: { hosted: (o) => redactService(o as Service) } },
  references: (o) => instanceRefs((o.spec as ServiceSpec).template.spec, o.metadata.project!, 'spec.template.spec'),
  workloads: (spec) => [{ at: 'spec.template.spec', spec: (spec as ServiceSpec).template.spec }],
  lifecycle: { owns: ['instance'] },
  admission: ['reserved-env', 'published-ports', 'unisolated', 'secret-refs', 'refs-exist', 'image-fits'],
  stack: { section: 'services', template: true },
  describe: (o) => describeService(o as Service),
  columns: [
    { header: 'NAME', get: (o) => o.metadata.name },
    { header: 'READY', get: (o) => `${(o as Service).status?.ready ?? 0}/${replicasOf(o as Service)}` },
    { header: 'UP-TO-DATE', get: (o) => String((o as Service).status?.updated ?? 0) },
    { header: 'AVAILABLE', get: (o) => String((o as Service).status?.available ?? 0) },
    { header: 'REVISION', get: (o) => String((o as Service).status?.revision ?? '') },
    { header: 'STATUS', get: (o) => (o as Service).status?.phase ?? '' },
    { header: 'ADDRESS', get: (o) => (o as Service).status?.address ?? '' },
    { header: 'AGE', get: (o) => age(o.metadata.createdAt) },
    { header: 'HOST-PORTS', get: (o) => ((o as Service).status?.hostPorts ?? []).map((h) => `${h.port}:${h.hostPort}/${h.protocol}`).join(','), wide: true },
    { header: 'MESSAGE', get: (o) => (o as Service).status?.message ?? '', wide: true },
  ],
});

/** Phase and why, replicas, address, revision, conditions, autoscaling and its last decisions. */
function describeService(s: Service): DescribeLine[] {
  const st = s.status;
  const out: DescribeLine[] = [{ field: 'Status', value: st?.phase ?? 'Unknown' }];
  if (st?.message) out.push({ field: 'Message', value: st.message });
  out.push({ field: 'Replicas', value: `${replicasOf(s)} wanted, ${st?.replicas ?? 0} running, ${st?.ready ?? 0} ready, ${st?.available ?? 0} available, ${st?.updated ?? 0} updated` });
  if (st?.revision !== undefined) out.push({ field: 'Version', value: `revision ${st.revision} of the template (History below)` });
  if (st?.address) out.push({ field: 'Address', value: st.address });
  if (st?.hostPorts?.length) out.push({ field: 'Host ports', value: st.hostPorts.map((h) => `${h.port}:${h.hostPort}/${h.protocol}`).join(', ') });
  if (s.spec.autoscale) out.push(...describeAutoscale(s.spec.autoscale, st?.autoscale, replicasOf(s)));
  for (const c of st?.conditions ?? []) out.push({ text: `  ${c.type}=${c.status}${c.reason ? ` ${c.reason}` : ''}${c.message ? `: ${c.message}` : ''}` });
  if (st?.history?.length) out.push({ title: 'History', headers: ['REVISION', 'STATE', 'CREATED', 'REASON'], rows: st.history.map((h) => [String(h.revision), h.state, h.createdAt, h.reason ?? '']) });
  return out;
}
