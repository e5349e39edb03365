/**
 * Daily rollups of the metered hours (issue 18: a 30-day report reads 30 rows per instance run
 * instead of 720). Once a UTC day is settled (model/metering.ts SETTLE_MS after its end: the meter no
 * longer writes its hours but for a node's late report, see controllers/metering-daily.ts), its
 * hours are summed into records per project and for the nodes (keys: model/keyspace.ts
 * meteringDayKeys), then a `done` marker is written last.
 *
 * Contracts:
 * - A rollup row sums the hours' rows of one key: an instance run (uid, node) with the same name,
 *   pool, driver, service and labels (what grouping and rates read); a volume (name, node); a node
 *   (pool, labels). It keeps what pricing needs to give the same amounts as pricing each hour at
 *   rates constant over the day: Σ max(reserved, used) per hour for CPU and memory (the charged
 *   quantity), GPU seconds per (model, share), the volume-hours, and per node the capacity nobody
 *   reserved, Σ per hour of max(0, capacity − every project's reservations) (model/cost-idle.ts).
 * - `rollupDay` is pure and deterministic: rolling a day up again from the same hours gives the
 *   same records (idempotent, whichever leader does it).
 * - A day is read from its rollup only when its marker is there; a late write to a rolled-up day
 *   deletes the marker first (its hours are read until it is rolled up again).
 */
import type { Records } from '../store/records.js';
import type { KeyValue } from '../store/backend.js';
import { meteringDayKeys } from '../model/keyspace.js';
import { DAY_MS, type InstanceMeter, type MeterRecords, type NodeMeter, type VolumeMeter } from '../model/metering.js';
import { idleOf, ReservedByNode } from '../model/cost-idle.js';
import { MAX_ROWS_PER_RECORD } from './metering-store.js';

export type DayInstance = Omit<InstanceMeter, 'hour' | 'project'>;
export type DayVolume = Omit<VolumeMeter, 'hour' | 'project'>;
export type DayNode = Omit<NodeMeter, 'hour'>;

export interface StoredProjectDay {
  instances: DayInstance[];
  volumes: DayVolume[];
}

export interface StoredNodeDay {
  nodes: DayNode[];
}

/** The marker, written last: how many hourly rows the rollup summed (for operators). */
export interface StoredDayDone {
  rows: number;
}

/** ISO start of the UTC day holding `ms`. */
export function dayOf(ms: number): string {
  return new Date(Math.floor(ms / DAY_MS) * DAY_MS).toISOString();
}

/** The days starting in [sinceMs, untilMs) that lie whole in it and have no split strictly inside (ms of their start). */
export function wholeDays(sinceMs: number, untilMs: number, splits: readonly number[]): number[] {
  const out: number[] = [];
  for (let d = Math.ceil(sinceMs / DAY_MS) * DAY_MS; d + DAY_MS <= untilMs; d += DAY_MS) {
    if (!splits.some((s) => s > d && s < d + DAY_MS)) out.push(d);
  }
  return out;
}

/** The rollup of one day's hourly records (every project's and the nodes'), as records to store (the marker last). Pure, deterministic. */
export function rollupDay(day: string, hours: MeterRecords): { key: string; value: string }[] {
  const instances = new Map<string, InstanceMeter>();
  for (const m of hours.instances) addInstance(instances, day, m);
  const volumes = new Map<string, VolumeMeter>();
  for (const v of hours.volumes) {
    const k = JSON.stringify([v.project, v.name, v.node]);
    const row = volumes.get(k) ?? volumes.set(k, { hour: day, project: v.project, name: v.name, ...(v.node ? { node: v.node } : {}), gibSeconds: 0, volumeHours: 0 }).get(k)!;
    row.gibSeconds += v.gibSeconds;
    row.volumeHours! += v.volumeHours ?? (v.gibSeconds > 0 ? 1 : 0);
  }
  const reserved = new ReservedByNode();
  for (const m of hours.instances) reserved.add(m);
  const nodes = new Map<string, NodeMeter>();
  for (const n of hours.nodes) addNode(nodes, day, n, n.idle ?? idleOf(n, reserved.get(n.node, n.hour)));
  return records(day, [...instances.values()], [...volumes.values()], [...nodes.values()]);
}

function addInstance(rows: Map<string, InstanceMeter>, day: string, m: InstanceMeter): void {
  const k = JSON.stringify([m.project, m.uid, m.node, m.name, m.pool, m.driver, m.service, m.labels]);
  let row = rows.get(k);
  if (!row) {
    row = {
      hour: day, project: m.project, name: m.name, uid: m.uid, node: m.node, ...(m.pool ? { pool: m.pool } : {}), driver: m.driver,
      ...(m.service ? { service: m.service } : {}), ...(m.labels ? { labels: m.labels } : {}),
      seconds: 0, cpuSeconds: 0, cpuReservedSeconds: 0, memoryGiBSeconds: 0, memoryReservedGiBSeconds: 0, cpuChargedSeconds: 0, memoryChargedGiBSeconds: 0,
    };
    rows.set(k, row);
  }
  row.seconds += m.seconds;
  row.cpuSeconds += m.cpuSeconds;
  row.cpuReservedSeconds += m.cpuReservedSeconds;
  row.memoryGiBSeconds += m.memoryGiBSeconds;
  row.memoryReservedGiBSeconds += m.memoryReservedGiBSeconds;
  row.cpuChargedSeconds! += m.cpuChargedSeconds ?? Math.max(m.cpuReservedSeconds, m.cpuSeconds);
  row.memoryChargedGiBSeconds! += m.memoryChargedGiBSeconds ?? Math.max(m.memoryReservedGiBSeconds, m.memoryGiBSeconds);
  if (m.memoryPeakMiB !== undefined) row.memoryPeakMiB = Math.max(row.memoryPeakMiB ?? 0, m.memoryPeakMiB);
  if (m.netRxBytes !== undefined) row.netRxBytes = (row.netRxBytes ?? 0) + m.netRxBytes;
  if (m.netTxBytes !== undefined) row.netTxBytes = (row.netTxBytes ?? 0) + m.netTxBytes;
  for (const g of m.gpu ?? []) {
    row.gpu ??= [];
    const same = row.gpu.find((x) => x.model === g.model && x.share === g.share);
    if (same) same.seconds += g.seconds;
    else row.gpu.push({ ...g });
  }
}

function addNode(rows: Map<string, NodeMeter>, day: string, n: NodeMeter, idle: NonNullable<NodeMeter['idle']>): void {
  const k = JSON.stringify([n.node, n.pool, n.labels]);
  let row = rows.get(k);
  if (!row) {
    row = { hour: day, node: n.node, ...(n.pool ? { pool: n.pool } : {}), ...(n.labels ? { labels: n.labels } : {}), seconds: 0, cpuCoreSeconds: 0, memoryGiBSeconds: 0, idle: { cpuCoreSeconds: 0, memoryGiBSeconds: 0 } };
    rows.set(k, row);
  }
  row.seconds += n.seconds;
  row.cpuCoreSeconds += n.cpuCoreSeconds;
  row.memoryGiBSeconds += n.memoryGiBSeconds;
  row.idle!.cpuCoreSeconds += idle.cpuCoreSeconds;
  row.idle!.memoryGiBSeconds += idle.memoryGiBSeconds;
  if (n.gpu) row.gpu = addGpu(row.gpu ?? [], n.gpu);
  if (idle.gpu) row.idle!.gpu = addGpu(row.idle!.gpu ?? [], idle.gpu);
}

function addGpu(into: { model: string; seconds: number }[], more: { model: string; seconds: number }[]): { model: string; seconds: number }[] {
  for (const g of more) {
    const same = into.find((x) => x.model === g.model);
    if (same) same.seconds += g.seconds;
    else into.push({ ...g });
  }
  return into;
}

/** The day's records as stored: per project (instances, then volumes) and the nodes, MAX_ROWS_PER_RECORD rows each; the marker last. */
function records(day: string, instances: InstanceMeter[], volumes: VolumeMeter[], nodes: NodeMeter[]): { key: string; value: string }[] {
  const byProject = new Map<string, StoredProjectDay>();
  for (const { hour: _h, project, ...row } of instances) (byProject.get(project) ?? byProject.set(project, { instances: [], volumes: [] }).get(project)!).instances.push(row);
  for (const { hour: _h, project, ...row } of volumes) (byProject.get(project) ?? byProject.set(project, { instances: [], volumes: [] }).get(project)!).volumes.push(row);
  const out: { key: string; value: string }[] = [];
  for (const [project, rec] of byProject) {
    const rows: ({ i: DayInstance } | { v: DayVolume })[] = [...rec.instances.map((i) => ({ i })), ...rec.volumes.map((v) => ({ v }))];
    for (let s = 0; s * MAX_ROWS_PER_RECORD < rows.length; s++) {
      const part = rows.slice(s * MAX_ROWS_PER_RECORD, (s + 1) * MAX_ROWS_PER_RECORD);
      const value: StoredProjectDay = { instances: part.flatMap((r) => ('i' in r ? [r.i] : [])), volumes: part.flatMap((r) => ('v' in r ? [r.v] : [])) };
      out.push({ key: meteringDayKeys.project(day, project, s), value: JSON.stringify(value) });
    }
  }
  const nodeRows = nodes.map(({ hour: _h, ...row }) => row);
  for (let s = 0; s * MAX_ROWS_PER_RECORD < nodeRows.length; s++) {
    out.push({ key: meteringDayKeys.nodes(day, s), value: JSON.stringify({ nodes: nodeRows.slice(s * MAX_ROWS_PER_RECORD, (s + 1) * MAX_ROWS_PER_RECORD) } satisfies StoredNodeDay) });
  }
  const done: StoredDayDone = { rows: instances.length + volumes.length + nodes.length };
  out.push({ key: meteringDayKeys.done(day), value: JSON.stringify(done) });
  return out;
}

const PAGE = 200;

/**
 * The rolled-up days among `days` (ms of their starts, ascending): each day with its marker, its
 * rows (of `project` only when given; then no node rows). Days without a marker are left out.
 */
export async function readDays(store: Records, days: readonly number[], project: string | undefined): Promise<Map<number, MeterRecords>> {
  const out = new Map<number, MeterRecords>();
  if (days.length === 0) return out;
  const wanted = new Set(days.map((d) => new Date(d).toISOString()));
  const last = new Date(days[days.length - 1]!).toISOString();
  let current: { day: string; rec: MeterRecords } | undefined;
  let startAfter = meteringDayKeys.before(new Date(days[0]!).toISOString());
  for (;;) {
    const page = await store.range(meteringDayKeys.prefix, { startAfter, limit: PAGE });
    for (const kv of page.items) {
      const k = meteringDayKeys.parse(kv.key);
      if (!k) continue;
      if (k.day > last) return out;
      if (!wanted.has(k.day)) continue;
      if (k.done) {
        current = { day: k.day, rec: { instances: [], volumes: [], nodes: [] } };
        out.set(Date.parse(k.day), current.rec);
      } else if (current?.day === k.day) addDayRecord(current.rec, k, kv, project);
    }
    if (!page.more || page.items.length === 0) return out;
    startAfter = page.items[page.items.length - 1]!.key;
  }
}

function addDayRecord(out: MeterRecords, k: { day: string; project?: string }, kv: KeyValue, project: string | undefined): void {
  const hour = k.day;
  if (k.project !== undefined) {
    if (project !== undefined && project !== k.project) return;
    const rec = JSON.parse(kv.value) as StoredProjectDay;
    for (const row of rec.instances) out.instances.push({ hour, project: k.project, ...row });
    for (const row of rec.volumes) out.volumes.push({ hour, project: k.project, ...row });
  } else if (project === undefined) {
    for (const row of (JSON.parse(kv.value) as StoredNodeDay).nodes) out.nodes.push({ hour, ...row });
  }
}
