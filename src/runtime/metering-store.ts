/**
 * How metered hours are kept in the store (keys: model/keyspace.ts meteringKeys), and the
 * reader every server uses (MeterReader, model/metering.ts).
 *
 *   /internal/metering/hours/<hour>/p/<project>/<shard>  → StoredProjectHour: its instances' and volumes' rows
 *   /internal/metering/hours/<hour>/n/<shard>            → StoredNodeHour: the nodes' rows
 *
 * Contracts:
 * - A row is the hour's total so far for its key (an instance on one node: a run; a volume; a node); a record is
 *   rewritten whole by the meter's flush. Rows carry the meter's counters as they were when the
 *   row was counted (`last`, `lastAt`): a record is self-consistent, so a leader that resumes
 *   from the store continues each run from the counters of what was written (nothing lost,
 *   nothing counted twice) whatever other records of the same flush made it.
 * - A record holds at most MAX_ROWS_PER_RECORD rows, each at most about 3 KB (names and uids are
 *   bounded, labels kept up to MAX_LABEL_BYTES, GPU entries by the node's devices; about 0.4 KB
 *   typically): under 1 MB, within etcd's 1.5 MiB request limit. More rows of the same hour and
 *   project go to the next shard.
 */
import type { Records } from '../store/records.js';
import { meteringKeys } from '../model/keyspace.js';
import { DAY_MS, type InstanceMeter, type MeterReader, type MeterRecords, type NodeMeter, type VolumeMeter } from '../model/metering.js';
import { readDays, wholeDays } from './metering-daily.js';

/** A run's cumulative counters when its row was last counted (the agent's `at`, ms). */
export interface RunCounters {
  at: number;
  cpuSeconds: number;
  netRxBytes?: number;
  netTxBytes?: number;
}

export type StoredInstance = Omit<InstanceMeter, 'hour' | 'project'> & { last?: RunCounters };
export type StoredVolume = Omit<VolumeMeter, 'hour' | 'project'> & { lastAt?: number };
export type StoredNode = Omit<NodeMeter, 'hour'> & { lastAt?: number };

export interface StoredProjectHour {
  instances: StoredInstance[];
  volumes: StoredVolume[];
}

export interface StoredNodeHour {
  nodes: StoredNode[];
}

/** Rows per record (instances + volumes, or nodes). */
export const MAX_ROWS_PER_RECORD = 300;
/** The JSON of the labels a row keeps (runtime/metering.ts boundedLabels). */
export const MAX_LABEL_BYTES = 2048;
/** Puts per transaction when writing records, and bytes: under etcd's 128 operations and 1.5 MiB a request. */
export const BATCH_OPS = 64;
export const BATCH_BYTES = 1_000_000;
const PAGE = 200;

/** Reads the metered hours from the store (any server), and with `daily` the settled days' rollups (runtime/metering-daily.ts). */
export class StoreMeterReader implements MeterReader {
  constructor(private readonly records: Records) {}

  async read(q: { since: Date; until: Date; project?: string; daily?: { splits: readonly number[] } }): Promise<MeterRecords> {
    const out: MeterRecords = { instances: [], volumes: [], nodes: [] };
    const since = q.since.getTime();
    const until = q.until.getTime();
    const days = q.daily ? await readDays(this.records, wholeDays(since, until, q.daily.splits), q.project) : new Map<number, MeterRecords>();
    // in time order: the hours up to each rolled-up day, the day, ...
    let from = since;
    for (const [day, rec] of days) {
      if (day > from) await this.readHours(out, from, day, q.project);
      out.instances.push(...rec.instances);
      out.volumes.push(...rec.volumes);
      out.nodes.push(...rec.nodes);
      from = day + DAY_MS;
    }
    if (until > from) await this.readHours(out, from, until, q.project);
    return out;
  }

  /** Adds the hourly rows of [fromMs, untilMs) to `out`. */
  private async readHours(out: MeterRecords, fromMs: number, untilMs: number, project: string | undefined): Promise<void> {
    const until = new Date(untilMs).toISOString();
    let startAfter = meteringKeys.before(new Date(fromMs).toISOString());
    for (;;) {
      const page = await this.records.range(meteringKeys.prefix, { startAfter, limit: PAGE });
      for (const kv of page.items) {
        const k = meteringKeys.parse(kv.key);
        if (!k) continue;
        if (k.hour >= until) return;
        if (k.project !== undefined) {
          if (project === undefined || project === k.project) addProject(out, k.hour, k.project, JSON.parse(kv.value) as StoredProjectHour);
        } else if (project === undefined) addNodes(out, k.hour, JSON.parse(kv.value) as StoredNodeHour);
      }
      if (!page.more || page.items.length === 0) return;
      startAfter = page.items[page.items.length - 1]!.key;
    }
  }
}

function addProject(out: MeterRecords, hour: string, project: string, rec: StoredProjectHour): void {
  for (const { last: _l, ...row } of rec.instances) out.instances.push({ hour, project, ...row });
  for (const { lastAt: _l, ...row } of rec.volumes) out.volumes.push({ hour, project, ...row });
}

function addNodes(out: MeterRecords, hour: string, rec: StoredNodeHour): void {
  for (const { lastAt: _l, ...row } of rec.nodes) out.nodes.push({ hour, ...row });
}
