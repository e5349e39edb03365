/**
 * Static verdicts for one combination of node constraints (pin, node selector, zones): which
 * nodes are healthy and allowed at all, whatever they have free. These nodes are also the
 * domains spread constraints balance over (EligibleNodes).
 */
import type { LocalEval } from './shape-cache.js';
import { NodeCache } from './node-cache.js';
import type { NodeState } from './node-state.js';
import type { ClusterSnapshot, LogView } from './snapshot.js';
import type { CompiledRequest, EligibleNodes, FilterPlugin, FilterResult } from './types.js';

export interface StaticEval {
  readonly verdict: FilterResult;
  readonly zone: string | undefined;
  /** For rejected nodes: the verdict in the shape of a local evaluation (shared by classes). */
  readonly rejection: LocalEval | undefined;
}

const NO_DEVICES: readonly number[] = Object.freeze([]);

export class StaticCache extends NodeCache<StaticEval> implements EligibleNodes {
  /** Slots of the nodes that pass, in no particular order. */
  readonly slots: number[] = [];
  private readonly slotPos = new Map<number, number>();
  private readonly zoneCounts = new Map<string, number>();

  constructor(
    /** Any request with these constraints (only pin, selector and zones are read). */
    private readonly req: CompiledRequest,
    private readonly filters: readonly FilterPlugin[],
  ) {
    super();
  }

  get count(): number {
    return this.slots.length;
  }
  get zones(): ReadonlyMap<string, number> {
    return this.zoneCounts;
  }
  has(node: NodeState): boolean {
    return this.isAt(node.slot, node.identity) && this.entries[node.slot]!.verdict.kind === 'fits';
  }

  // Static verdicts depend on the Node object only, never on usage: follow the identity log.
  protected override stampOf(node: NodeState): number {
    return node.identity;
  }
  protected override logSeq(snap: ClusterSnapshot): number {
    return snap.identitySeq;
  }
  protected override logSince(snap: ClusterSnapshot, seq: number): LogView | undefined {
    return snap.identityChangeLog(seq);
  }

  protected compute(node: NodeState): StaticEval {
    for (const f of this.filters) {
      const verdict = f.filter(this.req, node);
      if (verdict.kind === 'fits') continue;
      let rejected = this.rejections.get(verdict);
      if (!rejected) {
        const rejection: LocalEval = { verdict, total: 0, tie: 0, devices: NO_DEVICES, key: 0 };
        this.rejections.set(verdict, (rejected = { verdict, zone: undefined, rejection }));
      }
      return rejected;
    }
    return { verdict: PASSED, zone: node.zone, rejection: undefined };
  }

  /** One entry per rejection verdict (filters return shared verdicts; zones only count for passes). */
  private readonly rejections = new Map<FilterResult, StaticEval>();

  protected override changed(slot: number, old: StaticEval | undefined, next: StaticEval | undefined): void {
    if (old?.verdict.kind === 'fits') {
      this.countZone(old.zone, -1);
      const pos = this.slotPos.get(slot)!;
      const last = this.slots.pop()!;
      if (last !== slot) {
        this.slots[pos] = last;
        this.slotPos.set(last, pos);
      }
      this.slotPos.delete(slot);
    }
    if (next?.verdict.kind === 'fits') {
      this.countZone(next.zone, 1);
      this.slotPos.set(slot, this.slots.length);
      this.slots.push(slot);
    }
  }

  private countZone(zone: string | undefined, by: number): void {
    if (zone === undefined) return;
    const n = (this.zoneCounts.get(zone) ?? 0) + by;
    if (n <= 0) this.zoneCounts.delete(zone);
    else this.zoneCounts.set(zone, n);
  }
}

const PASSED: FilterResult = Object.freeze({ kind: 'fits' });
