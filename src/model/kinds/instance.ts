/**
 * instance: one unit of compute (a process, an OCI container or a VM) on one node.
 * The spec is immutable after creation except for `priority`; services replace instances
 * instead of changing them.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineKind, type DescribeLine, type ObjectRef, type StoredObject } from '../kind.js';
import { Conditions, DnsLabel, StringEnum, Strict, Timestamp } from '../schema.js';
import { ResourcesSchema, normalizeResources, formatResources, gpuMilli, type Resources } from '../resources.js';
import { parseSelector, formatSelector, SelectorError } from '../labels.js';
import type { FieldProblem } from '../errors.js';
import { age, plural } from '../format.js';
import { formatCpu, formatMebibytes } from '../quantity.js';
import { HealthCheckSchema, healthProblems } from '../health.js';
import { EnvValueSchema, SecretMountsSchema, secretRefsOf, secretUseProblems } from '../secret-refs.js';
import { FINISHED } from '../lifecycle.js';
import { instanceNetwork } from './network.js';
import { imageRefOf } from './image.js';
import { redactInstance } from '../redact.js';

export const DRIVERS = ['process', 'container', 'vm'] as const;

/**
 * Memory a VM takes on its node beyond its guest's: QEMU itself (device models, the TCG
 * translation cache, page tables; 75 MiB resident measured for a 96 MiB guest, bench/vm.ts). The
 * vm driver adds it to the cgroup limit, and the scheduler counts it, so a node is never
 * promised more memory than it has. Quotas count the requested memory only.
 */
export const VM_MEMORY_OVERHEAD_MIB = 128;

/** The memory an instance occupies on its node: its request, plus QEMU's own for a VM. */
export function nodeMemoryOf(spec: { driver: string; resources?: { memory?: number } }): number {
  return (spec.resources?.memory ?? 0) + (spec.driver === 'vm' ? VM_MEMORY_OVERHEAD_MIB : 0);
}
export type DriverName = (typeof DRIVERS)[number];
export const RESTART_POLICIES = ['always', 'on-failure', 'never'] as const;
export const ISOLATIONS = ['sandbox', 'none'] as const;
export const POLICIES = ['binpack', 'spread', 'fgd', 'fgd-sc', 'random', 'dotprod', 'gpu-clustering', 'gpu-packing', 'bestfit'] as const;
export type PolicyName = (typeof POLICIES)[number];
export const TOPOLOGIES = ['node', 'zone'] as const;

const Selector = (description: string) =>
  Type.String({ maxLength: 1024, description: `${description} Label selector such as "app=web,tier in (a,b)".` });

const Term = Type.Object(
  {
    selector: Selector('Instances (of the same project) this term refers to.'),
    topology: Type.Optional(StringEnum(TOPOLOGIES, { description: 'Same node or same zone. Default node.' })),
    required: Type.Optional(Type.Boolean({ description: 'Hard rule (default) or a preference.' })),
    weight: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Weight of a preference. Default 50.' })),
  },
  Strict,
);

const Spread = Type.Object(
  {
    topology: StringEnum(TOPOLOGIES, { description: 'Spread across zones or nodes.' }),
    maxSkew: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Largest allowed difference in matching instances between two domains. Default 1.' })),
    selector: Selector('Instances counted when spreading.'),
  },
  Strict,
);

export const PlacementSchema = Type.Object(
  {
    node: Type.Optional(DnsLabel({ description: 'Run on exactly this node.' })),
    nodeSelector: Type.Optional(Selector('Nodes whose labels match.')),
    zones: Type.Optional(Type.Array(DnsLabel(), { maxItems: 64, description: 'Allowed zones.' })),
    affinity: Type.Optional(Type.Array(Term, { maxItems: 16 })),
    antiAffinity: Type.Optional(Type.Array(Term, { maxItems: 16 })),
    spread: Type.Optional(Type.Array(Spread, { maxItems: 8 })),
    policy: Type.Optional(StringEnum(POLICIES, { description: 'Placement policy for this instance; default: the cluster policy.' })),
  },
  { ...Strict, description: 'Where the instance may run.' },
);

const Port = Type.Object(
  {
    name: Type.Optional(DnsLabel()),
    port: Type.Integer({ minimum: 1, maximum: 65535, description: 'Port the workload listens on.' }),
    protocol: Type.Optional(StringEnum(['tcp', 'udp'], { description: 'Default tcp.' })),
    publish: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'Host port that forwards to it. A scheduling resource: one per node.' })),
  },
  Strict,
);

/** A declared port and the host port it listens on (host networking). */
export const HostPort = Type.Object(
  {
    port: Type.Integer({ minimum: 1, maximum: 65535, description: 'The declared port.' }),
    protocol: StringEnum(['tcp', 'udp']),
    hostPort: Type.Integer({ minimum: 1, maximum: 65535, description: 'Where it listens on the node.' }),
  },
  Strict,
);
export type HostPortMapping = Static<typeof HostPort>;

const VolumeMount = Type.Object(
  {
    volume: DnsLabel({ description: 'A volume of the instance\'s project.' }),
    path: Type.String({ pattern: '^/', maxLength: 4096, description: 'Absolute path in the workload: where a filesystem volume is mounted, or the device node of a block volume.' }),
    readOnly: Type.Optional(Type.Boolean({ description: 'Mount it read-only. Default false.' })),
  },
  Strict,
);

/** Bytes of `spec.userData` at most (UTF-8), as cloud providers allow (EC2: 16 KiB, OpenStack: 64 KiB). */
export const USER_DATA_BYTES = 65536;
/** One OpenSSH public key line: "<type> <base64>[ comment]", no line breaks (it goes into cloud-config). */
const SSH_KEY_RE = /^(ssh-[a-z0-9-]+|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/;

const ENV_NAME = '^[A-Za-z_][A-Za-z0-9_]*$';
const ENV_NAME_RE = new RegExp(ENV_NAME);

export const InstanceSpecSchema = Type.Object(
  {
    driver: StringEnum(DRIVERS, { description: 'process: a command in its own cgroup; container: an OCI image run by runc; vm: a QEMU virtual machine.' }),
    image: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'Image name (container and vm drivers).' })),
    command: Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { minItems: 1, maxItems: 256, description: 'Program and arguments (argv). Required for process.' })),
    args: Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 256, description: 'Arguments appended to the command or the image entrypoint.' })),
    env: Type.Optional(Type.Record(Type.String(), EnvValueSchema, { description: 'Environment variables (names: letters, digits and "_"): a string (at most 32768 characters), or {valueFrom: {secret: NAME, key: KEY}} for one key of a secret of the project.' })),
    secrets: Type.Optional(SecretMountsSchema),
    workdir: Type.Optional(Type.String({ pattern: '^/', description: 'Absolute working directory.' })),
    isolation: Type.Optional(StringEnum(ISOLATIONS, {
      description: 'process driver: sandbox (default: an unprivileged uid, own namespaces, a read-only view of the node) or none (as root on the node; only in projects a cluster admin allowed, on nodes that allow it).',
    })),
    resources: Type.Optional(ResourcesSchema),
    ports: Type.Optional(Type.Array(Port, { maxItems: 64 })),
    placement: Type.Optional(PlacementSchema),
    priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000000, description: 'Higher may preempt lower when the cluster is full. Default 0.' })),
    restartPolicy: Type.Optional(StringEnum(RESTART_POLICIES, { description: 'Default always.' })),
    gracePeriod: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600, description: 'Seconds between SIGTERM and SIGKILL on stop. Default 10.' })),
    health: Type.Optional(HealthCheckSchema),
    network: Type.Optional(DnsLabel({ description: 'Network of the project the instance joins. Default: the project\'s "default" network.' })),
    volumes: Type.Optional(Type.Array(VolumeMount, { maxItems: 16, description: 'Volumes of the project the instance uses, one instance at a time: a filesystem volume mounted at path, a block volume as a device, any volume as a disk of a vm. The instance runs on the volume\'s node.' })),
    userData: Type.Optional(Type.String({ maxLength: USER_DATA_BYTES, description: 'vm driver: cloud-init user data (a #cloud-config document or a script starting with #!), handed to the guest on a NoCloud seed disk. At most 64 KiB.' })),
    sshKeys: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 16384 }), { maxItems: 64, description: 'vm driver: SSH public keys ("ssh-ed25519 AAAA... comment", one per item) the guest authorizes (cloud-init ssh_authorized_keys).' })),
  },
  Strict,
);

/** `Off`: stopped by a person (`stratus instance stop`), still bound to its node and holding what it held there; `start` runs it again. */
export const PHASES = ['Pending', 'Scheduled', 'Starting', 'Running', 'Stopping', 'Stopped', 'Succeeded', 'Failed', 'Lost', 'Preempted', 'Off'] as const;
export type Phase = (typeof PHASES)[number];

const ReasonCount = Type.Object({ reason: Type.String(), count: Type.Integer({ minimum: 0 }) }, Strict);

export const InstanceStatusSchema = Type.Object(
  {
    phase: StringEnum(PHASES),
    reason: Type.Optional(Type.String()),
    message: Type.Optional(Type.String()),
    node: Type.Optional(DnsLabel({ description: 'Node the instance is bound to.' })),
    scheduledAt: Type.Optional(Timestamp('When it was bound to its node.')),
    score: Type.Optional(Type.Integer({ description: 'Score of the chosen node (0-100 per plugin, weighted).' })),
    allocation: Type.Optional(Type.Object({
      gpus: Type.Optional(Type.Array(Type.Object({ index: Type.Integer({ minimum: 0 }), milli: Type.Integer({ minimum: 1, maximum: 1000 }) }, Strict))),
      hostPorts: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }))),
    }, Strict)),
    explanation: Type.Optional(Type.Object({
      nodes: Type.Integer({ minimum: 0, description: 'Nodes considered.' }),
      reasons: Type.Array(ReasonCount, { description: 'Why nodes were rejected, most common first.' }),
      at: Timestamp('When the scheduler last tried.'),
    }, Strict)),
    conditions: Type.Optional(Conditions),
    startedAt: Type.Optional(Timestamp('When the workload last started.')),
    finishedAt: Type.Optional(Timestamp('When the workload last ended.')),
    exitCode: Type.Optional(Type.Integer()),
    signal: Type.Optional(Type.String()),
    restarts: Type.Optional(Type.Integer({ minimum: 0 })),
    pid: Type.Optional(Type.Integer({ minimum: 1 })),
    ip: Type.Optional(Type.String()),
    hostNetwork: Type.Optional(Type.Object({
      ports: Type.Array(HostPort, { maxItems: 64 }),
    }, { ...Strict, description: 'Set by the agent when the instance shares its node\'s network (host networking): status.ip is then the node\'s address (if it has one), and each declared port listens on a host port of the node, handed to the workload as PORT_<port>.' })),
    usage: Type.Optional(Type.Object({
      cpu: Type.Integer({ minimum: 0, description: 'Millicores, averaged over the last interval.' }),
      memory: Type.Integer({ minimum: 0, description: 'MiB.' }),
      gpuMemory: Type.Optional(Type.Integer({ minimum: 0, description: 'MiB of GPU memory held by its processes (instances with GPUs).' })),
      gpuUtilization: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, description: 'Percent of its GPUs\' time running its kernels, where known (not for MPS shares).' })),
      at: Timestamp('When it was measured.'),
    }, Strict)),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  Strict,
);

export type InstanceSpecInput = Static<typeof InstanceSpecSchema>;
export type InstanceSpec = Omit<InstanceSpecInput, 'resources'> & {
  resources: Resources;
  priority: number;
  restartPolicy: (typeof RESTART_POLICIES)[number];
  gracePeriod: number;
};
/** The spec a driver runs: secret references resolved, so every env value is a string. */
export type RunSpec = Omit<InstanceSpec, 'env'> & { env?: Record<string, string> };
export type InstanceStatus = Static<typeof InstanceStatusSchema>;
export type Instance = StoredObject<InstanceSpec, InstanceStatus>;

/** Parses quantities and selectors, fills defaults; problems are reported under `at` (e.g. spec.template.spec). */
export function normalizeInstanceSpec(spec: InstanceSpecInput, problems: FieldProblem[], at = 'spec'): InstanceSpec {
  const out: InstanceSpec = {
    ...spec,
    resources: normalizeResources(spec.resources, `${at}.resources`, problems),
    priority: spec.priority ?? 0,
    restartPolicy: spec.restartPolicy ?? 'always',
    gracePeriod: spec.gracePeriod ?? 10,
  };
  if (spec.driver === 'process' && !spec.command) problems.push({ path: `${at}.command`, message: 'is required for the process driver' });
  if (spec.driver !== 'process' && !spec.image) problems.push({ path: `${at}.image`, message: `is required for the ${spec.driver} driver` });
  if (spec.isolation !== undefined && spec.driver !== 'process') problems.push({ path: `${at}.isolation`, message: `applies to the process driver only (${spec.driver} instances are always isolated)`, value: spec.isolation });
  checkPorts(spec, problems, at);
  checkVolumes(spec, problems, at);
  checkVmFields(spec, problems, at);
  problems.push(...healthProblems(spec.health, `${at}.health`));
  secretUseProblems(spec, problems, at);
  for (const name of Object.keys(spec.env ?? {})) {
    if (!ENV_NAME_RE.test(name)) problems.push({ path: `${at}.env.${name}`, message: `${JSON.stringify(name)} is not an environment variable name (letters, digits and "_", not starting with a digit)`, value: name });
  }
  if (spec.placement) out.placement = normalizePlacement(spec.placement, problems, at);
  return out;
}

function checkPorts(spec: InstanceSpecInput, problems: FieldProblem[], at: string): void {
  const seen = new Set<string>();
  const published = new Set<string>();
  spec.ports?.forEach((p, i) => {
    const key = `${p.port}/${p.protocol ?? 'tcp'}`;
    if (seen.has(key)) problems.push({ path: `${at}.ports[${i}].port`, message: `${key} is listed twice`, value: p.port });
    seen.add(key);
    if (p.publish !== undefined) {
      const pk = `${p.publish}/${p.protocol ?? 'tcp'}`;
      if (published.has(pk)) problems.push({ path: `${at}.ports[${i}].publish`, message: `host port ${pk} is published twice`, value: p.publish });
      published.add(pk);
    }
  });
}

function checkVolumes(spec: InstanceSpecInput, problems: FieldProblem[], at: string): void {
  const names = new Set<string>();
  const paths = new Set<string>();
  spec.volumes?.forEach((v, i) => {
    if (names.has(v.volume)) problems.push({ path: `${at}.volumes[${i}].volume`, message: `volume "${v.volume}" is listed twice`, value: v.volume });
    if (paths.has(v.path)) problems.push({ path: `${at}.volumes[${i}].path`, message: `${JSON.stringify(v.path)} is used by two volumes`, value: v.path });
    names.add(v.volume);
    paths.add(v.path);
  });
}

/** userData and sshKeys: vm driver only, user data at most USER_DATA_BYTES, keys one OpenSSH line each. */
function checkVmFields(spec: InstanceSpecInput, problems: FieldProblem[], at: string): void {
  for (const field of ['userData', 'sshKeys'] as const) {
    if (spec[field] !== undefined && spec.driver !== 'vm') problems.push({ path: `${at}.${field}`, message: `applies to the vm driver only (this instance's driver is ${spec.driver}); remove it` });
  }
  const bytes = spec.userData === undefined ? 0 : new TextEncoder().encode(spec.userData).length;
  if (bytes > USER_DATA_BYTES) problems.push({ path: `${at}.userData`, message: `is ${bytes} bytes; user data is at most ${USER_DATA_BYTES} bytes (64 KiB)` });
  spec.sshKeys?.forEach((key, i) => {
    if (!SSH_KEY_RE.test(key)) problems.push({ path: `${at}.sshKeys[${i}]`, message: 'is not an OpenSSH public key line ("ssh-ed25519 AAAA... comment", no line breaks)', value: key.slice(0, 64) });
  });
}

/**
 * What an instance spec (an instance's, or a service's template at `at`) names, in `project`:
 * its image ("web": the project's, "system/busybox": another's), network, secrets and volumes.
 */
export function instanceRefs(spec: InstanceSpec, project: string, at = 'spec'): ObjectRef[] {
  const out: ObjectRef[] = [];
  if (spec.driver !== 'process' && spec.image) out.push({ kind: 'image', ...imageRefOf(spec.image, project), field: `${at}.image` });
  out.push({ kind: 'network', project, name: instanceNetwork(spec), field: `${at}.network` });
  for (const r of secretRefsOf(spec, at)) out.push({ kind: 'secret', project, name: r.secret, field: r.field });
  spec.volumes?.forEach((v, i) => out.push({ kind: 'volume', project, name: v.volume, field: `${at}.volumes[${i}].volume`, mustExist: true }));
  return out;
}

type Placement = Static<typeof PlacementSchema>;

function normalizePlacement(p: Placement, problems: FieldProblem[], at: string): Placement {
  const out: Placement = { ...p };
  const sel = (text: string, path: string) => {
    try {
      return formatSelector(parseSelector(text));
    } catch (e) {
      problems.push({ path, message: e instanceof SelectorError ? e.message : String(e), value: text });
      return text;
    }
  };
  if (p.nodeSelector !== undefined) out.nodeSelector = sel(p.nodeSelector, `${at}.placement.nodeSelector`);
  out.affinity = p.affinity?.map((t, i) => ({ ...t, selector: sel(t.selector, `${at}.placement.affinity[${i}].selector`) }));
  out.antiAffinity = p.antiAffinity?.map((t, i) => ({ ...t, selector: sel(t.selector, `${at}.placement.antiAffinity[${i}].selector`) }));
  out.spread = p.spread?.map((s, i) => ({ ...s, selector: sel(s.selector, `${at}.placement.spread[${i}].selector`) }));
  for (const key of ['affinity', 'antiAffinity', 'spread'] as const) if (out[key] === undefined) delete out[key];
  return out;
}

/** Every spec field but `priority` is fixed once the instance exists. */
export function instanceUpdateProblems(prev: InstanceSpec, next: InstanceSpec): FieldProblem[] {
  const a = JSON.stringify({ ...prev, priority: 0 });
  const b = JSON.stringify({ ...next, priority: 0 });
  if (a === b) return [];
  const changed = Object.keys({ ...prev, ...next }).filter(
    (k) => k !== 'priority' && JSON.stringify(prev[k as keyof InstanceSpec]) !== JSON.stringify(next[k as keyof InstanceSpec]),
  );
  return changed.map((k) => ({
    path: `spec.${k}`,
    message: 'cannot be changed once the instance exists; delete and re-create it, or run it as a service',
  }));
}

export const instanceKind = defineKind({
  kind: 'instance',
  plural: 'instances',
  title: 'Instance',
  aliases: ['inst', 'i'],
  scope: 'project',
  description: 'One unit of compute on one node: a process, an OCI container or a virtual machine.',
  spec: InstanceSpecSchema,
  status: InstanceStatusSchema,
  normalize: (spec, problems) => normalizeInstanceSpec(spec, problems) as InstanceSpecInput,
  checkUpdate: (prev, next) => instanceUpdateProblems(prev as InstanceSpec, next as InstanceSpec),
  initialStatus: () => ({ phase: 'Pending' as const, reason: 'Unscheduled', message: 'waiting for the scheduler' }),
  access: {
    node: { boundTo: (o) => (o as Instance).status?.node, hosted: (o) => redactInstance(o as Instance), writesStatus: 'bound' },
  },
  references: (o) => instanceRefs(o.spec as InstanceSpec, o.metadata.project!),
  workloads: (spec) => [{ at: 'spec', spec }],
  admission: ['quota', 'reserved-env', 'published-ports', 'unisolated', 'secret-refs', 'refs-exist', 'image-fits', 'budget', 'volume-free'],
  quota: {
    usage: (o) => {
      const r = (o as Instance).spec.resources;
      return { cpu: r.cpu, memory: r.memory, disk: r.disk, gpu: gpuMilli(r.gpu), instances: 1 };
    },
  },
  lifecycle: { active: (o) => !FINISHED.has((o as Instance).status?.phase ?? 'Pending') },
  stack: { section: 'instances' },
  describe: (o) => describeInstance(o as Instance),
  columns: [
    { header: 'NAME', get: (o) => o.metadata.name },
    { header: 'DRIVER', get: (o) => (o as Instance).spec.driver },
    { header: 'PHASE', get: (o) => (o as Instance).status?.phase ?? '' },
    { header: 'NODE', get: (o) => (o as Instance).status?.node ?? '' },
    { header: 'RESTARTS', get: (o) => String((o as Instance).status?.restarts ?? 0) },
    { header: 'AGE', get: (o) => age(o.metadata.createdAt) },
    { header: 'RESOURCES', get: (o) => formatResources((o as Instance).spec.resources), wide: true },
    { header: 'REASON', get: (o) => (o as Instance).status?.reason ?? '', wide: true },
  ],
});

/** Phase and why, node, why pending, GPUs, address, exit, restarts, conditions, usage. */
function describeInstance(i: Instance): DescribeLine[] {
  const s = i.status;
  if (!s) return [];
  const out: DescribeLine[] = [{ field: 'Phase', value: `${s.phase}${s.reason ? ` (${s.reason})` : ''}` }];
  const field = (name: string, value: string | undefined | false) => {
    if (value) out.push({ field: name, value });
  };
  field('Message', s.message);
  field('Node', s.node && `${s.node}${s.score !== undefined ? ` (score ${s.score})` : ''}`);
  if (s.explanation && !s.node && s.explanation.nodes > 0) {
    out.push({ field: 'Why pending', value: `${plural(s.explanation.nodes, 'node')} considered at ${s.explanation.at}` });
    for (const r of s.explanation.reasons) out.push({ text: `  ${String(r.count).padStart(6)}  ${r.reason}` });
  }
  field('GPUs', Boolean(s.allocation?.gpus?.length) && s.allocation!.gpus!.map((g) => `#${g.index}${g.milli < 1000 ? ` (${g.milli / 10}%)` : ''}`).join(', '));
  field('PID', s.pid !== undefined && String(s.pid));
  field('IP', s.ip);
  // host networking: where each declared port listens on the node (PORT_<port> in the workload)
  field('Host ports', s.hostNetwork && `${s.hostNetwork.ports.map((p) => `${p.port}→${p.hostPort}/${p.protocol}`).join(', ') || 'none'} (host networking)`);
  field('Started', s.startedAt);
  field('Exit code', s.exitCode !== undefined && `${s.exitCode}${s.signal ? ` (${s.signal})` : ''}`);
  out.push({ field: 'Restarts', value: String(s.restarts ?? 0) });
  // Ready says what the last health check found (HealthCheckFailed: "GET http://...: connection refused").
  for (const c of s.conditions ?? []) out.push({ field: c.type, value: `${c.status}${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}` });
  field('Usage', s.usage && `cpu ${formatCpu(s.usage.cpu)}, memory ${formatMebibytes(s.usage.memory)}${gpuUsage(s.usage)} (at ${s.usage.at})`);
  return out;
}

function gpuUsage(u: NonNullable<InstanceStatus['usage']>): string {
  if (u.gpuMemory === undefined) return '';
  return `, gpu memory ${formatMebibytes(u.gpuMemory)}${u.gpuUtilization !== undefined ? `, gpu ${u.gpuUtilization}%` : ''}`;
}
