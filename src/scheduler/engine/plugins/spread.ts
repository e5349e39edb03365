/**
 * Spread constraints (`spec.placement.spread`): instances matching `selector` stay balanced over
 * domains (nodes or zones). A node is refused when placing there would make
 *
 *   count(node's domain) + self − min(count over eligible domains) > maxSkew
 *
 * where self = 1 if the instance matches the selector itself, and the eligible domains are those
 * of the nodes that pass the instance's static filters (health, name, zones, node selector).
 * With topology zone, nodes without a zone are refused.
 */
import { matches } from '../../../model/labels.js';
import type { NodeState } from '../node-state.js';
import type { DomainCounts } from '../topology.js';
import { FITS, unresolvable, type ClusterCheck, type ClusterPlugin, type ClusterView, type CompiledRequest, type CompiledSpread, type FilterResult } from '../types.js';
import { inDomain } from './affinity.js';

const NO_ZONE = unresolvable('node has no zone (spread over zones)');

/** The least count over the eligible domains. */
export function minDomainCount(rule: CompiledSpread, c: DomainCounts, view: ClusterView): number {
  const { eligible, snapshot } = view;
  if (rule.topology === 'zone') {
    let min = Infinity;
    for (const zone of eligible.zones.keys()) min = Math.min(min, c.perZone.get(zone) ?? 0);
    return min === Infinity ? 0 : min;
  }
  let occupied = 0;
  let min = Infinity;
  for (const [name, n] of c.perNode) {
    const node = snapshot.node(name);
    if (!node || !eligible.has(node)) continue;
    occupied++;
    min = Math.min(min, n);
  }
  return occupied < eligible.count || min === Infinity ? 0 : min;
}

interface Rule {
  readonly rule: CompiledSpread;
  readonly counts: DomainCounts;
  readonly self: number;
  readonly min: number;
  readonly reason: FilterResult;
}

function check(view: ClusterView, req: CompiledRequest): ClusterCheck | undefined {
  if (req.spread.length === 0) return undefined;
  const rules: Rule[] = req.spread.map((rule) => {
    const counts = view.snapshot.topology.counts(req.project, rule.selectorText);
    return {
      rule,
      counts,
      self: matches(rule.selector, req.labels) ? 1 : 0,
      min: minDomainCount(rule, counts, view),
      reason: unresolvable(`spread ${rule.selectorText} over ${rule.topology}s would exceed max skew ${rule.maxSkew}`),
    };
  });
  return {
    filter(node: NodeState): FilterResult {
      for (const r of rules) {
        const n = inDomain(r.counts, r.rule.topology, node);
        if (n === undefined) return NO_ZONE;
        if (n + r.self - r.min > r.rule.maxSkew) return r.reason;
      }
      return FITS;
    },
    maxBonus: 0,
    bonus: () => 0,
  };
}

export const spreadConstraints = {
  name: 'SpreadConstraints',
  prepare: (req: CompiledRequest, view: ClusterView) => check(view, req),
} satisfies ClusterPlugin;
