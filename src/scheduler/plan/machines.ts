/**
 * `stratus sim plan`: how many machines of each kind a workload needs, placed by the live
 * scheduler's engine and default policy (`auto`: FGD with GPUs, binpack without), all tasks
 * running at once.
 *
 * One try:
 * 1. The tasks in some order (below).
 * 2. Each task goes to the engine on the machines open so far. When none can take it, a machine
 *    is opened: of the kinds with machines left that could host the task alone, the one with the
 *    most GPUs, then CPU, then memory (the bound counts the largest machines first); for a task
 *    without GPUs the one with the fewest GPUs, then the most CPU and memory. A task no
 *    kind can host, or none has machines left for, is unplaced and counted. With `openAll`
 *    (limited kinds only) every machine of the list is open from the start instead, as in a
 *    live cluster, and the engine spreads the work over them.
 * 3. Compaction (compact.ts) empties what it can, least utilised first; the emptied machines are
 *    given back and the unplaced tasks try once more.
 *
 * The plan is the best of several tries (fewest unplaced tasks, then fewest machines): the task
 * list's own order; decreasing GPU asked (model-bound first among equals), then increasing CPU
 * (the CPU-heavy tasks of a size last, where they strand the fewest GPUs), then memory; and
 * seeded shuffles (the order FGD is designed for: on the openb trace, shuffled and list orders
 * need 795–799 machines where decreasing order needs 804). With limited kinds each order is
 * tried both opening machines on demand and with every machine open. FGD's target workload is
 * taken from the whole task list (the planner knows it in advance).
 */
import { createEngine, type Engine } from '../engine/engine.js';
import { createRng, shuffle } from '../engine/rng.js';
import { WorkloadModel } from '../engine/fgd/workload.js';
import { demandOf } from '../engine/request.js';
import { ClusterSnapshot } from '../engine/snapshot.js';
import type { PolicyChoice } from '../engine/types.js';
import { taskGpu, toInstance, toNode, type TraceNode, type TraceTask } from '../sim/trace.js';
import { compactSnapshot } from './compact.js';
import { homogeneousBound, kindsOf, totalsOf, workloadBound, type Bound, type MachineKind } from './bounds.js';

export interface PlanMachinesOptions {
  /** Every kind without limit (default: as many of each as the node list has). */
  readonly unlimited?: boolean;
  /** Default 'auto', the live scheduler's default. */
  readonly policy?: PolicyChoice;
  /** Skip step 3 (for comparison). */
  readonly noCompaction?: boolean;
  /** Orders to try: the list's, decreasing, then shuffles with seeds 1, 2, …; default 4. */
  readonly tries?: number;
}

/** One try: an order of the tasks, and whether every machine is open from the start. */
export interface Strategy {
  readonly order: 'list' | 'decreasing' | number;
  readonly openAll: boolean;
}

/** What one try reached. */
export interface Tried {
  readonly label: string;
  readonly used: number;
  readonly unplaced: number;
}

export interface KindUse {
  readonly kind: MachineKind;
  readonly used: number;
  readonly tasks: number;
  /** The homogeneous bound for the tasks placed on this kind. */
  readonly bound: Bound;
}

export interface MachinePlan {
  readonly kinds: KindUse[];
  readonly tasks: number;
  readonly placed: number;
  readonly unplaced: number;
  /** GPU thousandths asked by the placed tasks, and offered by the machines used. */
  readonly gpuPlaced: number;
  readonly gpuCapacity: number;
  /** Machines used in all; the mixed bound over every kind (bounds.ts) for the whole workload. */
  readonly used: number;
  readonly bound: Bound;
  /** used ÷ bound.machines. */
  readonly ratio: number;
  /** Machines opened before compaction, and emptied by it. */
  readonly opened: number;
  readonly compacted: number;
  /** The try this plan comes from, and every try. */
  readonly strategy: string;
  readonly tried: Tried[];
  /** All tries together. */
  readonly wallMs: number;
}

/** The decreasing order (see the file comment). */
export function planOrder(tasks: readonly TraceTask[]): TraceTask[] {
  return [...tasks].sort((a, b) => taskGpu(b) - taskGpu(a) || Number(Boolean(b.models)) - Number(Boolean(a.models)) || a.cpu - b.cpu || b.memory - a.memory || a.name.localeCompare(b.name));
}

/** The tries for `tries` orders; each twice (on demand, all open) with limited kinds. */
export function strategies(tries: number, unlimited: boolean): Strategy[] {
  const seeds = Array.from({ length: Math.max(0, tries - 2) }, (_, i): Strategy['order'] => i + 1);
  const orders = (['list', 'decreasing'] as Strategy['order'][]).concat(seeds).slice(0, Math.max(1, tries));
  return orders.flatMap((order) => (unlimited ? [{ order, openAll: false }] : [{ order, openAll: false }, { order, openAll: true }]));
}

export function strategyLabel(s: Strategy): string {
  const order = s.order === 'list' ? 'list order' : s.order === 'decreasing' ? 'decreasing order' : `shuffle (seed ${s.order})`;
  return `${order}, ${s.openAll ? 'every machine open' : 'machines opened on demand'}`;
}

function ordered(tasks: readonly TraceTask[], order: Strategy['order']): TraceTask[] {
  if (order === 'list') return [...tasks];
  if (order === 'decreasing') return planOrder(tasks);
  return shuffle([...tasks], createRng(order));
}

/** Could one empty machine of `k` host `t`? */
export function kindFits(k: MachineKind, t: TraceTask): boolean {
  if (t.cpu > k.size.cpu || t.memory > k.size.memory || t.gpuCount > k.gpus) return false;
  return t.gpuCount === 0 || !t.models || t.models.includes(k.model);
}

/** The machines opened so far, on one snapshot, placed into by one engine. */
class Fleet {
  readonly snap = new ClusterSnapshot();
  readonly kindOfNode = new Map<string, MachineKind>();
  private readonly open = new Map<string, number>();
  private readonly names = new Map<string, number>();

  /** For tasks without GPUs: the fewest GPUs first (keep GPU machines for GPU work), then the most CPU. */
  private readonly cpuFirst: readonly MachineKind[];

  constructor(
    private readonly kinds: readonly MachineKind[],
    readonly engine: Engine,
  ) {
    this.cpuFirst = [...kinds].sort((a, b) => a.gpus - b.gpus || b.size.cpu - a.size.cpu || b.size.memory - a.size.memory);
  }

  /** Places `t` on an open machine, or opens one for it (step 2); false when neither works. */
  place(t: TraceTask): boolean {
    const inst = toInstance(t);
    if (this.engine.schedule(this.snap, [inst], { assume: true }).placements.length > 0) return true;
    const kind = (t.gpuCount === 0 ? this.cpuFirst : this.kinds).find((k) => (this.open.get(k.name) ?? 0) < k.available && kindFits(k, t));
    if (!kind) return false;
    this.openOne(kind);
    return this.engine.schedule(this.snap, [inst], { assume: true }).placements.length > 0;
  }

  /** Opens one machine of `kind`. */
  openOne(kind: MachineKind): void {
    const n = this.names.get(kind.name) ?? 0;
    this.names.set(kind.name, n + 1);
    this.open.set(kind.name, (this.open.get(kind.name) ?? 0) + 1);
    const name = `${kind.name}-${n}`;
    this.kindOfNode.set(name, kind);
    this.snap.upsertNode(toNode({ name, cpu: kind.size.cpu, memory: kind.size.memory, gpus: kind.gpus, model: kind.model }));
  }

  /** Gives an empty machine back. */
  close(name: string): void {
    const kind = this.kindOfNode.get(name)!;
    this.snap.removeNode(name);
    this.open.set(kind.name, this.open.get(kind.name)! - 1);
  }
}

/** Plans `tasks` onto machines of the kinds in `nodes`: the best of the tries; see the file comment. */
export function planMachines(nodes: readonly TraceNode[], tasks: readonly TraceTask[], opts: PlanMachinesOptions = {}, now: () => number = () => performance.now()): MachinePlan {
  const start = now();
  const kinds = kindsOf(nodes, opts.unlimited);
  const workload = WorkloadModel.fromDemands(tasks.map((t) => demandOf(toInstance(t))));
  let best: MachinePlan | undefined;
  const tried: Tried[] = [];
  for (const s of strategies(opts.tries ?? 4, Boolean(opts.unlimited))) {
    const plan = tryOnce(kinds, tasks, s, workload, opts); // the model is frozen: tries share it
    tried.push({ label: plan.strategy, used: plan.used, unplaced: plan.unplaced });
    if (!best || plan.unplaced < best.unplaced || (plan.unplaced === best.unplaced && plan.used < best.used)) best = plan;
  }
  return { ...best!, tried, wallMs: now() - start };
}

function tryOnce(kinds: readonly MachineKind[], tasks: readonly TraceTask[], s: Strategy, workload: WorkloadModel, opts: PlanMachinesOptions): MachinePlan {
  const fleet = new Fleet(kinds, createEngine({ policy: opts.policy ?? 'auto', workload, preemption: false }));
  if (s.openAll) for (const k of kinds) for (let i = 0; i < k.available; i++) fleet.openOne(k);
  let unplaced = ordered(tasks, s.order).filter((t) => !fleet.place(t));
  const opened = fleet.snap.nodeCount;
  let compacted = 0;
  if (!opts.noCompaction) {
    const { drains } = compactSnapshot(fleet.engine, fleet.snap);
    for (const d of drains) fleet.close(d.node);
    compacted = drains.length;
    unplaced = planOrder(unplaced).filter((t) => !fleet.place(t));
  }
  return summarise(fleet.snap, kinds, fleet.kindOfNode, tasks, { unplaced: unplaced.length, opened, compacted, strategy: strategyLabel(s) });
}

function summarise(snap: ClusterSnapshot, kinds: readonly MachineKind[], kindOfNode: ReadonlyMap<string, MachineKind>, tasks: readonly TraceTask[], r: { unplaced: number; opened: number; compacted: number; strategy: string }): MachinePlan {
  const byTask = new Map(tasks.map((t) => [`trace/${t.name}`, t]));
  const onKind = new Map<string, { used: number; tasks: TraceTask[] }>(kinds.map((k) => [k.name, { used: 0, tasks: [] }]));
  for (const node of snap.nodes()) {
    if (node.instances.size === 0) continue;
    const use = onKind.get(kindOfNode.get(node.name)!.name)!;
    use.used++;
    for (const key of node.instances) use.tasks.push(byTask.get(key)!);
  }
  const uses = kinds.map((kind) => {
    const u = onKind.get(kind.name)!;
    return { kind, used: u.used, tasks: u.tasks.length, bound: homogeneousBound(totalsOf(u.tasks), kind.size) };
  });
  const used = uses.reduce((s, u) => s + u.used, 0);
  const bound = workloadBound(tasks, kinds);
  const placed = uses.reduce((s, u) => s + u.tasks, 0);
  let gpuPlaced = 0;
  for (const u of onKind.values()) gpuPlaced += totalsOf(u.tasks).gpu;
  const gpuCapacity = uses.reduce((s, u) => s + u.used * u.kind.size.gpu, 0);
  return { kinds: uses, tasks: tasks.length, placed, unplaced: r.unplaced, gpuPlaced, gpuCapacity, used, bound, ratio: used / bound.machines, opened: r.opened, compacted: r.compacted, strategy: r.strategy, tried: [], wallMs: 0 };
}
