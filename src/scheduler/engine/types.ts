/**
 * Public types of the placement engine. The engine is a pure function of
 * (instances to place, a cluster snapshot) → a Plan; nothing here does I/O or reads a clock.
 */
import type { Instance, PolicyName } from '../../model/kinds/instance.js';
import type { Labels, Selector } from '../../model/labels.js';
import type { CapacityIndex } from './capacity.js';
import type { NodeState } from './node-state.js';
import type { ClusterSnapshot } from './snapshot.js';

/** Uniform random numbers in [0, 1). Inject a seeded one (see `createRng`) so runs replay. */
export type Rng = () => number;

/** What one instance asks of one node, in canonical units. */
export interface Demand {
  /** Millicores. */
  readonly cpu: number;
  /** MiB. */
  readonly memory: number;
  /** MiB. */
  readonly disk: number;
  /** Devices needed: the number of whole GPUs, or 1 for a share. 0 = no GPU. */
  readonly gpuCount: number;
  /** Thousandths needed on each of those devices: 1000 for whole GPUs, the share otherwise. */
  readonly gpuMilli: number;
  /** Allowed GPU models (any of); undefined = any model. */
  readonly gpuModels?: readonly string[];
  /** Published host ports as "tcp/8080". */
  readonly ports: readonly string[];
}

/** One device slice of a placement: `milli` thousandths of GPU `index`. */
export interface GpuSlice {
  index: number;
  milli: number;
}

/** What a placement reserves beyond the plain quantities (mirrors `status.allocation`). */
export interface Allocation {
  gpus: GpuSlice[];
  hostPorts: number[];
}

/**
 * A filter's verdict on one node. `unschedulable`: the node could take the instance if other
 * instances left it (preemption may help). `unresolvable`: it cannot, whatever is evicted.
 */
export type FilterResult =
  | { readonly kind: 'fits' }
  | { readonly kind: 'unschedulable'; readonly reason: string }
  | { readonly kind: 'unresolvable'; readonly reason: string };

/** A verdict other than fits. */
export type Rejection = Exclude<FilterResult, { kind: 'fits' }>;

export const FITS: FilterResult = Object.freeze({ kind: 'fits' });
export const unschedulable = (reason: string): FilterResult => ({ kind: 'unschedulable', reason });
export const unresolvable = (reason: string): FilterResult => ({ kind: 'unresolvable', reason });

export type Topology = 'node' | 'zone';

/** An affinity or anti-affinity term, parsed. */
export interface CompiledTerm {
  readonly selectorText: string;
  readonly selector: Selector;
  readonly topology: Topology;
  readonly required: boolean;
  readonly weight: number;
}

export interface CompiledSpread {
  readonly selectorText: string;
  readonly selector: Selector;
  readonly topology: Topology;
  readonly maxSkew: number;
}

/**
 * What an instance's volumes allow: only `node` (where they live), or no node at all (`node`
 * absent: one is in use by another instance). `reason` is the rejection the other nodes get,
 * e.g. `volume "data" is on node n2`.
 */
export interface VolumeConstraint {
  readonly node?: string;
  readonly reason: string;
}

/** The volume constraint of an instance, from what the caller knows of volumes (the live scheduler's informers). */
export type VolumeLocator = (inst: Instance) => VolumeConstraint | undefined;

/** An instance compiled for scheduling. Instances with equal `classKey` are interchangeable for node-local checks. */
export interface CompiledRequest {
  /** "project/name". */
  readonly key: string;
  readonly instance: Instance;
  readonly project: string;
  readonly labels: Labels;
  readonly priority: number;
  readonly demand: Demand;
  readonly policy: PolicyName;
  /** What the shape cache is keyed by: demand without host ports, and the policy. */
  readonly shapeKey: string;
  /** What the static cache is keyed by: pin, node selector, zones. */
  readonly staticKey: string;
  /** Equivalence class: shape and node constraints. Host ports are checked per request. */
  readonly classKey: string;
  readonly pin?: string;
  readonly nodeSelectorText?: string;
  readonly nodeSelector?: Selector;
  readonly zones?: ReadonlySet<string>;
  /** Where the instance's volumes let it run (plugins/volumes.ts); absent: it uses none that constrain it. */
  readonly volume?: VolumeConstraint;
  readonly affinity: readonly CompiledTerm[];
  readonly antiAffinity: readonly CompiledTerm[];
  readonly spread: readonly CompiledSpread[];
}

// ---------------------------------------------------------------------------------------------
// Extension points. A plugin implements only the interfaces it needs and says so with `satisfies`.

export interface Plugin {
  readonly name: string;
}

/**
 * Node-local filter: the verdict depends only on (request, node), so the engine caches it per
 * equivalence class and node version. `static` filters look only at the node's identity
 * (health, name, labels, zone), never at its free resources; they define the spread domains.
 */
export interface FilterPlugin extends Plugin {
  readonly static?: boolean;
  /** The verdict depends on the Node object only (capacity), not on what is in use. */
  readonly identityOnly?: boolean;
  filter(req: CompiledRequest, node: NodeState): FilterResult;
}

/** A score with an optional finer key that orders nodes whose weighted totals are equal (higher wins). */
export interface ScoreResult {
  /** Integer 0–100. */
  readonly score: number;
  readonly tie?: number;
  /** Device positions (into NodeState.gpuFree) this plugin wants the instance on. */
  readonly devices?: readonly number[];
}

/** Node-local score, evaluated only on nodes that passed every filter; cached like filters. */
export interface ScorePlugin extends Plugin {
  score(req: CompiledRequest, node: NodeState, ctx: ScoreContext): ScoreResult;
  /** Changes whenever scores change for reasons other than the node itself (cache key). */
  epoch?(ctx: ScoreContext): string;
  /** Whether a new epoch can change this node's score (default: yes). */
  epochAffects?(node: NodeState): boolean;
}

/** Cluster-wide facts score plugins may read (constant between epochs). */
export interface ScoreContext {
  /** Largest node CPU (millicores) and GPU count in the cluster. */
  readonly maxNodeCpu: number;
  readonly maxNodeGpus: number;
  /** What the nodes could host at all, by capacity (a new object when capacity changes). */
  readonly capacity: CapacityIndex;
}

/** Which nodes count as domains for spreading: those passing the request's static filters. */
export interface EligibleNodes {
  readonly count: number;
  readonly zones: ReadonlyMap<string, number>;
  has(node: NodeState): boolean;
}

/** A per-request check over cluster-wide state (other instances); evaluated at pick time, never cached. */
export interface ClusterCheck {
  filter(node: NodeState): FilterResult;
  /** Upper bound of `bonus` over all nodes (0 when the check never adds a bonus). */
  readonly maxBonus: number;
  /** Integer 0–100, added to the node's total with the plugin's weight. */
  bonus(node: NodeState): number;
  /** When only these nodes can pass (by name), so the engine need not walk the others. */
  candidates?(): readonly string[] | undefined;
  /**
   * The nodes (by name) whose bonus may differ from `baseBonus`; every other node gets exactly
   * `baseBonus`. Lets the engine evaluate those few directly and take the rest in heap order.
   */
  special?(): { readonly nodes: readonly string[]; readonly baseBonus: number } | undefined;
}

/** Filter/score over other instances (affinity, spread). Returns undefined when it has nothing to check. */
export interface ClusterPlugin extends Plugin {
  prepare(req: CompiledRequest, view: ClusterView): ClusterCheck | undefined;
}

export interface ClusterView {
  readonly snapshot: ClusterSnapshot;
  readonly eligible: EligibleNodes;
}

/** Runs when an instance fits nowhere; may evict lower-priority instances on one node. */
export interface PostFilterPlugin extends Plugin {
  postFilter(req: CompiledRequest, ctx: PostFilterContext): PreemptionChoice | undefined;
}

export interface PostFilterContext {
  readonly snapshot: ClusterSnapshot;
  /** The node-local verdict for the request on `node` (current). */
  localVerdict(node: NodeState): FilterResult;
  /** Instances placed by this plan; never chosen as victims. */
  readonly protectedKeys: ReadonlySet<string>;
  /** The engine's tie-break key of a node (lower first). */
  tieKey(node: NodeState): number;
  /**
   * Evicts `victims` (keys) from the snapshot if the request then passes every filter on `node`;
   * otherwise leaves the snapshot as it was. Returns whether it evicted.
   */
  evictIfFits(node: NodeState, victims: readonly string[]): boolean;
}

export interface PreemptionChoice {
  readonly node: string;
  /** Keys of the instances to evict, highest priority first. */
  readonly victims: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Results.

export interface ReasonCount {
  reason: string;
  count: number;
}

/** Why an instance was not placed: nodes considered and rejections counted by reason, most common first. */
export interface Explanation {
  nodes: number;
  reasons: ReasonCount[];
}

export interface Placement {
  readonly instance: Instance;
  readonly key: string;
  readonly node: string;
  /** Weighted total of the policy's scores (0–100 each) and cluster bonuses on the chosen node. */
  readonly score: number;
  readonly allocation: Allocation;
  /** Keys of instances this placement evicts (they appear in Plan.preemptions). */
  readonly preempts: readonly string[];
}

export interface Preemption {
  readonly victim: Instance;
  readonly key: string;
  readonly node: string;
  readonly priority: number;
  /** Key of the instance that needs the room. */
  readonly by: string;
  /** Sentence for the victim's status (phase Preempted). */
  readonly reason: string;
}

export interface Unplaced {
  readonly instance: Instance;
  readonly key: string;
  /** unresolvable: no node could take it even after evictions. */
  readonly kind: 'unschedulable' | 'unresolvable';
  readonly explanation: Explanation;
  /** `formatExplanation(explanation)`. */
  readonly message: string;
}

export interface Plan {
  readonly placements: Placement[];
  /** Evict these (mark Preempted) before committing the placements that list them. */
  readonly preemptions: Preemption[];
  readonly unplaced: Unplaced[];
}

/** An instance bound (or assumed) on a node, as the snapshot keeps it. */
export interface PlacedInstance {
  readonly key: string;
  instance: Instance;
  readonly project: string;
  readonly labels: Labels;
  readonly node: string;
  readonly demand: Demand;
  readonly priority: number;
  allocation: Allocation;
  /** Required anti-affinity terms this instance holds against newcomers (symmetry). */
  readonly antiTerms: readonly CompiledTerm[];
  /** Placed by the engine and not yet confirmed by `bind`. */
  assumed: boolean;
}

/** Names a policy per request: the instance's own, or the cluster default. */
export type PolicyChoice = PolicyName | 'auto';
