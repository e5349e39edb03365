/**
 * What the cluster's nodes could host at all, by capacity (not by what is free): how many GPUs sit
 * on nodes able to run a task shape once — enough devices of an allowed model and enough CPU.
 * Scarcity weights (fgd-sc) read it. Built lazily, once per capacity epoch of a snapshot.
 */
import { modelAllowed } from './gpu.js';
import type { NodeState } from './node-state.js';

/** A task shape as far as hosting goes. */
export interface HostNeeds {
  readonly cpu: number;
  readonly gpuCount: number;
  readonly gpuModels: readonly string[] | undefined;
}

interface NodeClass {
  readonly cpu: number;
  readonly models: readonly string[];
  count: number;
}

let ids = 0;

export class CapacityIndex {
  /** Unique per index: names the capacity a cached score was computed against. */
  readonly id = ++ids;
  private classes: NodeClass[] | undefined;
  private gpus = 0;

  constructor(private readonly nodes: () => Iterable<NodeState>) {}

  /** GPUs in the cluster. */
  get totalGpus(): number {
    this.build();
    return this.gpus;
  }

  /** GPUs on nodes that could run `m` once: allowed devices ≥ count(m), CPU ≥ cpu(m). */
  supply(m: HostNeeds): number {
    let sum = 0;
    for (const c of this.build()) {
      if (c.cpu < m.cpu) continue;
      let allowed = 0;
      for (const model of c.models) if (modelAllowed(model, m.gpuModels)) allowed++;
      if (allowed >= m.gpuCount) sum += c.count * allowed;
    }
    return sum;
  }

  private build(): NodeClass[] {
    if (this.classes) return this.classes;
    const byKey = new Map<string, NodeClass>();
    for (const n of this.nodes()) {
      if (n.gpuCount === 0) continue;
      this.gpus += n.gpuCount;
      const key = `${n.cpu}/${n.gpuModel.join(',')}`;
      const c = byKey.get(key);
      if (c) c.count++;
      else byKey.set(key, { cpu: n.cpu, models: n.gpuModel, count: 1 });
    }
    this.classes = [...byKey.values()];
    return this.classes;
  }
}
