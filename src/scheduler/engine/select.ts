/**
 * Picks the node for one request from its class and its cluster checks, exactly as a full scan
 * would (highest weighted total, then tie value, then tie-break key), without walking every
 * node when it does not have to:
 *
 * - a check that names its only possible candidates (required affinity), or node constraints
 *   that leave few nodes (a pin, a narrow selector): look at those nodes only;
 * - 'uniform' policies: draw the shape's feasible nodes at random until one passes;
 * - otherwise pop the shape's heap best first, skipping nodes the class's static filters or the
 *   checks refuse. Without bonuses the first node that passes wins. With bonuses (preferred
 *   affinity) the few nodes whose bonus differs from the base are evaluated directly and the
 *   rest taken in heap order; failing that, keep popping while a node could still win (its
 *   local total plus the largest possible bonus reaches the best total found).
 */
import type { ClassView, HeapEntry, LocalEval } from './class-cache.js';
import type { NodeState } from './node-state.js';
import type { ClusterSnapshot } from './snapshot.js';
import type { ClusterCheck, Rejection, Rng } from './types.js';

export interface WeightedCheck {
  readonly check: ClusterCheck;
  readonly weight: number;
}

export interface Pick {
  readonly node: NodeState;
  readonly ev: LocalEval;
  /** Local total plus weighted bonuses. */
  readonly total: number;
}

/** Below this share of the cluster, walk the statically allowed nodes instead of the heap. */
const NARROW = 1 / 8;

/** The first cluster verdict that is not fits; undefined when all pass. */
export function clusterVerdict(checks: readonly WeightedCheck[], node: NodeState): Rejection | undefined {
  for (const c of checks) {
    const v = c.check.filter(node);
    if (v.kind !== 'fits') return v;
  }
  return undefined;
}

function bonusOf(checks: readonly WeightedCheck[], node: NodeState): number {
  let sum = 0;
  for (const c of checks) if (c.check.maxBonus > 0) sum += c.weight * c.check.bonus(node);
  return sum;
}

export function pickNode(cls: ClassView, snap: ClusterSnapshot, checks: readonly WeightedCheck[], rng: Rng): Pick | undefined {
  let names: readonly string[] | undefined;
  for (const c of checks) {
    const list = c.check.candidates?.();
    if (list && (!names || list.length < names.length)) names = list;
  }
  if (names && names.length < cls.statics.count) {
    return pickAmong(cls, checks, names.map((n) => snap.node(n)), rng);
  }
  if (cls.statics.count < NARROW * snap.nodeCount) {
    return pickAmong(cls, checks, cls.statics.slots.map((s) => snap.slots[s]), rng);
  }
  return cls.policy.select === 'uniform' ? pickUniform(cls, snap, checks, rng) : pickBest(cls, snap, checks, rng);
}

function pickAmong(cls: ClassView, checks: readonly WeightedCheck[], nodes: readonly (NodeState | undefined)[], rng: Rng): Pick | undefined {
  const ok: Pick[] = [];
  for (const node of nodes) {
    if (!node) continue;
    const ev = cls.evalOf(node);
    if (ev.verdict.kind !== 'fits' || clusterVerdict(checks, node)) continue;
    ok.push({ node, ev, total: ev.total + bonusOf(checks, node) });
  }
  if (ok.length === 0) return undefined;
  if (cls.policy.select === 'uniform') return ok[Math.floor(rng() * ok.length)];
  return ok.reduce((a, b) => (betterPick(b, a) ? b : a));
}

/** `better` for picks (totals include bonuses), without allocating. */
function betterPick(a: Pick, b: Pick): boolean {
  if (a.total !== b.total) return a.total > b.total;
  if (a.ev.tie !== b.ev.tie) return a.ev.tie > b.ev.tie;
  return a.ev.key < b.ev.key;
}

function pickUniform(cls: ClassView, snap: ClusterSnapshot, checks: readonly WeightedCheck[], rng: Rng): Pick | undefined {
  const shape = cls.shape;
  let n = shape.members.length;
  while (n > 0) {
    const i = Math.floor(rng() * n);
    const node = snap.slots[shape.members[i]!]!;
    if (cls.allows(node) && !clusterVerdict(checks, node)) {
      const ev = cls.evalOf(node);
      return { node, ev, total: ev.total + bonusOf(checks, node) };
    }
    shape.swapMembers(i, n - 1);
    n--;
  }
  return undefined;
}

/**
 * Best first from the shape's heap. With bonuses: when every bonus-giving check can name the
 * few nodes whose bonus differs from a base value, evaluate those directly and take the first
 * other node in heap order (its bonus is the base); otherwise pop while a node could still win.
 */
function pickBest(cls: ClassView, snap: ClusterSnapshot, checks: readonly WeightedCheck[], rng: Rng): Pick | undefined {
  const bonusChecks = checks.filter((c) => c.check.maxBonus > 0);
  if (bonusChecks.length === 0) return popBest(cls, snap, checks, { maxBonus: 0, base: 0 });
  const specials = bonusChecks.map((c) => ({ weight: c.weight, s: c.check.special?.() }));
  if (specials.some((x) => !x.s)) return popBest(cls, snap, checks, { maxBonus: bonusChecks.reduce((s, c) => s + c.weight * c.check.maxBonus, 0), base: 0 });
  const skip = new Set<string>();
  let base = 0;
  for (const { weight, s } of specials) {
    for (const n of s!.nodes) skip.add(n);
    base += weight * s!.baseBonus;
  }
  const inside = pickAmong(cls, checks, [...skip].map((n) => snap.node(n)), rng);
  const outside = popBest(cls, snap, checks, { maxBonus: 0, base, skip });
  if (!inside || !outside) return inside ?? outside;
  return betterPick(inside, outside) ? inside : outside;
}

interface PopOptions {
  /** Largest possible bonus (keep popping while a node could still win); 0: first that passes. */
  readonly maxBonus: number;
  /** Bonus every popped node gets when maxBonus is 0. */
  readonly base: number;
  /** Nodes to pass over (evaluated elsewhere). */
  readonly skip?: ReadonlySet<string>;
}

function popBest(cls: ClassView, snap: ClusterSnapshot, checks: readonly WeightedCheck[], o: PopOptions): Pick | undefined {
  const heap = cls.shape.heap;
  const popped: HeapEntry[] = [];
  let best: Pick | undefined;
  for (let top = heap.peek(); top; top = heap.peek()) {
    if (!cls.shape.isCurrent(top)) {
      heap.pop();
      continue;
    }
    if (best && top.total + o.maxBonus < best.total) break;
    popped.push(heap.pop()!);
    const node = snap.slots[top.slot]!;
    if (o.skip?.has(node.name) || !cls.allows(node) || clusterVerdict(checks, node)) continue;
    const ev = cls.evalOf(node);
    const p: Pick = { node, ev, total: top.total + (o.maxBonus > 0 ? bonusOf(checks, node) : o.base) };
    if (!best || betterPick(p, best)) best = p;
    if (o.maxBonus === 0) break;
  }
  for (const e of popped) heap.push(e);
  return best;
}
