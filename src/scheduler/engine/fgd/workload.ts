/**
 * The target workload FGD measures fragmentation against, learned from the instances seen
 * (arrived), never configured: a histogram of request shapes (CPU, memory, GPUs, models), of which
 * the most common shapes covering `coverage` of all instances are "typical", each with its
 * frequency.
 *
 * The typical set is recomputed when the histogram has changed by more than `refreshRatio` of its
 * size since the last look (early on at nearly every arrival, later rarely), and adopted when it
 * moved at least `minDrift` (total variation distance) from the set in use. Between adoptions
 * FGD scores are stable, which lets the engine cache them; `version` names the set in use.
 */
import type { Demand } from '../types.js';

export interface TypicalShape {
  readonly cpu: number;
  readonly memory: number;
  /** 0 for shapes without GPUs. */
  readonly gpuCount: number;
  /** Per device: 1000 for whole GPUs, the share otherwise. */
  readonly gpuMilli: number;
  readonly gpuModels: readonly string[] | undefined;
  /** Frequency among all instances seen (0–1). */
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
  return `${d.cpu}/${d.memory}/${d.gpuCount}/${d.gpuMilli}/${d.gpuModels?.join('|') ?? ''}`;
}

export class WorkloadModel {
  private readonly buckets = new Map<string, Bucket>();
  private readonly seen = new Map<string, string>();
  private total = 0;
  private changes = 0;
  private sizeAtRefresh = 0;
  private typical: TypicalShape[] = [];
  private inUse = new Map<string, TypicalShape>();
  private ver = 0;
  private readonly coverage: number;
  private readonly maxShapes: number;
  private readonly refreshRatio: number;
  private readonly minDrift: number;
  private readonly minChanges: number;

  constructor(opts: WorkloadModelOptions = {}) {
    this.coverage = opts.coverage ?? 1;
    this.maxShapes = opts.maxShapes ?? 256;
    this.refreshRatio = opts.refreshRatio ?? 0.1;
    this.minDrift = opts.minDrift ?? 0.04;
    this.minChanges = opts.minChanges ?? 50;
  }

  /** Counts instance `key` with demand `d` once (later calls for the same key are ignored). */
  observe(key: string, d: Demand): void {
    if (this.seen.has(key)) return;
    const k = shapeKey(d);
    this.seen.set(key, k);
    const b = this.buckets.get(k);
    if (b) b.n++;
    else {
      this.buckets.set(k, { shape: { cpu: d.cpu, memory: d.memory, gpuCount: d.gpuCount, gpuMilli: d.gpuMilli, gpuModels: d.gpuModels }, n: 1 });
    }
    this.total++;
    this.changes++;
  }

  /** Stops counting instance `key` (deleted for good). */
  forget(key: string): void {
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
    const due = Math.max(this.ver === 0 ? 1 : this.minChanges, this.refreshRatio * this.sizeAtRefresh);
    if (this.changes >= due) this.recompute();
    return this.ver;
  }

  /** The typical shapes as of the last refresh. */
  shapes(): readonly TypicalShape[] {
    return this.typical;
  }

  private recompute(): void {
    const sorted = [...this.buckets.entries()].sort((a, b) => b[1].n - a[1].n || compareShapes(a[1].shape, b[1].shape));
    const next = new Map<string, TypicalShape>();
    let covered = 0;
    for (const [k, b] of sorted) {
      if (covered >= this.coverage * this.total || next.size >= this.maxShapes) break;
      covered += b.n;
      const m = b.shape;
      // One literal shape for every entry keeps property access monomorphic in the hot loop.
      next.set(k, { cpu: m.cpu, memory: m.memory, gpuCount: m.gpuCount, gpuMilli: m.gpuMilli, gpuModels: m.gpuModels, p: b.n / this.total });
    }
    this.changes = 0;
    this.sizeAtRefresh = this.total;
    if (this.ver > 0 && drift(this.inUse, next) < this.minDrift) return;
    this.inUse = next;
    this.typical = [...next.values()];
    this.ver++;
  }
}

/** Total variation distance between two shape distributions (missing shapes have p = 0). */
function drift(a: ReadonlyMap<string, TypicalShape>, b: ReadonlyMap<string, TypicalShape>): number {
  let sum = 0;
  for (const [k, s] of a) sum += Math.abs(s.p - (b.get(k)?.p ?? 0));
  for (const [k, s] of b) if (!a.has(k)) sum += s.p;
  return sum / 2;
}

function compareShapes(a: Omit<TypicalShape, 'p'>, b: Omit<TypicalShape, 'p'>): number {
  return a.cpu - b.cpu || a.gpuMilli - b.gpuMilli || a.gpuCount - b.gpuCount || a.memory - b.memory;
}
