/**
 * node-pool: machines of one shape that the cluster autoscaler (scheduler/pools/) adds when
 * instances are Pending for lack of capacity and removes when their nodes are underused, between
 * `min` and `max`, through a provider that creates and deletes machines:
 *
 *   command  the operator's executables, as argument arrays (never a shell line), with JSON on
 *            stdin and stdout (docs/operations.md, "Node pools", has the contract)
 *   local    `stratus agent` processes on the server's own machine, each in its own network
 *            namespace (or sharing the host's network): demos, tests, capacity planning
 *
 * A node belongs to a pool by its `spec.pool` (`stratus agent --pool`). Cluster admins write pools
 * and only they read them: a provider's argv and environment may carry an operator's credentials.
 * The autoscaler writes the status: size, the pool's nodes, its last decisions and why, errors.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineKind, type DescribeLine, type StoredObject } from '../kind.js';
import { CpuQuantity, DnsLabel, LabelMap, SizeQuantity, StringEnum, Strict, Timestamp } from '../schema.js';
import { GPU_MODEL_PATTERN, quantity } from '../resources.js';
import { formatCpu, formatMebibytes, parseCpu, parseMebibytes } from '../quantity.js';
import { labelKeyProblem, labelValueProblem } from '../labels.js';
import { age, parseDuration } from '../format.js';
import type { FieldProblem } from '../errors.js';

const Duration = (description: string) =>
  Type.String({ pattern: '^\\d+(ms|s|m|h|d)$', description, errorMessage: 'is not a duration (use e.g. 30s, 10m, 1h)' });
const Argv = (description: string) =>
  Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { minItems: 1, maxItems: 64, description });

const CommandProvider = Type.Object(
  {
    type: Type.Literal('command'),
    create: Argv('Program (an absolute path) and arguments run to create one machine: JSON on stdin (pool, node, joinToken, servers, shape), JSON on stdout ({"node": NAME, "id": ...}).'),
    delete: Argv('Program (an absolute path) and arguments run to delete one machine: JSON on stdin (pool, node, id).'),
    env: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 32768 }), { description: 'Environment of both commands (nothing else of the server\'s is passed but PATH).' })),
    timeout: Type.Optional(Duration('How long one create or delete may take before it is killed. Default 2m.')),
  },
  Strict,
);

const LocalProvider = Type.Object(
  {
    type: Type.Literal('local'),
    network: Type.Optional(StringEnum(['namespace', 'host'] as const, { description: 'namespace (default): each agent in a network namespace of its own, on a bridge of this machine; host: agents share this machine\'s network (instances in host networking).' })),
    subnet: Type.Optional(Type.Integer({ minimum: 1, maximum: 254, description: 'namespace: the agents\' bridge is 198.18.<subnet>.0/24 (RFC 2544 test range). Default 200.' })),
    dataDir: Type.Optional(Type.String({ pattern: '^/', maxLength: 4096, description: 'Where the agents\' data directories go. Default: <server data dir>/pools/<pool>.' })),
    agentArgs: Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 64, description: 'More `stratus agent` flags, e.g. ["--drivers", "process"].' })),
  },
  Strict,
);

export const NodePoolSpecSchema = Type.Object(
  {
    min: Type.Integer({ minimum: 0, maximum: 1000, description: 'Fewest nodes: the autoscaler creates machines up to it and never removes below it.' }),
    max: Type.Integer({ minimum: 0, maximum: 1000, description: 'Most nodes.' }),
    shape: Type.Object(
      {
        cpu: CpuQuantity('CPU of one machine.'),
        memory: SizeQuantity('Memory of one machine.'),
        disk: Type.Optional(SizeQuantity('Disk of one machine.')),
        gpus: Type.Optional(Type.Array(Type.Object({ model: Type.String({ pattern: GPU_MODEL_PATTERN }), count: Type.Integer({ minimum: 1, maximum: 64 }) }, Strict), { maxItems: 8, description: 'GPUs of one machine, by model.' })),
        labels: Type.Optional(LabelMap('Labels of its nodes.')),
        zone: Type.Optional(DnsLabel({ description: 'Zone of its nodes.' })),
      },
      { ...Strict, description: 'What one new machine adds: the scale-up simulation places pending instances on machines of this shape.' },
    ),
    provider: Type.Union([CommandProvider, LocalProvider], { description: 'What creates and deletes machines.', errorMessage: 'is not a provider: {type: command, create: [...], delete: [...]} or {type: local}' }),
    scaleDownDelay: Type.Optional(Duration('How long a node must be underused (and its instances fit elsewhere) before it is drained and removed. Default 10m.')),
    scaleDownUtilization: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, description: 'Underused: the larger of its CPU and memory requests is below this percent of what it offers. Default 50.' })),
    joinTimeout: Type.Optional(Duration('How long a created machine has to join and be Ready before it counts as failed (and is deleted). Default 5m.')),
  },
  Strict,
);

export const POOL_NODE_PHASES = ['Joining', 'Ready', 'NotReady', 'Draining', 'Deleting'] as const;
export const POOL_ACTIONS = ['scale-up', 'scale-down', 'waiting', 'blocked', 'keep'] as const;

export const NodePoolStatusSchema = Type.Object(
  {
    size: Type.Integer({ minimum: 0, description: 'Nodes of the pool, joining ones included.' }),
    ready: Type.Optional(Type.Integer({ minimum: 0 })),
    nodes: Type.Optional(Type.Array(Type.Object({
      name: DnsLabel(),
      phase: StringEnum(POOL_NODE_PHASES),
      machine: Type.Optional(Type.String({ maxLength: 256, description: 'What the provider calls the machine (its create output\'s id).' })),
      createdAt: Type.Optional(Timestamp('When the provider created it.')),
    }, Strict), { maxItems: 1000 })),
    decisions: Type.Optional(Type.Array(Type.Object({
      at: Timestamp('When it was decided.'),
      action: StringEnum(POOL_ACTIONS),
      count: Type.Optional(Type.Integer({ minimum: 0 })),
      node: Type.Optional(DnsLabel()),
      reason: Type.String({ maxLength: 4096 }),
    }, Strict), { maxItems: 20, description: 'The latest decisions, newest first, and why.' })),
    lastScaleUp: Type.Optional(Timestamp('Last time it added machines.')),
    lastScaleDown: Type.Optional(Timestamp('Last time it removed one.')),
    errors: Type.Optional(Type.Array(Type.Object({ at: Timestamp('When.'), message: Type.String({ maxLength: 4096 }) }, Strict), { maxItems: 10, description: 'The provider\'s latest failures, newest first.' })),
  },
  Strict,
);

export interface PoolShape {
  /** Millicores. */
  cpu: number;
  /** MiB. */
  memory: number;
  disk: number;
  gpus: { model: string; count: number }[];
  labels: Record<string, string>;
  zone?: string;
}
export type CommandProviderSpec = Static<typeof CommandProvider>;
export type LocalProviderSpec = Static<typeof LocalProvider>;
export type NodePoolSpec = Omit<Static<typeof NodePoolSpecSchema>, 'shape'> & { shape: PoolShape };
export type NodePoolStatus = Static<typeof NodePoolStatusSchema>;
export type NodePool = StoredObject<NodePoolSpec, NodePoolStatus>;

/** The pool's durations in ms, defaults filled. */
export function poolTimings(spec: Pick<NodePoolSpec, 'scaleDownDelay' | 'joinTimeout'>): { scaleDownDelayMs: number; joinTimeoutMs: number } {
  return { scaleDownDelayMs: parseDuration(spec.scaleDownDelay ?? '10m') ?? 600_000, joinTimeoutMs: parseDuration(spec.joinTimeout ?? '5m') ?? 300_000 };
}

/** One program path, not a shell line: argv[0] absolute, without spaces ("/bin/sh -c ..." as one string is refused). */
function argvProblems(argv: string[], path: string): FieldProblem[] {
  const prog = argv[0] ?? '';
  if (!prog.startsWith('/')) return [{ path: `${path}[0]`, message: 'must be the absolute path of the program to run (arguments go in the next items)', value: prog }];
  if (/\s/.test(prog)) return [{ path: `${path}[0]`, message: 'is one program path, not a shell command line: give each argument as its own item', value: prog }];
  return [];
}

function normalizePool(spec: Static<typeof NodePoolSpecSchema>, problems: FieldProblem[]): NodePoolSpec {
  if (spec.min > spec.max) problems.push({ path: 'spec.min', message: `is more than spec.max (${spec.max})`, value: spec.min });
  const s = spec.shape;
  const shape: PoolShape = {
    cpu: quantity(s.cpu, 0, parseCpu, 'spec.shape.cpu', problems),
    memory: quantity(s.memory, 0, parseMebibytes, 'spec.shape.memory', problems),
    disk: quantity(s.disk, 0, parseMebibytes, 'spec.shape.disk', problems),
    gpus: s.gpus ?? [],
    labels: s.labels ?? {},
    ...(s.zone ? { zone: s.zone } : {}),
  };
  if (shape.cpu === 0) problems.push({ path: 'spec.shape.cpu', message: 'must be more than 0 (e.g. 4 or "500m")', value: s.cpu });
  if (shape.memory === 0) problems.push({ path: 'spec.shape.memory', message: 'must be more than 0 (e.g. "8Gi")', value: s.memory });
  for (const [k, v] of Object.entries(shape.labels)) {
    const p = labelKeyProblem(k) ?? labelValueProblem(v);
    if (p) problems.push({ path: `spec.shape.labels.${k}`, message: p, value: v });
  }
  const p = spec.provider;
  if (p.type === 'command') {
    problems.push(...argvProblems(p.create, 'spec.provider.create'), ...argvProblems(p.delete, 'spec.provider.delete'));
    for (const name of Object.keys(p.env ?? {})) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) problems.push({ path: `spec.provider.env.${name}`, message: 'is not an environment variable name (letters, digits and "_")', value: name });
    }
  }
  return { ...spec, shape };
}

const pool = (o: StoredObject<never, never>) => o as unknown as NodePool;

/** "3 (2 ready, 1 joining)". */
function sizeText(p: NodePool): string {
  const nodes = p.status?.nodes ?? [];
  const joining = nodes.filter((n) => n.phase === 'Joining').length;
  const draining = nodes.filter((n) => n.phase === 'Draining' || n.phase === 'Deleting').length;
  const extra = [joining ? `${joining} joining` : '', draining ? `${draining} leaving` : ''].filter(Boolean).join(', ');
  return `${p.status?.size ?? 0}${extra ? ` (${extra})` : ''}`;
}

export const nodePoolKind = defineKind({
  kind: 'node-pool',
  plural: 'node-pools',
  title: 'NodePool',
  aliases: ['np', 'pool', 'pools', 'nodepool', 'nodepools'],
  scope: 'cluster',
  description: 'Machines of one shape that the cluster autoscaler adds and removes between min and max, through a provider.',
  spec: NodePoolSpecSchema,
  status: NodePoolStatusSchema,
  writers: 'cluster-admins',
  // A provider's argv and env may hold an operator's credentials: only cluster admins read pools.
  access: { visibleTo: 'cluster-admins', hidden: true },
  normalize: (spec, problems) => normalizePool(spec, problems) as unknown as Static<typeof NodePoolSpecSchema>,
  initialStatus: () => ({ size: 0 }),
  describe: (o) => describePool(o as unknown as NodePool),
  columns: [
    { header: 'NAME', get: (o) => o.metadata.name },
    { header: 'SIZE', get: (o) => sizeText(pool(o)) },
    { header: 'MIN', get: (o) => String(pool(o).spec.min) },
    { header: 'MAX', get: (o) => String(pool(o).spec.max) },
    { header: 'SHAPE', get: (o) => shapeText(pool(o).spec.shape) },
    { header: 'PROVIDER', get: (o) => pool(o).spec.provider.type },
    { header: 'LAST DECISION', get: (o) => decisionText(pool(o).status?.decisions?.[0]) },
    { header: 'AGE', get: (o) => age(o.metadata.createdAt), wide: true },
  ],
});

export function shapeText(s: PoolShape): string {
  return [`cpu ${formatCpu(s.cpu)}`, `memory ${formatMebibytes(s.memory)}`, ...s.gpus.map((g) => `${g.count}x${g.model}`), s.zone ? `zone ${s.zone}` : ''].filter(Boolean).join(', ');
}

export function decisionText(d: NodePoolStatus['decisions'] extends (infer D)[] | undefined ? D | undefined : never): string {
  if (!d) return '';
  return `${d.action}${d.count ? ` ${d.count}` : ''}${d.node ? ` ${d.node}` : ''}: ${d.reason} (${age(d.at)} ago)`;
}

function describePool(p: NodePool): DescribeLine[] {
  const s = p.status;
  const out: DescribeLine[] = [
    { field: 'Size', value: `${sizeText(p)}, min ${p.spec.min}, max ${p.spec.max}` },
    { field: 'Shape', value: shapeText(p.spec.shape) },
    { field: 'Provider', value: p.spec.provider.type === 'command' ? `command: ${p.spec.provider.create[0]} (create), ${p.spec.provider.delete[0]} (delete)` : `local (${p.spec.provider.network ?? 'namespace'} network)` },
    { field: 'Scale down', value: `after ${p.spec.scaleDownDelay ?? '10m'} below ${p.spec.scaleDownUtilization ?? 50} % when its instances fit elsewhere` },
  ];
  if (s?.lastScaleUp) out.push({ field: 'Scaled up', value: `${s.lastScaleUp} (${age(s.lastScaleUp)} ago)` });
  if (s?.lastScaleDown) out.push({ field: 'Scaled down', value: `${s.lastScaleDown} (${age(s.lastScaleDown)} ago)` });
  if (s?.nodes?.length) out.push({ title: 'Nodes', headers: ['NAME', 'PHASE', 'MACHINE', 'CREATED'], rows: s.nodes.map((n) => [n.name, n.phase, n.machine ?? '', n.createdAt ? `${age(n.createdAt)} ago` : '']) });
  if (s?.decisions?.length) out.push({ title: 'Decisions', headers: ['WHEN', 'ACTION', 'WHY'], rows: s.decisions.map((d) => [`${age(d.at)} ago`, `${d.action}${d.count ? ` ${d.count}` : ''}${d.node ? ` ${d.node}` : ''}`, d.reason]) });
  if (s?.errors?.length) out.push({ title: 'Errors', headers: ['WHEN', 'MESSAGE'], rows: s.errors.map((e) => [`${age(e.at)} ago`, e.message]) });
  return out;
}
