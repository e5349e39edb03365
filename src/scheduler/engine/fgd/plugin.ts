/**
 * FGD — fragmentation gradient descent (Weng et al., ATC '23), as the paper's simulator scores
 * it: place where the node's GPU fragmentation (frag.ts) grows least.
 *
 *   Δ = F(node after) − F(node before)                         (thousandths of GPU)
 *   score = ⌊100 · σ(−Δ / 1000)⌋,  σ(x) = 1 / (1 + e^−x)        (Δ = 0 → 50; Δ = −1000 → 73)
 *
 * Nodes with equal integer scores are ordered by the engine's fixed node order (no finer key).
 * A share goes to the lowest-index device with the best score; whole GPUs to the lowest-index
 * free devices of an allowed model; a node without GPUs scores 50 (F = 0 before and after).
 *
 * F(before) is cached per node version and target, and whole results per (class, node state)
 * within a target — nodes in the same state (say, all empty machines of one type) score alike.
 * The target workload is a WorkloadModel: learned from the instances seen, or taken from a task
 * list (replay).
 *
 * fgd-sc (not the paper's) scores the same way with three changes: every shape seen counts, not
 * only the typical 95 % (rare shapes are often the big ones); each shape's frequency is weighted
 * by the scarcity of the nodes that could host it, S / supply(m) (S: GPUs in the cluster;
 * supply(m): GPUs on nodes with enough devices of an allowed model and enough CPU for m, see
 * capacity.ts), so work that could go anywhere keeps off the few nodes a constrained or big
 * shape needs; and fragmentation also counts the GPU stranded by CPU (the cpu-aware measure,
 * frag.ts).
 */
import { MILLI, type NodeState } from '../node-state.js';
import { bestFitDevices, shareCandidates } from '../gpu.js';
import type { CompiledRequest, ScoreContext, ScorePlugin, ScoreResult } from '../types.js';
import { NodeFrag, type DeviceChange, type FragMeasure } from './frag.js';
import type { TypicalShape, WorkloadModel } from './workload.js';

/** ⌊100 · σ(−Δ/1000)⌋, multiplied in the paper's order (σ first) so results agree to the last bit. */
export function sigmoidScore(delta: number): number {
  return Math.floor((1 / (1 + Math.exp(delta / 1000))) * 100);
}

const NO_CHANGE: ScoreResult = Object.freeze({ score: 50, devices: Object.freeze([]) as readonly number[] });

/** How a variant of FGD builds its target and measures fragmentation. */
export interface FgdVariant {
  readonly name: string;
  readonly measure: FragMeasure;
  /** 'typical': the shapes covering 95 % of instances (the paper); 'all': every shape seen. */
  readonly target: 'typical' | 'all';
  /** Weight each shape by S / supply(m) (see the file comment). */
  readonly scarcity: boolean;
}

export const PAPER_FGD: FgdVariant = { name: 'FGD', measure: 'paper', target: 'typical', scarcity: false };
export const FGD_SC: FgdVariant = { name: 'FGD-SC', measure: 'cpu-aware', target: 'all', scarcity: true };

interface Target {
  readonly version: number;
  readonly capacityId: number;
  /** Names the shapes and weights: equal keys score alike. */
  readonly key: string;
  readonly shapes: readonly TypicalShape[];
}

/** `shapes` with each frequency multiplied by S / supply(m); shapes no node can host keep theirs. */
export function scarcityWeighted(shapes: readonly TypicalShape[], ctx: ScoreContext): TypicalShape[] {
  const total = ctx.capacity.totalGpus;
  return shapes.map((m) => {
    if (m.gpuCount === 0) return m;
    const supply = ctx.capacity.supply(m);
    return supply > 0 ? { ...m, p: (m.p * total) / supply } : m;
  });
}

/** The FGD score plugin over a learned target workload (see the file comment). */
export class FgdScore implements ScorePlugin {
  readonly name: string;
  private readonly frags: NodeFrag[] = [];
  private readonly stamps: number[] = [];
  private readonly stateKeys: string[] = [];
  private readonly byState = new Map<string, NodeFrag>();
  private memo = new WeakMap<CompiledRequest, Map<string, ScoreResult>>();
  private memoSize = 0;
  private lastReq: CompiledRequest | undefined;
  private lastMap: Map<string, ScoreResult> | undefined;
  private cachedKey = '';
  private current: Target | undefined;
  private readonly scratch: { device: number; before: number; after: number }[] = [];

  constructor(
    private readonly model: WorkloadModel,
    private readonly variant: FgdVariant = PAPER_FGD,
  ) {
    this.name = variant.name;
  }

  epoch(ctx?: ScoreContext): string {
    return `${this.name}:${this.target(ctx).key}`;
  }

  /** The shapes scores are computed against, rebuilt when the workload or the capacity moved. */
  private target(ctx: ScoreContext | undefined): Target {
    const typicalVersion = this.model.refresh();
    const version = this.variant.target === 'all' ? this.model.allVersion : typicalVersion;
    const capacityId = this.variant.scarcity ? (ctx?.capacity.id ?? 0) : 0;
    const t = this.current;
    if (t && t.version === version && t.capacityId === capacityId) return t;
    const base = this.variant.target === 'all' ? this.model.allShapes() : this.model.shapes();
    const shapes = this.variant.scarcity && ctx ? scarcityWeighted(base, ctx) : base;
    const key = this.variant.scarcity ? `${version}/${shapes.map((m) => m.p.toPrecision(6)).join(',')}` : `${version}`;
    return (this.current = { version, capacityId, key, shapes });
  }

  /** Nodes without GPUs have no fragmentation, whatever the target workload. */
  epochAffects(n: NodeState): boolean {
    return n.gpuCount > 0;
  }

  score(req: CompiledRequest, n: NodeState, ctx?: ScoreContext): ScoreResult {
    // No GPUs, no fragmentation: F = 0 before and after.
    if (n.gpuCount === 0) return NO_CHANGE;
    const frag = this.fragOfNode(n, this.target(ctx));
    let byState = req === this.lastReq ? this.lastMap : this.memo.get(req);
    if (!byState) this.memo.set(req, (byState = new Map()));
    this.lastReq = req;
    this.lastMap = byState;
    const key = this.stateKeys[n.slot]!;
    let result = byState.get(key);
    if (!result) {
      byState.set(key, (result = this.compute(req, n, frag)));
      this.memoSize++;
    }
    return result;
  }

  /**
   * The node's fragmentation state: computed once per distinct node state (free CPU, memory and
   * devices) and workload version, and shared by the nodes in that state.
   */
  private fragOfNode(n: NodeState, target: Target): NodeFrag {
    if (target.key !== this.cachedKey || this.memoSize > 200_000 || this.byState.size > 100_000) {
      this.stamps.length = 0;
      this.byState.clear();
      this.memo = new WeakMap();
      this.memoSize = 0;
      this.lastReq = this.lastMap = undefined;
      this.cachedKey = target.key;
    }
    if (this.stamps[n.slot] !== n.version) {
      const key = `${n.freeCpu}/${n.gpuFree.join(',')}/${n.gpuModel.join(',')}`;
      let f = this.byState.get(key);
      if (!f) {
        f = new NodeFrag(this.variant.measure);
        f.load({ cpu: n.freeCpu, free: n.gpuFree.slice(), models: n.gpuModel }, target.shapes);
        this.byState.set(key, f);
      }
      this.frags[n.slot] = f;
      this.stateKeys[n.slot] = key;
      this.stamps[n.slot] = n.version;
    }
    return this.frags[n.slot]!;
  }

  /** The device changes of placing `milli` on each of `devices` (reuses one array). */
  private changes(n: NodeState, devices: readonly number[], milli: number): readonly DeviceChange[] {
    const out = this.scratch;
    out.length = devices.length;
    for (let i = 0; i < devices.length; i++) {
      const device = devices[i]!;
      const c = (out[i] ??= { device, before: 0, after: 0 });
      c.device = device;
      c.before = n.gpuFree[device]!;
      c.after = c.before - milli;
    }
    return out;
  }

  /** The score on the best device (shares: lowest index among the best) or the default devices. */
  private compute(req: CompiledRequest, n: NodeState, frag: NodeFrag): ScoreResult {
    const d = req.demand;
    if (d.gpuCount === 1 && d.gpuMilli < MILLI) {
      let best = -1;
      let device = -1;
      // Candidates come in index order, one per (model, free) pair: the first of equals is kept.
      for (const c of shareCandidates(n, d)) {
        const s = sigmoidScore(frag.after(d.cpu, this.changes(n, [c], d.gpuMilli)) - frag.value);
        if (s > best) {
          best = s;
          device = c;
        }
      }
      return { score: Math.max(best, 0), devices: device < 0 ? [] : [device] };
    }
    const devices = bestFitDevices(n, d) ?? [];
    return { score: sigmoidScore(frag.after(d.cpu, this.changes(n, devices, d.gpuMilli)) - frag.value), devices };
  }
}

export function fgdScore(model: WorkloadModel, variant: FgdVariant = PAPER_FGD): FgdScore {
  return new FgdScore(model, variant);
}
