/**
 * Resource verdicts and scores for one request shape (CPU, memory, disk, GPUs, models) under one
 * policy: does the node have the room, and how does the policy rank it. Host ports are not part
 * of a shape (they are checked per request at pick time), nor are node constraints.
 *
 * Scores also depend on a policy epoch (the learned FGD target, the largest node); when it moves,
 * the feasible nodes it can affect are re-scored in place, and their heap entries re-pushed
 * (older ones are recognised by the node's score generation and dropped).
 *
 * It keeps the feasible nodes as a heap ordered best first (entries carry the node version they
 * were made at and are dropped when stale) and as a set (for uniform draws).
 */
import { bestFitDevices } from './gpu.js';
import { Heap } from './heap.js';
import { NodeCache } from './node-cache.js';
import type { NodeState } from './node-state.js';
import type { Policy } from './policies.js';
import type { ClusterSnapshot } from './snapshot.js';
import type { CompiledRequest, FilterPlugin, FilterResult, ScoreContext } from './types.js';

/** A node's verdict and score for a shape. Read-only to callers; re-scored in place. */
export interface LocalEval {
  readonly verdict: FilterResult;
  /** Weighted sum of the policy's scores (0 unless the verdict is fits). */
  total: number;
  tie: number;
  /** Device positions the policy puts the GPUs on. */
  devices: readonly number[];
  /** Tie-break key of the node (lower wins among equals). */
  readonly key: number;
  /** Set when the verdict depends on the Node object only: its identity stamp. */
  readonly identity?: number;
}

export interface HeapEntry {
  readonly slot: number;
  readonly stamp: number;
  /** The node's score generation (re-scores on a new epoch bump it). */
  readonly gen: number;
  readonly total: number;
  readonly tie: number;
  readonly key: number;
}

/** Orders by weighted total, then the finer tie value, then the node's tie-break key. */
export function better(a: { total: number; tie: number; key: number }, b: { total: number; tie: number; key: number }): boolean {
  if (a.total !== b.total) return a.total > b.total;
  if (a.tie !== b.tie) return a.tie > b.tie;
  return a.key < b.key;
}

export interface ShapeDeps {
  readonly filters: readonly FilterPlugin[];
  readonly policy: Policy;
  readonly ctx: ScoreContext;
  tieKey(node: NodeState): number;
}

const NO_DEVICES: readonly number[] = Object.freeze([]);
const PASSED: FilterResult = Object.freeze({ kind: 'fits' });

export class ShapeCache extends NodeCache<LocalEval> {
  /** Feasible nodes, best first ('best' policies); stale entries are dropped when they surface. */
  readonly heap = new Heap<HeapEntry>(better);
  /** Feasible slots, with their positions (uniform draws swap within it). */
  readonly members: number[] = [];
  private readonly memberPos = new Map<number, number>();
  /** Per slot: bumped when the node is re-scored for a new epoch. */
  private readonly gens: number[] = [];
  private epoch: string | undefined;

  constructor(
    /** A request of this shape, without host ports. */
    readonly req: CompiledRequest,
    private deps: ShapeDeps,
  ) {
    super();
  }

  get policy(): Policy {
    return this.deps.policy;
  }

  /** True when the heap entry still describes its node. */
  isCurrent(e: HeapEntry): boolean {
    return this.isAt(e.slot, e.stamp) && (this.gens[e.slot] ?? 0) === e.gen;
  }

  /** Brings entries up to date with `snap` and the policy `epoch` (re-scoring on a new epoch). */
  refresh(snap: ClusterSnapshot, deps: ShapeDeps, epoch: string): void {
    this.deps = deps;
    const rebuilt = this.refreshNodes(snap);
    if (!rebuilt && epoch !== this.epoch && this.epoch !== undefined) this.rescore(snap);
    this.epoch = epoch;
    if (rebuilt) this.resetHeap(snap);
    else if (this.heap.size > 2 * snap.nodeCount + 1024) this.heap.retain((e) => this.isCurrent(e));
  }

  /**
   * Re-scores the feasible nodes a new epoch can affect; their old heap entries go stale. When
   * most are affected, rebuilding the heap is cheaper than pushing each.
   */
  private rescore(snap: ClusterSnapshot): void {
    const scores = this.deps.policy.scores;
    const affected: number[] = [];
    for (const slot of this.members) {
      const node = snap.slots[slot]!;
      if (!scores.some((s) => s.plugin.epochAffects?.(node) ?? true)) continue;
      this.score(node, this.entries[slot]!);
      this.gens[slot] = (this.gens[slot] ?? 0) + 1;
      affected.push(slot);
    }
    if (this.deps.policy.select !== 'best') return;
    if (affected.length * 4 > this.members.length) this.resetHeap(snap);
    else for (const slot of affected) this.heap.push(this.entryOf(snap.slots[slot]!, this.entries[slot]!));
  }

  private resetHeap(snap: ClusterSnapshot): void {
    if (this.deps.policy.select !== 'best') return;
    this.heap.reset(this.members.map((slot) => this.entryOf(snap.slots[slot]!, this.entries[slot]!)));
  }

  private entryOf(node: NodeState, ev: LocalEval): HeapEntry {
    return { slot: node.slot, stamp: node.version, gen: this.gens[node.slot] ?? 0, total: ev.total, tie: ev.tie, key: ev.key };
  }

  /**
   * A feasible node that stays feasible is re-scored in its old entry, and a node refused again for
   * the same reason keeps its old entry: no allocation on the hot path.
   */
  protected compute(node: NodeState, old: LocalEval | undefined): LocalEval {
    const key = this.deps.tieKey(node);
    for (const f of this.deps.filters) {
      const verdict = f.filter(this.req, node);
      if (verdict.kind === 'fits') continue;
      if (f.identityOnly) return { verdict, total: 0, tie: 0, devices: NO_DEVICES, key, identity: node.identity };
      if (old?.verdict === verdict && old.identity === undefined && old.key === key) return old;
      return { verdict, total: 0, tie: 0, devices: NO_DEVICES, key };
    }
    if (old?.verdict === PASSED && old.key === key) return this.score(node, old);
    return this.score(node, { verdict: PASSED, total: 0, tie: 0, devices: NO_DEVICES, key });
  }

  /** A node too small for the shape stays too small whatever runs on it. */
  protected override stillHolds(old: LocalEval, node: NodeState): boolean {
    return old.identity !== undefined && old.identity === node.identity;
  }

  protected override changed(slot: number, old: LocalEval | undefined, next: LocalEval | undefined, node: NodeState | undefined): void {
    if (next?.verdict.kind !== 'fits' || !node) {
      if (old?.verdict.kind === 'fits') this.removeMember(slot);
      return;
    }
    if (old?.verdict.kind !== 'fits') this.addMember(slot);
    if (!this.rebuilding && this.deps.policy.select === 'best') this.heap.push(this.entryOf(node, next));
  }

  private addMember(slot: number): void {
    if (this.memberPos.has(slot)) return;
    this.memberPos.set(slot, this.members.length);
    this.members.push(slot);
  }

  private removeMember(slot: number): void {
    const pos = this.memberPos.get(slot);
    if (pos === undefined) return;
    this.swapMembers(pos, this.members.length - 1);
    this.members.pop();
    this.memberPos.delete(slot);
  }

  /** Swaps two members (uniform selection draws without replacement by swapping to the end). */
  swapMembers(i: number, j: number): void {
    const a = this.members[i]!;
    const b = this.members[j]!;
    this.members[i] = b;
    this.members[j] = a;
    this.memberPos.set(b, i);
    this.memberPos.set(a, j);
  }

  /** Fills in the policy's weighted scores of a feasible node (in place) and returns `ev`. */
  private score(node: NodeState, ev: LocalEval): LocalEval {
    const { policy, ctx } = this.deps;
    let total = 0;
    let tie = 0;
    let devices: readonly number[] | undefined;
    for (let i = 0; i < policy.scores.length; i++) {
      const w = policy.scores[i]!;
      const s = w.plugin.score(this.req, node, ctx);
      total += w.weight * s.score;
      if (s.tie !== undefined) tie += w.weight * s.tie;
      if (devices === undefined) devices = s.devices;
    }
    if (devices === undefined) devices = this.req.demand.gpuCount > 0 ? (bestFitDevices(node, this.req.demand) ?? NO_DEVICES) : NO_DEVICES;
    ev.total = total;
    ev.tie = tie;
    ev.devices = devices;
    return ev;
  }
}
