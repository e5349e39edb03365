/**
 * Affinity and anti-affinity between instances of the same project, per node or per zone.
 *
 * Required terms filter: affinity needs at least one matching instance in the node's domain,
 * anti-affinity none. When nothing matches any required affinity term yet and the instance
 * matches them all itself, they are waived (the first of a group that wants to stay together
 * can start), except that zone terms still need a node with a zone.
 * Required anti-affinity is symmetric: a node is refused when an instance already there (or in
 * its zone) holds a required anti-affinity term selecting the newcomer. Nodes without a zone
 * never satisfy zone affinity and never violate zone anti-affinity.
 *
 * Preferred terms add a bonus:  bonus = ⌊100 · Σ(weights of satisfied terms) / Σ(all weights)⌋.
 *
 * Verdicts are `unresolvable`: preemption frees resources, it does not evict to satisfy affinity.
 */
import { matches } from '../../../model/labels.js';
import type { NodeState } from '../node-state.js';
import type { DomainCounts } from '../topology.js';
import { FITS, unresolvable, type ClusterCheck, type ClusterPlugin, type ClusterView, type CompiledRequest, type CompiledTerm, type FilterResult, type Topology } from '../types.js';

/** Matching instances in `node`'s domain; undefined when the node has no zone and the topology is zone. */
export function inDomain(c: DomainCounts, topology: Topology, node: NodeState): number | undefined {
  if (topology === 'node') return c.perNode.get(node.name) ?? 0;
  return node.zone === undefined ? undefined : (c.perZone.get(node.zone) ?? 0);
}

const NO_ZONE = unresolvable('node has no zone (affinity over zones)');

interface Bound {
  readonly term: CompiledTerm;
  readonly counts: DomainCounts;
  readonly reason: FilterResult;
}

function bind(view: ClusterView, req: CompiledRequest, t: CompiledTerm, reason: string): Bound {
  return { term: t, counts: view.snapshot.topology.counts(req.project, t.selectorText), reason: unresolvable(reason) };
}

function candidatesOf(view: ClusterView, b: Bound): string[] {
  if (b.term.topology === 'node') return [...b.counts.perNode.keys()];
  const out: string[] = [];
  for (const zone of b.counts.perZone.keys()) out.push(...view.snapshot.nodesInZone(zone));
  return out;
}

function check(view: ClusterView, req: CompiledRequest): ClusterCheck | undefined {
  const topo = view.snapshot.topology;
  const need: Bound[] = [];
  const avoid: Bound[] = [];
  const prefer: Bound[] = [];
  const shun: Bound[] = [];
  const required: Bound[] = [];
  for (const t of req.affinity) {
    const b = bind(view, req, t, `affinity ${t.selectorText} not satisfied (${t.topology})`);
    (t.required ? required : prefer).push(b);
  }
  const waived = required.length > 0 && required.every((b) => b.counts.total === 0 && matches(b.term.selector, req.labels));
  if (!waived) need.push(...required);
  const needZone = waived && required.some((b) => b.term.topology === 'zone');
  for (const t of req.antiAffinity) (t.required ? avoid : shun).push(bind(view, req, t, `anti-affinity ${t.selectorText} (${t.topology})`));
  for (const h of topo.holders(req.project, req.labels)) {
    avoid.push({ term: { ...h, required: true, weight: 0 }, counts: h, reason: unresolvable(`anti-affinity of instances there (${h.selectorText}, ${h.topology})`) });
  }
  if (need.length + avoid.length + prefer.length + shun.length === 0 && !needZone) return undefined;
  const weights = [...prefer, ...shun].reduce((s, b) => s + b.term.weight, 0);
  return {
    filter(node: NodeState): FilterResult {
      if (needZone && node.zone === undefined) return NO_ZONE;
      for (const b of need) if (!inDomain(b.counts, b.term.topology, node)) return b.reason;
      for (const b of avoid) if ((inDomain(b.counts, b.term.topology, node) ?? 0) > 0) return b.reason;
      return FITS;
    },
    maxBonus: weights > 0 ? 100 : 0,
    bonus(node: NodeState): number {
      if (weights === 0) return 0;
      let sum = 0;
      for (const b of prefer) if (inDomain(b.counts, b.term.topology, node)) sum += b.term.weight;
      for (const b of shun) if (!inDomain(b.counts, b.term.topology, node)) sum += b.term.weight;
      return Math.floor((100 * sum) / weights);
    },
    special() {
      if (weights === 0) return undefined;
      const nodes = new Set<string>();
      for (const b of [...prefer, ...shun]) for (const n of candidatesOf(view, b)) nodes.add(n);
      const baseBonus = Math.floor((100 * shun.reduce((s, b) => s + b.term.weight, 0)) / weights);
      return { nodes: [...nodes], baseBonus };
    },
    candidates(): readonly string[] | undefined {
      let best: string[] | undefined;
      for (const b of need) {
        const c = candidatesOf(view, b);
        if (!best || c.length < best.length) best = c;
      }
      return best;
    },
  };
}

export const interInstanceAffinity = {
  name: 'InterInstanceAffinity',
  prepare: (req: CompiledRequest, view: ClusterView) => check(view, req),
} satisfies ClusterPlugin;
