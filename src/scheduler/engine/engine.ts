/**
 * The engine: (instances to place, cluster snapshot) → Plan.
 *
 * Instances are placed one by one, highest priority first (input order among equals). Each
 * placement is assumed into the snapshot at once, so later instances of the batch see it. At the
 * end the snapshot is put back exactly as it was, unless `assume` asks to keep the placements
 * (then the caller confirms them with `bind` or forgets them with `release`).
 *
 * An Engine keeps per-class caches for the snapshots it schedules on and the learned FGD
 * workload; create one per scheduler (or per replay) and reuse it.
 */
import type { Instance, PolicyName } from '../../model/kinds/instance.js';
import { CapacityIndex } from './capacity.js';
import { ClassView } from './class-cache.js';
import { explain, formatExplanation } from './explain.js';
import { WorkloadModel } from './fgd/workload.js';
import { slicesOf } from './gpu.js';
import type { NodeState } from './node-state.js';
import { interInstanceAffinity } from './plugins/affinity.js';
import { driverFilter, nodeHealth, nodeName, nodeSelector, zones } from './plugins/node-filters.js';
import { volumeFilter } from './plugins/volumes.js';
import { defaultPreemption } from './plugins/preemption.js';
import { nodeCapacity, nodeResources } from './plugins/resources.js';
import { spreadConstraints } from './plugins/spread.js';
import { hostPorts, portVerdict } from './plugins/ports.js';
import { ShapeCache, type ShapeDeps } from './shape-cache.js';
import { StaticCache } from './static-cache.js';
import { buildPolicies, type Policy } from './policies.js';
import { compileRequest, shapeOf, wantsGpu } from './request.js';
import { createRng } from './rng.js';
import { clusterVerdict, pickNode, type WeightedCheck } from './select.js';
import type { ClusterSnapshot } from './snapshot.js';
import type { Allocation, ClusterPlugin, CompiledRequest, Demand, Explanation, FilterPlugin, FilterResult, Placement, PlacedInstance, Plan, PolicyChoice, PostFilterPlugin, Preemption, Rng, Unplaced, VolumeConstraint, VolumeLocator } from './types.js';

export interface EngineOptions {
  /** Cluster default policy. 'auto' (default): fgd when the request or the cluster has GPUs, else binpack. */
  policy?: PolicyChoice;
  /** Randomness for the random policy and random ties. Default: seeded with 1. */
  rng?: Rng;
  /** The target workload FGD learns; default: a fresh model fed with every instance scheduled. */
  workload?: WorkloadModel;
  /** Evict lower-priority instances when nothing fits. Default true. */
  preemption?: boolean;
  /** Order among nodes with equal scores: 'stable' (hash of the name, default) or 'random'. */
  ties?: 'stable' | 'random';
  /** Mixed into the stable tie-break hash. Default 0. */
  tieSeed?: number;
  /**
   * A fixed node order for ties ('stable' only): nodes named here win ties in this order, ahead
   * of the others (which keep the hash order). A replay passes a seeded permutation, the way the
   * paper's simulator breaks ties by node name after prefixing names with a random permutation.
   */
  tieOrder?: readonly string[];
  /** Weight of preferred (anti-)affinity bonuses against the policy's scores. Default 2. */
  affinityWeight?: number;
  /** Where instances' volumes let them run (plugins/volumes.ts); without it volumes constrain nothing. */
  volumes?: VolumeLocator;
}

export interface ScheduleOptions {
  /** Keep placements and evictions in the snapshot after returning. Default false. */
  assume?: boolean;
}

/** Node-local filters, cheap and static first. */
export const DEFAULT_FILTERS: readonly FilterPlugin[] = [nodeHealth, nodeName, volumeFilter, zones, nodeSelector, driverFilter, nodeCapacity, nodeResources];
const STATIC_FILTERS = DEFAULT_FILTERS.filter((f) => f.static);
const SHAPE_FILTERS = DEFAULT_FILTERS.filter((f) => !f.static);
/** Checks over other instances and per-request details, run at pick time (never cached). */
export const DEFAULT_CLUSTER_PLUGINS: readonly ClusterPlugin[] = [hostPorts, interInstanceAffinity, spreadConstraints];
export const DEFAULT_POST_FILTERS: readonly PostFilterPlugin[] = [defaultPreemption];

const MAX_CACHES = 1024;

/** The engine's caches for one snapshot. */
interface Caches {
  readonly shapes: Map<string, ShapeCache>;
  readonly statics: Map<string, StaticCache>;
}

/** Map get with least-recently-used order and a bound. */
function lru<V>(map: Map<string, V>, key: string, make: () => V): V {
  let v = map.get(key);
  if (v !== undefined) map.delete(key);
  else v = make();
  map.set(key, v);
  if (map.size > MAX_CACHES) map.delete(map.keys().next().value!);
  return v;
}

type Undo = { kind: 'placed'; key: string } | { kind: 'removed'; rec: PlacedInstance };

interface Batch {
  readonly placements: Placement[];
  readonly preemptions: Preemption[];
  readonly unplaced: Unplaced[];
  readonly undo: Undo[];
  readonly placed: Set<string>;
}

export class Engine {
  readonly workload: WorkloadModel;
  private readonly rng: Rng;
  private readonly policies: Record<PolicyName, Policy>;
  private readonly caches = new WeakMap<ClusterSnapshot, Caches>();
  private readonly rank: ReadonlyMap<string, number> | undefined;

  constructor(private readonly opts: EngineOptions = {}) {
    this.rng = opts.rng ?? createRng(1);
    this.rank = opts.tieOrder && new Map(opts.tieOrder.map((name, i) => [name, i - opts.tieOrder!.length]));
    this.workload = opts.workload ?? new WorkloadModel();
    this.policies = buildPolicies({ rng: this.rng, workload: this.workload });
  }

  /** Plans placements for `pending` on `snap`. See the file comment for what happens to `snap`. */
  schedule(snap: ClusterSnapshot, pending: readonly Instance[], sopts: ScheduleOptions = {}): Plan {
    const batch: Batch = { placements: [], preemptions: [], unplaced: [], undo: [], placed: new Set() };
    const reqs = pending.map((inst) => this.compile(inst, snap));
    for (const r of reqs) this.workload.observe(r.key, r.demand);
    const order = reqs.map((r, i) => ({ r, i })).sort((a, b) => b.r.priority - a.r.priority || a.i - b.i);
    for (const { r } of order) {
      const stale = snap.release(r.key);
      if (stale) batch.undo.push({ kind: 'removed', rec: stale });
      this.scheduleOne(r, snap, batch);
    }
    if (!sopts.assume) rollback(snap, batch.undo);
    return { placements: batch.placements, preemptions: batch.preemptions, unplaced: batch.unplaced };
  }

  /**
   * Would `inst` fit on `nodeName` now (every filter, including affinity and spread)? For a plan
   * applier re-checking a placement at commit time; pass the planned `allocation` to check that
   * its GPU devices still have room. The instance's own record in `snap`, if any, is ignored.
   */
  fits(snap: ClusterSnapshot, nodeName: string, inst: Instance, allocation?: Allocation): FilterResult {
    const req = this.compile(inst, snap);
    const node = snap.node(nodeName);
    if (!node) return { kind: 'unresolvable', reason: `node ${nodeName} is not in the cluster` };
    const own = snap.release(req.key);
    try {
      for (const f of DEFAULT_FILTERS) {
        const v = f.filter(req, node);
        if (v.kind !== 'fits') return v;
      }
      const gpuProblem = allocation ? devicesProblem(node, req.demand, allocation) : undefined;
      if (gpuProblem) return { kind: 'unschedulable', reason: gpuProblem };
      const checks = this.checksFor(req, snap, this.classFor(req, snap));
      return clusterVerdict(checks, node) ?? { kind: 'fits' };
    } finally {
      if (own) snap.place(own);
    }
  }

  /** Why `inst` fits nowhere right now (for `describe`); counts add up to the node count. */
  explain(snap: ClusterSnapshot, inst: Instance): Explanation {
    const req = this.compile(inst, snap);
    const cls = this.classFor(req, snap);
    return explain(cls, snap, this.checksFor(req, snap, cls)).explanation;
  }

  private compile(inst: Instance, snap: ClusterSnapshot): CompiledRequest {
    const p = this.opts.policy ?? 'auto';
    const volume = this.volumeOf(inst, snap);
    if (p !== 'auto') return compileRequest(inst, () => p, volume);
    // auto: fgd when the cluster or the request has GPUs, binpack otherwise.
    const fallback: PolicyName = snap.maxNode().gpus > 0 ? 'fgd' : 'binpack';
    return compileRequest(inst, (d) => (wantsGpu(d) ? 'fgd' : fallback), volume);
  }

  /** The locator's constraint, saying so when the volume's node has left the cluster. */
  private volumeOf(inst: Instance, snap: ClusterSnapshot): VolumeConstraint | undefined {
    const v = inst.spec.volumes?.length ? this.opts.volumes?.(inst) : undefined;
    if (!v?.node || snap.node(v.node)) return v;
    return { node: v.node, reason: `${v.reason}, which is not in the cluster` };
  }

  private scheduleOne(req: CompiledRequest, snap: ClusterSnapshot, batch: Batch): void {
    const cls = this.classFor(req, snap);
    const checks = this.checksFor(req, snap, cls);
    const pick = pickNode(cls, snap, checks, this.rng);
    if (pick) {
      this.place(req, pick.node, pick.ev.devices, pick.total, [], snap, batch);
      return;
    }
    if (this.opts.preemption !== false && this.preempt(req, snap, batch)) return;
    const { explanation, resolvable } = explain(cls, snap, checks);
    batch.unplaced.push({
      instance: req.instance,
      key: req.key,
      kind: resolvable ? 'unschedulable' : 'unresolvable',
      explanation,
      message: formatExplanation(explanation),
    });
  }

  private place(req: CompiledRequest, node: NodeState, devices: readonly number[], score: number, preempts: readonly string[], snap: ClusterSnapshot, batch: Batch): void {
    const gpus = slicesOf(node, devices, req.demand);
    const hostPorts = (req.instance.spec.ports ?? []).flatMap((p) => (p.publish !== undefined ? [p.publish] : []));
    const antiTerms = req.antiAffinity.filter((t) => t.required);
    snap.place({ key: req.key, instance: req.instance, project: req.project, labels: req.labels, node: node.name, demand: req.demand, priority: req.priority, allocation: { gpus, hostPorts }, antiTerms, assumed: true });
    batch.undo.push({ kind: 'placed', key: req.key });
    batch.placed.add(req.key);
    const allocation = { gpus: gpus.map((g) => ({ ...g })), hostPorts: [...hostPorts] };
    batch.placements.push({ instance: req.instance, key: req.key, node: node.name, score, allocation, preempts });
  }

  /** Runs the post-filters; on success the victims are evicted and the request placed. */
  private preempt(req: CompiledRequest, snap: ClusterSnapshot, batch: Batch): boolean {
    const cls = this.classFor(req, snap);
    let evicted: PlacedInstance[] = [];
    const ctx = {
      snapshot: snap,
      protectedKeys: batch.placed,
      tieKey: (n: NodeState) => this.tieKey(n),
      localVerdict: (n: NodeState) => {
        const v = cls.evalOf(n).verdict;
        return v.kind === 'fits' ? portVerdict(req.demand.ports, n) : v;
      },
      evictIfFits: (n: NodeState, victims: readonly string[]) => {
        evicted = this.evictIfFits(req, n, victims, snap, batch);
        return evicted.length > 0;
      },
    };
    for (const plugin of DEFAULT_POST_FILTERS) {
      const choice = plugin.postFilter(req, ctx);
      if (!choice) continue;
      const node = snap.node(choice.node)!;
      const fresh = this.classFor(req, snap);
      const checks = this.checksFor(req, snap, fresh);
      const ev = fresh.evalOf(node);
      const bonus = checks.reduce((s, c) => s + c.weight * c.check.bonus(node), 0);
      const reason = `preempted by ${req.key} (priority ${req.priority}) on node ${node.name}`;
      for (const v of evicted) {
        batch.preemptions.push({ victim: v.instance, key: v.key, node: node.name, priority: v.priority, by: req.key, reason });
      }
      this.place(req, node, ev.devices, ev.total + bonus, choice.victims, snap, batch);
      return true;
    }
    return false;
  }

  /** Evicts `victims` if `req` then fits `node`; returns the evicted records (none if it does not fit). */
  private evictIfFits(req: CompiledRequest, node: NodeState, victims: readonly string[], snap: ClusterSnapshot, batch: Batch): PlacedInstance[] {
    const recs = victims.map((k) => snap.release(k)).filter((r): r is PlacedInstance => r !== undefined);
    const cls = this.classFor(req, snap);
    const ok = recs.length > 0 && cls.evalOf(node).verdict.kind === 'fits' && !clusterVerdict(this.checksFor(req, snap, cls), node);
    if (ok) for (const rec of recs) batch.undo.push({ kind: 'removed', rec });
    else for (const rec of recs) snap.place(rec);
    return ok ? recs : [];
  }

  /** The refreshed class cache of `req` on `snap` (and its shape and static caches). */
  private classFor(req: CompiledRequest, snap: ClusterSnapshot): ClassView {
    let caches = this.caches.get(snap);
    if (!caches) this.caches.set(snap, (caches = { shapes: new Map(), statics: new Map() }));
    const deps = this.depsFor(req.policy, snap);
    const { policy, ctx } = deps;
    const shape = lru(caches.shapes, req.shapeKey, () => new ShapeCache(shapeOf(req), deps));
    const statics = lru(caches.statics, req.staticKey, () => new StaticCache(req, STATIC_FILTERS));
    shape.refresh(snap, deps, policy.scores.map((s) => s.plugin.epoch?.(ctx) ?? '').join('|'));
    statics.refreshNodes(snap);
    return new ClassView(shape, statics);
  }

  private readonly deps = new Map<string, { max: object; deps: ShapeDeps }>();

  /** Shape dependencies per policy, rebuilt when the largest node changes. */
  private depsFor(name: PolicyName, snap: ClusterSnapshot): ShapeDeps {
    const max = snap.maxNode();
    const cached = this.deps.get(name);
    if (cached?.max === max) return cached.deps;
    const deps: ShapeDeps = {
      filters: SHAPE_FILTERS,
      policy: this.policies[name],
      ctx: { maxNodeCpu: max.cpu, maxNodeGpus: max.gpus, capacity: new CapacityIndex(() => snap.nodes()) },
      tieKey: (n) => this.tieKey(n),
    };
    this.deps.set(name, { max, deps });
    return deps;
  }

  private checksFor(req: CompiledRequest, snap: ClusterSnapshot, cls: ClassView): WeightedCheck[] {
    const out: WeightedCheck[] = [];
    for (const plugin of DEFAULT_CLUSTER_PLUGINS) {
      const check = plugin.prepare(req, { snapshot: snap, eligible: cls.eligible });
      if (check) out.push({ check, weight: this.opts.affinityWeight ?? 2 });
    }
    return out;
  }

  private tieKey(node: NodeState): number {
    if (this.opts.ties === 'random') return Math.floor(this.rng() * 4294967296);
    return this.rank?.get(node.name) ?? (node.hash ^ (this.opts.tieSeed ?? 0)) >>> 0;
  }
}

function rollback(snap: ClusterSnapshot, undo: readonly Undo[]): void {
  for (let i = undo.length - 1; i >= 0; i--) {
    const u = undo[i]!;
    if (u.kind === 'placed') snap.release(u.key);
    else snap.place(u.rec);
  }
}

/** Why the planned GPU devices no longer fit, or undefined when they do. */
function devicesProblem(node: NodeState, d: Demand, alloc: Allocation): string | undefined {
  if (alloc.gpus.length !== d.gpuCount) return `the plan names ${alloc.gpus.length} GPUs, the instance needs ${d.gpuCount}`;
  const seen = new Set<number>();
  for (const g of alloc.gpus) {
    const pos = node.gpuIndex.indexOf(g.index);
    if (pos < 0 || seen.has(g.index)) return `GPU ${g.index} is not a distinct device of node ${node.name}`;
    seen.add(g.index);
    if (d.gpuModels && !d.gpuModels.includes(node.gpuModel[pos]!)) return `GPU ${g.index} is a ${node.gpuModel[pos]}, not one of ${d.gpuModels.join('|')}`;
    if (node.gpuFree[pos]! < d.gpuMilli) return `GPU ${g.index} has ${node.gpuFree[pos]} thousandths free, the instance needs ${d.gpuMilli}`;
  }
  return undefined;
}

/** An engine with `opts`; see Engine. */
export function createEngine(opts: EngineOptions = {}): Engine {
  return new Engine(opts);
}

let checker: Engine | undefined;

/**
 * Would `inst` fit on `nodeName` in `snap` right now? The plan applier's commit-time re-check
 * (see Engine.fits); shares one engine's caches across calls.
 */
export function fitsNode(snap: ClusterSnapshot, nodeName: string, inst: Instance, allocation?: Allocation): FilterResult {
  checker ??= new Engine();
  return checker.fits(snap, nodeName, inst, allocation);
}
