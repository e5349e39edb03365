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
import type { InstanceUsage } from '../model/usage.js';

const MIB = 1024 * 1024;

/** One instance's latest usage as the usage history keeps it (with the node that measured it). */
export type UsageRow = Omit<InstanceUsage, 'uid' | 'cpu'> & { node: string };

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

/** The per-instance families of the usage reports: name, help, whether a counter, and the value of a row in base units (undefined: not reported, no series). */
export const USAGE_METRICS: { name: string; help: string; counter?: boolean; value: (u: UsageRow) => number | undefined }[] = [
  { name: 'stratus_instance_cpu_seconds_total', counter: true, help: 'CPU time of an instance\'s current run (its cgroup), seconds, as last reported by its node.', value: (u) => u.cpuSeconds },
  { name: 'stratus_instance_cpu_throttled_periods_total', counter: true, help: 'CFS periods in which the instance was throttled.', value: (u) => u.throttledPeriods },
  { name: 'stratus_instance_cpu_periods_total', counter: true, help: 'CFS periods in which the instance could run.', value: (u) => u.periods },
  { name: 'stratus_instance_memory_working_set_bytes', help: 'Memory working set of the instance, bytes.', value: (u) => u.memory * MIB },
  { name: 'stratus_instance_memory_peak_bytes', help: 'Peak memory of the instance\'s run, bytes (where the kernel keeps it).', value: (u) => (u.memoryPeak === undefined ? undefined : u.memoryPeak * MIB) },
  { name: 'stratus_instance_pids', help: 'Processes (tasks) of the instance.', value: (u) => u.pids },
  { name: 'stratus_instance_network_receive_bytes_total', counter: true, help: 'Bytes received in the instance\'s network namespace.', value: (u) => u.netRxBytes },
  { name: 'stratus_instance_network_transmit_bytes_total', counter: true, help: 'Bytes sent from the instance\'s network namespace.', value: (u) => u.netTxBytes },
  { name: 'stratus_instance_gpu_memory_bytes', help: 'GPU memory the instance\'s processes hold, bytes.', value: (u) => (u.gpuMemory === undefined ? undefined : u.gpuMemory * MIB) },
  { name: 'stratus_instance_gpu_utilization_ratio', help: 'Utilisation of the instance\'s GPU while it runs, 0-1.', value: (u) => (u.gpuUtilization === undefined ? undefined : u.gpuUtilization / 100) },
];

/** One family's samples: each row's value (labelled project, name, node, service), rows without one left out. */
export function usageSamples(rows: Iterable<UsageRow>, value: (u: UsageRow) => number | undefined): { labels: { project: string; name: string; node: string; service: string }; value: number }[] {
  const out = [];
  for (const u of rows) {
    const v = value(u);
    if (v !== undefined && Number.isFinite(v)) out.push({ labels: { project: u.project, name: u.name, node: u.node, service: u.service ?? '' }, value: v });
  }
  return out;
}
