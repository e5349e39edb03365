/**
 * Builders for tests (engine, plan applier, sim): Node and Instance objects with only what a
 * test cares about spelled out.
 */
import type { Instance, InstanceSpec, Phase } from '../../model/kinds/instance.js';
import type { Node, NodeSpec } from '../../model/kinds/node.js';
import type { Labels } from '../../model/labels.js';

const T0 = '2026-01-01T00:00:00.000Z';

export interface NodeOpts {
  cpu?: number;
  memory?: number;
  disk?: number;
  gpus?: number | { model: string; index?: number }[];
  model?: string;
  instances?: number;
  labels?: Labels;
  zone?: string;
  phase?: 'Ready' | 'NotReady' | 'Down' | 'Unknown';
  spec?: NodeSpec;
  /** Drivers the node reports (healthy), with their attributes; default: none reported. */
  drivers?: Record<string, Record<string, string>>;
}

/** A Ready node: 4 cores, 8 GiB, no GPUs unless asked. */
export function node(name: string, o: NodeOpts = {}): Node {
  const gpus =
    typeof o.gpus === 'number'
      ? Array.from({ length: o.gpus }, (_, index) => ({ index, model: o.model ?? 'T4' }))
      : (o.gpus ?? []).map((g, i) => ({ index: g.index ?? i, model: g.model }));
  const res = { cpu: o.cpu ?? 4000, memory: o.memory ?? 8192, disk: o.disk ?? 0, gpus, ...(o.instances !== undefined ? { instances: o.instances } : {}) };
  return {
    kind: 'node',
    metadata: { name, uid: `uid-${name}`, revision: 1, generation: 1, createdAt: T0, ...(o.labels ? { labels: o.labels } : {}) },
    spec: { ...(o.zone ? { zone: o.zone } : {}), ...o.spec },
    status: {
      phase: o.phase ?? 'Ready', allocatable: res, capacity: res,
      ...(o.drivers ? { drivers: Object.entries(o.drivers).map(([n, attributes]) => ({ name: n, healthy: true, attributes })) } : {}),
    },
  };
}

export interface InstanceOpts {
  project?: string;
  cpu?: number;
  memory?: number;
  disk?: number;
  gpu?: { count?: number; share?: number; models?: string[] };
  labels?: Labels;
  priority?: number;
  ports?: { port: number; publish?: number; protocol?: 'tcp' | 'udp' }[];
  placement?: InstanceSpec['placement'];
  /** Bound to this node (phase Running) instead of Pending. */
  node?: string;
  phase?: Phase;
  gpuAllocation?: { index: number; milli: number }[];
  driver?: InstanceSpec['driver'];
  isolation?: InstanceSpec['isolation'];
}

/** A pending container instance asking 100m CPU and 128 MiB unless told otherwise. */
export function instance(name: string, o: InstanceOpts = {}): Instance {
  const phase = o.phase ?? (o.node ? 'Running' : 'Pending');
  return {
    kind: 'instance',
    metadata: { name, project: o.project ?? 'p', uid: `uid-${name}`, revision: 1, generation: 1, createdAt: T0, ...(o.labels ? { labels: o.labels } : {}) },
    spec: {
      driver: o.driver ?? 'container',
      image: 'img',
      ...(o.isolation ? { isolation: o.isolation } : {}),
      resources: { cpu: o.cpu ?? 100, memory: o.memory ?? 128, disk: o.disk ?? 0, ...(o.gpu ? { gpu: o.gpu } : {}) },
      priority: o.priority ?? 0,
      restartPolicy: 'always',
      gracePeriod: 10,
      ...(o.ports ? { ports: o.ports } : {}),
      ...(o.placement ? { placement: o.placement } : {}),
    },
    status: {
      phase,
      ...(o.node ? { node: o.node } : {}),
      ...(o.gpuAllocation ? { allocation: { gpus: o.gpuAllocation } } : {}),
    },
  };
}
