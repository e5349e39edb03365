/**
 * Fills a server's store with many nodes and instances through its repository (no HTTP, no
 * admission, no agent), the way the benchmarks that need a large cluster do (bench/metrics.ts,
 * bench/ui.ts). Writes go in batches of concurrent creates, so 10,000 instances take seconds.
 *
 * Contract: node i is named `nodeName(i)`, Ready with `capacity` as capacity and allocatable; instance
 * k is `i-<k>` in `project`, Running on node `k % nodes`, with `labels(k)`. Not idempotent: the
 * names must not exist yet.
 */
import type { Repository } from '../../src/store/repository.js';
import { instanceKind, nodeKind } from '../../src/model/kinds/index.js';

/** The name of the i-th seeded node: `n00000`, `n00001`, ... (sorts in creation order). */
export const nodeName = (i: number): string => `n${String(i).padStart(5, '0')}`;

export interface SeedOptions {
  nodes: number;
  instances: number;
  /** Default: `default`. */
  project?: string;
  /** A node's capacity and allocatable (cpu in millicores, memory in MiB, disk in MiB). */
  capacity?: { cpu: number; memory: number; disk: number };
  /** Labels of instance k (default: none). */
  labels?: (k: number) => Record<string, string>;
  /** Concurrent creates per batch (default 200). */
  batch?: number;
}

/** Runs `make(i)` for i in [0, n) in batches of `size` concurrent calls. */
async function inBatches(n: number, size: number, make: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < n; i += size) await Promise.all(Array.from({ length: Math.min(size, n - i) }, (_, j) => make(i + j)));
}

/** Creates `nodes` Ready nodes then `instances` Running instances bound to them round-robin. */
export async function seedCluster(repo: Repository, opts: SeedOptions): Promise<void> {
  const project = opts.project ?? 'default';
  const res = { ...(opts.capacity ?? { cpu: 32000, memory: 131072, disk: 1_000_000 }), gpus: [] };
  const batch = opts.batch ?? 200;
  const heartbeat = new Date().toISOString();
  await inBatches(opts.nodes, batch, (i) => repo.create(nodeKind, {
    metadata: { name: nodeName(i) }, spec: {},
    status: { phase: 'Ready', capacity: res, allocatable: res, lastHeartbeat: heartbeat },
  }));
  await inBatches(opts.instances, batch, (k) => repo.create(instanceKind, {
    metadata: { name: `i-${k}`, project, labels: opts.labels?.(k) ?? {} },
    spec: { driver: 'process', command: ['sleep', '3600'], resources: { cpu: 250, memory: 256, disk: 0 }, priority: 0, restartPolicy: 'never', gracePeriod: 10 },
    status: { phase: 'Running', node: nodeName(k % opts.nodes) },
  }));
}
