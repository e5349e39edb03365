/**
 * node: a machine that runs instances. Agents create and heartbeat their node (status);
 * cluster admins change its spec (cordon, drain, labels).
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineKind, type DescribeLine, type StoredObject } from '../kind.js';
import { Conditions, CpuQuantity, DnsLabel, SizeQuantity, StringEnum, Strict, Timestamp } from '../schema.js';
import { GPU_MODEL_PATTERN, quantity } from '../resources.js';
import { parseCanonicalCpu, parseCanonicalMebibytes, formatCpu, formatMebibytes } from '../quantity.js';
import type { FieldProblem } from '../errors.js';
import { age } from '../format.js';

const Gpu = Type.Object(
  {
    index: Type.Integer({ minimum: 0, maximum: 255, description: 'Device index on the node.' }),
    model: Type.String({ pattern: GPU_MODEL_PATTERN, description: 'Model name, e.g. V100M32.' }),
    memory: Type.Optional(Type.Integer({ minimum: 0, description: 'Device memory in MiB.' })),
  },
  Strict,
);

export const NodeResourcesSchema = Type.Object(
  {
    cpu: CpuQuantity('CPU.', 'by the platform'),
    memory: SizeQuantity('Memory.'),
    disk: Type.Optional(SizeQuantity('Disk for instance scratch space.')),
    gpus: Type.Optional(Type.Array(Gpu, { maxItems: 64 })),
    instances: Type.Optional(Type.Integer({ minimum: 0, description: 'Most instances the node will run.' })),
  },
  Strict,
);

export const NodeSpecSchema = Type.Object(
  {
    unschedulable: Type.Optional(Type.Boolean({ description: 'Cordoned: no new instances are placed here.' })),
    draining: Type.Optional(Type.Boolean({ description: 'Instances are being moved off this node (stratus node drain); cleared once it is empty, when the node is annotated stratus.io/drained-at.' })),
    drainDeadline: Type.Optional(Timestamp('While draining: after this, what is left stops regardless of services\' disruption budgets (stratus node drain --force sets it to now).')),
    zone: Type.Optional(DnsLabel({ description: 'Failure domain, e.g. a rack or a room.' })),
    pool: Type.Optional(DnsLabel({ description: 'Node pool the node belongs to.' })),
  },
  Strict,
);

export const NODE_PHASES = ['Ready', 'NotReady', 'Down', 'Unknown'] as const;

/** Set by the node controller when a drain found the node empty (the agent owns the node's status). */
export const DRAINED_ANNOTATION = 'stratus.io/drained-at';

/** "Ready", "Ready,Cordoned", "Ready,Draining", "Ready,Drained". */
export function nodeState(n: Pick<Node, 'metadata' | 'spec' | 'status'>): string {
  const phase = n.status?.phase ?? 'Unknown';
  if (n.spec.draining) return `${phase},Draining`;
  if (n.spec.unschedulable) return `${phase},${n.metadata.annotations?.[DRAINED_ANNOTATION] ? 'Drained' : 'Cordoned'}`;
  return phase;
}

const Driver = Type.Object(
  {
    name: Type.String(),
    healthy: Type.Boolean(),
    version: Type.Optional(Type.String()),
    message: Type.Optional(Type.String()),
    attributes: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 256 }), { description: 'What the driver reports about itself (e.g. unisolated: allowed), read by the scheduler.' })),
  },
  Strict,
);

export const NodeStatusSchema = Type.Object(
  {
    phase: StringEnum(NODE_PHASES),
    message: Type.Optional(Type.String()),
    capacity: Type.Optional(NodeResourcesSchema),
    allocatable: Type.Optional(NodeResourcesSchema),
    drivers: Type.Optional(Type.Array(Driver, { maxItems: 16 })),
    conditions: Type.Optional(Conditions),
    lastHeartbeat: Type.Optional(Timestamp('Last time the agent reported.')),
    addresses: Type.Optional(Type.Array(Type.Object({ type: Type.String(), address: Type.String() }, Strict), { maxItems: 16 })),
    limitsEnforced: Type.Optional(Type.Boolean({ description: 'False when the agent cannot enforce CPU and memory limits (no cgroups or no root).' })),
    info: Type.Optional(Type.Object({
      hostname: Type.Optional(Type.String()),
      os: Type.Optional(Type.String()),
      kernel: Type.Optional(Type.String()),
      arch: Type.Optional(Type.String()),
      agentVersion: Type.Optional(Type.String()),
    }, Strict)),
  },
  Strict,
);

export type NodeSpec = Static<typeof NodeSpecSchema>;
export interface NodeResources {
  cpu: number;
  memory: number;
  disk: number;
  gpus: { index: number; model: string; memory?: number }[];
  instances?: number;
}
export type NodeStatus = Omit<Static<typeof NodeStatusSchema>, 'capacity' | 'allocatable'> & {
  capacity?: NodeResources;
  allocatable?: NodeResources;
};
export type Node = StoredObject<NodeSpec, NodeStatus>;

/** Normalizes capacity/allocatable quantities to canonical integers (agents write millicores and MiB). */
export function normalizeNodeResources(input: Static<typeof NodeResourcesSchema>, path: string, problems: FieldProblem[]): NodeResources {
  const gpus = input.gpus ?? [];
  const indexes = new Set<number>();
  gpus.forEach((g, i) => {
    if (indexes.has(g.index)) problems.push({ path: `${path}.gpus[${i}].index`, message: `${g.index} is listed twice`, value: g.index });
    indexes.add(g.index);
  });
  const out: NodeResources = {
    cpu: quantity(input.cpu, 0, parseCanonicalCpu, `${path}.cpu`, problems),
    memory: quantity(input.memory, 0, parseCanonicalMebibytes, `${path}.memory`, problems),
    disk: quantity(input.disk, 0, parseCanonicalMebibytes, `${path}.disk`, problems),
    gpus,
  };
  if (input.instances !== undefined) out.instances = input.instances;
  return out;
}

export function normalizeNodeStatus(status: Static<typeof NodeStatusSchema>, problems: FieldProblem[]): NodeStatus {
  const out: NodeStatus = { ...status } as NodeStatus;
  if (status.capacity) out.capacity = normalizeNodeResources(status.capacity, 'status.capacity', problems);
  if (status.allocatable) out.allocatable = normalizeNodeResources(status.allocatable, 'status.allocatable', problems);
  return out;
}

function gpuSummary(n: Node): string {
  const gpus = n.status?.allocatable?.gpus ?? [];
  if (gpus.length === 0) return '';
  const models = [...new Set(gpus.map((g) => g.model))].join(',');
  return `${gpus.length}x${models}`;
}

export const nodeKind = defineKind({
  kind: 'node',
  plural: 'nodes',
  title: 'Node',
  aliases: ['no'],
  scope: 'cluster',
  description: 'A machine that runs instances: capacity, labels, zone, drivers and health.',
  spec: NodeSpecSchema,
  status: NodeStatusSchema,
  writers: 'cluster-admins',
  normalizeStatus: (status, problems) => normalizeNodeStatus(status, problems) as Static<typeof NodeStatusSchema>,
  initialStatus: () => ({ phase: 'Unknown' as const, message: 'the agent has not reported yet' }),
  access: { node: { own: true, writesStatus: 'own' } },
  admission: ['drain-before-delete'],
  describe: (o) => describeNode(o as Node),
  columns: [
    { header: 'NAME', get: (o) => o.metadata.name },
    { header: 'STATUS', get: (o) => nodeState(o as Node) },
    { header: 'ZONE', get: (o) => (o as Node).spec.zone ?? '' },
    { header: 'CPU', get: (o) => formatCpu((o as Node).status?.allocatable?.cpu ?? 0) },
    { header: 'MEMORY', get: (o) => formatMebibytes((o as Node).status?.allocatable?.memory ?? 0) },
    { header: 'GPUS', get: (o) => gpuSummary(o as Node) },
    { header: 'AGE', get: (o) => age(o.metadata.createdAt) },
    { header: 'DRIVERS', get: (o) => ((o as Node).status?.drivers ?? []).filter((d) => d.healthy).map((d) => d.name).join(','), wide: true },
    { header: 'HEARTBEAT', get: (o) => age((o as Node).status?.lastHeartbeat), wide: true },
  ],
});

/** "kvm (QEMU 7.2.0)" or "tcg (software emulation, QEMU 7.2.0)": the vm driver's fingerprint attributes, when it has them. */
export function vmAccelerator(drivers: readonly { name: string; attributes?: Record<string, string> }[]): string | undefined {
  const a = drivers.find((d) => d.name === 'vm')?.attributes;
  const accel = a?.['vm.accel'];
  if (!accel) return undefined;
  const notes = [...(accel === 'tcg' ? ['software emulation'] : []), ...(a['vm.qemu'] ? [`QEMU ${a['vm.qemu']}`] : [])];
  return `${accel}${notes.length ? ` (${notes.join(', ')})` : ''}`;
}

/** Status and why, zone, heartbeat, limits, capacity, GPU shares, drivers (what each enforces), VM accelerator, conditions. */
function describeNode(n: Node): DescribeLine[] {
  const s = n.status;
  const out: DescribeLine[] = [{ field: 'Status', value: `${s?.phase ?? 'Unknown'}${n.spec.unschedulable ? ', cordoned' : ''}${n.spec.draining ? ', draining' : ''}` }];
  const field = (name: string, value: string | undefined | false) => {
    if (value) out.push({ field: name, value });
  };
  field('Message', s?.message);
  field('Zone', n.spec.zone);
  field('Heartbeat', s?.lastHeartbeat && `${s.lastHeartbeat} (${age(s.lastHeartbeat)} ago)`);
  field('Limits', s?.limitsEnforced === false && 'NOT ENFORCED (no usable cgroups or not root): instances can use more than they reserve');
  const res = (r: NodeResources | undefined) =>
    r && `cpu ${formatCpu(r.cpu)}, memory ${formatMebibytes(r.memory)}, disk ${formatMebibytes(r.disk)}${r.gpus.length ? `, gpus ${r.gpus.map((g) => `#${g.index} ${g.model}`).join(', ')}` : ''}`;
  field('Capacity', res(s?.capacity));
  field('Allocatable', res(s?.allocatable));
  field('GPU shares', s?.conditions?.find((c) => c.type === 'GpuShares')?.message);
  if (s?.drivers?.length) {
    out.push({ field: 'Drivers', value: s.drivers.map((d) => `${d.name}${d.healthy ? '' : ' (unavailable)'}`).join(', ') });
    // What each driver enforces here (sandbox, user namespaces, limits) or why it cannot run.
    for (const d of s.drivers) for (const note of (d.message ?? '').split('; ').filter(Boolean)) out.push({ text: `  ${d.name}: ${note}` });
    field('VM accel', vmAccelerator(s.drivers));
  }
  for (const c of s?.conditions ?? []) out.push({ text: `  ${c.type}=${c.status}${c.reason ? ` ${c.reason}` : ''}${c.message ? `: ${c.message}` : ''}` });
  return out;
}
