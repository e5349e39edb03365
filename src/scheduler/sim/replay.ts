/**
 * Trace replay, the protocol of the FGD paper's experiments as its public simulator runs them
 * (/work/shared/traces/alibaba-gpu-v2023/README.md, points 1–6):
 *
 * 1. the nodes are whatever list is given (the paper's: the GPU machines);
 * 2. shuffle the tasks with the seed;
 * 3. tune the workload to `ratio` × the cluster's GPU capacity, counted in GPUs requested (a
 *    share as its fraction): if the tasks ask for less, append tasks drawn uniformly at random,
 *    with replacement, from the original list, until the next draw would pass the target; if they
 *    ask for more, remove uniformly random tasks until the request is at most the target;
 * 4. tasks arrive one by one and never leave; each is placed by the policy through the engine
 *    (the same code the live scheduler runs) or, fitting nowhere, counted as failed;
 * 5. after each arrival record arrived workload (GPU asked by all arrived tasks ÷ capacity) and
 *    GPU allocation (GPU held by placed tasks ÷ capacity), in %; the value at X % is the mean
 *    over the arrivals whose rounded arrived workload is X, and there is none when no arrival
 *    rounds to X;
 * 6. FGD's target workload: learned online from the arrivals (what the live scheduler does), or,
 *    with `workload: 'trace'`, from the original task list before the run (what the paper does).
 *
 * Ties between equally scored nodes follow a permutation of the nodes drawn with the seed after
 * tuning, as the paper's simulator orders nodes by names it prefixes with a random permutation.
 * Randomness: our own seeded generator (rng.ts), so single runs differ from the paper's Go runs;
 * compare means over seeds 42–51.
 */
import type { PolicyChoice, Rng } from '../engine/types.js';
import { createEngine } from '../engine/engine.js';
import { WorkloadModel } from '../engine/fgd/workload.js';
import { demandOf } from '../engine/request.js';
import { createRng, randomInt, shuffle } from '../engine/rng.js';
import { ClusterSnapshot } from '../engine/snapshot.js';
import { taskGpu, toInstance, toNode, type TraceNode, type TraceTask } from './trace.js';

/** Where FGD's target workload comes from: the arrivals so far, or the whole task list. */
export type WorkloadSource = 'online' | 'trace';

export interface ReplayOptions {
  readonly policy: PolicyChoice;
  readonly seed: number;
  /** Target GPU request ÷ GPU capacity. Default 1.3. */
  readonly ratio?: number;
  /** Default 'online'. */
  readonly workload?: WorkloadSource;
}

export interface ReplayResult {
  /** Tasks appended to or removed from the shuffled list by tuning (step 3). */
  readonly appended: number;
  readonly removed: number;
  readonly arrivals: number;
  readonly failed: number;
  /** Per arrival, in %. */
  readonly arrived: Float64Array;
  readonly allocated: Float64Array;
  readonly wallMs: number;
}

/** The workload after tuning (step 3), with what was done to reach it. */
export interface Tuned {
  readonly tasks: TraceTask[];
  /** Tasks appended (drawn with replacement) or removed. */
  readonly appended: number;
  readonly removed: number;
  /** GPU thousandths the tuned workload asks for, and the target. */
  readonly asked: number;
  readonly target: number;
}

/** Appending stops with an error past this many tasks (a list asking almost no GPU). */
const MAX_TUNED = 2_000_000;

/**
 * Step 3 on `order` (already shuffled; taken over): append draws from `original`, or remove random
 * tasks, until the GPU asked is as close to `ratio` × `capacity` (thousandths) as the protocol
 * says. Throws when the list asks for no GPU or cannot reach the target within MAX_TUNED tasks.
 */
export function tuneWorkload(order: TraceTask[], original: readonly TraceTask[], capacity: number, rng: Rng, ratio = 1.3): Tuned {
  const target = ratio * capacity;
  let asked = order.reduce((s, t) => s + taskGpu(t), 0);
  let appended = 0;
  let removed = 0;
  if (asked < target) {
    if (!original.some((t) => taskGpu(t) > 0)) throw new Error('tasks: none asks for a GPU, so the workload cannot be tuned to the GPU capacity');
    for (;;) {
      const t = original[randomInt(rng, original.length)]!;
      if (asked + taskGpu(t) > target) break;
      if (order.length >= MAX_TUNED) throw new Error(`tasks: more than ${MAX_TUNED} tasks would be needed to ask for ${ratio} × the GPU capacity`);
      order.push({ ...t, name: `${t.name}-c${appended}` });
      asked += taskGpu(t);
      appended++;
    }
  }
  while (asked > target) {
    const [t] = order.splice(randomInt(rng, order.length), 1);
    asked -= taskGpu(t!);
    removed++;
  }
  return { tasks: order, appended, removed, asked, target };
}

/** The arrival sequence and tie order for `seed`: shuffled, tuned, then the nodes permuted (steps 2–3). */
export function arrivalsFor(tasks: readonly TraceTask[], nodes: readonly TraceNode[], seed: number, ratio = 1.3): { tuned: Tuned; tieOrder: string[] } {
  const capacity = gpuCapacity(nodes);
  if (capacity === 0) throw new Error('nodes: none has a GPU; the replay measures GPU allocation');
  const rng = createRng(seed);
  const tuned = tuneWorkload(shuffle([...tasks], rng), tasks, capacity, rng, ratio);
  const tieOrder = shuffle(nodes.map((n) => n.name).sort(), rng);
  return { tuned, tieOrder };
}

/** GPU thousandths the nodes offer. */
export function gpuCapacity(nodes: readonly TraceNode[]): number {
  return nodes.reduce((s, n) => s + n.gpus * 1000, 0);
}

/** Replays `tasks` on `nodes` under one policy and seed (steps 2–6). */
export function replay(nodes: readonly TraceNode[], tasks: readonly TraceTask[], opts: ReplayOptions, now: () => number = () => performance.now()): ReplayResult {
  const { tuned, tieOrder } = arrivalsFor(tasks, nodes, opts.seed, opts.ratio);
  const arrivals = tuned.tasks;
  const start = now();
  const capacity = gpuCapacity(nodes);
  const snap = ClusterSnapshot.from(nodes.map(toNode));
  const workload = opts.workload === 'trace' ? WorkloadModel.fromDemands(tasks.map((t) => demandOf(toInstance(t)))) : new WorkloadModel();
  const engine = createEngine({ policy: opts.policy, rng: createRng(opts.seed ^ 0x5eed), workload, preemption: false, tieOrder });
  const arrived = new Float64Array(arrivals.length);
  const allocated = new Float64Array(arrivals.length);
  let asked = 0;
  let held = 0;
  let failed = 0;
  arrivals.forEach((t, i) => {
    asked += taskGpu(t);
    const plan = engine.schedule(snap, [toInstance(t)], { assume: true });
    if (plan.placements.length > 0) held += taskGpu(t);
    else failed++;
    arrived[i] = (100 * asked) / capacity;
    allocated[i] = (100 * held) / capacity;
  });
  return { appended: tuned.appended, removed: tuned.removed, arrivals: arrivals.length, failed, arrived, allocated, wallMs: now() - start };
}

/**
 * GPU allocation (%) when the arrived workload is `pct` %: the mean allocation over the arrivals
 * whose arrived workload rounds to `pct`; undefined when none does (the run never got there, or
 * jumped past it), never a value from another point.
 */
export function allocationAt(r: ReplayResult, pct: number): number | undefined {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < r.arrivals; i++) {
    if (Math.round(r.arrived[i]!) === pct) {
      sum += r.allocated[i]!;
      n++;
    }
  }
  return n > 0 ? sum / n : undefined;
}
