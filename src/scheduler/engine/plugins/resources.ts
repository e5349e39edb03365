/**
 * Resource filters: CPU, memory, disk, instance slots, host ports and GPUs.
 * `NodeCapacity` rejects nodes too small even when empty (`unresolvable`); `NodeResources`
 * rejects nodes that are merely full (`unschedulable`: preemption may help).
 */
import { gpuCapacityVerdict, gpuFreeVerdict } from '../gpu.js';
import type { NodeState } from '../node-state.js';
import { unresolvable, unschedulable, type CompiledRequest, type Demand, type FilterPlugin, type FilterResult } from '../types.js';

/** What is free on a node: the node itself, or a what-if view (preemption). */
export interface FreeView {
  readonly freeCpu: number;
  readonly freeMemory: number;
  readonly freeDisk: number;
  readonly freeSlots: number;
  readonly gpuFree: readonly number[];
  readonly ports: { has(port: string): boolean };
}

const TOO_SMALL = {
  cpu: unresolvable('insufficient CPU'),
  memory: unresolvable('insufficient memory'),
  disk: unresolvable('insufficient disk'),
  slots: unresolvable('too many instances'),
};
const FULL = {
  cpu: unschedulable('insufficient CPU'),
  memory: unschedulable('insufficient memory'),
  disk: unschedulable('insufficient disk'),
  slots: unschedulable('too many instances'),
};

/** The node's allocatable resources and GPU devices could never hold `d`. */
export function capacityVerdict(node: NodeState, d: Demand): FilterResult {
  if (node.cpu < d.cpu) return TOO_SMALL.cpu;
  if (node.memory < d.memory) return TOO_SMALL.memory;
  if (node.disk < d.disk) return TOO_SMALL.disk;
  if (node.maxInstances < 1) return TOO_SMALL.slots;
  return gpuCapacityVerdict(node, d);
}

/** What is free in `free` (default: the node now) holds `d`: slots, quantities, host ports, GPUs. */
export function freeVerdict(node: NodeState, d: Demand, free: FreeView = node): FilterResult {
  if (free.freeSlots < 1) return FULL.slots;
  if (free.freeCpu < d.cpu) return FULL.cpu;
  if (free.freeMemory < d.memory) return FULL.memory;
  if (free.freeDisk < d.disk) return FULL.disk;
  for (const p of d.ports) if (free.ports.has(p)) return unschedulable(`host port ${p} in use`);
  return gpuFreeVerdict(node, d, free.gpuFree);
}

/** Capacity, then free resources. */
export function resourceVerdict(node: NodeState, d: Demand, free: FreeView = node): FilterResult {
  const c = capacityVerdict(node, d);
  return c.kind === 'fits' ? freeVerdict(node, d, free) : c;
}

export const nodeCapacity = {
  name: 'NodeCapacity',
  identityOnly: true,
  filter(req: CompiledRequest, node: NodeState): FilterResult {
    return capacityVerdict(node, req.demand);
  },
} satisfies FilterPlugin;

export const nodeResources = {
  name: 'NodeResources',
  filter(req: CompiledRequest, node: NodeState): FilterResult {
    return freeVerdict(node, req.demand);
  },
} satisfies FilterPlugin;
