/**
 * The meter's arithmetic (no I/O): turns the nodes' usage reports (model/usage.ts) and the
 * volumes' sizes into hourly rows (runtime/metering-store.ts), idempotent by construction.
 *
 * Per run (instance uid on one node: a move to another node is a new run, and the old node's last
 * reports of it never mix with the new node's counter) it keeps the last cumulative counters it counted (CPU seconds, network
 * bytes) and the agent's time of them. Each report adds, per instance:
 *   - counter deltas: CPU-seconds, bytes. A report seen twice, or older than what was counted,
 *     adds nothing; a counter that went down is a new run, counted from zero; a run the meter
 *     never saw is counted from zero too (its whole counter is this run's use) when its workload
 *     started within NEW_RUN_MS of the report, else from that report on (a run that started long
 *     before, e.g. when metering is first deployed, is not charged its whole past in one hour).
 *   - quantity × dt, dt being the time since its previous report (the agent's clock): seconds,
 *     requested cores and memory (the instance's spec), working set, GPU devices/shares held
 *     (its allocation; the model from its node). An interval longer than `maxGapMs` (default 3
 *     report intervals, at least 30 s; plus `resumeSlackMs` for the first interval after the
 *     counters were loaded from the store) is not measured: time-based quantities are not added
 *     and the counter deltas go to the hour of the report.
 *   - an interval across UTC hours is split in proportion to the time in each.
 * Nodes add their capacity × dt the same way (their reports); volumes their size × dt on the
 * meter's own clock (`meterVolumes`, each tick).
 *
 * Rows carry the counters they were counted to (`last`, `lastAt`; at an hour boundary, the
 * counters interpolated there), so a record written alone is consistent (see metering-store.ts).
 */
import { hourOf, splitByHour, type GpuMeter } from '../model/metering.js';
import { counterIncrease, type InstanceUsage, type NodeUsageReport } from '../model/usage.js';
import { MAX_LABEL_BYTES, MAX_ROWS_PER_RECORD, type RunCounters, type StoredInstance, type StoredNode, type StoredNodeHour, type StoredProjectHour, type StoredVolume } from './metering-store.js';

/** What the meter needs of an instance object (its spec and allocation). */
export interface MeteredInstance {
  driver: string;
  service?: string;
  labels?: Record<string, string>;
  /** Requests: millicores and MiB. */
  cpu: number;
  memory: number;
  /** GPU indexes held and the share of each (1 = the whole device). */
  gpus?: { index: number; share: number }[];
  /** When its workload last started (ms), as its agent said. */
  startedAt?: number;
}

/** What the meter needs of a node object. */
export interface MeteredNode {
  pool?: string;
  labels?: Record<string, string>;
  /** Capacity: millicores and MiB, and its GPUs. */
  cpu: number;
  memory: number;
  gpus: { index: number; model: string }[];
}

export interface MeterLookup {
  /** The instance of that project and name if its uid is `uid`. */
  instance(project: string, name: string, uid: string): MeteredInstance | undefined;
  node(name: string): MeteredNode | undefined;
}

/** A volume as the meter sees it: size in MiB. */
export interface MeteredVolume {
  project: string;
  name: string;
  node?: string;
  size: number;
}

export interface MeterOptions {
  /** Intervals longer than this are not measured; default max(3 × the report's interval, 30 s). */
  maxGapMs?: number;
  /** Added to the bound for the first interval after counters were loaded from the store (a takeover): default 60 s, the flush period. */
  resumeSlackMs?: number;
  /** The volume tick, for its gap bound (3 ticks, at least 30 s). Default 10 s. */
  volumeTickMs?: number;
}

interface Run extends RunCounters {
  /** Loaded from the store: the next interval may be as long as a flush period. */
  resumed?: boolean;
}

interface Shard {
  instances: Map<string, StoredInstance>;
  volumes: Map<string, StoredVolume>;
}

class ProjectHour {
  readonly shards: Shard[] = [];
  readonly dirty = new Set<number>();
  private readonly where = new Map<string, number>();

  load(shard: number, rec: StoredProjectHour): void {
    while (this.shards.length <= shard) this.shards.push({ instances: new Map(), volumes: new Map() });
    for (const r of rec.instances) {
      this.shards[shard]!.instances.set(runId(r.uid, r.node), r);
      this.where.set(`i/${runId(r.uid, r.node)}`, shard);
    }
    for (const r of rec.volumes) {
      this.shards[shard]!.volumes.set(r.name, r);
      this.where.set(`v/${r.name}`, shard);
    }
  }

  /** The row of `id` ('i/<uid>@<node>' or 'v/<name>'), made by `make` in the last shard with room when new; marks its shard dirty. */
  row<T>(id: string, pick: (s: Shard) => Map<string, T>, rowKey: string, make: () => T): T {
    let shard = this.where.get(id);
    if (shard === undefined) {
      const last = this.shards[this.shards.length - 1];
      if (!last || last.instances.size + last.volumes.size >= MAX_ROWS_PER_RECORD) this.shards.push({ instances: new Map(), volumes: new Map() });
      shard = this.shards.length - 1;
      this.where.set(id, shard);
      pick(this.shards[shard]!).set(rowKey, make());
    }
    this.dirty.add(shard);
    return pick(this.shards[shard]!).get(rowKey)!;
  }

  record(shard: number): StoredProjectHour {
    const s = this.shards[shard]!;
    return { instances: [...s.instances.values()], volumes: [...s.volumes.values()] };
  }
}

/** One UTC hour's rows. Nodes are few (one record per MAX_ROWS_PER_RECORD nodes). */
export class HourBook {
  readonly projects = new Map<string, ProjectHour>();
  readonly nodeShards: Map<string, StoredNode>[] = [];
  readonly dirtyNodes = new Set<number>();
  private readonly nodeWhere = new Map<string, number>();

  constructor(readonly hour: string) {}

  project(project: string): ProjectHour {
    let p = this.projects.get(project);
    if (!p) this.projects.set(project, (p = new ProjectHour()));
    return p;
  }

  loadNodes(shard: number, rec: StoredNodeHour): void {
    while (this.nodeShards.length <= shard) this.nodeShards.push(new Map());
    for (const r of rec.nodes) {
      this.nodeShards[shard]!.set(r.node, r);
      this.nodeWhere.set(r.node, shard);
    }
  }

  nodeRow(node: string, make: () => StoredNode): StoredNode {
    let shard = this.nodeWhere.get(node);
    if (shard === undefined) {
      const last = this.nodeShards[this.nodeShards.length - 1];
      if (!last || last.size >= MAX_ROWS_PER_RECORD) this.nodeShards.push(new Map());
      shard = this.nodeShards.length - 1;
      this.nodeWhere.set(node, shard);
      this.nodeShards[shard]!.set(node, make());
    }
    this.dirtyNodes.add(shard);
    return this.nodeShards[shard]!.get(node)!;
  }
}

/** A record to write: which (hour, project or nodes, shard) and its value. */
export interface DirtyRecord {
  hour: string;
  /** undefined: a nodes record. */
  project?: string;
  shard: number;
  value: StoredProjectHour | StoredNodeHour;
}

export class Meter {
  readonly hours = new Map<string, HourBook>();
  private readonly runs = new Map<string, Run>();
  private readonly nodesAt = new Map<string, { at: number; resumed?: boolean }>();
  private readonly volumesAt = new Map<string, { at: number; resumed?: boolean }>();

  constructor(private readonly options: MeterOptions = {}) {}

  /** The hours (ISO) a report will write to: those `apply` needs loaded first. */
  hoursOf(report: NodeUsageReport): string[] {
    const atMs = Date.parse(report.at);
    const out = new Set<string>([hourOf(atMs)]);
    const bound = this.bound(report.intervalMs, false) + (this.options.resumeSlackMs ?? 60_000);
    const add = (from: number | undefined) => {
      if (from !== undefined && from < atMs && atMs - from <= bound) for (const s of splitByHour(from, atMs)) out.add(s.hour);
    };
    add(this.nodesAt.get(report.node)?.at);
    for (const u of report.instances) add(this.runs.get(runId(u.uid, report.node))?.at);
    return [...out];
  }

  /** Loads a stored record of an hour (before any report of that hour is applied); counters newer than the meter's are taken. */
  load(hour: string, project: string | undefined, shard: number, rec: StoredProjectHour | StoredNodeHour): void {
    const book = this.book(hour);
    if (project === undefined) {
      const nodes = (rec as StoredNodeHour).nodes;
      book.loadNodes(shard, rec as StoredNodeHour);
      for (const n of nodes) if (n.lastAt !== undefined && n.lastAt > (this.nodesAt.get(n.node)?.at ?? -1)) this.nodesAt.set(n.node, { at: n.lastAt, resumed: true });
      return;
    }
    const r = rec as StoredProjectHour;
    book.project(project).load(shard, r);
    for (const i of r.instances) {
      const id = runId(i.uid, i.node);
      if (i.last && i.last.at > (this.runs.get(id)?.at ?? -1)) this.runs.set(id, { ...i.last, resumed: true });
    }
    for (const v of r.volumes) {
      const id = `${project}/${v.name}`;
      if (v.lastAt !== undefined && v.lastAt > (this.volumesAt.get(id)?.at ?? -1)) this.volumesAt.set(id, { at: v.lastAt, resumed: true });
    }
  }

  /** Opens an hour with nothing in it (its records, if any, are then `load`ed). */
  open(hour: string): void {
    this.book(hour);
  }

  /** Whether the hour's records are in memory. */
  has(hour: string): boolean {
    return this.hours.has(hour);
  }

  /** Counts one report (idempotent: see the module's contract). The hours of `hoursOf` must be loaded. */
  apply(report: NodeUsageReport, lookup: MeterLookup): void {
    const atMs = Date.parse(report.at);
    if (Number.isNaN(atMs)) return;
    const node = lookup.node(report.node);
    for (const u of report.instances) this.applyInstance(report, atMs, u, lookup.instance(u.project, u.name, u.uid), node);
    this.applyNode(report, atMs, node);
  }

  /** Adds each volume's size × the time since the previous tick (the meter's clock, `nowMs`). */
  meterVolumes(nowMs: number, volumes: MeteredVolume[]): void {
    const tick = this.options.volumeTickMs ?? 10_000;
    for (const v of volumes) {
      const id = `${v.project}/${v.name}`;
      const prev = this.volumesAt.get(id);
      this.volumesAt.set(id, { at: nowMs });
      if (!prev || nowMs <= prev.at) continue;
      if (nowMs - prev.at > Math.max(3 * tick, 30_000) + (prev.resumed ? (this.options.resumeSlackMs ?? 60_000) : 0)) continue;
      for (const { hour, fraction } of splitByHour(prev.at, nowMs)) {
        const end = Math.min(nowMs, Date.parse(hour) + 3_600_000);
        const row = this.book(hour).project(v.project).row(`v/${v.name}`, (s) => s.volumes, v.name, (): StoredVolume => ({ name: v.name, gibSeconds: 0 }));
        if (v.node) row.node = v.node;
        row.gibSeconds += (v.size / 1024) * ((nowMs - prev.at) / 1000) * fraction;
        row.lastAt = end;
      }
    }
  }

  /** The records changed since the last `written`. */
  dirty(): DirtyRecord[] {
    const out: DirtyRecord[] = [];
    for (const book of this.hours.values()) {
      for (const [project, p] of book.projects) for (const shard of p.dirty) out.push({ hour: book.hour, project, shard, value: p.record(shard) });
      for (const shard of book.dirtyNodes) out.push({ hour: book.hour, shard, value: { nodes: [...book.nodeShards[shard]!.values()] } });
    }
    return out;
  }

  /** These records were written (the values `dirty` returned). */
  written(records: DirtyRecord[]): void {
    for (const r of records) {
      const book = this.hours.get(r.hour);
      if (r.project === undefined) book?.dirtyNodes.delete(r.shard);
      else book?.projects.get(r.project)?.dirty.delete(r.shard);
    }
  }

  /** Drops hours before `hour` with nothing left to write (they are loaded again if a late report needs them), and runs not seen since `forgetBeforeMs`. */
  retire(hour: string, forgetBeforeMs: number): void {
    for (const [h, book] of this.hours) {
      if (h >= hour || book.dirtyNodes.size > 0 || [...book.projects.values()].some((p) => p.dirty.size > 0)) continue;
      this.hours.delete(h);
    }
    for (const m of [this.runs, this.nodesAt, this.volumesAt] as Map<string, { at: number }>[]) for (const [k, v] of m) if (v.at < forgetBeforeMs) m.delete(k);
  }

  /** Runs the meter holds counters of (for tests and health). */
  get runCount(): number {
    return this.runs.size;
  }

  private book(hour: string): HourBook {
    let b = this.hours.get(hour);
    if (!b) this.hours.set(hour, (b = new HourBook(hour)));
    return b;
  }

  private bound(intervalMs: number, resumed: boolean | undefined): number {
    return (this.options.maxGapMs ?? Math.max(3 * intervalMs, 30_000)) + (resumed ? (this.options.resumeSlackMs ?? 60_000) : 0);
  }

  private applyInstance(report: NodeUsageReport, atMs: number, u: InstanceUsage, inst: MeteredInstance | undefined, node: MeteredNode | undefined): void {
    const id = runId(u.uid, report.node);
    const prev = this.runs.get(id);
    if (prev && atMs <= prev.at) return; // seen already (a re-sent or re-listed report)
    const next: Run = { at: atMs, cpuSeconds: u.cpuSeconds, ...(u.netRxBytes !== undefined ? { netRxBytes: u.netRxBytes } : {}), ...(u.netTxBytes !== undefined ? { netTxBytes: u.netTxBytes } : {}) };
    this.runs.set(id, next);
    if (!prev && !(inst?.startedAt !== undefined && atMs - inst.startedAt <= NEW_RUN_MS)) {
      this.instanceRow(hourOf(atMs), report.node, u, inst, node).last = { ...next }; // counted from here on
      return;
    }
    const delta = (a: number | undefined, b: number | undefined) => (b === undefined ? 0 : prev ? counterIncrease(a ?? 0, b) : b);
    const cpu = prev ? counterIncrease(prev.cpuSeconds, u.cpuSeconds) : u.cpuSeconds;
    const rx = delta(prev?.netRxBytes, u.netRxBytes);
    const tx = delta(prev?.netTxBytes, u.netTxBytes);
    const timed = prev !== undefined && atMs - prev.at <= this.bound(report.intervalMs, prev.resumed);
    const spans = timed ? splitByHour(prev.at, atMs) : [{ hour: hourOf(atMs), fraction: 1 }];
    const dt = timed ? (atMs - prev.at) / 1000 : 0;
    let counted = { cpu: prev?.cpuSeconds ?? 0, rx: prev?.netRxBytes ?? 0, tx: prev?.netTxBytes ?? 0 };
    if (prev && u.cpuSeconds < prev.cpuSeconds) counted = { cpu: 0, rx: 0, tx: 0 };
    if (!prev) counted = { cpu: 0, rx: 0, tx: 0 };
    for (const { hour, fraction } of spans) {
      const row = this.instanceRow(hour, report.node, u, inst, node);
      const s = dt * fraction;
      row.seconds += s;
      row.cpuSeconds += cpu * fraction;
      row.cpuReservedSeconds += ((inst?.cpu ?? 0) / 1000) * s;
      row.memoryGiBSeconds += (u.memory / 1024) * s;
      row.memoryReservedGiBSeconds += ((inst?.memory ?? 0) / 1024) * s;
      const peak = u.memoryPeak ?? u.memory;
      if (row.memoryPeakMiB === undefined || peak > row.memoryPeakMiB) row.memoryPeakMiB = peak;
      if (s > 0) addGpus(row, inst, node, s);
      if (u.netRxBytes !== undefined) row.netRxBytes = (row.netRxBytes ?? 0) + rx * fraction;
      if (u.netTxBytes !== undefined) row.netTxBytes = (row.netTxBytes ?? 0) + tx * fraction;
      counted = { cpu: counted.cpu + cpu * fraction, rx: counted.rx + rx * fraction, tx: counted.tx + tx * fraction };
      const end = Math.min(atMs, Date.parse(hour) + 3_600_000);
      row.last = end === atMs ? { ...next } : { at: end, cpuSeconds: counted.cpu, ...(u.netRxBytes !== undefined ? { netRxBytes: counted.rx } : {}), ...(u.netTxBytes !== undefined ? { netTxBytes: counted.tx } : {}) };
    }
  }

  private instanceRow(hour: string, nodeName: string, u: InstanceUsage, inst: MeteredInstance | undefined, node: MeteredNode | undefined): StoredInstance {
    const id = runId(u.uid, nodeName);
    const row = this.book(hour).project(u.project).row(`i/${id}`, (s) => s.instances, id, (): StoredInstance => ({
      name: u.name, uid: u.uid, node: nodeName, driver: inst?.driver ?? 'unknown',
      seconds: 0, cpuSeconds: 0, cpuReservedSeconds: 0, memoryGiBSeconds: 0, memoryReservedGiBSeconds: 0,
    }));
    if (node?.pool) row.pool = node.pool;
    if (inst) row.driver = inst.driver;
    const service = u.service ?? inst?.service;
    if (service) row.service = service;
    const labels = boundedLabels(inst?.labels);
    if (labels) row.labels = labels;
    return row;
  }

  private applyNode(report: NodeUsageReport, atMs: number, node: MeteredNode | undefined): void {
    const prev = this.nodesAt.get(report.node);
    if (prev && atMs <= prev.at) return;
    this.nodesAt.set(report.node, { at: atMs });
    if (!prev || atMs - prev.at > this.bound(report.intervalMs, prev.resumed)) return;
    for (const { hour, fraction } of splitByHour(prev.at, atMs)) {
      const s = ((atMs - prev.at) / 1000) * fraction;
      const row = this.book(hour).nodeRow(report.node, (): StoredNode => ({ node: report.node, seconds: 0, cpuCoreSeconds: 0, memoryGiBSeconds: 0 }));
      if (node?.pool) row.pool = node.pool;
      const labels = boundedLabels(node?.labels);
      if (labels) row.labels = labels;
      row.seconds += s;
      row.cpuCoreSeconds += ((node?.cpu ?? 0) / 1000) * s;
      row.memoryGiBSeconds += ((node?.memory ?? 0) / 1024) * s;
      for (const g of node?.gpus ?? []) addSeconds((row.gpu ??= []), { model: g.model }, s);
      row.lastAt = Math.min(atMs, Date.parse(hour) + 3_600_000);
    }
  }
}

/**
 * The labels a row keeps: in key order while their JSON stays within MAX_LABEL_BYTES (labels are
 * not limited in number, and a project member chooses them: a row, and so a record, stays bounded).
 */
export function boundedLabels(labels: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!labels) return undefined;
  if (bounded.has(labels)) return bounded.get(labels);
  const out: Record<string, string> = {};
  let size = 2;
  for (const k of Object.keys(labels).sort()) {
    const add = JSON.stringify(k).length + JSON.stringify(labels[k]).length + 2;
    if (size + add > MAX_LABEL_BYTES) break;
    out[k] = labels[k]!;
    size += add;
  }
  const kept = Object.keys(out).length > 0 ? out : undefined;
  bounded.set(labels, kept);
  return kept;
}
/** The informers' objects are shared and replaced on change, so their label maps can be remembered. */
const bounded = new WeakMap<Record<string, string>, Record<string, string> | undefined>();

/** A run the meter never saw is counted from zero when it started this recently before the report. */
export const NEW_RUN_MS = 600_000;

/** A run: an instance on one node. */
const runId = (uid: string, node: string) => `${uid}@${node}`;

function addGpus(row: StoredInstance, inst: MeteredInstance | undefined, node: MeteredNode | undefined, s: number): void {
  for (const g of inst?.gpus ?? []) {
    const model = node?.gpus.find((d) => d.index === g.index)?.model ?? 'unknown';
    addSeconds((row.gpu ??= []) as GpuMeter[], { model, share: g.share }, s);
  }
}

/** Adds `s` seconds to the entry matching `key` (model, share), making it when absent. */
function addSeconds<K extends { model: string; share?: number }>(list: (K & { seconds: number })[], key: K, s: number): void {
  const e = list.find((x) => x.model === key.model && x.share === key.share);
  if (e) e.seconds += s;
  else list.push({ ...key, seconds: s });
}
