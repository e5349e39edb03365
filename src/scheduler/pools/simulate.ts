/**
 * The cluster autoscaler's questions, answered by the real placement engine on copies of the
 * cluster (pure: model objects in, decisions out; no store, no clock).
 *
 *   planScaleUp    pending instances ─▶ per pool: add k machines of its shape to a copy of the
 *                  cluster, Engine.schedule ─▶ how many of them new machines let in, and the
 *                  fewest machines that do it; the pool that lets in most (then fewest machines)
 *   checkRemoval   a node ─▶ can everything on it move? (restart policy, pin, volumes) and does
 *                  it fit on the other nodes (Engine.schedule on a copy without the node)
 *
 * Machines that were created and have not joined yet ("upcoming") count as capacity already, so
 * instances they will take never cause a second machine.
 */
import type { Instance } from '../../model/kinds/instance.js';
import type { Node, NodeResources } from '../../model/kinds/node.js';
import type { NodePoolSpec, PoolShape } from '../../model/kinds/node-pool.js';
import type { Volume } from '../../model/kinds/volume.js';
import { plural } from '../../model/format.js';
import type { Engine } from '../engine/engine.js';
import { ClusterSnapshot, occupiesNode } from '../engine/snapshot.js';
import { instanceKey } from '../engine/request.js';
import { formatExplanation } from '../engine/explain.js';

/** A pool as the simulation needs it. */
export interface PoolView {
  name: string;
  spec: Pick<NodePoolSpec, 'min' | 'max' | 'shape'>;
  /** Nodes of the pool now, upcoming ones included. */
  size: number;
  /** Created machines that are not Ready nodes yet (their node names). */
  upcoming: string[];
  /** Drivers its Ready nodes report (copied onto simulated machines), if any has reported. */
  drivers?: NonNullable<Node['status']>['drivers'];
}

/** Reasons the scheduler gives an instance it could place nowhere (applier.explainPending). */
const CAPACITY_REASONS = new Set(['Unschedulable', 'NoNodes']);

/** Pending instances the scheduler tried and could place nowhere. */
export function pendingForCapacity(instances: Iterable<Instance>): Instance[] {
  const out: Instance[] = [];
  for (const i of instances) {
    if ((i.status?.phase ?? 'Pending') === 'Pending' && !i.status?.node && CAPACITY_REASONS.has(i.status?.reason ?? '')) out.push(i);
  }
  return out;
}

/** A Ready node of `pool`'s shape that no agent runs: what a new machine would add. */
export function virtualNode(pool: Pick<PoolView, 'name' | 'spec' | 'drivers'>, name: string): Node {
  const s: PoolShape = pool.spec.shape;
  let index = 0;
  const gpus = s.gpus.flatMap((g) => Array.from({ length: g.count }, () => ({ index: index++, model: g.model })));
  const res: NodeResources = { cpu: s.cpu, memory: s.memory, disk: s.disk, gpus };
  return {
    kind: 'node',
    metadata: { name, uid: `simulated-${name}`, revision: 0, generation: 1, createdAt: new Date(0).toISOString(), labels: { ...s.labels } },
    spec: { pool: pool.name, ...(s.zone ? { zone: s.zone } : {}) },
    status: { phase: 'Ready', capacity: res, allocatable: res, ...(pool.drivers ? { drivers: pool.drivers } : {}) },
  };
}

export interface PoolVerdict {
  pool: string;
  /** Pending instances new machines of this pool let in (at most `headroom` machines). */
  fits: number;
  /** The fewest new machines that let that many in. */
  count: number;
  /** Room left under max. */
  headroom: number;
  reason: string;
}

export interface ScaleUpPlan {
  /** The pool to grow and by how many machines; undefined when no pool helps. */
  choice?: PoolVerdict;
  /** What each pool would do (for its status). */
  verdicts: PoolVerdict[];
  /** Pending instances that machines already being created will take. */
  awaitingUpcoming: number;
  /** Pending instances considered. */
  pending: number;
}

/** Most machines one simulation adds: a pass asks for at most this many of one pool. */
export const MAX_STEP = 64;

/**
 * Which pool's new machines let the most `pending` instances in, and how few machines do it.
 * `nodes`/`instances`: the cluster now; `pools`: every pool (size, upcoming machines).
 */
export function planScaleUp(engine: Engine, nodes: readonly Node[], instances: readonly Instance[], pools: readonly PoolView[], pending: readonly Instance[]): ScaleUpPlan {
  const upcoming = pools.flatMap((p) => p.upcoming.map((n) => virtualNode(p, n)));
  const base = [...nodes.filter((n) => !upcoming.some((u) => u.metadata.name === n.metadata.name)), ...upcoming];
  // one copy of the cluster for the whole question: machines are added to it and taken out again
  const snap = ClusterSnapshot.from(base, instances);
  const first = engine.schedule(snap, pending);
  const rest = first.unplaced.map((u) => u.instance);
  const result: ScaleUpPlan = { verdicts: [], awaitingUpcoming: first.placements.filter((p) => upcoming.some((u) => u.metadata.name === p.node)).length, pending: pending.length };
  if (rest.length === 0) return result;
  const sample = first.unplaced[0]!;
  for (const pool of pools) {
    const headroom = Math.max(0, pool.spec.max - pool.size);
    if (headroom === 0) {
      result.verdicts.push({ pool: pool.name, fits: 0, count: 0, headroom, reason: `at its max (${pool.spec.max})` });
      continue;
    }
    // what k machines add: all pending placed with them, less those placed without (room already
    // there, or on machines joining), wherever the engine puts each
    const already = first.placements.length;
    const letIn = (k: number) => placedWith(engine, snap, pool, k, pending) - already;
    const cap = Math.min(headroom, rest.length, MAX_STEP);
    const most = letIn(cap);
    if (most === 0) {
      result.verdicts.push({ pool: pool.name, fits: 0, count: 0, headroom, reason: `no new machine of it would take any of ${plural(rest.length, 'pending instance')} (${sample.key}: ${sample.message})` });
      continue;
    }
    // placed(k) grows with k: the smallest k that lets as many in
    let lo = 1;
    let hi = cap;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (letIn(mid) >= most) hi = mid;
      else lo = mid + 1;
    }
    result.verdicts.push({ pool: pool.name, fits: most, count: lo, headroom, reason: `${plural(most, 'pending instance')} of ${rest.length} fit on ${plural(lo, 'new machine')}` });
  }
  const helpful = result.verdicts.filter((v) => v.fits > 0).sort((a, b) => b.fits - a.fits || a.count - b.count || a.pool.localeCompare(b.pool));
  if (helpful[0]) result.choice = helpful[0];
  return result;
}

/**
 * How many of `pending` the engine places with `k` new machines of `pool` added to `snap`
 * (wherever it puts them). `snap` is as it was afterwards: the schedule assumes nothing, and the
 * machines are removed again.
 */
function placedWith(engine: Engine, snap: ClusterSnapshot, pool: PoolView, k: number, pending: readonly Instance[]): number {
  const fresh = Array.from({ length: k }, (_, i) => virtualNode(pool, `${pool.name}-simulated-${i}`));
  for (const n of fresh) snap.upsertNode(n);
  try {
    return engine.schedule(snap, pending).placements.length;
  } finally {
    for (const n of fresh) snap.removeNode(n.metadata.name);
  }
}

export type RemovalVerdict = { remove: true; reason: string } | { remove: false; reason: string };

/**
 * Whether node `name` can go: every instance on it can move (restart policy always, not pinned to
 * it, no volume) and the engine places them all on the other nodes; no volume lives on it.
 */
export function checkRemoval(engine: Engine, nodes: readonly Node[], instances: readonly Instance[], volumes: readonly Volume[], name: string): RemovalVerdict {
  const held = volumes.find((v) => v.spec.node === name || v.status?.node === name);
  if (held) return { remove: false, reason: `volume ${held.metadata.project}/${held.metadata.name} lives on it` };
  const onNode = instances.filter((i) => occupiesNode(i) && i.status!.node === name);
  for (const i of onNode) {
    const why = immovable(i, name);
    if (why) return { remove: false, reason: `instance ${instanceKey(i)} cannot move: ${why}` };
  }
  if (onNode.length === 0) return { remove: true, reason: 'it runs no instances' };
  const keys = new Set(onNode.map(instanceKey));
  const others = nodes.filter((n) => n.metadata.name !== name);
  const moved = onNode.map((i) => ({ ...i, status: { phase: 'Pending' as const } }));
  const plan = engine.schedule(ClusterSnapshot.from(others, instances.filter((i) => !keys.has(instanceKey(i)))), moved);
  const stuck = plan.unplaced[0];
  if (stuck) return { remove: false, reason: `instance ${stuck.key} would fit on no other node (${formatExplanation(stuck.explanation)})` };
  return { remove: true, reason: `its ${plural(onNode.length, 'instance')} fit on other nodes` };
}

/** Why an instance on `node` would not run elsewhere after a drain, or undefined when it would. */
function immovable(i: Instance, node: string): string | undefined {
  if (i.spec.restartPolicy !== 'always') return `restartPolicy ${i.spec.restartPolicy} (a drain would stop it for good)`;
  if (i.spec.placement?.node === node) return `pinned to ${node} (spec.placement.node)`;
  if (i.spec.volumes?.length) return `uses volume ${i.spec.volumes[0]!.volume}`;
  return undefined;
}

/** The larger of its CPU and memory requests, in percent of what the node offers (0 when it reports nothing). */
export function utilization(snap: ClusterSnapshot, name: string): number {
  const n = snap.node(name);
  if (!n || n.cpu === 0 || n.memory === 0) return 0;
  return Math.round(100 * Math.max(n.usedCpu / n.cpu, n.usedMemory / n.memory));
}
