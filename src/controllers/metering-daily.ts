/**
 * The metering controller's daily rollups (runtime/metering-daily.ts), on the leader: each pass
 * rolls up the settled days (SETTLE_MS after their end) from the oldest stored hour on that
 * have no `done` marker, oldest first, at most `maxDays` a pass; before the meter writes an hour
 * of a rolled-up day (a node's late report), `invalidate` deletes that day's marker, so readers
 * take its hours until the next pass rolls it up again.
 *
 * A rollup deletes the day's previous records, writes the new ones and the marker last
 * (created: a marker another leader wrote meanwhile wins, both being sums of the same hours).
 */
import type { Records } from '../store/records.js';
import { TxnConflict, type TxnOp } from '../store/backend.js';
import { meteringDayKeys, meteringKeys } from '../model/keyspace.js';
import { DAY_MS, SETTLE_MS } from '../model/metering.js';
import { BATCH_BYTES, BATCH_OPS, StoreMeterReader } from '../runtime/metering-store.js';
import { dayOf, rollupDay } from '../runtime/metering-daily.js';

export class DailyRollups {
  /** Days (ISO) known to have their marker, with its modRevision. */
  private readonly rolled = new Map<string, number>();
  private readonly reader: StoreMeterReader;

  constructor(private readonly store: Records, private readonly maxDays = 31) {
    this.reader = new StoreMeterReader(store);
  }

  /** Rolls up the settled days without a marker (at most maxDays, oldest first). Returns the days rolled up. */
  async pass(nowMs: number): Promise<string[]> {
    const oldest = (await this.store.range(meteringKeys.prefix, { limit: 1 })).items[0];
    const first = oldest ? meteringKeys.parse(oldest.key)?.hour : undefined;
    if (!first) return [];
    const done: string[] = [];
    for (let d = Date.parse(dayOf(Date.parse(first))); d + DAY_MS + SETTLE_MS <= nowMs && done.length < this.maxDays; d += DAY_MS) {
      const day = new Date(d).toISOString();
      if (await this.marker(day)) continue;
      await this.rollup(day);
      done.push(day);
    }
    return done;
  }

  /** Before writing hours of these days: the markers of those rolled up are deleted (their hours are read again). */
  async invalidate(hours: Iterable<string>, nowMs: number): Promise<void> {
    const ops: TxnOp[] = [];
    const days = new Set([...hours].map((h) => dayOf(Date.parse(h))));
    for (const day of days) {
      if (Date.parse(day) + DAY_MS + SETTLE_MS > nowMs) continue; // not settled: never rolled up
      const rev = await this.marker(day);
      if (rev !== undefined) ops.push({ op: 'delete', key: meteringDayKeys.done(day), expectRevision: rev });
    }
    if (ops.length === 0) return;
    try {
      await this.store.txn(ops);
    } finally {
      this.forget(); // what the store holds now is read again
    }
  }

  /** Forgets which days have a marker (another leader may have written): they are read from the store again. */
  forget(): void {
    this.rolled.clear();
  }

  /** Deletes the rollups of days before `cutoffHour` (the hours' retention). */
  async expire(cutoffHour: string): Promise<void> {
    const cutoff = dayOf(Date.parse(cutoffHour));
    for (;;) {
      const page = await this.store.range(meteringDayKeys.prefix, { limit: 100 });
      const old = page.items.filter((kv) => (meteringDayKeys.parse(kv.key)?.day ?? cutoff) < cutoff);
      if (old.length === 0) return;
      await this.store.txn(old.map((kv) => ({ op: 'delete', key: kv.key })));
      for (const kv of old) this.rolled.delete(meteringDayKeys.parse(kv.key)!.day);
      if (old.length < page.items.length) return;
    }
  }

  /** The day's marker revision, or undefined without one (remembered once seen). */
  private async marker(day: string): Promise<number | undefined> {
    const known = this.rolled.get(day);
    if (known !== undefined) return known;
    const kv = await this.store.get(meteringDayKeys.done(day));
    if (kv) this.rolled.set(day, kv.modRevision);
    return kv?.modRevision;
  }

  private async rollup(day: string): Promise<void> {
    const start = Date.parse(day);
    const hours = await this.reader.read({ since: new Date(start), until: new Date(start + DAY_MS) });
    const records = rollupDay(day, hours);
    const keys = new Set(records.map((r) => r.key));
    const stale = (await this.store.range(meteringDayKeys.day(day))).items.filter((kv) => !keys.has(kv.key)).map((kv): TxnOp => ({ op: 'delete', key: kv.key }));
    const ops: TxnOp[] = [...stale, ...records.map((r, i): TxnOp => (i === records.length - 1 ? { op: 'put', key: r.key, value: r.value, expectRevision: 0 } : { op: 'put', key: r.key, value: r.value }))];
    try {
      for (let i = 0; i < ops.length; ) {
        const batch: TxnOp[] = [];
        let bytes = 0;
        for (; i < ops.length && batch.length < BATCH_OPS; i++) {
          const size = ops[i]!.op === 'put' ? (ops[i] as { value: string }).value.length : 0;
          if (batch.length > 0 && bytes + size > BATCH_BYTES) break;
          bytes += size;
          batch.push(ops[i]!);
        }
        const res = await this.store.txn(batch);
        const marker = res.results.find((kv) => kv.key === meteringDayKeys.done(day) && batch.some((o) => o.op === 'put' && o.key === kv.key));
        if (marker) this.rolled.set(day, marker.modRevision);
      }
    } catch (e) {
      if (!(e instanceof TxnConflict)) throw e;
      // another leader rolled the same hours up meanwhile: its records stand
    }
  }
}
