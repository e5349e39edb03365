/**
 * One equivalence class of requests: a shape (ShapeCache: room and score, shared by every class
 * of that shape) under one set of node constraints (StaticCache: health, pin, selector, zones,
 * shared by every class with those constraints). A class keeps no per-node state of its own:
 * a node's verdict is the static rejection if there is one, else the shape's evaluation — two
 * array reads. So a new class costs nothing, whatever the cluster size.
 */
import type { NodeState } from './node-state.js';
import type { Policy } from './policies.js';
import type { LocalEval, ShapeCache } from './shape-cache.js';
import type { StaticCache } from './static-cache.js';
import type { EligibleNodes } from './types.js';

export type { LocalEval, HeapEntry } from './shape-cache.js';
export { better } from './shape-cache.js';

export class ClassView {
  constructor(
    readonly shape: ShapeCache,
    readonly statics: StaticCache,
  ) {}

  get policy(): Policy {
    return this.shape.policy;
  }

  /** The spread domains of this class: nodes that pass its static filters. */
  get eligible(): EligibleNodes {
    return this.statics;
  }

  /** The current node-local verdict and score of `node` (call after refreshing both caches). */
  evalOf(node: NodeState): LocalEval {
    return this.statics.get(node).rejection ?? this.shape.get(node);
  }

  /** Whether `node` passes the static filters. */
  allows(node: NodeState): boolean {
    return this.statics.get(node).rejection === undefined;
  }
}
