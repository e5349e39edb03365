/**
 * Machine kinds and lower bounds for `stratus sim plan`.
 *
 * A machine kind is a distinct shape (CPU, memory, GPU count, GPU model) among the nodes of a
 * node list; how many of each the list holds is how many a plan may use (Infinity: unlimited).
 *
 * Lower bounds on the machines a workload needs, per resource r (CPU, memory, GPU):
 * - homogeneous, one kind: ⌈Σ requests_r ÷ size_r⌉ (Infinity when the kind has none of r and the
 *   work asks for some); the bound is the max over the resources;
 * - a mix of kinds: the fewest machines whose capacities, taken largest first among those
 *   available, add up to Σ requests_r (with unlimited kinds: ⌈Σ ÷ the largest machine⌉). Any k
 *   machines of the list offer at most the k largest capacities, so no plan needs fewer. The
 *   bound is the max over resources. It ignores constraints (GPU models, shares that do not
 *   pair up, one task per machine), so it may be unreachable, never too high.
 */
import type { TraceNode, TraceTask } from '../sim/trace.js';
import { taskGpu } from '../sim/trace.js';

export const RESOURCES = ['cpu', 'memory', 'gpu'] as const;
export type Resource = (typeof RESOURCES)[number];

/** Amounts in canonical units: millicores, MiB, GPU thousandths. */
export type Amounts = Record<Resource, number>;

export interface MachineKind {
  /** e.g. "96c-384Gi-8xG2", or "64c-256Gi" without GPUs. */
  readonly name: string;
  readonly size: Amounts;
  readonly gpus: number;
  readonly model: string;
  /** Machines of this shape in the node list, or Infinity (unlimited). */
  readonly available: number;
}

/** Per resource, and the max of them (the bound). */
export interface Bound {
  readonly byResource: Amounts;
  readonly machines: number;
  /** The resource that sets the bound. */
  readonly binding: Resource;
}

/** The distinct shapes of `nodes`, most GPUs first, then most CPU, memory, then by name. */
export function kindsOf(nodes: readonly TraceNode[], unlimited = false): MachineKind[] {
  const byName = new Map<string, { node: TraceNode; count: number }>();
  for (const n of nodes) {
    const name = kindName(n);
    const k = byName.get(name);
    if (k) k.count++;
    else byName.set(name, { node: n, count: 1 });
  }
  return [...byName.entries()]
    .map(([name, { node: n, count }]) => ({ name, size: { cpu: n.cpu, memory: n.memory, gpu: n.gpus * 1000 }, gpus: n.gpus, model: n.model, available: unlimited ? Infinity : count }))
    .sort((a, b) => b.gpus - a.gpus || b.size.cpu - a.size.cpu || b.size.memory - a.size.memory || a.name.localeCompare(b.name));
}

function kindName(n: TraceNode): string {
  const mem = n.memory % 1024 === 0 ? `${n.memory / 1024}Gi` : `${n.memory}Mi`;
  const cpu = n.cpu % 1000 === 0 ? `${n.cpu / 1000}c` : `${n.cpu}m`;
  return `${cpu}-${mem}${n.gpus > 0 ? `-${n.gpus}x${n.model}` : ''}`;
}

/** Σ requests of `tasks`. */
export function totalsOf(tasks: readonly TraceTask[]): Amounts {
  const t: Amounts = { cpu: 0, memory: 0, gpu: 0 };
  for (const task of tasks) {
    t.cpu += task.cpu;
    t.memory += task.memory;
    t.gpu += taskGpu(task);
  }
  return t;
}

function maxOf(byResource: Amounts): Bound {
  let binding: Resource = 'cpu';
  for (const r of RESOURCES) if (byResource[r] > byResource[binding]) binding = r;
  return { byResource, machines: byResource[binding], binding };
}

/** ⌈total ÷ size⌉ per resource on machines of one kind; see the file comment. */
export function homogeneousBound(total: Amounts, size: Amounts): Bound {
  const per = (r: Resource) => (total[r] === 0 ? 0 : size[r] === 0 ? Infinity : Math.ceil(total[r] / size[r]));
  return maxOf({ cpu: per('cpu'), memory: per('memory'), gpu: per('gpu') });
}

/**
 * Fewest machines of `kinds`, largest in `r` first, offering `amount` of `r` (Infinity: they
 * cannot); `taken` counts machines already used per kind name and is updated.
 */
function fewest(amount: number, kinds: readonly MachineKind[], r: Resource, taken = new Map<string, number>()): { machines: number; offered: number } {
  let left = amount;
  let machines = 0;
  for (const k of [...kinds].sort((a, b) => b.size[r] - a.size[r])) {
    if (left <= 0 || k.size[r] === 0) break;
    const take = Math.min(k.available - (taken.get(k.name) ?? 0), Math.ceil(left / k.size[r]));
    if (take <= 0) continue;
    taken.set(k.name, (taken.get(k.name) ?? 0) + take);
    machines += take;
    left -= take * k.size[r];
  }
  return { machines: left > 0 ? Infinity : machines, offered: amount - left };
}

/** Fewest machines of `kinds`, largest first, whose capacity reaches `total`, per resource; see the file comment. */
export function mixedBound(total: Amounts, kinds: readonly MachineKind[]): Bound {
  return maxOf({ cpu: fewest(total.cpu, kinds, 'cpu').machines, memory: fewest(total.memory, kinds, 'memory').machines, gpu: fewest(total.gpu, kinds, 'gpu').machines });
}

/**
 * The GPU bound from tasks bound to GPU models (see the file comment); 0 when none is. Groups of
 * tasks whose model sets do not overlap need machines of disjoint kinds, so their bounds add up;
 * the GPU left over goes on the largest machines still free.
 */
export function modelBound(tasks: readonly TraceTask[], kinds: readonly MachineKind[]): number {
  const sets = new Map<string, readonly string[]>();
  for (const t of tasks) if (t.models && t.gpuCount > 0) sets.set([...t.models].sort().join('|'), t.models);
  if (sets.size === 0) return 0;
  const within = (models: readonly string[]) => tasks.reduce((sum, t) => sum + (t.models && t.models.every((m) => models.includes(m)) ? taskGpu(t) : 0), 0);
  const gpuKinds = (models: readonly string[]) => kinds.filter((k) => k.gpus > 0 && models.includes(k.model));
  const each = [...sets.values()].map((models) => ({ models, need: fewest(within(models), gpuKinds(models), 'gpu').machines }));
  each.sort((a, b) => b.need - a.need);
  // A family of pairwise disjoint model sets, the largest needs first.
  const family: typeof each = [];
  for (const e of each) if (family.every((f) => !f.models.some((m) => e.models.includes(m)))) family.push(e);
  const taken = new Map<string, number>();
  let machines = 0;
  let offered = 0;
  for (const f of family) {
    const got = fewest(within(f.models), gpuKinds(f.models), 'gpu', taken);
    if (!Number.isFinite(got.machines)) return Infinity;
    machines += got.machines;
    offered += got.offered;
  }
  const total = tasks.reduce((sum, t) => sum + taskGpu(t), 0);
  return Math.max(each[0]!.need, machines + fewest(Math.max(0, total - offered), kinds, 'gpu', taken).machines);
}
/** The lower bound of `tasks` on `kinds`: `mixedBound` with the GPU models taken into account. */
export function workloadBound(tasks: readonly TraceTask[], kinds: readonly MachineKind[]): Bound {
  const b = mixedBound(totalsOf(tasks), kinds);
  const byModel = modelBound(tasks, kinds);
  return byModel > b.byResource.gpu ? maxOf({ ...b.byResource, gpu: byModel }) : b;
}
