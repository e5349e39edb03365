/**
 * Metering (issue 18): what each instance used and reserved, each volume held and each node
 * offered, per UTC hour, from the nodes' usage reports (model/usage.ts) and the objects.
 *
 *   agents ── usage reports (cumulative cgroup counters) ──▶ /internal/usage/nodes/<node>
 *                                                                 │ informer (leader only)
 *   runtime/metering.ts Meter: per run (instance uid) the last cumulative counters it counted;
 *   adds counter deltas and quantity × dt per interval, split across UTC hours ──▶ flush every
 *   minute ──▶ /internal/metering/hours/<hour>/... (model/keyspace.ts meteringKeys)
 *                                                                 │
 *   every server: MeterReader (runtime/metering-store.ts) ◀── reads ┘ ──▶ cost reports (F)
 *
 * Types shared by the meter, its store and the cost reports. No I/O.
 */

/**
 * What one instance used and reserved in one UTC hour on one node (an instance that moved has a
 * row per node). Additive: two records of the same key sum.
 */
export interface InstanceMeter {
  /** ISO start of the hour, e.g. 2026-12-05T03:00:00.000Z. */
  hour: string;
  project: string;
  name: string;
  uid: string;
  node: string;
  pool?: string;
  driver: string;
  service?: string;
  labels?: Record<string, string>;
  /** Seconds it ran in the hour (measured between reports; gaps longer than the meter's bound are not counted). */
  seconds: number;
  /** CPU time used (core-seconds, from the cgroup's cumulative counter). */
  cpuSeconds: number;
  /** Requested cores × seconds. */
  cpuReservedSeconds: number;
  /** Working set × seconds. */
  memoryGiBSeconds: number;
  /** Requested memory × seconds. */
  memoryReservedGiBSeconds: number;
  /**
   * Rollups (runtime/metering-daily.ts) only: Σ over the hours of max(reserved, used), CPU
   * core-seconds and memory GiB-seconds: what is charged (model/cost.ts) at rates constant over
   * them. Absent on an hour's row (charged is then max(reserved, used) of the row).
   */
  cpuChargedSeconds?: number;
  memoryChargedGiBSeconds?: number;
  /** Highest working-set peak reported in the hour, MiB (a maximum, not a sum). */
  memoryPeakMiB?: number;
  /** Devices (share 1) or shares (< 1) held × seconds. */
  gpu?: GpuMeter[];
  /** Bytes of its network namespace in the hour (from cumulative counters). */
  netRxBytes?: number;
  netTxBytes?: number;
}

/** GPU time held by an instance: `share` of one device of `model` for `seconds`. */
export interface GpuMeter {
  model: string;
  share: number;
  seconds: number;
}

/** A volume's provisioned size over one hour. */
export interface VolumeMeter {
  hour: string;
  project: string;
  name: string;
  node?: string;
  /** Size in GiB × seconds it existed in the hour (measured by the meter's clock). */
  gibSeconds: number;
  /** Rollups only: the hours with gibSeconds > 0 it sums (an hour's row: 1 when gibSeconds > 0). */
  volumeHours?: number;
}

/** A node's capacity over one hour (for idle cost: capacity nobody reserved). */
export interface NodeMeter {
  hour: string;
  node: string;
  pool?: string;
  labels?: Record<string, string>;
  /** Seconds it reported in the hour. */
  seconds: number;
  cpuCoreSeconds: number;
  memoryGiBSeconds: number;
  gpu?: { model: string; seconds: number }[];
  /**
   * Rollups only: Σ over the hours of the capacity nobody reserved that hour (capacity − what every
   * project's instances reserved on the node, never below 0): the idle cost uses it as it is.
   */
  idle?: { cpuCoreSeconds: number; memoryGiBSeconds: number; gpu?: { model: string; seconds: number }[] };
}

/** What a read returns: records sorted by hour (then project, name). */
export interface MeterRecords {
  instances: InstanceMeter[];
  volumes: VolumeMeter[];
  nodes: NodeMeter[];
}

/** Reads metered records; every server can (reads the store). */
export interface MeterReader {
  /**
   * Records with hour in [since, until), optionally of one project (then `nodes` is empty); sorted by hour.
   * With `daily`, each whole UTC day in the period that has a rollup and no split point (ms, e.g. a
   * price list's effectiveFrom) strictly inside it comes as its rollup's rows (hour: the day's
   * start), which price the same as its hours (model/cost.ts); every other hour as its own rows.
   */
  read(q: { since: Date; until: Date; project?: string; daily?: { splits: readonly number[] } }): Promise<MeterRecords>;
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
/** An hour is settled this long after its end: the meter no longer writes it but for a node's late report (budgets sum it once, daily rollups include it). */
export const SETTLE_MS = 2 * HOUR_MS;

/** The ISO start of the UTC hour holding `ms`. */
export function hourOf(ms: number): string {
  return new Date(Math.floor(ms / HOUR_MS) * HOUR_MS).toISOString();
}

/**
 * Splits the interval [fromMs, toMs) at UTC hour boundaries: each hour's start (ISO) and the
 * fraction of the interval in it (fractions sum to 1). An empty or inverted interval is all in
 * the hour of `toMs`.
 */
export function splitByHour(fromMs: number, toMs: number): { hour: string; fraction: number }[] {
  if (!(toMs > fromMs)) return [{ hour: hourOf(toMs), fraction: 1 }];
  const out: { hour: string; fraction: number }[] = [];
  const span = toMs - fromMs;
  for (let t = fromMs; t < toMs; ) {
    const end = Math.min(toMs, (Math.floor(t / HOUR_MS) + 1) * HOUR_MS);
    out.push({ hour: hourOf(t), fraction: (end - t) / span });
    t = end;
  }
  return out;
}
