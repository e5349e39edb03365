/**
 * The target workload FGD measures fragmentation against: a histogram of request shapes (CPU,
 * GPUs per device, devices, models; memory is not part of a shape, as in the paper), of which the
 * most common shapes covering `coverage` of all instances are "typical", each with its frequency
 * among the typical ones (renormalised to sum to 1). Shapes without GPUs count too.
 *
 * The live scheduler learns it online, from the instances seen. A trace replay may instead take
 * it from the whole task list before the run, as the paper's simulator does (`fromDemands`,
 * frozen: later observations are ignored).
 *
 * Order, as the paper's artifact sorts: most frequent first; among equally frequent shapes, more
 * CPU first, then larger share, then more devices, then the model list (descending).
 *
 * The typical set is recomputed when the histogram has changed by more than `refreshRatio` of its
 * size since the last look (early on at nearly every arrival, later rarely), and adopted when it
 * moved at least `minDrift` (total variation distance) from the set in use. Between adoptions
 * FGD scores are stable, which lets the engine cache them; `version` names the set in use.
 */
import type { Demand } from '../types.js';

export interface TypicalShape {
  readonly cpu: number;
  /** 0 for shapes without GPUs. */
  readonly gpuCount: number;
  /** Per device: 1000 for whole GPUs, the share otherwise. */
  readonly gpuMilli: number;
  readonly gpuModels: readonly string[] | undefined;
  /** Frequency among the typical shapes (0–1; they sum to 1). */
  readonly p: number;
}

export interface WorkloadModelOptions {
  /**
   * Share of instances the typical shapes must cover, most common first. Default 1: every shape
   * seen counts (the paper keeps the top 95 %; rare shapes — big multi-GPU tasks, tasks tied to
   * a scarce GPU model — are exactly the ones that need protecting).
   */
  coverage?: number;
  /** Most typical shapes kept (bounds the cost of a score). Default 256. */
  maxShapes?: number;
  /** Look again when changes since the last look exceed this share of the instances seen. Default 0.1. */
  refreshRatio?: number;
  /** Adopt the new typical set only if it moved this far (total variation distance). Default 0.04. */
  minDrift?: number;
  /** Look again only after at least this many changes (the first instance is always looked at). Default 50. */
  minChanges?: number;
}

interface Bucket {
  shape: Omit<TypicalShape, 'p'>;
  n: number;
}

function shapeKey(d: Demand): string {
  return `${d.cpu}/${d.gpuCount}/${d.gpuMilli}/${d.gpuModels?.join('|') ?? ''}`;
}

export class WorkloadModel {
  private readonly buckets = new Map<string, Bucket>();
  private readonly seen = new Map<string, string>();
  private total = 0;
  private changes = 0;
  private sizeAtRefresh = 0;
  private typical: TypicalShape[] = [];
  private full: TypicalShape[] = [];
  private inUse = new Map<string, TypicalShape>();
  private fullInUse = new Map<string, TypicalShape>();
  private fullVer = 0;
  private ver = 0;
  private readonly coverage: number;
  private readonly maxShapes: number;
  private readonly refreshRatio: number;
  private readonly minDrift: number;
  private readonly minChanges: number;
  private frozen = false;

  /**
   * A model of `demands` (the paper's way: the whole task list, before the run), frozen: `observe`
   * and `forget` leave it as it is.
   */
  static fromDemands(demands: Iterable<Demand>, opts: WorkloadModelOptions = {}): WorkloadModel {
    const m = new WorkloadModel(opts);
    let i = 0;
    for (const d of demands) m.observe(String(i++), d);
    m.recompute();
    m.frozen = true;
    return m;
  }

  constructor(opts: WorkloadModelOptions = {}) {
    this.coverage = opts.coverage ?? 0.95;
    this.maxShapes = opts.maxShapes ?? 256;
    this.refreshRatio = opts.refreshRatio ?? 0.1;
    this.minDrift = opts.minDrift ?? 0.04;
    this.minChanges = opts.minChanges ?? 50;
  }

  /** Counts instance `key` with demand `d` once (later calls for the same key are ignored). */
  observe(key: string, d: Demand): void {
    if (this.frozen || this.seen.has(key)) return;
    const k = shapeKey(d);
    this.seen.set(key, k);
    const b = this.buckets.get(k);
    if (b) b.n++;
    else {
      this.buckets.set(k, { shape: { cpu: d.cpu, gpuCount: d.gpuCount, gpuMilli: d.gpuMilli, gpuModels: d.gpuModels }, n: 1 });
    }
    this.total++;
    this.changes++;
  }

  /** Stops counting instance `key` (deleted for good). */
  forget(key: string): void {
    if (this.frozen) return;
    const k = this.seen.get(key);
    if (k === undefined) return;
    this.seen.delete(key);
    const b = this.buckets.get(k)!;
    if (--b.n === 0) this.buckets.delete(k);
    this.total--;
    this.changes++;
  }

  get size(): number {
    return this.total;
  }

  /** Refreshes the typical set if it drifted; returns its version. */
  refresh(): number {
    if (this.frozen) return this.ver;
    const due = Math.max(this.ver === 0 ? 1 : this.minChanges, this.refreshRatio * this.sizeAtRefresh);
    if (this.changes >= due) this.recompute();
    return this.ver;
  }

  /** The typical shapes (covering `coverage` of the instances) as of the last refresh. */
  shapes(): readonly TypicalShape[] {
    return this.typical;
  }

  /** Every shape seen (up to `maxShapes`, most common first) as of the last refresh. */
  allShapes(): readonly TypicalShape[] {
    return this.full;
  }

  /** Version of `allShapes()` (moves on its own drift); call `refresh` first. */
  get allVersion(): number {
    return this.fullVer;
  }

  private recompute(): void {
    const sorted = [...this.buckets.entries()].sort((a, b) => b[1].n - a[1].n || compareShapes(b[1].shape, a[1].shape));
    const next = this.select(sorted, this.coverage);
    const full = this.select(sorted, 1);
    this.changes = 0;
    this.sizeAtRefresh = this.total;
    if (this.fullVer === 0 || drift(this.fullInUse, full) >= this.minDrift) {
      this.fullInUse = full;
      this.full = [...full.values()];
      this.fullVer++;
    }
    if (this.ver > 0 && drift(this.inUse, next) < this.minDrift) return;
    this.inUse = next;
    this.typical = [...next.values()];
    this.ver++;
  }

  /** The most common shapes of `sorted` until they cover `coverage` of all, renormalised. */
  private select(sorted: readonly [string, Bucket][], coverage: number): Map<string, TypicalShape> {
    const kept: [string, Bucket][] = [];
    let covered = 0;
    for (const entry of sorted) {
      if (covered >= coverage * this.total || kept.length >= this.maxShapes) break;
      covered += entry[1].n;
      kept.push(entry);
    }
    const out = new Map<string, TypicalShape>();
    for (const [k, b] of kept) {
      const m = b.shape;
      // One literal shape for every entry keeps property access monomorphic in the hot loop.
      out.set(k, { cpu: m.cpu, gpuCount: m.gpuCount, gpuMilli: m.gpuMilli, gpuModels: m.gpuModels, p: b.n / covered });
    }
    return out;
  }
}

/** Total variation distance between two shape distributions (missing shapes have p = 0). */
function drift(a: ReadonlyMap<string, TypicalShape>, b: ReadonlyMap<string, TypicalShape>): number {
  let sum = 0;
  for (const [k, s] of a) sum += Math.abs(s.p - (b.get(k)?.p ?? 0));
  for (const [k, s] of b) if (!a.has(k)) sum += s.p;
  return sum / 2;
}

/** CPU, then share, then devices, then the model list: ascending (the paper's order among equals is its reverse). */
function compareShapes(a: Omit<TypicalShape, 'p'>, b: Omit<TypicalShape, 'p'>): number {
  const ma = a.gpuModels?.join('|') ?? '';
  const mb = b.gpuModels?.join('|') ?? '';
  return a.cpu - b.cpu || a.gpuMilli - b.gpuMilli || a.gpuCount - b.gpuCount || (ma < mb ? -1 : ma > mb ? 1 : 0);
}
