/**
 * Preemption (post-filter): when an instance fits nowhere, evict the smallest set of instances
 * of strictly lower priority from ONE node so that it fits there. Never evicts equal or higher
 * priority, never instances placed by the same plan.
 *
 * Per node whose verdict is `unschedulable` (full, not too small): try victim sets of growing
 * size k, from the lowest possible k (each resource short by x needs victims freeing ≥ x),
 * and among the sets of the first size that works keep the one with the lowest priorities
 * (compared highest first). The search checks at most SEARCH_BUDGET sets per node; past that it
 * falls back to the greedy answer (evict all candidates, then spare them highest priority first
 * while the instance still fits), which is minimal by inclusion but maybe not in size.
 * Across nodes: fewest victims, then lowest priorities, then the node's tie-break order.
 */
import type { NodeState } from '../node-state.js';
import { freeVerdict, type FreeView } from './resources.js';
import type { CompiledRequest, Demand, PlacedInstance, PostFilterContext, PostFilterPlugin, PreemptionChoice } from '../types.js';

export const SEARCH_BUDGET = 20_000;

/** The node's free resources if `victims` were gone. */
export function freeWithout(node: NodeState, victims: readonly PlacedInstance[]): FreeView {
  const gpuFree = node.gpuFree.slice();
  const freedPorts = new Map<string, number>();
  let cpu = 0;
  let memory = 0;
  let disk = 0;
  for (const v of victims) {
    cpu += v.demand.cpu;
    memory += v.demand.memory;
    disk += v.demand.disk;
    for (const g of v.allocation.gpus) {
      const pos = node.gpuIndex.indexOf(g.index);
      if (pos >= 0) gpuFree[pos]! += g.milli;
    }
    for (const p of v.demand.ports) freedPorts.set(p, (freedPorts.get(p) ?? 0) + 1);
  }
  return {
    freeCpu: node.freeCpu + cpu,
    freeMemory: node.freeMemory + memory,
    freeDisk: node.freeDisk + disk,
    freeSlots: node.freeSlots + victims.length,
    gpuFree,
    ports: { has: (p: string) => (node.ports.get(p) ?? 0) > (freedPorts.get(p) ?? 0) },
  };
}

export function fitsWithout(node: NodeState, d: Demand, victims: readonly PlacedInstance[]): boolean {
  return freeVerdict(node, d, freeWithout(node, victims)).kind === 'fits';
}

/** Priorities highest first; the lexicographically smaller vector is the better victim set. */
function priorityVector(victims: readonly PlacedInstance[]): number[] {
  return victims.map((v) => v.priority).sort((a, b) => b - a);
}

export function compareVectors(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** Fewest victims whose removal could cover the shortest resource (a lower bound on k). */
function lowerBound(node: NodeState, d: Demand, cands: readonly PlacedInstance[]): number {
  const needs: [number, (v: PlacedInstance) => number][] = [
    [d.cpu - node.freeCpu, (v) => v.demand.cpu],
    [d.memory - node.freeMemory, (v) => v.demand.memory],
    [d.disk - node.freeDisk, (v) => v.demand.disk],
    [1 - node.freeSlots, () => 1],
  ];
  let k = 1;
  for (const [need, size] of needs) {
    if (need <= 0) continue;
    const sizes = cands.map(size).sort((a, b) => b - a);
    let sum = 0;
    let i = 0;
    while (i < sizes.length && sum < need) sum += sizes[i++]!;
    k = Math.max(k, i);
  }
  return k;
}

/** Best victim set of exactly `k` among `cands`, or undefined; `budget.left` counts checks. */
function bestOfSize(node: NodeState, d: Demand, cands: readonly PlacedInstance[], k: number, budget: { left: number }): PlacedInstance[] | undefined {
  let best: PlacedInstance[] | undefined;
  let bestVec: number[] = [];
  const idx = Array.from({ length: k }, (_, i) => i);
  for (;;) {
    if (budget.left-- <= 0) return best;
    const set = idx.map((i) => cands[i]!);
    if (fitsWithout(node, d, set)) {
      const vec = priorityVector(set);
      if (!best || compareVectors(vec, bestVec) < 0) [best, bestVec] = [set, vec];
    }
    let j = k - 1;
    while (j >= 0 && idx[j] === cands.length - k + j) j--;
    if (j < 0) return best;
    idx[j]!++;
    for (let m = j + 1; m < k; m++) idx[m] = idx[m - 1]! + 1;
  }
}

/** Evict everything, then spare candidates highest priority first while the instance still fits. */
function greedy(node: NodeState, d: Demand, cands: readonly PlacedInstance[]): PlacedInstance[] {
  const victims = [...cands];
  for (const c of [...cands].sort((a, b) => b.priority - a.priority)) {
    const without = victims.filter((v) => v !== c);
    if (fitsWithout(node, d, without)) victims.splice(victims.indexOf(c), 1);
  }
  return victims;
}

/** The smallest, then lowest-priority, victim set on `node`, or undefined when none works. */
export function minimalVictims(node: NodeState, d: Demand, cands: readonly PlacedInstance[]): PlacedInstance[] | undefined {
  if (cands.length === 0 || !fitsWithout(node, d, cands)) return undefined;
  const budget = { left: SEARCH_BUDGET };
  for (let k = lowerBound(node, d, cands); k <= cands.length; k++) {
    const found = bestOfSize(node, d, cands, k, budget);
    if (budget.left <= 0) return found ?? greedy(node, d, cands);
    if (found) return found;
  }
  return greedy(node, d, cands);
}

interface Option {
  readonly node: NodeState;
  readonly victims: PlacedInstance[];
  readonly vector: number[];
}

function optionsFor(req: CompiledRequest, ctx: PostFilterContext): Option[] {
  const out: Option[] = [];
  for (const node of ctx.snapshot.nodes()) {
    if (ctx.localVerdict(node).kind !== 'unschedulable') continue;
    const cands: PlacedInstance[] = [];
    for (const key of node.instances) {
      const rec = ctx.snapshot.instance(key);
      if (rec && rec.priority < req.priority && !ctx.protectedKeys.has(key)) cands.push(rec);
    }
    cands.sort((a, b) => a.priority - b.priority || (a.key < b.key ? -1 : 1));
    const victims = minimalVictims(node, req.demand, cands);
    if (victims) out.push({ node, victims, vector: priorityVector(victims) });
  }
  return out.sort((a, b) => compareVectors(a.vector, b.vector) || ctx.tieKey(a.node) - ctx.tieKey(b.node));
}

export const defaultPreemption = {
  name: 'DefaultPreemption',
  postFilter(req: CompiledRequest, ctx: PostFilterContext): PreemptionChoice | undefined {
    if (req.priority <= 0) return undefined;
    for (const o of optionsFor(req, ctx)) {
      const victims = o.victims.sort((a, b) => b.priority - a.priority).map((v) => v.key);
      if (ctx.evictIfFits(o.node, victims)) return { node: o.node.name, victims };
    }
    return undefined;
  },
} satisfies PostFilterPlugin;
