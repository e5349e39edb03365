/**
 * Node-local score plugins (integer 0–100, higher is better). Each formula is written above its
 * plugin and tested in scores.test.ts with the arithmetic in comments. GPU quantities are
 * thousandths; `maxCpu`/`maxGpu` are the largest node's CPU and GPUs×1000 in the cluster.
 */
import { MILLI, gpuTag, type NodeState } from '../node-state.js';
import { gpuMilliTotal } from '../request.js';
import { modelAllowed } from '../gpu.js';
import type { CompiledRequest, Rng, ScoreContext, ScorePlugin, ScoreResult } from '../types.js';

const ZERO: ScoreResult = Object.freeze({ score: 0 });

/** Integer mean of per-resource integer percentages, over resources the node has. */
function meanPercent(parts: [num: number, den: number][]): number {
  let sum = 0;
  let n = 0;
  for (const [num, den] of parts) {
    if (den <= 0) continue;
    sum += Math.floor((num * 100) / den);
    n++;
  }
  return n === 0 ? 0 : Math.floor(sum / n);
}

/**
 * binpack (most allocated): fill busy nodes first.
 *   score = ⌊( ⌊(usedCpu+cpu)·100/allocCpu⌋ + ⌊(usedMem+mem)·100/allocMem⌋ ) / 2⌋
 */
export const binpack = {
  name: 'Binpack',
  score(req: CompiledRequest, n: NodeState): ScoreResult {
    const d = req.demand;
    return { score: meanPercent([[n.usedCpu + d.cpu, n.cpu], [n.usedMemory + d.memory, n.memory]]) };
  },
} satisfies ScorePlugin;

/**
 * spread (least allocated): prefer empty nodes.
 *   score = ⌊( ⌊(freeCpu−cpu)·100/allocCpu⌋ + ⌊(freeMem−mem)·100/allocMem⌋ ) / 2⌋
 */
export const leastAllocated = {
  name: 'LeastAllocated',
  score(req: CompiledRequest, n: NodeState): ScoreResult {
    const d = req.demand;
    return { score: meanPercent([[n.freeCpu - d.cpu, n.cpu], [n.freeMemory - d.memory, n.memory]]) };
  },
} satisfies ScorePlugin;

/**
 * bestfit (the FGD paper's baseline): the tightest node after placement.
 *   s = 0.5·(freeCpu−cpu)/maxCpu + 0.5·(freeGpu−gpu)/maxGpu          (0 = perfectly tight)
 *   score = ⌊100·(1 − s)⌋, computed exactly in integers:
 *         = ⌊(100·maxCpu·maxGpu − 50·(freeCpu−cpu)·maxGpu − 50·(freeGpu−gpu)·maxCpu) / (maxCpu·maxGpu)⌋
 * The GPU term is dropped when the cluster has no GPUs.
 */
export const bestfit = {
  name: 'BestFit',
  score(req: CompiledRequest, n: NodeState, ctx: ScoreContext): ScoreResult {
    const M = Math.max(1, ctx.maxNodeCpu);
    const G = ctx.maxNodeGpus * MILLI;
    const a = n.freeCpu - req.demand.cpu;
    if (G === 0) return { score: Math.floor((100 * M - 50 * a) / M) };
    const b = n.gpuFreeTotal - gpuMilliTotal(req.demand);
    return { score: Math.floor((100 * M * G - 50 * a * G - 50 * b * M) / (M * G)) };
  },
  epoch: (ctx: ScoreContext) => `${ctx.maxNodeCpu}/${ctx.maxNodeGpus}`,
} satisfies ScorePlugin;

/**
 * dotprod (the paper's baseline): prefer nodes whose free vector points away from the request.
 *   score = ⌊100·(1 − (freeCpu·cpu/maxCpu² + freeGpu·gpu/maxGpu²) / 2)⌋
 */
export const dotprod = {
  name: 'DotProduct',
  score(req: CompiledRequest, n: NodeState, ctx: ScoreContext): ScoreResult {
    const M = Math.max(1, ctx.maxNodeCpu);
    const G = Math.max(1, ctx.maxNodeGpus * MILLI);
    const dot = (n.freeCpu * req.demand.cpu) / (M * M) + (n.gpuFreeTotal * gpuMilliTotal(req.demand)) / (G * G);
    return { score: Math.max(0, Math.floor(100 * (1 - dot / 2) + 1e-9)) };
  },
  epoch: (ctx: ScoreContext) => `${ctx.maxNodeCpu}/${ctx.maxNodeGpus}`,
} satisfies ScorePlugin;

/**
 * gpu-packing (the paper's baseline), for GPU requests (0 otherwise). With k = devices used,
 * f = completely free devices on the node:
 *   all devices free:        score = max(33 − f, f)
 *   must use free devices:   score = max(50 − (free devices used), 33)
 *   fits on shared devices:  score = max(100 − ⌊Σ ⌊free·100/1000⌋ / 10⌋, 50)   (Σ over the devices used)
 * Devices are taken least-free first (best fit).
 */
export const gpuPacking = {
  name: 'GpuPacking',
  score(req: CompiledRequest, n: NodeState): ScoreResult {
    const d = req.demand;
    if (d.gpuCount === 0) return ZERO;
    const fullyFree = n.gpuFree.filter((f) => f >= MILLI).length;
    if (fullyFree === n.gpuCount) return { score: Math.max(33 - fullyFree, fullyFree) };
    const order = n.gpuFree.map((_, i) => i).sort((a, b) => n.gpuFree[a]! - n.gpuFree[b]! || a - b);
    const used: number[] = [];
    for (const i of order) {
      if (used.length < d.gpuCount && n.gpuFree[i]! >= d.gpuMilli && modelAllowed(n.gpuModel[i]!, d.gpuModels)) used.push(i);
    }
    const freeUsed = used.filter((i) => n.gpuFree[i]! >= MILLI).length;
    if (freeUsed > 0) return { score: Math.max(50 - freeUsed, 33), devices: used };
    const ratio = used.reduce((s, i) => s + Math.floor((n.gpuFree[i]! * 100) / MILLI), 0);
    return { score: Math.max(100 - Math.floor(ratio / 10), 50), devices: used };
  },
} satisfies ScorePlugin;

/**
 * gpu-clustering (the paper's baseline): keep GPU instances of one kind together. Kinds: "share",
 * "<n>-gpu". With base = ⌊25·(maxGpu − freeGpu)/maxGpu⌋:
 *   node runs only this kind: 75 + base;  this kind among others: 50 + base;
 *   runs no GPU instance:     25 + base;  only other kinds:       base.
 * Requests without GPUs score 0.
 */
export const gpuClustering = {
  name: 'GpuClustering',
  score(req: CompiledRequest, n: NodeState, ctx: ScoreContext): ScoreResult {
    const tag = gpuTag(req.demand);
    if (!tag) return ZERO;
    const G = Math.max(1, ctx.maxNodeGpus * MILLI);
    const base = Math.floor((25 * (G - n.gpuFreeTotal)) / G);
    if (n.gpuTags.has(tag)) return { score: (n.gpuTags.size === 1 ? 75 : 50) + base };
    return { score: (n.gpuTags.size === 0 ? 25 : 0) + base };
  },
  epoch: (ctx: ScoreContext) => `${ctx.maxNodeGpus}`,
} satisfies ScorePlugin;

/** random: every feasible node scores 100 (the engine picks uniformly); a share lands on a random fitting device. */
export function randomFit(rng: Rng) {
  return {
    name: 'RandomFit',
    score(req: CompiledRequest, n: NodeState): ScoreResult {
      const d = req.demand;
      if (d.gpuCount !== 1 || d.gpuMilli >= MILLI) return { score: 100 };
      const fit: number[] = [];
      for (let i = 0; i < n.gpuCount; i++) if (n.gpuFree[i]! >= d.gpuMilli && modelAllowed(n.gpuModel[i]!, d.gpuModels)) fit.push(i);
      return { score: 100, devices: [fit[Math.floor(rng() * fit.length)]!] };
    },
  } satisfies ScorePlugin;
}
