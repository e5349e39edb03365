/**
 * FGD — fragmentation gradient descent: place where the node's GPU fragmentation (frag.ts) grows
 * least, and on the device where it grows least.
 *
 *   Δ = F(node after) − F(node before)                         (thousandths of GPU)
 *   score = ⌊100 · σ(−Δ / 1000)⌋,  σ(x) = 1 / (1 + e^−x)        (Δ = 0 → 50; Δ = −1000 → 73)
 *   tie   = −Δ, exact: orders nodes whose integer scores are equal, so the choice follows Δ
 *           itself rather than its rounding.
 *
 * F(before) is cached per node version and workload version, and whole results per (class,
 * node state) within a workload version — nodes in the same state (say, all empty machines of
 * one type) score alike. The target workload comes from a WorkloadModel learned from the
 * instances seen.
 */
import { MILLI, type NodeState } from '../node-state.js';
import { bestFitDevices, shareCandidates } from '../gpu.js';
import type { CompiledRequest, ScorePlugin, ScoreResult } from '../types.js';
import { NodeFrag, type DeviceChange } from './frag.js';
import type { WorkloadModel } from './workload.js';

export function sigmoidScore(delta: number): number {
  return Math.floor(100 / (1 + Math.exp(delta / 1000)));
}

const NO_CHANGE: ScoreResult = Object.freeze({ score: 50, tie: 0, devices: Object.freeze([]) as readonly number[] });

/** The FGD score plugin over a learned target workload (see the file comment). */
export class FgdScore implements ScorePlugin {
  readonly name = 'FGD';
  private readonly frags: NodeFrag[] = [];
  private readonly stamps: number[] = [];
  private readonly stateKeys: string[] = [];
  private readonly byState = new Map<string, NodeFrag>();
  private memo = new WeakMap<CompiledRequest, Map<string, ScoreResult>>();
  private memoSize = 0;
  private lastReq: CompiledRequest | undefined;
  private lastMap: Map<string, ScoreResult> | undefined;
  private cachedVersion = -1;
  private readonly scratch: { device: number; before: number; after: number }[] = [];

  constructor(private readonly model: WorkloadModel) {}

  epoch(): string {
    return `fgd:${this.model.refresh()}`;
  }

  /** Nodes without GPUs have no fragmentation, whatever the target workload. */
  epochAffects(n: NodeState): boolean {
    return n.gpuCount > 0;
  }

  score(req: CompiledRequest, n: NodeState): ScoreResult {
    // No GPUs, no fragmentation: F = 0 before and after.
    if (n.gpuCount === 0) return NO_CHANGE;
    const frag = this.fragOfNode(n);
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
  private fragOfNode(n: NodeState): NodeFrag {
    const version = this.model.refresh();
    if (version !== this.cachedVersion || this.memoSize > 200_000 || this.byState.size > 100_000) {
      this.stamps.length = 0;
      this.byState.clear();
      this.memo = new WeakMap();
      this.memoSize = 0;
      this.lastReq = this.lastMap = undefined;
      this.cachedVersion = version;
    }
    if (this.stamps[n.slot] !== n.version) {
      const key = `${n.freeCpu}/${n.freeMemory}/${n.gpuFree.join(',')}/${n.gpuModel.join(',')}`;
      let f = this.byState.get(key);
      if (!f) {
        f = new NodeFrag();
        f.load({ cpu: n.freeCpu, memory: n.freeMemory, free: n.gpuFree.slice(), models: n.gpuModel }, this.model.shapes());
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

  /** Δ for the best device (shares) or the default devices (whole GPUs, no GPU). */
  private compute(req: CompiledRequest, n: NodeState, frag: NodeFrag): ScoreResult {
    const d = req.demand;
    let devices: readonly number[] = [];
    let f1 = Infinity;
    if (d.gpuCount === 1 && d.gpuMilli < MILLI) {
      for (const c of shareCandidates(n, d)) {
        const f = frag.after(d.cpu, d.memory, this.changes(n, [c], d.gpuMilli));
        if (f < f1 || (f === f1 && n.gpuFree[c]! < n.gpuFree[devices[0]!]!)) {
          f1 = f;
          devices = [c];
        }
      }
    } else {
      devices = bestFitDevices(n, d) ?? [];
      f1 = frag.after(d.cpu, d.memory, this.changes(n, devices, d.gpuMilli));
    }
    const delta = f1 - frag.value;
    return { score: sigmoidScore(delta), tie: -delta, devices };
  }
}

export function fgdScore(model: WorkloadModel): FgdScore {
  return new FgdScore(model);
}
