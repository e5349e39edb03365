/**
 * Placement policies: which score plugins rank the nodes that pass every filter, with weights,
 * and how the winner is chosen ('best': highest weighted score; 'uniform': any feasible node
 * with equal chance).
 *
 * | policy         | scores                                   | use                              |
 * |----------------|------------------------------------------|----------------------------------|
 * | binpack        | most allocated CPU+memory                | default without GPUs             |
 * | spread         | least allocated CPU+memory               | even load                        |
 * | fgd            | fragmentation gradient descent (paper)   | default with GPUs                |
 * | fgd-sc         | FGD + host scarcity + CPU stranding      | constrained or CPU-heavy GPU work|
 * | random         | uniform among feasible nodes             | FGD paper baseline               |
 * | dotprod        | dot product of free and request vectors  | FGD paper baseline               |
 * | gpu-clustering | keep GPU instances of a kind together    | FGD paper baseline               |
 * | gpu-packing    | fill shared GPUs, then used nodes        | FGD paper baseline               |
 * | bestfit        | tightest CPU+GPU fit                     | FGD paper baseline               |
 */
import type { PolicyName } from '../../model/kinds/instance.js';
import { FGD_SC, fgdScore } from './fgd/plugin.js';
import type { WorkloadModel } from './fgd/workload.js';
import { bestfit, binpack, dotprod, gpuClustering, gpuPacking, leastAllocated, randomFit } from './plugins/scores.js';
import type { Rng, ScorePlugin } from './types.js';

export interface WeightedScore {
  readonly plugin: ScorePlugin;
  readonly weight: number;
}

export interface Policy {
  readonly name: PolicyName;
  readonly scores: readonly WeightedScore[];
  readonly select: 'best' | 'uniform';
}

export interface PolicyDeps {
  readonly rng: Rng;
  readonly workload: WorkloadModel;
}

/** Every policy, wired to the engine's randomness and learned workload. */
export function buildPolicies(deps: PolicyDeps): Record<PolicyName, Policy> {
  const one = (name: PolicyName, plugin: ScorePlugin, select: Policy['select'] = 'best'): Policy => ({
    name,
    scores: [{ plugin, weight: 1 }],
    select,
  });
  return {
    binpack: one('binpack', binpack),
    spread: one('spread', leastAllocated),
    fgd: one('fgd', fgdScore(deps.workload)),
    'fgd-sc': one('fgd-sc', fgdScore(deps.workload, FGD_SC)),
    random: one('random', randomFit(deps.rng), 'uniform'),
    dotprod: one('dotprod', dotprod),
    'gpu-clustering': one('gpu-clustering', gpuClustering),
    'gpu-packing': one('gpu-packing', gpuPacking),
    bestfit: one('bestfit', bestfit),
  };
}
