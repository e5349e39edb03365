/**
 * Trace replay, the protocol of the FGD paper and its simulator (trace README):
 *
 * 1. shuffle the tasks with the seed;
 * 2. inflate: append tasks drawn at random (with replacement) from the trace until there are
 *    ⌈ratio × n⌉, stopping early once the total requested CPU or GPU would exceed `capacityFactor`
 *    × the cluster's capacity (default: the same ratio — the inflated workload may ask up to
 *    ratio × capacity, which is what lets arrivals pass 100 %);
 * 3. tasks arrive one by one and never leave; each is placed by the policy through the engine
 *    (the same code the live scheduler runs) or, fitting nowhere, counted as failed;
 * 4. after each arrival record arrived workload (GPU asked by all arrived tasks ÷ capacity) and
 *    GPU allocation (GPU held by placed tasks ÷ capacity), in %; a share counts as its fraction.
 *
 * Randomness: our own seeded generator (rng.ts), so single runs differ from the paper's Go
 * runs; compare means over seeds 42–51.
 */
import type { PolicyChoice } from '../engine/types.js';
import { createEngine } from '../engine/engine.js';
import { WorkloadModel } from '../engine/fgd/workload.js';
import { createRng, randomInt, shuffle } from '../engine/rng.js';
import { ClusterSnapshot } from '../engine/snapshot.js';
import { taskGpu, toInstance, toNode, type TraceNode, type TraceTask } from './trace.js';

export interface ReplayOptions {
  readonly policy: PolicyChoice;
  readonly seed: number;
  /** Inflation ratio. Default 1.3. */
  readonly ratio?: number;
  /** Inflated totals may not exceed this × capacity. Default: `ratio`. */
  readonly capacityFactor?: number;
}

export interface ReplayResult {
  readonly arrivals: number;
  readonly failed: number;
  /** Per arrival, in %. */
  readonly arrived: Float64Array;
  readonly allocated: Float64Array;
  readonly wallMs: number;
}

/** The arrival sequence for `seed`: shuffled, then inflated (steps 1 and 2). */
export function arrivalsFor(tasks: readonly TraceTask[], nodes: readonly TraceNode[], seed: number, ratio = 1.3, capacityFactor = ratio): TraceTask[] {
  const rng = createRng(seed);
  const order = shuffle([...tasks], rng);
  const cpuCap = nodes.reduce((s, n) => s + n.cpu, 0) * capacityFactor;
  const gpuCap = nodes.reduce((s, n) => s + n.gpus * 1000, 0) * capacityFactor;
  let cpu = tasks.reduce((s, t) => s + t.cpu, 0);
  let gpu = tasks.reduce((s, t) => s + taskGpu(t), 0);
  const target = Math.ceil(tasks.length * ratio);
  for (let i = 0; order.length < target; i++) {
    const t = tasks[randomInt(rng, tasks.length)]!;
    if (cpu + t.cpu > cpuCap || gpu + taskGpu(t) > gpuCap) break;
    cpu += t.cpu;
    gpu += taskGpu(t);
    order.push({ ...t, name: `${t.name}-c${i}` });
  }
  return order;
}

/** Replays `tasks` on `nodes` under one policy and seed (steps 3 and 4). */
export function replay(nodes: readonly TraceNode[], tasks: readonly TraceTask[], opts: ReplayOptions, now: () => number = () => performance.now()): ReplayResult {
  const arrivals = arrivalsFor(tasks, nodes, opts.seed, opts.ratio, opts.capacityFactor);
  const start = now();
  const capacity = nodes.reduce((s, n) => s + n.gpus * 1000, 0);
  const snap = ClusterSnapshot.from(nodes.map(toNode));
  const engine = createEngine({ policy: opts.policy, rng: createRng(opts.seed ^ 0x5eed), workload: new WorkloadModel(), preemption: false });
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
  return { arrivals: arrivals.length, failed, arrived, allocated, wallMs: now() - start };
}

/**
 * GPU allocation (%) when the arrived workload is `pct` %, the way the paper's analysis reads its
 * curves: the mean allocation over arrivals whose arrived workload rounds to `pct`, else to
 * `pct` ± 1; when the replay never got that far, the final allocation (`reached` false).
 */
export function allocationAt(r: ReplayResult, pct: number): { value: number; reached: boolean } {
  for (const window of [0, 1]) {
    let sum = 0;
    let n = 0;
    for (let i = 0; i < r.arrivals; i++) {
      const a = Math.round(r.arrived[i]!);
      if (a >= pct - window && a <= pct + window) {
        sum += r.allocated[i]!;
        n++;
      }
    }
    if (n > 0) return { value: sum / n, reached: true };
  }
  return { value: r.allocated[r.arrivals - 1] ?? 0, reached: false };
}
