/**
 * Per-node results for one cache key, kept current from the snapshot's change log: an entry is
 * recomputed exactly when its node's version moved (or the node came or went), everything when
 * the log no longer reaches back far enough. Subclasses say what to compute and what to do when
 * an entry changes.
 */
import type { NodeState } from './node-state.js';
import type { ClusterSnapshot, LogView } from './snapshot.js';

export abstract class NodeCache<E> {
  readonly entries: (E | undefined)[] = [];
  readonly stamps: number[] = [];
  private seq = -1;
  /** True while `refreshNodes` recomputes everything (subclasses may batch their bookkeeping). */
  protected rebuilding = false;

  /** What an entry depends on: by default everything about the node, usage included. */
  protected stampOf(node: NodeState): number {
    return node.version;
  }

  /** The log this cache follows (see ClusterSnapshot.seq / changeLog). */
  protected logSeq(snap: ClusterSnapshot): number {
    return snap.seq;
  }

  protected logSince(snap: ClusterSnapshot, seq: number): LogView | undefined {
    return snap.changeLog(seq);
  }

  /** The entry for `node`, recomputed if stale. */
  get(node: NodeState): E {
    if (this.stamps[node.slot] !== this.stampOf(node)) this.update(node.slot, node);
    return this.entries[node.slot]!;
  }

  /** True when the entry of `slot` was computed at `stamp`. */
  isAt(slot: number, stamp: number): boolean {
    return this.stamps[slot] === stamp;
  }

  /** Replays the change log since the last refresh (or rebuilds). Returns true when it rebuilt. */
  refreshNodes(snap: ClusterSnapshot): boolean {
    const now = this.logSeq(snap);
    if (this.seq === now) return false;
    const changes = this.seq < 0 ? undefined : this.logSince(snap, this.seq);
    const rebuild = changes === undefined || changes.entries.length - changes.from > snap.nodeCount;
    if (rebuild) {
      this.rebuilding = true;
      for (let slot = 0; slot < this.entries.length; slot++) this.update(slot, undefined);
      for (const node of snap.nodes()) this.update(node.slot, node);
      this.rebuilding = false;
    } else {
      const { entries, from } = changes;
      for (let i = from; i < entries.length; i++) this.update(entries[i]!, snap.slots[entries[i]!]);
    }
    this.seq = now;
    return rebuild;
  }

  protected update(slot: number, node: NodeState | undefined): void {
    if (node && this.stamps[slot] === this.stampOf(node)) return;
    const old = this.entries[slot];
    if (node && old !== undefined && this.stillHolds(old, node)) {
      this.stamps[slot] = this.stampOf(node);
      return;
    }
    if (old === undefined && !node) return;
    const next = node ? this.compute(node, old) : undefined;
    this.entries[slot] = next;
    this.stamps[slot] = node ? this.stampOf(node) : -1;
    this.changed(slot, old, next, node);
  }

  /** The entry for `node`; may update and return `old` (the slot's previous entry) in place. */
  protected abstract compute(node: NodeState, old: E | undefined): E;

  /** Whether `old` is still right for `node` although its stamp moved (skips recomputing). */
  protected stillHolds(_old: E, _node: NodeState): boolean {
    return false;
  }

  /** Called after the entry of `slot` changed from `old` to `next` (undefined: no node). */
  protected changed(_slot: number, _old: E | undefined, _next: E | undefined, _node: NodeState | undefined): void {}
}
