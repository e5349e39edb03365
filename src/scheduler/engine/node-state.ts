/**
 * One node as the engine sees it: what it offers (from the Node object) and what the instances
 * bound or assumed on it use, device by device. Mutated only through the snapshot.
 */
import type { Node } from '../../model/kinds/node.js';
import type { Labels } from '../../model/labels.js';
import { fnv1a } from './rng.js';
import type { Allocation, Demand } from './types.js';

/** Thousandths in one GPU. */
export const MILLI = 1000;

let stampCounter = 0;

/**
 * Versions are drawn from one process-wide counter, so a (slot, version) pair never repeats,
 * even across snapshots: any cache keyed by it is safe.
 */
export function nextStamp(): number {
  stampCounter += 1;
  return stampCounter;
}

/** Implicit labels every node carries, so selectors can name them. */
export const NODE_LABEL = 'stratus/node';
export const ZONE_LABEL = 'stratus/zone';
export const POOL_LABEL = 'stratus/pool';

export class NodeState {
  /** Changes on every change to this node; see `nextStamp`. */
  version = nextStamp();
  /** Changes only when the Node object changes (health, labels, zone, capacity), not with usage. */
  identity = nextStamp();
  node!: Node;
  name = '';
  /** FNV-1a hash of the name (stable tie-breaks). */
  hash = 0;
  labels: Labels = {};
  zone: string | undefined;
  ready = false;
  cordoned = false;
  draining = false;
  /** False until the agent reported allocatable (or capacity) resources. */
  reported = false;
  /** Healthy drivers and their attributes; undefined when the agent reported none (not checked). */
  drivers: ReadonlyMap<string, Readonly<Record<string, string>>> | undefined;
  cpu = 0;
  memory = 0;
  disk = 0;
  maxInstances = Infinity;
  /** Per device position: the model's device index, its model and its free thousandths. */
  gpuIndex: number[] = [];
  gpuModel: string[] = [];
  gpuFree: number[] = [];
  usedCpu = 0;
  usedMemory = 0;
  usedDisk = 0;
  count = 0;
  /** Host ports in use ("tcp/80") with the number of holders (more than one only when overcommitted). */
  readonly ports = new Map<string, number>();
  /** GPU-clustering tags of the GPU instances here ("share", "2-gpu") with counts. */
  readonly gpuTags = new Map<string, number>();
  /** Keys of the instances on this node. */
  readonly instances = new Set<string>();

  constructor(
    readonly slot: number,
    node: Node,
  ) {
    this.load(node);
  }

  /** Takes what the node offers from the model object; usage is reset (the snapshot re-applies it). */
  load(node: Node): void {
    this.node = node;
    this.name = node.metadata.name;
    this.hash = fnv1a(this.name);
    this.zone = node.spec.zone;
    this.labels = implicitLabels(node);
    this.ready = node.status?.phase === 'Ready';
    this.cordoned = node.spec.unschedulable === true;
    this.draining = node.spec.draining === true;
    const res = node.status?.allocatable ?? node.status?.capacity;
    this.reported = res !== undefined;
    const drivers = node.status?.drivers;
    this.drivers = drivers ? new Map(drivers.filter((d) => d.healthy).map((d) => [d.name, d.attributes ?? {}])) : undefined;
    this.cpu = res?.cpu ?? 0;
    this.memory = res?.memory ?? 0;
    this.disk = res?.disk ?? 0;
    this.maxInstances = res?.instances ?? Infinity;
    const gpus = [...(res?.gpus ?? [])].sort((a, b) => a.index - b.index);
    this.gpuIndex = gpus.map((g) => g.index);
    this.gpuModel = gpus.map((g) => g.model);
    this.gpuFree = gpus.map(() => MILLI);
    this.usedCpu = this.usedMemory = this.usedDisk = this.count = 0;
    this.ports.clear();
    this.gpuTags.clear();
    this.instances.clear();
    this.identity = nextStamp();
    this.touch();
  }

  get freeCpu(): number {
    return this.cpu - this.usedCpu;
  }
  get freeMemory(): number {
    return this.memory - this.usedMemory;
  }
  get freeDisk(): number {
    return this.disk - this.usedDisk;
  }
  get freeSlots(): number {
    return this.maxInstances - this.count;
  }
  get gpuCount(): number {
    return this.gpuFree.length;
  }
  /** Free thousandths over all devices. */
  get gpuFreeTotal(): number {
    let sum = 0;
    for (const f of this.gpuFree) sum += f;
    return sum;
  }

  /** Adds (sign 1) or removes (sign -1) one instance's usage. */
  apply(key: string, demand: Demand, alloc: Allocation, sign: 1 | -1): void {
    this.usedCpu += sign * demand.cpu;
    this.usedMemory += sign * demand.memory;
    this.usedDisk += sign * demand.disk;
    this.count += sign;
    for (const g of alloc.gpus) {
      const pos = this.gpuIndex.indexOf(g.index);
      if (pos >= 0) this.gpuFree[pos]! -= sign * g.milli;
    }
    for (const p of demand.ports) bump(this.ports, p, sign);
    const tag = gpuTag(demand);
    if (tag) bump(this.gpuTags, tag, sign);
    if (sign > 0) this.instances.add(key);
    else this.instances.delete(key);
    this.touch();
  }

  touch(): void {
    this.version = nextStamp();
  }
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}

/** GPU-clustering tag: "share" for a share of one device, "<n>-gpu" for whole devices. */
export function gpuTag(demand: Demand): string | undefined {
  if (demand.gpuCount === 0) return undefined;
  return demand.gpuMilli < MILLI ? 'share' : `${demand.gpuCount}-gpu`;
}

function implicitLabels(node: Node): Labels {
  const labels: Labels = { ...(node.metadata.labels ?? {}), [NODE_LABEL]: node.metadata.name };
  if (node.spec.zone) labels[ZONE_LABEL] = node.spec.zone;
  if (node.spec.pool) labels[POOL_LABEL] = node.spec.pool;
  return labels;
}
