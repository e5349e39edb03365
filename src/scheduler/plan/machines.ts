/**
 * `stratus sim plan`: how many machines of each kind a workload needs, placed by the live
 * scheduler's engine and default policy (`auto`: FGD with GPUs, binpack without).
 *
 * 1. Tasks in decreasing order of GPU asked (model-bound ones first among equals), then
 *    increasing CPU (the CPU-heavy GPU tasks of a size last, where they strand the fewest GPUs:
 *    measured on the openb trace, 807 machines instead of 816 with CPU decreasing), then memory.
 * 2. Each task goes to the engine on the machines opened so far. When none can take it, a
 *    machine is opened: of the kinds with machines left that could host the task alone, the one
 *    with the most GPUs, then CPU, then memory (the bound counts the largest machines first).
 *    A task no kind can host, or none has machines left for, is unplaced and counted.
 * 3. Compaction (compact.ts) then empties what it can, least utilised first; the emptied
 *    machines are given back, and tasks left unplaced in step 2 try once more. (Ruining the 40
 *    least-utilised machines and placing their tasks again, 15 rounds, gained nothing on the
 *    openb trace, so it is not done.)
 *
 * FGD's target workload is taken from the whole task list (the planner knows it in advance).
 */
import { createEngine, type Engine } from '../engine/engine.js';
import { WorkloadModel } from '../engine/fgd/workload.js';
import { demandOf } from '../engine/request.js';
import { ClusterSnapshot } from '../engine/snapshot.js';
import type { PolicyChoice } from '../engine/types.js';
import { taskGpu, toInstance, toNode, type TraceNode, type TraceTask } from '../sim/trace.js';
import { compactSnapshot } from './compact.js';
import { homogeneousBound, kindsOf, mixedBound, totalsOf, type Bound, type MachineKind } from './bounds.js';

export interface PlanMachinesOptions {
  /** Every kind without limit (default: as many of each as the node list has). */
  readonly unlimited?: boolean;
  /** Default 'auto', the live scheduler's default. */
  readonly policy?: PolicyChoice;
  /** Skip step 3 (for comparison). */
  readonly noCompaction?: boolean;
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
  /** Machines used in all; the mixed bound over every kind (bounds.ts) for the whole workload. */
  readonly used: number;
  readonly bound: Bound;
  /** used ÷ bound.machines. */
  readonly ratio: number;
  /** Machines opened before compaction, and emptied by it. */
  readonly opened: number;
  readonly compacted: number;
  readonly wallMs: number;
}

/** Decreasing order of step 1. */
export function planOrder(tasks: readonly TraceTask[]): TraceTask[] {
  return [...tasks].sort((a, b) => taskGpu(b) - taskGpu(a) || Number(Boolean(b.models)) - Number(Boolean(a.models)) || a.cpu - b.cpu || b.memory - a.memory || a.name.localeCompare(b.name));
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

  constructor(
    private readonly kinds: readonly MachineKind[],
    readonly engine: Engine,
  ) {}

  /** Places `t` on an open machine, or opens one for it (step 2); false when neither works. */
  place(t: TraceTask): boolean {
    const inst = toInstance(t);
    if (this.engine.schedule(this.snap, [inst], { assume: true }).placements.length > 0) return true;
    const kind = this.kinds.find((k) => (this.open.get(k.name) ?? 0) < k.available && kindFits(k, t));
    if (!kind) return false;
    const n = this.names.get(kind.name) ?? 0;
    this.names.set(kind.name, n + 1);
    this.open.set(kind.name, (this.open.get(kind.name) ?? 0) + 1);
    const name = `${kind.name}-${n}`;
    this.kindOfNode.set(name, kind);
    this.snap.upsertNode(toNode({ name, cpu: kind.size.cpu, memory: kind.size.memory, gpus: kind.gpus, model: kind.model }));
    return this.engine.schedule(this.snap, [inst], { assume: true }).placements.length > 0;
  }

  /** Gives an empty machine back. */
  close(name: string): void {
    const kind = this.kindOfNode.get(name)!;
    this.snap.removeNode(name);
    this.open.set(kind.name, this.open.get(kind.name)! - 1);
  }
}

/** Plans `tasks` onto machines of the kinds in `nodes`; see the file comment. */
export function planMachines(nodes: readonly TraceNode[], tasks: readonly TraceTask[], opts: PlanMachinesOptions = {}, now: () => number = () => performance.now()): MachinePlan {
  const start = now();
  const kinds = kindsOf(nodes, opts.unlimited);
  const workload = WorkloadModel.fromDemands(tasks.map((t) => demandOf(toInstance(t))));
  const fleet = new Fleet(kinds, createEngine({ policy: opts.policy ?? 'auto', workload, preemption: false }));
  let unplaced = planOrder(tasks).filter((t) => !fleet.place(t));
  const opened = fleet.snap.nodeCount;
  let compacted = 0;
  if (!opts.noCompaction) {
    const { drains } = compactSnapshot(fleet.engine, fleet.snap);
    for (const d of drains) fleet.close(d.node);
    compacted = drains.length;
    unplaced = planOrder(unplaced).filter((t) => !fleet.place(t));
  }
  return summarise(fleet.snap, kinds, fleet.kindOfNode, tasks, { unplaced: unplaced.length, opened, compacted, wallMs: now() - start });
}

function summarise(snap: ClusterSnapshot, kinds: readonly MachineKind[], kindOfNode: ReadonlyMap<string, MachineKind>, tasks: readonly TraceTask[], r: { unplaced: number; opened: number; compacted: number; wallMs: number }): MachinePlan {
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
  const bound = mixedBound(totalsOf(tasks), kinds);
  const placed = uses.reduce((s, u) => s + u.tasks, 0);
  return { kinds: uses, tasks: tasks.length, placed, unplaced: r.unplaced, used, bound, ratio: used / bound.machines, opened: r.opened, compacted: r.compacted, wallMs: r.wallMs };
}
