/**
 * Cost reports: meter records (model/metering.ts) × price lists (cost-prices.ts) → rows. Pure.
 *
 * For each instance-hour, per resource (CPU, memory, GPU):
 *   reserved = what it requested × seconds × rate      usage = what it used × seconds × rate
 *   charged  = max(reserved, usage)                     (OpenCost's rule: the default cost)
 * plus the instance-hour price of its driver (in all three), and volumes' GiB-seconds at the
 * GiB-month rate ÷ 730 h. A project's discount multiplies its amounts.
 * Idle (cluster admins): per node-hour, the node's capacity at its rates minus what instances
 * reserved on it, per resource, never below 0; summed by node pool.
 * Efficiency: usage ÷ reserved (CPU, memory: quantities; cost: amounts).
 */
import type { InstanceMeter, MeterRecords, NodeMeter, VolumeMeter } from './metering.js';
import { gpuRate, HOURS_PER_MONTH, type NodeInfo, type PriceBook, type ResolvedRates } from './cost-prices.js';
import { idleByPool, ReservedByNode, type IdleRow } from './cost-idle.js';

export type { IdleRow } from './cost-idle.js';

export const COST_GROUPS = ['project', 'service', 'instance', 'node-pool'] as const;
/** What a report groups by: one of COST_GROUPS or `label:<key>`. */
export type CostGroup = (typeof COST_GROUPS)[number] | `label:${string}`;

/** What goes in a group without a value (an instance without the label, a volume by service). */
export const NONE = '(none)';

export interface CostAmounts { reserved: number; usage: number; charged: number }

export interface CostRow {
  /** The group's value: a project, "project/service", "project/instance", a pool, a label value. */
  key: string;
  instanceHours: number;
  cpu: CostAmounts;
  memory: CostAmounts;
  gpu: CostAmounts;
  /** Instance-hour prices by driver. */
  instance: number;
  volume: number;
  total: CostAmounts;
  quantities: { cpuCoreHours: number; cpuReservedCoreHours: number; memoryGiBHours: number; memoryReservedGiBHours: number; gpuHours: number; volumeGiBHours: number };
  /** usage ÷ reserved; absent when nothing was reserved. */
  efficiency: { cpu?: number; memory?: number; cost?: number };
}


export interface CostReport {
  since: string;
  until: string;
  by: CostGroup;
  currency?: string;
  rows: CostRow[];
  total: CostRow;
  /** Per node pool: capacity nobody reserved (only when asked: cluster admins). */
  idle?: IdleRow[];
  /** Instance- and volume-hours before any price list: priced at 0. */
  unpricedHours: number;
}

export interface CostOptions {
  since: Date;
  until: Date;
  by: CostGroup;
  /** Zones (and pools, labels) of nodes, beside what the node records say. */
  nodes?: ReadonlyMap<string, NodeInfo>;
  /** Only this project's instances and volumes. */
  project?: string;
  /** Only these projects' (a member's projects). */
  projects?: ReadonlySet<string>;
  idle?: boolean;
}

/** What one instance-hour costs, per resource. */
export interface PricedInstance { cpu: CostAmounts; memory: CostAmounts; gpu: CostAmounts; instance: number; gpuHours: number }

/** A PricedInstance to fill (priceInstance's `out`: one per report, not one per record). */
export function pricedScratch(): PricedInstance {
  return { cpu: zero(), memory: zero(), gpu: zero(), instance: 0, gpuHours: 0 };
}

/** Prices one instance-hour record at `r` (the factor applied), into `out`. */
export function priceInstance(m: InstanceMeter, r: ResolvedRates, out: PricedInstance = pricedScratch()): PricedInstance {
  const f = r.factor / 3600;
  // a rollup's charged quantity is Σ max per hour: the same as pricing its hours one by one (rates are ≥ 0)
  pair(out.cpu, m.cpuReservedSeconds * r.cpuCoreHour * f, m.cpuSeconds * r.cpuCoreHour * f, m.cpuChargedSeconds === undefined ? undefined : m.cpuChargedSeconds * r.cpuCoreHour * f);
  pair(out.memory, m.memoryReservedGiBSeconds * r.memoryGiBHour * f, m.memoryGiBSeconds * r.memoryGiBHour * f, m.memoryChargedGiBSeconds === undefined ? undefined : m.memoryChargedGiBSeconds * r.memoryGiBHour * f);
  let gpu = 0;
  let gpuHours = 0;
  if (m.gpu) {
    for (const g of m.gpu) {
      gpu += g.share * g.seconds * gpuRate(r, g.model, g.share) * f;
      gpuHours += (g.share * g.seconds) / 3600;
    }
  }
  // a device (or share) is held whole: what is reserved is used
  pair(out.gpu, gpu, gpu);
  out.instance = m.seconds * (r.instanceHour[m.driver] ?? 0) * f;
  out.gpuHours = gpuHours;
  return out;
}

function pair(a: CostAmounts, reserved: number, usage: number, charged = Math.max(reserved, usage)): void {
  a.reserved = reserved;
  a.usage = usage;
  a.charged = charged;
}

/** What one volume-hour costs. */
export function priceVolume(v: VolumeMeter, r: ResolvedRates): number {
  return (v.gibSeconds / 3600) * (r.volumeGiBMonth / HOURS_PER_MONTH) * r.factor;
}

const zero = (): CostAmounts => ({ reserved: 0, usage: 0, charged: 0 });

export function emptyRow(key: string): CostRow {
  return {
    key, instanceHours: 0, cpu: zero(), memory: zero(), gpu: zero(), instance: 0, volume: 0, total: zero(),
    quantities: { cpuCoreHours: 0, cpuReservedCoreHours: 0, memoryGiBHours: 0, memoryReservedGiBHours: 0, gpuHours: 0, volumeGiBHours: 0 },
    efficiency: {},
  };
}

function addAmounts(a: CostAmounts, b: CostAmounts): void {
  a.reserved += b.reserved;
  a.usage += b.usage;
  a.charged += b.charged;
}

function addInstance(row: CostRow, m: InstanceMeter, p: PricedInstance): void {
  row.instanceHours += m.seconds / 3600;
  addAmounts(row.cpu, p.cpu);
  addAmounts(row.memory, p.memory);
  addAmounts(row.gpu, p.gpu);
  row.instance += p.instance;
  const q = row.quantities;
  q.cpuCoreHours += m.cpuSeconds / 3600;
  q.cpuReservedCoreHours += m.cpuReservedSeconds / 3600;
  q.memoryGiBHours += m.memoryGiBSeconds / 3600;
  q.memoryReservedGiBHours += m.memoryReservedGiBSeconds / 3600;
  q.gpuHours += p.gpuHours;
}

/** A row's totals and efficiency from its parts (after all records are added). */
function finish(row: CostRow): CostRow {
  const fixed = row.instance + row.volume;
  const t = row.total;
  t.reserved = row.cpu.reserved + row.memory.reserved + row.gpu.reserved + fixed;
  t.usage = row.cpu.usage + row.memory.usage + row.gpu.usage + fixed;
  t.charged = row.cpu.charged + row.memory.charged + row.gpu.charged + fixed;
  const q = row.quantities;
  const ratio = (a: number, b: number) => (b > 0 ? a / b : undefined);
  const e = { cpu: ratio(q.cpuCoreHours, q.cpuReservedCoreHours), memory: ratio(q.memoryGiBHours, q.memoryReservedGiBHours), cost: ratio(t.usage, t.reserved) };
  row.efficiency = Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined));
  return row;
}

/** The group of an instance-hour. */
export function instanceGroup(m: InstanceMeter, by: CostGroup, pool: string | undefined): string {
  switch (by) {
    case 'project': return m.project;
    case 'service': return `${m.project}/${m.service ?? NONE}`;
    case 'instance': return `${m.project}/${m.name}`;
    case 'node-pool': return pool ?? NONE;
    default: return m.labels?.[by.slice('label:'.length)] ?? NONE;
  }
}

/** The group of a volume-hour (volumes have no service or labels in their records). */
export function volumeGroup(v: VolumeMeter, by: CostGroup, pool: string | undefined): string {
  switch (by) {
    case 'project': return v.project;
    case 'service': return `${v.project}/${NONE}`;
    case 'instance': return `${v.project}/volume/${v.name}`;
    case 'node-pool': return pool ?? NONE;
    default: return NONE;
  }
}

/** Node info of every node: the records' (pool, labels), with `known` (zones...) over them. */
export function nodeInfos(records: NodeMeter[], known: ReadonlyMap<string, NodeInfo> = new Map()): Map<string, NodeInfo> {
  const out = new Map<string, NodeInfo>();
  for (const n of records) if (!out.has(n.node)) out.set(n.node, { pool: n.pool, labels: n.labels });
  for (const [name, k] of known) out.set(name, { ...out.get(name), ...k, labels: { ...out.get(name)?.labels, ...k.labels } });
  return out;
}

/** Whether records of a project are left out of a report (`project`, `projects`). */
export function projectFilter(opts: { project?: string; projects?: ReadonlySet<string> }): (project: string) => boolean {
  return (p) => (opts.project !== undefined && p !== opts.project) || (opts.projects !== undefined && !opts.projects.has(p));
}

/** The report of `records` in [since, until) priced by `book`, grouped by `opts.by`, sorted by charged cost (highest first). */
export function computeCost(records: MeterRecords, book: PriceBook, opts: CostOptions): CostReport {
  const since = opts.since.toISOString();
  const until = opts.until.toISOString();
  const nodes = nodeInfos(records.nodes, opts.nodes);
  const rows = new Map<string, CostRow>();
  const total = emptyRow('total');
  const reserved = opts.idle ? new ReservedByNode() : undefined;
  let unpricedHours = 0;
  const skip = projectFilter(opts);
  const rowOf = (key: string) => rows.get(key) ?? rows.set(key, emptyRow(key)).get(key)!;
  const rates = rateCache(book, nodes);
  const scratch = pricedScratch();
  for (const m of records.instances) {
    if (m.hour < since || m.hour >= until) continue;
    // idle: what every project reserved on the node, whichever projects the rows show
    reserved?.add(m);
    if (skip(m.project)) continue;
    const pool = m.pool ?? nodes.get(m.node)?.pool;
    const r = rates(m.hour, m.project, m.node, pool);
    if (!r) unpricedHours += m.seconds / 3600;
    const p = priceInstance(m, r ?? FREE, scratch);
    addInstance(rowOf(instanceGroup(m, opts.by, pool)), m, p);
    addInstance(total, m, p);
  }
  for (const v of records.volumes) {
    if (v.hour < since || v.hour >= until || skip(v.project)) continue;
    const info = (v.node ? nodes.get(v.node) : undefined) ?? {};
    const r = book.rates(v.hour, v.project, info);
    if (!r) unpricedHours += v.volumeHours ?? (v.gibSeconds > 0 ? 1 : 0);
    const cost = r ? priceVolume(v, r) : 0;
    for (const row of [rowOf(volumeGroup(v, opts.by, info.pool)), total]) {
      row.volume += cost;
      row.quantities.volumeGiBHours += v.gibSeconds / 3600;
    }
  }
  const sorted = [...rows.values()].map(finish).sort((a, b) => b.total.charged - a.total.charged || a.key.localeCompare(b.key));
  return {
    since, until, by: opts.by, ...(book.currency ? { currency: book.currency } : {}),
    rows: sorted, total: finish(total), unpricedHours,
    ...(reserved ? { idle: idleByPool(records.nodes, reserved, book, nodes, since, until) } : {}),
  };
}

/**
 * `book.rates` for a record of (hour, project, node, pool), remembered per price list: the lists
 * change by the hour, a node's info and a project's entry do not within a report (720,000
 * records price in a few hundred ms instead of building a key of each node's labels each time).
 */
function rateCache(book: PriceBook, nodes: Map<string, NodeInfo>): (hour: string, project: string, node: string, pool: string | undefined) => ResolvedRates | undefined {
  const byList = new Map<string, Map<string, ResolvedRates>>();
  let lastHour = '';
  let current: Map<string, ResolvedRates> | undefined;
  return (hour, project, node, pool) => {
    if (hour !== lastHour) {
      lastHour = hour;
      const list = book.listAt(hour);
      current = list ? byList.get(list.name) ?? byList.set(list.name, new Map()).get(list.name)! : undefined;
    }
    if (!current) return undefined;
    const key = `${project}\0${node}\0${pool ?? ''}`;
    let r = current.get(key);
    if (!r) {
      r = book.rates(hour, project, { ...nodes.get(node), pool })!;
      current.set(key, r);
    }
    return r;
  };
}

const FREE: ResolvedRates = { list: '', currency: '', cpuCoreHour: 0, memoryGiBHour: 0, gpuHour: {}, gpuShareHour: {}, volumeGiBMonth: 0, instanceHour: {}, factor: 1 };

/** Why `by` is not a grouping, or undefined. */
export function costGroupProblem(by: string): string | undefined {
  if ((COST_GROUPS as readonly string[]).includes(by)) return undefined;
  if (/^label:[A-Za-z0-9]([A-Za-z0-9._/-]{0,252})$/.test(by)) return undefined;
  return `is not a grouping: one of ${COST_GROUPS.join(', ')} or label:<key> (e.g. label:team)`;
}

/** The longest period a report covers (a year and a bit: a 13-month comparison). */
export const MAX_REPORT_DAYS = 400;

/**
 * A report's period from its parameters: `since` and `until` as dates (2026-12-01, UTC midnight)
 * or RFC 3339 times, rounded out to whole hours; default since the start of the current month
 * (UTC) until the end of the current hour. Returns the problem with the parameter it names.
 */
export function reportPeriod(q: { since?: string; until?: string }, nowMs: number): { since: Date; until: Date } | { path: 'since' | 'until'; message: string; value?: string } {
  const parse = (v: string) => (/^\d{4}-\d{2}-\d{2}$/.test(v) ? Date.parse(`${v}T00:00:00Z`) : /^\d{4}-\d{2}-\d{2}T/.test(v) ? Date.parse(v) : NaN);
  const now = new Date(nowMs);
  let since = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  let until = Math.ceil((nowMs + 1) / 3_600_000) * 3_600_000;
  const bad = 'is not a date (2026-12-01) or an RFC 3339 time (2026-12-01T10:00:00Z)';
  if (q.since !== undefined) {
    since = parse(q.since);
    if (!Number.isFinite(since)) return { path: 'since', message: bad, value: q.since };
  }
  if (q.until !== undefined) {
    until = parse(q.until);
    if (!Number.isFinite(until)) return { path: 'until', message: bad, value: q.until };
  }
  since = Math.floor(since / 3_600_000) * 3_600_000;
  until = Math.ceil(until / 3_600_000) * 3_600_000;
  if (until <= since) return { path: 'until', message: `must be after since (${new Date(since).toISOString()})`, value: q.until };
  if (until - since > MAX_REPORT_DAYS * 86_400_000) return { path: 'until', message: `is more than ${MAX_REPORT_DAYS} days after since: ask for a shorter period`, value: q.until };
  return { since: new Date(since), until: new Date(until) };
}
