/**
 * UsageHistory: every server's in-memory view of the nodes' usage reports (model/usage.ts), fed
 * by the shared informer of `/internal/usage/nodes/` (so list, watch and resync are the
 * informer's), with a bounded history per instance, per node and per service.
 *
 *   store /internal/usage/nodes/<node> ──informer──▶ apply(report) ──▶ latest per instance
 *                                                         │            ring per instance (cpu, memory, counters)
 *                                                         │            ring per node (totals)
 *                                                         │            ring per (node, service) (cumulative counters)
 *                                                         └──▶ onReport listeners (autoscaler, metrics)
 *
 * Contracts:
 * - Memory is bounded: each ring holds `points` points (default 720: 1 h at 5 s), in typed
 *   arrays (56 bytes a point for an instance: about 40 KB an instance at 720 points).
 * - Windows (`sinceMs`, `windowMs`) are measured on the server's clock, at the time each report
 *   was applied; rates divide by the reporting agent's own clock (its `at`), so a slow watch
 *   delivery does not inflate a rate.
 * - `instances()` and `nodes()` are what is current: the instances of each node's latest report,
 *   of nodes that reported within 3 intervals (at least 30 s). `latest(uid)` and the histories
 *   keep the last known until forgotten: an instance its node stops reporting (it stopped, moved,
 *   or the node is gone), and a node that stops reporting, `forgetMs` (default 10 min) after
 *   their last point.
 * - A report already applied (same node, same or older `at`) is ignored: a re-list applies nothing twice.
 */
import type { KeyValue } from '../store/backend.js';
import type { Repository } from '../store/repository.js';
import type { Clock } from '../model/runtime.js';
import { systemClock } from '../model/runtime.js';
import { usageKeys } from '../model/keyspace.js';
import { counterIncrease, DEFAULT_USAGE_MS, type InstanceUsage, type NodeUsageReport } from '../model/usage.js';
import type { Informers } from './informers.js';
import type { Subscription } from './informer.js';
import type { Component } from './component.js';
import { ColumnRing } from './usage-ring.js';

const INSTANCE_COLUMNS = { t: 'f64', at: 'f64', cpu: 'f32', cpuSeconds: 'f64', memory: 'f32', netRxBytes: 'f64', netTxBytes: 'f64', gpuMemory: 'f32', gpuUtilization: 'f32' } as const;
const NODE_COLUMNS = { t: 'f64', at: 'f64', cpu: 'f32', memory: 'f32' } as const;
const SERVICE_COLUMNS = { t: 'f64', at: 'f64', connections: 'f64', requests: 'f64' } as const;

type Latest = InstanceUsage & { at: string; node: string };

interface InstanceEntry {
  latest: Latest;
  /** Server time of the last point. */
  seen: number;
  /** The `at` (ms) of the report it was last in: current while that is its node's latest. */
  reportAt: number;
  ring: ColumnRing<typeof INSTANCE_COLUMNS>;
}

interface NodeEntry {
  latest: { node: string; at: string; cpu: number; memory: number };
  atMs: number;
  seen: number;
  intervalMs: number;
  ring: ColumnRing<typeof NODE_COLUMNS>;
  /** "<project>/<service>" → its counters as this node counted them. */
  services: Map<string, ColumnRing<typeof SERVICE_COLUMNS>>;
}

export interface UsageHistoryOptions {
  /** Points kept per instance, node and service (default 720). */
  points?: number;
  /** Forget what has not been reported for this long (default 10 min). */
  forgetMs?: number;
  clock?: Clock;
}

export class UsageHistory implements Component {
  readonly name = 'usage-history';
  private readonly points: number;
  private readonly forgetMs: number;
  private readonly clock: Clock;
  private readonly byUid = new Map<string, InstanceEntry>();
  private readonly byNode = new Map<string, NodeEntry>();
  private readonly listeners = new Set<(node: string) => void>();
  private sub: Subscription | undefined;
  private lastSweep = 0;
  private lastError = '';

  /** `informers` undefined: fed by `apply` only (tests, benchmarks). */
  constructor(private readonly informers: Informers | undefined, options: UsageHistoryOptions = {}) {
    this.points = options.points ?? Math.round(3_600_000 / DEFAULT_USAGE_MS);
    this.forgetMs = options.forgetMs ?? 600_000;
    this.clock = options.clock ?? systemClock;
  }

  async start(): Promise<void> {
    if (!this.informers || this.sub) return;
    const apply = (kv: KeyValue) => this.applyRecord(kv);
    this.sub = await this.informers.records(usageKeys.prefix).use({ add: apply, update: (_old, kv) => apply(kv), delete: (kv) => this.dropNode(usageKeys.nodeOf(kv.key)) });
  }

  async stop(): Promise<void> {
    this.sub?.close();
    this.sub = undefined;
  }

  /** The last problem (a record that could not be read, a listener that threw), or ''. Not a readiness check: usage is best effort. */
  lastProblem(): string {
    return this.lastError;
  }

  /** Applies one report (idempotent per node and `at`); listeners are told after. */
  apply(report: NodeUsageReport): void {
    const now = this.clock.now();
    const atMs = Date.parse(report.at);
    const prev = this.byNode.get(report.node);
    if (Number.isNaN(atMs) || (prev && atMs <= prev.atMs)) return;
    if (!prev && now - atMs > this.forgetMs) return; // a record left by a node that stopped long ago
    const node = prev ?? this.newNode(report.node);
    Object.assign(node, { latest: { node: report.node, at: report.at, cpu: report.cpu, memory: report.memory }, atMs, seen: now, intervalMs: report.intervalMs });
    node.ring.push({ t: now, at: atMs, cpu: report.cpu, memory: report.memory });
    for (const u of report.instances) this.applyInstance(report.node, report.at, atMs, now, u);
    for (const s of report.services) {
      const key = `${s.project}/${s.service}`;
      let ring = node.services.get(key);
      if (!ring) node.services.set(key, (ring = new ColumnRing(this.points, SERVICE_COLUMNS)));
      ring.push({ t: now, at: atMs, connections: s.connections, ...(s.requests !== undefined ? { requests: s.requests } : {}) });
    }
    this.sweep(now);
    for (const l of this.listeners) {
      try {
        l(report.node);
      } catch (e) {
        this.lastError = `a usage listener failed: ${(e as Error).message}`;
      }
    }
  }

  latest(uid: string): Latest | undefined {
    return this.byUid.get(uid)?.latest;
  }

  history(uid: string, sinceMs?: number): (InstanceUsage & { at: string })[] {
    const e = this.byUid.get(uid);
    if (!e) return [];
    const from = sinceMs === undefined ? 0 : e.ring.firstFrom('t', this.clock.now() - sinceMs);
    const { uid: id, project, name, service } = e.latest;
    return e.ring.slice(from).map(({ t: _t, at, cpu, cpuSeconds, memory, ...rest }) => ({
      uid: id, project, name, ...(service ? { service } : {}),
      at: new Date(at!).toISOString(), cpu: cpu!, cpuSeconds: cpuSeconds!, memory: memory!, ...rest,
    }));
  }

  /** Current only: in its node's latest report, from a node still reporting (see `current`). */
  instances(): Iterable<Latest> {
    const now = this.clock.now();
    const out: Latest[] = [];
    for (const e of this.byUid.values()) {
      const n = this.byNode.get(e.latest.node);
      if (n && current(n, now) && e.reportAt === n.atMs) out.push(e.latest);
    }
    return out;
  }

  /** Nodes still reporting (see `current`). */
  nodes(): Iterable<{ node: string; at: string; cpu: number; memory: number }> {
    const now = this.clock.now();
    return [...this.byNode.values()].filter((n) => current(n, now)).map((n) => n.latest);
  }

  nodeHistory(node: string, sinceMs?: number): { at: string; cpu: number; memory: number }[] {
    const n = this.byNode.get(node);
    if (!n) return [];
    const from = sinceMs === undefined ? 0 : n.ring.firstFrom('t', this.clock.now() - sinceMs);
    return n.ring.slice(from).map((p) => ({ at: new Date(p.at!).toISOString(), cpu: p.cpu!, memory: p.memory! }));
  }

  /**
   * Connections (or requests) per second to a service over the last `windowMs`, summed over the
   * nodes: each node's increase between its points in the window (a counter that went down was
   * reset: an agent restarted) divided by the time between them on that node's clock. Undefined
   * when no node has two points of the service in the window (no rate can be known yet).
   */
  serviceRate(project: string, service: string, windowMs: number, what: 'connections' | 'requests' = 'connections'): number | undefined {
    const key = `${project}/${service}`;
    const since = this.clock.now() - windowMs;
    let rate: number | undefined;
    for (const n of this.byNode.values()) {
      const ring = n.services.get(key);
      if (!ring) continue;
      const r = nodeRate(ring, ring.firstFrom('t', since), what);
      if (r !== undefined) rate = (rate ?? 0) + r;
    }
    return rate;
  }

  onReport(listener: (node: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Bytes held by the rings (for the benchmark and operators' sizing). */
  get bytes(): number {
    let n = 0;
    for (const e of this.byUid.values()) n += e.ring.bytes;
    for (const e of this.byNode.values()) {
      n += e.ring.bytes;
      for (const r of e.services.values()) n += r.bytes;
    }
    return n;
  }

  private applyRecord(kv: KeyValue): void {
    try {
      this.apply(JSON.parse(kv.value) as NodeUsageReport);
    } catch (e) {
      this.lastError = `the usage record ${kv.key} could not be read: ${(e as Error).message}`;
    }
  }

  private applyInstance(node: string, at: string, atMs: number, now: number, u: InstanceUsage): void {
    let e = this.byUid.get(u.uid);
    if (!e) this.byUid.set(u.uid, (e = { latest: { ...u, at, node }, seen: now, reportAt: atMs, ring: new ColumnRing(this.points, INSTANCE_COLUMNS) }));
    e.latest = { ...u, at, node };
    e.seen = now;
    e.reportAt = atMs;
    e.ring.push({ t: now, at: atMs, cpu: u.cpu, cpuSeconds: u.cpuSeconds, memory: u.memory, netRxBytes: u.netRxBytes, netTxBytes: u.netTxBytes, gpuMemory: u.gpuMemory, gpuUtilization: u.gpuUtilization });
  }

  private newNode(node: string): NodeEntry {
    const entry: NodeEntry = { latest: { node, at: '', cpu: 0, memory: 0 }, atMs: 0, seen: 0, intervalMs: DEFAULT_USAGE_MS, ring: new ColumnRing(this.points, NODE_COLUMNS), services: new Map() };
    this.byNode.set(node, entry);
    return entry;
  }

  private dropNode(node: string): void {
    this.byNode.delete(node);
    for (const [uid, e] of this.byUid) if (e.latest.node === node) this.byUid.delete(uid);
  }

  /** Forgets what was not reported for `forgetMs`; runs at most every forgetMs / 10. */
  private sweep(now: number): void {
    if (now - this.lastSweep < this.forgetMs / 10) return;
    this.lastSweep = now;
    for (const [uid, e] of this.byUid) if (now - e.seen > this.forgetMs) this.byUid.delete(uid);
    for (const [node, n] of this.byNode) {
      if (now - n.seen > this.forgetMs) this.byNode.delete(node);
      else for (const [key, ring] of n.services) if (now - ring.at(ring.length - 1, 't') > this.forgetMs) n.services.delete(key);
    }
  }
}

/** A node still reporting: its last report came within 3 of its intervals (at least 30 s): a stopped agent's figures are not shown as today's. */
function current(n: NodeEntry, now: number): boolean {
  return now - n.seen <= Math.max(3 * n.intervalMs, 30_000);
}

/** One node's rate of `what` from the points of `ring` from index `from` on, or undefined (fewer than two). */
function nodeRate(ring: ColumnRing<typeof SERVICE_COLUMNS>, from: number, what: 'connections' | 'requests'): number | undefined {
  if (ring.length - from < 2) return undefined;
  let increase = 0;
  for (let i = from + 1; i < ring.length; i++) {
    const prev = ring.at(i - 1, what);
    const next = ring.at(i, what);
    if (Number.isNaN(next)) return undefined;
    increase += counterIncrease(Number.isNaN(prev) ? undefined : prev, next);
  }
  const seconds = (ring.at(ring.length - 1, 'at') - ring.at(from, 'at')) / 1000;
  return seconds > 0 ? increase / seconds : undefined;
}

/** Stores `report` as its node's latest (one write; every server's UsageHistory sees it through its watch). */
export async function writeUsageReport(repo: Repository, report: NodeUsageReport): Promise<void> {
  await repo.records.txn([{ op: 'put', key: usageKeys.key(report.node), value: JSON.stringify(report) }]);
}
