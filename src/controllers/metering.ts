/**
 * The metering controller (leader only): counts every node's usage reports into hourly records
 * (runtime/metering.ts Meter) and keeps them in the store (runtime/metering-store.ts), where every
 * server's MeterReader reads them.
 *
 *   /internal/usage/nodes/<node> ──informer──▶ latest report per node ──▶ Meter.apply ──▶ dirty rows
 *   instances, nodes (informers): requests, allocation, pool, capacity     │ every flushMs (60 s) and
 *   volumes (informer), every volumeTickMs (10 s): size × dt                ▼ when a new hour starts
 *                                       /internal/metering/hours/<hour>/... (put, compare-and-swap)
 *
 * Contracts:
 * - Reports are cumulative, so only each node's latest matters: a report overwritten before the
 *   controller saw it is not lost (its counters are in the next one); time-based quantities of an
 *   interval longer than the meter's bound are not measured.
 * - Nothing is kept only in memory that the store does not allow to recount: at start (each term)
 *   the controller loads the last `resumeHours` hours' records, whose rows carry the counters
 *   they were counted to, and continues from them: a server restart or a change of leader loses
 *   and doubles nothing (what was counted after the last flush is counted again from the reports).
 * - Each record is written with a compare-and-swap on the revision it was read or written at: a
 *   write that fails (another leader wrote) drops everything in memory and loads again.
 * - Records of hours older than `retentionDays` (default 400) are deleted, hourly.
 * - Each settled UTC day (2 h after its end) is rolled up into daily records that reports read
 *   instead of its hours (controllers/metering-daily.ts), hourly and at start; writing an hour of
 *   a rolled-up day (a late report) first withdraws that day's rollup, made again at the next pass.
 * - A report dated more than 10 min ahead of the leader's clock is not counted (lastProblem says so):
 *   counters are kept per run as of the latest report, so one from the future would hide the
 *   node's next honest ones.
 */
import type { Repository } from '../store/repository.js';
import type { KeyValue, TxnOp } from '../store/backend.js';
import { TxnConflict } from '../store/backend.js';
import { instanceKind, nodeKind, volumeKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Node } from '../model/kinds/node.js';
import type { Volume } from '../model/kinds/volume.js';
import { SERVICE_LABEL } from '../model/kinds/service.js';
import { meteringKeys, usageKeys } from '../model/keyspace.js';
import { HOUR_MS, hourOf } from '../model/metering.js';
import type { NodeUsageReport } from '../model/usage.js';
import { systemClock, type Clock } from '../model/runtime.js';
import { every, type Component } from '../runtime/component.js';
import type { Informer, Subscription } from '../runtime/informer.js';
import type { Informers } from '../runtime/informers.js';
import { Meter, type DirtyRecord, type MeterLookup, type MeteredVolume } from '../runtime/metering.js';
import { BATCH_BYTES, BATCH_OPS } from '../runtime/metering-store.js';
import { DailyRollups } from './metering-daily.js';

export interface MeteringOptions {
  informers: Informers;
  clock?: Clock;
  /** How often changed records are written (besides at each new hour). Default 60 s. */
  flushMs?: number;
  /** How often volumes are metered. Default 10 s. */
  volumeTickMs?: number;
  /** Hours of records kept, in days. Default 400. */
  retentionDays?: number;
  /** Hours of records loaded at start to continue each run's counters. Default 6. */
  resumeHours?: number;
  /** Where problems are said (default: stderr, once each). */
  log?: (message: string) => void;
}

/** Reports dated further ahead of the leader's clock are not counted. */
const MAX_AHEAD_MS = 600_000;

export class MeteringController implements Component {
  readonly name = 'metering';
  private readonly clock: Clock;
  private readonly flushMs: number;
  private readonly volumeTickMs: number;
  private meter: Meter;
  /** Each record's modRevision as last read or written (the compare-and-swap of its next write). */
  private readonly revisions = new Map<string, number>();
  private readonly pending = new Map<string, NodeUsageReport>();
  private chain: Promise<void> = Promise.resolve();
  private subs: Subscription[] = [];
  private timers: { stop(): void }[] = [];
  private lastHour = '';
  private problem = '';
  /** Nodes whose latest report was dated too far ahead, and what health says of it. */
  private readonly ahead = new Map<string, string>();
  private readonly instances: Informer<Instance>;
  private readonly nodes: Informer<Node>;
  private readonly volumes: Informer<Volume>;
  private readonly daily: DailyRollups;

  constructor(private readonly repo: Repository, private readonly options: MeteringOptions) {
    this.clock = options.clock ?? systemClock;
    this.flushMs = options.flushMs ?? 60_000;
    this.volumeTickMs = options.volumeTickMs ?? 10_000;
    this.meter = this.newMeter();
    this.instances = options.informers.of<Instance>(instanceKind);
    this.nodes = options.informers.of<Node>(nodeKind);
    this.volumes = options.informers.of<Volume>(volumeKind);
    this.daily = new DailyRollups(repo.records);
  }

  async start(): Promise<void> {
    for (const i of [this.instances, this.nodes, this.volumes] as Informer<unknown>[]) this.subs.push(await i.use());
    await this.loadRecent();
    const onReport = (kv: KeyValue) => this.enqueue(kv);
    this.subs.push(await this.options.informers.records(usageKeys.prefix).use({ add: onReport, update: (_old, kv) => onReport(kv) }));
    const onError = (e: unknown) => this.fail(e);
    this.timers.push(every(this.flushMs, () => this.serial(() => this.flush()), onError));
    this.timers.push(every(this.volumeTickMs, () => this.serial(() => this.tickVolumes()), onError));
    this.timers.push(every(HOUR_MS, () => this.serial(() => this.expire()), onError));
    this.timers.push(every(HOUR_MS, () => this.rollupNow().then(() => undefined), onError));
    await this.serial(() => this.tickVolumes());
    void this.serial(() => this.expire()).catch(onError);
    void this.rollupNow().catch(onError);
  }

  async stop(): Promise<void> {
    for (const t of this.timers) t.stop();
    for (const s of this.subs) s.close();
    this.timers = [];
    this.subs = [];
    // what was counted since the last flush: written while this server still holds the lease (else recounted by the next leader)
    await this.serial(() => this.flush()).catch(() => undefined);
  }

  /**
   * The last problem (a write that failed, a node's report dated ahead), or ''. Not a readiness
   * check: the API serves whatever metering does; what was not written is recounted later.
   */
  lastProblem(): string {
    return this.problem || (this.ahead.values().next().value ?? '');
  }

  /** Writes what changed now (tests; the timer does it every flushMs). */
  flushNow(): Promise<void> {
    return this.serial(async () => {
      await this.drain();
      await this.flush();
    });
  }

  /** Rolls up the settled days that have no rollup yet (tests; the timer does it hourly). Returns those days. */
  rollupNow(): Promise<string[]> {
    let days: string[] = [];
    return this.serial(async () => {
      days = await this.daily.pass(this.clock.now());
    }).then(() => days);
  }

  /** A problem is said once in the server's log (until it changes) and kept for lastProblem. */
  private fail(e: unknown): void {
    const message = `metering: ${(e as Error).message}`;
    if (message !== this.problem) this.log(message);
    this.problem = message;
  }

  private log(message: string): void {
    (this.options.log ?? ((m: string) => console.error(`stratus server: ${m}`)))(message);
  }

  private newMeter(): Meter {
    return new Meter({ resumeSlackMs: this.flushMs, volumeTickMs: this.volumeTickMs });
  }

  /** Runs `fn` after everything queued before it: reports, flushes and ticks never interleave. */
  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private enqueue(kv: KeyValue): void {
    try {
      const report = JSON.parse(kv.value) as NodeUsageReport;
      this.pending.set(report.node, report);
    } catch {
      return; // the usage route validated it; a record that is not JSON is not a report
    }
    void this.serial(() => this.drain()).catch((e: unknown) => this.fail(e));
  }

  private async drain(): Promise<void> {
    const lookup = this.lookup();
    for (const [node, report] of this.pending) {
      this.pending.delete(node);
      if (!(Date.parse(report.at) <= this.clock.now() + MAX_AHEAD_MS)) {
        // a clock far ahead would make its later, honest reports look old: not counted, said
        if (!this.ahead.has(node)) this.log(`metering: node ${node}'s report is dated ${report.at}, more than 10 min ahead of this server's clock; not counted`);
        this.ahead.set(node, `metering: node ${node}'s report is dated ${report.at}, more than 10 min ahead of this server's clock; not counted`);
        continue;
      }
      this.ahead.delete(node);
      for (const h of this.meter.hoursOf(report)) await this.loadHour(h);
      this.meter.apply(report, lookup);
      const hour = hourOf(Date.parse(report.at));
      if (hour > this.lastHour) {
        // a new hour: the last one's rows are complete, write them now
        if (this.lastHour) await this.flush();
        this.lastHour = hour;
      }
    }
  }

  private async flush(): Promise<void> {
    const dirty = this.meter.dirty();
    await this.daily.invalidate(dirty.map((d) => d.hour), this.clock.now());
    for (let i = 0; i < dirty.length; ) {
      const batch: { rec: DirtyRecord; op: TxnOp & { op: 'put' } }[] = [];
      let bytes = 0;
      for (; i < dirty.length && batch.length < BATCH_OPS; i++) {
        const rec = dirty[i]!;
        const key = rec.project === undefined ? meteringKeys.nodes(rec.hour, rec.shard) : meteringKeys.project(rec.hour, rec.project, rec.shard);
        const value = JSON.stringify(rec.value);
        if (batch.length > 0 && bytes + value.length > BATCH_BYTES) break; // a transaction stays under etcd's request limit
        bytes += value.length;
        batch.push({ rec, op: { op: 'put', key, value, expectRevision: this.revisions.get(key) ?? 0 } });
      }
      await this.write(batch);
    }
    this.meter.retire(hourOf(this.clock.now() - HOUR_MS), this.clock.now() - 24 * HOUR_MS);
    this.problem = '';
  }

  private async write(batch: { rec: DirtyRecord; op: TxnOp & { op: 'put' } }[]): Promise<void> {
    try {
      const res = await this.repo.records.txn(batch.map((b) => b.op));
      res.results.forEach((kv) => this.revisions.set(kv.key, kv.modRevision));
      this.meter.written(batch.map((b) => b.rec));
    } catch (e) {
      if (!(e instanceof TxnConflict)) throw e;
      // another writer (a leader of another term): start again from what the store holds
      this.meter = this.newMeter();
      this.revisions.clear();
      this.daily.forget();
      await this.loadRecent();
      throw new Error(`a metering record was written by another server (${e.message}); loaded the store's records again`);
    }
  }

  private async loadRecent(): Promise<void> {
    const now = this.clock.now();
    for (let t = now - (this.options.resumeHours ?? 6) * HOUR_MS; t <= now + HOUR_MS; t += HOUR_MS) await this.loadHour(hourOf(t));
    this.lastHour = hourOf(now);
  }

  /** Loads an hour's records unless they are in memory. */
  private async loadHour(hour: string): Promise<void> {
    if (this.meter.has(hour)) return;
    this.meter.open(hour);
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.repo.records.range(meteringKeys.hour(hour), { limit: 100, ...(startAfter ? { startAfter } : {}) });
      for (const kv of page.items) {
        const k = meteringKeys.parse(kv.key);
        if (!k) continue;
        this.meter.load(hour, k.project, k.shard, JSON.parse(kv.value));
        this.revisions.set(kv.key, kv.modRevision);
      }
      if (!page.more || page.items.length === 0) return;
      startAfter = page.items[page.items.length - 1]!.key;
    }
  }

  private async tickVolumes(): Promise<void> {
    const volumes: MeteredVolume[] = [];
    for (const v of this.volumes.items.values()) {
      const node = v.spec.node ?? v.status?.node;
      volumes.push({ project: v.metadata.project!, name: v.metadata.name, size: v.spec.size, ...(node ? { node } : {}) });
    }
    const now = this.clock.now();
    await this.loadHour(hourOf(now - this.volumeTickMs * 3));
    await this.loadHour(hourOf(now));
    this.meter.meterVolumes(now, volumes);
  }

  /** Deletes the records of hours past retention. */
  private async expire(): Promise<void> {
    const cutoff = hourOf(this.clock.now() - (this.options.retentionDays ?? 400) * 24 * HOUR_MS);
    for (;;) {
      const page = await this.repo.records.range(meteringKeys.prefix, { limit: 100 });
      const old = page.items.filter((kv) => (meteringKeys.parse(kv.key)?.hour ?? cutoff) < cutoff);
      if (old.length === 0) break;
      await this.repo.records.txn(old.map((kv) => ({ op: 'delete', key: kv.key })));
      for (const kv of old) this.revisions.delete(kv.key);
      if (old.length < page.items.length) break;
    }
    await this.daily.expire(cutoff);
  }

  private lookup(): MeterLookup {
    return {
      instance: (project, name, uid) => {
        const i = this.instances.get(`${project}/${name}`);
        if (!i || i.metadata.uid !== uid) return undefined;
        const service = i.metadata.labels?.[SERVICE_LABEL];
        const gpus = i.status?.allocation?.gpus?.map((g) => ({ index: g.index, share: g.milli / 1000 }));
        const startedAt = i.status?.startedAt ? Date.parse(i.status.startedAt) : undefined;
        return {
          ...(startedAt !== undefined ? { startedAt } : {}),
          driver: i.spec.driver, cpu: i.spec.resources.cpu, memory: i.spec.resources.memory,
          ...(service ? { service } : {}), ...(i.metadata.labels ? { labels: i.metadata.labels } : {}), ...(gpus?.length ? { gpus } : {}),
        };
      },
      node: (name) => {
        const n = this.nodes.get(name);
        if (!n) return undefined;
        const cap = n.status?.capacity ?? n.status?.allocatable;
        return {
          cpu: cap?.cpu ?? 0, memory: cap?.memory ?? 0, gpus: cap?.gpus ?? [],
          ...(n.spec.pool ? { pool: n.spec.pool } : {}), ...(n.metadata.labels ? { labels: n.metadata.labels } : {}),
        };
      },
    };
  }
}
