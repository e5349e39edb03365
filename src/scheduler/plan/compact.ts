/**
 * Compaction: which nodes to empty so that the fewest stay in use, computed with the placement
 * engine (the same filters, checks and default policy as the live scheduler).
 *
 * Greedy from the least-utilised node (dominant share: the largest of used ÷ capacity over CPU,
 * memory and GPU; then fewer instances, then the name; re-evaluated after each drain, as moves
 * fill the nodes they go to): cordon it in the snapshot, release its
 * instances and ask the engine to place them on the rest. When every one of them finds a node,
 * the drain is kept (the placements stay assumed, so later drains are checked against them: a
 * second drain's instances cannot go where the first's went if that no longer fits); otherwise
 * the node is restored exactly and kept, with the reason. A node with an instance that may not
 * move (see `immovable`) is kept without trying.
 *
 * `compactSnapshot` changes the snapshot it is given (drained nodes cordoned, their instances on
 * their new nodes); pass a snapshot built for the purpose, and an engine created with
 * `preemption: false` (a move never evicts anything).
 */
import type { CompactionDrain, CompactionKept, CompactionMove } from '../../model/compaction.js';
import type { Node } from '../../model/kinds/node.js';
import type { Engine } from '../engine/engine.js';
import type { NodeState } from '../engine/node-state.js';
import type { ClusterSnapshot } from '../engine/snapshot.js';
import type { PlacedInstance } from '../engine/types.js';

export type Move = CompactionMove;
export type Drain = CompactionDrain;
export type Kept = CompactionKept;

export interface CompactOptions {
  /** Why an instance may not move, or undefined when it may. Default: every instance may. */
  readonly immovable?: (rec: PlacedInstance) => string | undefined;
  /** Nodes that may be emptied (default: every schedulable node of the snapshot). */
  readonly candidates?: readonly string[];
  /** Stop after emptying this many nodes. Default: no limit. */
  readonly maxDrains?: number;
}

export interface CompactResult {
  /** In the order to carry them out. */
  readonly drains: Drain[];
  /** Schedulable nodes with instances that stay (in the order tried), with what they hold at the end. */
  readonly kept: Kept[];
}

/** The largest of used ÷ capacity over CPU, memory and GPU, in [0, 1]. */
export function utilisation(n: NodeState): number {
  const share = (used: number, cap: number) => (cap > 0 ? used / cap : 0);
  const gpuCap = n.gpuCount * 1000;
  return Math.max(share(n.usedCpu, n.cpu), share(n.usedMemory, n.memory), share(gpuCap - n.gpuFreeTotal, gpuCap));
}

/** Empties nodes of `snap` with `engine`, greedily; see the file comment. */
export function compactSnapshot(engine: Engine, snap: ClusterSnapshot, opts: CompactOptions = {}): CompactResult {
  const allowed = opts.candidates && new Set(opts.candidates);
  const left = new Set([...snap.nodes()].filter((n) => n.ready && !n.cordoned && !n.draining && n.instances.size > 0 && (!allowed || allowed.has(n.name))).map((n) => n.name));
  const drains: Drain[] = [];
  const reasons = new Map<string, string>();
  for (let n = leastUtilised(snap, left); n; n = leastUtilised(snap, left)) {
    left.delete(n.name);
    if (opts.maxDrains !== undefined && drains.length >= opts.maxDrains) {
      reasons.set(n.name, `the plan stops at ${opts.maxDrains} drain${opts.maxDrains === 1 ? '' : 's'}`);
      continue;
    }
    const recs = [...snap.instancesOn(n.name)].map((k) => snap.instance(k)!);
    const pinned = recs.map((r) => [r, opts.immovable?.(r)] as const).find(([, why]) => why !== undefined);
    const result = pinned ? `${pinned[0].key} cannot move: ${pinned[1]}` : tryDrain(engine, snap, n.node, recs);
    if (typeof result === 'string') reasons.set(n.name, result);
    else drains.push({ node: n.name, moves: result });
  }
  const kept = [...reasons].map(([node, reason]) => ({ node, instances: snap.instancesOn(node).size, reason }));
  return { drains, kept };
}

/** The node among `names` to try next: least utilised, then fewest instances, then by name. */
function leastUtilised(snap: ClusterSnapshot, names: ReadonlySet<string>): NodeState | undefined {
  let best: { n: NodeState; u: number } | undefined;
  for (const name of names) {
    const n = snap.node(name)!;
    const u = utilisation(n);
    if (!best || u < best.u || (u === best.u && (n.instances.size < best.n.instances.size || (n.instances.size === best.n.instances.size && name < best.n.name)))) best = { n, u };
  }
  return best?.n;
}

/** Cordons `node` and re-places `recs`; the moves, or (snapshot restored) why not. */
function tryDrain(engine: Engine, snap: ClusterSnapshot, node: Node, recs: readonly PlacedInstance[]): Move[] | string {
  snap.upsertNode({ ...node, spec: { ...node.spec, unschedulable: true } });
  for (const r of recs) snap.release(r.key);
  const plan = engine.schedule(snap, recs.map((r) => r.instance), { assume: true });
  if (plan.unplaced.length === 0) {
    return plan.placements.map((p) => ({ key: p.key, from: node.metadata.name, to: p.node }));
  }
  for (const p of plan.placements) snap.release(p.key);
  for (const r of recs) snap.place(r);
  snap.upsertNode(node);
  const first = plan.unplaced[0];
  return `${first!.key} fits on no other node (${first!.message})`;
}
