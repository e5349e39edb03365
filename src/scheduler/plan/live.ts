/**
 * The compaction plan of a live cluster (`POST /v1/nodes/compact?dryRun=true`, served by
 * src/server/compact-route.ts; `stratus node compact --plan`): which nodes to drain so that the most nodes end up empty, with the engine and
 * default policy of the live scheduler (compact.ts), from the nodes and instances as stored.
 *
 * An instance that a drain would not move elsewhere keeps its node (`movable`):
 * - pinned to its node (`spec.placement.node`);
 * - using a volume (volumes stay on the node they live on);
 * - neither a service's replica nor restartPolicy always: a drain stops it for good.
 * Everything else (node selectors, affinity and anti-affinity, spread, host ports, GPU models and
 * shares, capacity) is the engine's to check: an instance that fits on no remaining node keeps
 * its node, and the answer says which and why.
 */
import type { CompactionPlan } from '../../model/compaction.js';
import type { Instance } from '../../model/kinds/instance.js';
import type { Node } from '../../model/kinds/node.js';
import { SERVICE_LABEL } from '../../model/kinds/service.js';
import { createEngine } from '../engine/engine.js';
import { ClusterSnapshot } from '../engine/snapshot.js';
import { compactSnapshot } from './compact.js';

/** Why `inst` may not be moved by a drain, or undefined when it may. */
export function immovableReason(inst: Instance): string | undefined {
  const pin = inst.spec.placement?.node;
  if (pin) return `pinned to node ${pin} (spec.placement.node)`;
  const vol = inst.spec.volumes?.[0];
  if (vol) return `uses volume ${vol.volume}, which stays on its node`;
  if (!inst.metadata.labels?.[SERVICE_LABEL] && (inst.spec.restartPolicy ?? 'always') !== 'always') {
    return `restartPolicy ${inst.spec.restartPolicy} and no service: a drain would stop it for good`;
  }
  return undefined;
}

/** The plan for `nodes` and `instances` (those occupying a node count); see the file comment. */
export function planCompaction(nodes: readonly Node[], instances: readonly Instance[], opts: { maxDrains?: number } = {}): CompactionPlan {
  const snap = ClusterSnapshot.from(nodes, instances);
  const schedulable = [...snap.nodes()].filter((n) => n.ready && !n.cordoned && !n.draining);
  const empty = schedulable.filter((n) => n.instances.size === 0).map((n) => n.name).sort();
  const before = [...snap.nodes()].filter((n) => n.instances.size > 0).length;
  const engine = createEngine({ preemption: false });
  const result = compactSnapshot(engine, snap, { immovable: (rec) => immovableReason(rec.instance), ...(opts.maxDrains !== undefined ? { maxDrains: opts.maxDrains } : {}) });
  return { drains: result.drains, kept: result.kept, empty, before, after: before - result.drains.length };
}

