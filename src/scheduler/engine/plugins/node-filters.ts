/**
 * Static node filters: they look at what a node is (health, name, zone, labels), never at what
 * it has free. All verdicts are `unresolvable`: evicting instances cannot change them.
 * Reasons do not name the node, so the explanation can count them together.
 */
import { matches } from '../../../model/labels.js';
import type { NodeState } from '../node-state.js';
import { FITS, unresolvable, type CompiledRequest, type FilterPlugin, type FilterResult } from '../types.js';

const NOT_REPORTED = unresolvable('node has not reported its resources');

/** One rejection per request and filter, not one per node (they are counted, not read). */
const rejections = new WeakMap<CompiledRequest, Map<string, FilterResult>>();
function rejection(req: CompiledRequest, filter: string, reason: () => string): FilterResult {
  let byFilter = rejections.get(req);
  if (!byFilter) rejections.set(req, (byFilter = new Map()));
  let v = byFilter.get(filter);
  if (!v) byFilter.set(filter, (v = unresolvable(reason())));
  return v;
}
const NOT_READY = unresolvable('node is not ready');
const CORDONED = unresolvable('node is cordoned');
const DRAINING = unresolvable('node is draining');

/** Nodes that are not Ready, cordoned (unschedulable), draining, or have no resources reported. */
export const nodeHealth = {
  name: 'NodeHealth',
  static: true,
  filter(_req: CompiledRequest, node: NodeState): FilterResult {
    if (!node.ready) return NOT_READY;
    if (node.cordoned) return CORDONED;
    if (node.draining) return DRAINING;
    if (!node.reported) return NOT_REPORTED;
    return FITS;
  },
} satisfies FilterPlugin;

/** `spec.placement.node`: only the named node. */
export const nodeName = {
  name: 'NodeName',
  static: true,
  filter(req: CompiledRequest, node: NodeState): FilterResult {
    if (req.pin === undefined || req.pin === node.name) return FITS;
    return rejection(req, 'NodeName', () => `not the requested node ${req.pin}`);
  },
} satisfies FilterPlugin;

/** `spec.placement.zones`: only nodes in one of these zones. */
export const zones = {
  name: 'Zones',
  static: true,
  filter(req: CompiledRequest, node: NodeState): FilterResult {
    const allowed = req.zones;
    if (!allowed || (node.zone !== undefined && allowed.has(node.zone))) return FITS;
    return rejection(req, 'Zones', () => `not in zone ${[...allowed].join(', ')}`);
  },
} satisfies FilterPlugin;

/** `spec.placement.nodeSelector`: node labels (plus stratus/node, stratus/zone, stratus/pool) must match. */
export const nodeSelector = {
  name: 'NodeSelector',
  static: true,
  filter(req: CompiledRequest, node: NodeState): FilterResult {
    if (!req.nodeSelector || matches(req.nodeSelector, node.labels)) return FITS;
    return rejection(req, 'NodeSelector', () => `labels do not match ${req.nodeSelectorText}`);
  },
} satisfies FilterPlugin;

/**
 * The instance's driver must be healthy on the node (Nomad's DriverChecker), and an unisolated
 * process (`isolation: none`) needs a node whose process driver allows it. Nodes that report no
 * drivers at all (agents of before this check, synthetic clusters) are not judged by it.
 */
export const driverFilter = {
  name: 'Driver',
  static: true,
  filter(req: CompiledRequest, node: NodeState): FilterResult {
    if (!node.drivers) return FITS;
    const spec = req.instance.spec;
    const attributes = node.drivers.get(spec.driver);
    if (!attributes) return rejection(req, 'Driver', () => `driver ${spec.driver} unavailable`);
    if (spec.isolation === 'none' && attributes.unisolated !== 'allowed') return rejection(req, 'Driver', () => 'unisolated processes not allowed on the node');
    return FITS;
  },
} satisfies FilterPlugin;
