/**
 * Usage: what each node's agent measures of its instances (from their cgroups) and of the
 * services' load balancers, sent to the control plane every `usageMs` (default 5 s) as one
 * report per node:
 *
 *   agent (node/agent/usage.ts) ── PUT /v1/nodes/{node}/usage ──▶ /internal/usage/nodes/<node>
 *        (api/routes/usage.ts: node credential only, its own instances only; one store write per report)
 *   every server: UsageHistory (runtime/usage.ts) watches the reports ──▶ top, /usage routes, /metrics, autoscaler
 *
 * Types, the schema of a report (bounded: a hostile node cannot make a server keep more than
 * MAX_REPORT_INSTANCES instances per report) and pure helpers. No I/O.
 */
import { Type } from '@sinclair/typebox';
import { DnsLabel, Strict, Timestamp } from './schema.js';

/** One instance's usage over the last report interval, measured by its node's agent from cgroups. */
export interface InstanceUsage {
  uid: string;
  project: string;
  name: string;
  /** Its stratus.io/service label, when a replica. */
  service?: string;
  /** Millicores, average over the interval. */
  cpu: number;
  /** Cumulative CPU time of the run (cgroup counter), seconds. */
  cpuSeconds: number;
  /** Cumulative CFS counters. */
  throttledPeriods?: number;
  periods?: number;
  /** Working set, MiB. */
  memory: number;
  /** MiB, peak of the run where the kernel keeps it. */
  memoryPeak?: number;
  pids?: number;
  /** Cumulative, its network namespace (absent in host networking). */
  netRxBytes?: number;
  netTxBytes?: number;
  /** MiB of GPU memory its processes hold, and the GPU's utilisation (percent) while they run. */
  gpuMemory?: number;
  gpuUtilization?: number;
}

/** Connections (and, where counted, requests) that reached a service's load balancer on one node; cumulative counters. */
export interface ServiceTraffic {
  project: string;
  service: string;
  connections: number;
  requests?: number;
}

/** What an agent sends every `usageMs` (default 5 s): PUT /v1/nodes/{node}/usage, node credential only. */
export interface NodeUsageReport {
  node: string;
  /** When it was measured (the agent's clock). */
  at: string;
  /** The interval the averages (cpu) cover. */
  intervalMs: number;
  /** Node totals used (millicores, MiB). */
  cpu: number;
  memory: number;
  instances: InstanceUsage[];
  services: ServiceTraffic[];
}

/** The default interval of an agent's reports. */
export const DEFAULT_USAGE_MS = 5000;
/** Bounds of one report: what a server keeps per node stays bounded whatever a node sends. */
export const MAX_REPORT_INSTANCES = 10_000;
export const MAX_REPORT_SERVICES = 10_000;

const Count = (description: string) => Type.Number({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description });
const Opt = Type.Optional;

export const InstanceUsageSchema = Type.Object(
  {
    uid: Type.String({ minLength: 1, maxLength: 128, description: 'The instance\'s metadata.uid.' }),
    project: DnsLabel(),
    name: DnsLabel(),
    service: Opt(DnsLabel({ description: 'Its stratus.io/service label.' })),
    cpu: Count('Millicores, average over the interval.'),
    cpuSeconds: Count('Cumulative CPU seconds of the run.'),
    throttledPeriods: Opt(Count('Cumulative CFS periods throttled.')),
    periods: Opt(Count('Cumulative CFS periods.')),
    memory: Count('Working set, MiB.'),
    memoryPeak: Opt(Count('Peak memory of the run, MiB.')),
    pids: Opt(Count('Processes.')),
    netRxBytes: Opt(Count('Bytes received by its network namespace (cumulative).')),
    netTxBytes: Opt(Count('Bytes sent by its network namespace (cumulative).')),
    gpuMemory: Opt(Count('GPU memory, MiB.')),
    gpuUtilization: Opt(Type.Number({ minimum: 0, maximum: 100, description: 'GPU utilisation, percent.' })),
  },
  Strict,
);

export const ServiceTrafficSchema = Type.Object(
  {
    project: DnsLabel(),
    service: DnsLabel(),
    connections: Count('Connections accepted (cumulative).'),
    requests: Opt(Count('HTTP requests served (cumulative), where counted.')),
  },
  Strict,
);

export const NodeUsageReportSchema = Type.Object(
  {
    node: DnsLabel({ description: 'The reporting node: the one in the URL.' }),
    at: Timestamp('When it was measured.'),
    intervalMs: Type.Integer({ minimum: 1, maximum: 3_600_000, description: 'The interval the averages cover, ms.' }),
    cpu: Count('Millicores used on the node.'),
    memory: Count('MiB used on the node.'),
    instances: Type.Array(InstanceUsageSchema, { maxItems: MAX_REPORT_INSTANCES }),
    services: Type.Array(ServiceTrafficSchema, { maxItems: MAX_REPORT_SERVICES }),
  },
  { ...Strict, description: 'One node\'s usage report (the agent sends one every few seconds).' },
);

/** An instance's usage as the read API returns it: its latest point and where it was measured. */
export type InstanceUsagePoint = InstanceUsage & { at: string };
export type LatestInstanceUsage = InstanceUsagePoint & { node: string };

/** GET /v1/projects/{project}/instances/{name}/usage */
export interface InstanceUsageView {
  project: string;
  name: string;
  uid?: string;
  /** undefined when its node has not reported it (yet). */
  latest?: LatestInstanceUsage;
  /** Oldest first; each point without uid, project, name and service (those of the instance). */
  history: Omit<InstanceUsagePoint, 'uid' | 'project' | 'name' | 'service'>[];
}

/** A row of GET /v1/usage/instances: a running instance, what it requested, and its latest usage when reported. */
export interface InstanceUsageRow {
  project: string;
  name: string;
  uid: string;
  node: string;
  phase: string;
  requests: { cpu: number; memory: number };
  usage?: InstanceUsagePoint;
}

/** A row of GET /v1/usage/nodes: a node's allocation against its capacity, and what its agent last reported. */
export interface NodeUsageView {
  node: string;
  ready: boolean;
  capacity: { cpu: number; memory: number; gpus: number };
  allocated: { cpu: number; memory: number; gpus: number };
  instances: number;
  /** undefined when the node has not reported yet. */
  used?: { at: string; cpu: number; memory: number; gpuMemory?: number };
}

/**
 * The increase of a cumulative counter between two readings, where a counter that went down was
 * reset (the agent or the instance restarted): the increase is then the new reading.
 */
export function counterIncrease(prev: number | undefined, next: number): number {
  if (prev === undefined) return 0;
  return next >= prev ? next - prev : next;
}
