/**
 * The cluster's state as metric series, computed at scrape time (pure functions of the informers'
 * objects and the usage history): node capacity, allocatable and allocated; pending instances by
 * reason; per-instance usage. Units are Prometheus's base units: cores, bytes, ratios.
 */
import type { Instance } from '../model/kinds/instance.js';
import type { Node, NodeResources } from '../model/kinds/node.js';
import { isPending } from '../model/lifecycle.js';
import { demandOf } from '../scheduler/engine/request.js';
import { occupiesNode } from '../scheduler/engine/snapshot.js';

const MIB = 1024 * 1024;

/** One instance's latest usage as the usage history keeps it (model/usage.ts InstanceUsage, with its node). */
export interface UsageRow {
  project: string;
  name: string;
  node: string;
  service?: string;
  cpuSeconds: number;
  throttledPeriods?: number;
  periods?: number;
  /** MiB. */
  memory: number;
  memoryPeak?: number;
  pids?: number;
  netRxBytes?: number;
  netTxBytes?: number;
  /** MiB, and percent. */
  gpuMemory?: number;
  gpuUtilization?: number;
}

/** What the server's /metrics reads per-instance usage from (runtime/usage.ts's UsageHistory). */
export interface UsageSource {
  instances(): Iterable<UsageRow>;
}

export interface NodeSeries {
  what: 'capacity' | 'allocatable' | 'allocated';
  node: string;
  resource: 'cpu' | 'memory' | 'disk' | 'gpus' | 'instances';
  value: number;
}

/** Capacity and allocatable as the agents report them, and what bound instances request, per node. */
export function nodeSeries(nodes: Iterable<Node>, instances: Iterable<Instance>): NodeSeries[] {
  const out: NodeSeries[] = [];
  const used = new Map<string, { cpu: number; memory: number; disk: number; gpus: number; instances: number }>();
  for (const i of instances) {
    if (!occupiesNode(i)) continue;
    const node = i.status!.node!;
    const d = demandOf(i);
    const u = used.get(node) ?? { cpu: 0, memory: 0, disk: 0, gpus: 0, instances: 0 };
    u.cpu += d.cpu;
    u.memory += d.memory;
    u.disk += d.disk;
    u.gpus += (d.gpuCount * d.gpuMilli) / 1000;
    u.instances += 1;
    used.set(node, u);
  }
  for (const n of nodes) {
    const node = n.metadata.name;
    const push = (what: NodeSeries['what'], r: Omit<NodeResources, 'gpus'> & { gpus: number }) => {
      out.push({ what, node, resource: 'cpu', value: r.cpu / 1000 }, { what, node, resource: 'memory', value: r.memory * MIB },
        { what, node, resource: 'disk', value: r.disk * MIB }, { what, node, resource: 'gpus', value: r.gpus });
      if (r.instances !== undefined) out.push({ what, node, resource: 'instances', value: r.instances });
    };
    const cap = n.status?.capacity;
    const alloc = n.status?.allocatable;
    if (cap) push('capacity', { ...cap, gpus: cap.gpus.length });
    if (alloc) push('allocatable', { ...alloc, gpus: alloc.gpus.length });
    push('allocated', used.get(node) ?? { cpu: 0, memory: 0, disk: 0, gpus: 0, instances: 0 });
  }
  return out;
}

/** Pending instances by the reason the scheduler gave ("New" before its first try). */
export function pendingByReason(instances: Iterable<Instance>): Map<string, number> {
  const out = new Map<string, number>();
  for (const i of instances) {
    if (!isPending(i)) continue;
    const reason = i.status?.reason ?? 'New';
    out.set(reason, (out.get(reason) ?? 0) + 1);
  }
  return out;
}

export interface UsageSample {
  metric: string;
  labels: { project: string; name: string; node: string; service: string };
  value: number;
}

/** The series of each instance's latest usage; a field the node did not report gives no series. */
export function* usageSeries(rows: Iterable<UsageRow>): Generator<UsageSample> {
  for (const u of rows) {
    const labels = { project: u.project, name: u.name, node: u.node, service: u.service ?? '' };
    const fields: [string, number | undefined][] = [
      ['stratus_instance_cpu_seconds_total', u.cpuSeconds],
      ['stratus_instance_cpu_throttled_periods_total', u.throttledPeriods],
      ['stratus_instance_cpu_periods_total', u.periods],
      ['stratus_instance_memory_working_set_bytes', u.memory * MIB],
      ['stratus_instance_memory_peak_bytes', u.memoryPeak === undefined ? undefined : u.memoryPeak * MIB],
      ['stratus_instance_pids', u.pids],
      ['stratus_instance_network_receive_bytes_total', u.netRxBytes],
      ['stratus_instance_network_transmit_bytes_total', u.netTxBytes],
      ['stratus_instance_gpu_memory_bytes', u.gpuMemory === undefined ? undefined : u.gpuMemory * MIB],
      ['stratus_instance_gpu_utilization_ratio', u.gpuUtilization === undefined ? undefined : u.gpuUtilization / 100],
    ];
    for (const [metric, value] of fields) if (value !== undefined && Number.isFinite(value)) yield { metric, labels, value };
  }
}
