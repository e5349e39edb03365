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

/** Fewest machines of `kinds`, largest first, whose capacity reaches `total`, per resource; see the file comment. */
export function mixedBound(total: Amounts, kinds: readonly MachineKind[]): Bound {
  const per = (r: Resource): number => {
    let left = total[r];
    let machines = 0;
    for (const k of [...kinds].sort((a, b) => b.size[r] - a.size[r])) {
      if (left <= 0) break;
      if (k.size[r] === 0) break;
      const take = Math.min(k.available, Math.ceil(left / k.size[r]));
      machines += take;
      left -= take * k.size[r];
    }
    return left > 0 ? Infinity : machines;
  };
  return maxOf({ cpu: per('cpu'), memory: per('memory'), gpu: per('gpu') });
}
