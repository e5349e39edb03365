/**
 * Explanations for instances that were not placed: every node counted once under the first
 * reason it was rejected for, most common reason first.
 *
 *   formatExplanation → "1,523 nodes: 1,200 insufficient GPU, 300 no GPU of model V100M32, 23 insufficient memory"
 */
import type { ClassView } from './class-cache.js';
import type { ClusterSnapshot } from './snapshot.js';
import { clusterVerdict, type WeightedCheck } from './select.js';
import type { Explanation, FilterResult, ReasonCount } from './types.js';

export const NO_NODES = 'no nodes have joined';
const FITS_NOT_CHOSEN = 'fits but was not chosen';

function sortReasons(counts: Map<string, number>): ReasonCount[] {
  const reasons = [...counts].map(([reason, count]) => ({ reason, count }));
  return reasons.sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0));
}

/** Counts verdicts into an explanation: most common reason first, then alphabetical. */
export function tally(nodes: number, verdicts: Iterable<FilterResult>): Explanation {
  if (nodes === 0) return { nodes: 0, reasons: [{ reason: NO_NODES, count: 0 }] };
  const counts = new Map<string, number>();
  for (const v of verdicts) {
    const reason = v.kind === 'fits' ? FITS_NOT_CHOSEN : v.reason;
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
  }
  return { nodes, reasons: sortReasons(counts) };
}


/**
 * Why `cls`'s request fits nowhere, and whether evictions could change that: every node counted
 * once under its first failing verdict (static, then resources, then cluster checks).
 */
export function explain(cls: ClassView, snap: ClusterSnapshot, checks: readonly WeightedCheck[]): { explanation: Explanation; resolvable: boolean } {
  if (snap.nodeCount === 0) return { explanation: tally(0, []), resolvable: false };
  let resolvable = false;
  const counts = new Map<string, number>();
  for (const node of snap.slots) {
    if (!node) continue;
    const local = cls.evalOf(node).verdict;
    const v = local.kind !== 'fits' ? local : clusterVerdict(checks, node);
    if (v?.kind === 'unschedulable') resolvable = true;
    const reason = v ? v.reason : FITS_NOT_CHOSEN;
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
  }
  return { explanation: { nodes: snap.nodeCount, reasons: sortReasons(counts) }, resolvable };
}

const fmt = new Intl.NumberFormat('en-US');

/** "1,523 nodes: 1,200 insufficient GPU, 23 insufficient memory"; "no nodes have joined" without nodes. */
export function formatExplanation(e: Explanation): string {
  if (e.nodes === 0) return NO_NODES;
  const parts = e.reasons.map((r) => `${fmt.format(r.count)} ${r.reason}`);
  return `${fmt.format(e.nodes)} ${e.nodes === 1 ? 'node' : 'nodes'}: ${parts.join(', ')}`;
}
