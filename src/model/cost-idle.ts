/**
 * Idle cost (model/cost.ts, cluster admins): per node-hour, the node's capacity at its rates
 * minus what instances reserved on it, per resource, never below 0, summed by node pool. Rates
 * are the node's without any project's discount (capacity belongs to no project). Pure.
 */
import type { InstanceMeter, NodeMeter } from './metering.js';
import type { NodeInfo, PriceBook } from './cost-prices.js';

export interface IdleRow { pool: string; cpu: number; memory: number; gpu: number; total: number }

export interface Reserved { cpu: number; memory: number; gpu?: Map<string, number> }

/** What instances reserved, per node and hour (core-seconds, GiB-seconds, GPU-seconds by model). */
export class ReservedByNode {
  private readonly byNode = new Map<string, Map<string, Reserved>>();

  add(m: InstanceMeter): void {
    const hours = this.byNode.get(m.node) ?? this.byNode.set(m.node, new Map()).get(m.node)!;
    const r = hours.get(m.hour) ?? hours.set(m.hour, { cpu: 0, memory: 0 }).get(m.hour)!;
    r.cpu += m.cpuReservedSeconds;
    r.memory += m.memoryReservedGiBSeconds;
    for (const g of m.gpu ?? []) {
      r.gpu ??= new Map();
      r.gpu.set(g.model, (r.gpu.get(g.model) ?? 0) + g.share * g.seconds);
    }
  }

  get(node: string, hour: string): Reserved | undefined {
    return this.byNode.get(node)?.get(hour);
  }
}

/** A node-hour's capacity that `used` (what instances reserved on it that hour) leaves, never below 0. */
export function idleOf(n: NodeMeter, used: Reserved | undefined): NonNullable<NodeMeter['idle']> {
  return {
    cpuCoreSeconds: Math.max(0, n.cpuCoreSeconds - (used?.cpu ?? 0)),
    memoryGiBSeconds: Math.max(0, n.memoryGiBSeconds - (used?.memory ?? 0)),
    ...(n.gpu ? { gpu: n.gpu.map((g) => ({ model: g.model, seconds: Math.max(0, g.seconds - (used?.gpu?.get(g.model) ?? 0)) })) } : {}),
  };
}

/** Per pool, most idle first (a rollup's node rows carry their idle capacity, summed per hour: used as it is). */
export function idleByPool(nodeRecords: NodeMeter[], reserved: ReservedByNode, book: PriceBook, nodes: Map<string, NodeInfo>, since: string, until: string): IdleRow[] {
  const pools = new Map<string, IdleRow>();
  for (const n of nodeRecords) {
    if (n.hour < since || n.hour >= until) continue;
    const info = nodes.get(n.node) ?? { pool: n.pool, labels: n.labels };
    const r = book.rates(n.hour, '', info);
    if (!r) continue;
    const pool = n.pool ?? info.pool ?? '(none)';
    const row = pools.get(pool) ?? pools.set(pool, { pool, cpu: 0, memory: 0, gpu: 0, total: 0 }).get(pool)!;
    const idle = n.idle ?? idleOf(n, reserved.get(n.node, n.hour));
    row.cpu += (idle.cpuCoreSeconds / 3600) * r.cpuCoreHour;
    row.memory += (idle.memoryGiBSeconds / 3600) * r.memoryGiBHour;
    for (const g of idle.gpu ?? []) row.gpu += (g.seconds / 3600) * (r.gpuHour[g.model] ?? 0);
    row.total = row.cpu + row.memory + row.gpu;
  }
  return [...pools.values()].sort((a, b) => b.total - a.total || a.pool.localeCompare(b.pool));
}
