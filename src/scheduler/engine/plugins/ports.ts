/**
 * Host ports (`spec.ports[].publish`, per protocol): a node where one of them is already
 * published is refused (`unschedulable`: evicting the holder frees it). Checked per request at
 * pick time rather than cached per class, so requests that differ only in their ports share
 * their class caches.
 */
import type { NodeState } from '../node-state.js';
import { FITS, unschedulable, type ClusterCheck, type ClusterPlugin, type CompiledRequest, type FilterResult } from '../types.js';

/** The verdict of `ports` on `node`. */
export function portVerdict(ports: readonly string[], node: NodeState): FilterResult {
  for (const p of ports) if (node.ports.has(p)) return unschedulable(`host port ${p} in use`);
  return FITS;
}

export const hostPorts = {
  name: 'HostPorts',
  prepare(req: CompiledRequest): ClusterCheck | undefined {
    const ports = req.demand.ports;
    if (ports.length === 0) return undefined;
    return { filter: (node: NodeState) => portVerdict(ports, node), maxBonus: 0, bonus: () => 0 };
  },
} satisfies ClusterPlugin;
