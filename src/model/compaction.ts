/**
 * The answer of `POST /v1/nodes/compact?dryRun=true` (`stratus node compact --plan`): which nodes
 * to drain so that the most nodes end up empty, computed by the scheduler's engine
 * (src/scheduler/plan/live.ts).
 */

export interface CompactionMove {
  /** Instance key, project/name. */
  readonly key: string;
  readonly from: string;
  readonly to: string;
}

export interface CompactionDrain {
  readonly node: string;
  readonly moves: CompactionMove[];
}

export interface CompactionKept {
  readonly node: string;
  /** Instances on it at the end of the plan. */
  readonly instances: number;
  /** Why the node stays: an instance that may not move, or one that fits nowhere else. */
  readonly reason: string;
}

export interface CompactionPlan {
  /** Nodes to drain, in order, and where their instances would go. */
  drains: CompactionDrain[];
  /** Schedulable nodes with instances that stay, and why. */
  kept: CompactionKept[];
  /** Schedulable nodes that are empty already (nothing to drain). */
  empty: string[];
  /** Nodes with instances now, and after the drains. */
  before: number;
  after: number;
}
