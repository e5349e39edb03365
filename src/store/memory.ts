/**
 * In-memory backend for tests and throwaway clusters (`memory:`). Same contract as sqlite,
 * nothing survives the process.
 */
import { checkOptions, prefixEnd, registerBackend, TxnConflict, type Backend, type ExportedKeyValue, type LoadItem, type StoreStatus, type KeyValue, type Lease, type LeaseId, type RangeOptions, type RangeResult, type TxnOp, type TxnResult, type WatchEvent, type Watcher } from './backend.js';
import { planTxn } from './txn.js';
import { WatchHub, type Change } from './watch-hub.js';
import { Lessor } from './lessor.js';
import { collectLoad, iterate } from './dump.js';
import type { Clock } from '../model/runtime.js';

export interface MemoryBackendOptions {
  /** The clock leases expire by (default: the system's). */
  clock?: Clock;
}

export class MemoryBackend implements Backend {
  readonly name = 'memory';
  private readonly data = new Map<string, KeyValue>();
  /** Keys in sorted order, for range reads. */
  private readonly sorted: string[] = [];
  private readonly log: Change[] = [];
  private rev = 0;
  private compacted = 0;
  private readonly hub = new WatchHub();
  private closed = false;
  private readonly lessor: Lessor;

  constructor(options: MemoryBackendOptions = {}) {
    // Revoked a tick later: an expiry noticed inside a transaction does not nest another one.
    this.lessor = new Lessor((id) => void Promise.resolve().then(() => this.leaseRevoke(id)).catch(() => undefined), options.clock);
  }

  async revision(): Promise<number> {
    return this.rev;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    return this.data.get(key);
  }

  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    if (options.reverse) return this.rangeReverse(prefix, options);
    const from = options.startAfter !== undefined && options.startAfter >= prefix ? options.startAfter : prefix;
    let i = lowerBound(this.sorted, from);
    if (this.sorted[i] === options.startAfter) i++;
    const limit = options.limit ?? Infinity;
    const items: KeyValue[] = [];
    for (; i < this.sorted.length; i++) {
      const key = this.sorted[i]!;
      if (!key.startsWith(prefix)) break;
      if (items.length >= limit) return { items, more: true, revision: this.rev };
      items.push(this.data.get(key)!);
    }
    return { items, more: false, revision: this.rev };
  }

  private rangeReverse(prefix: string, options: RangeOptions): RangeResult {
    const end = options.startAfter !== undefined && options.startAfter < prefixEnd(prefix) ? options.startAfter : prefixEnd(prefix);
    const limit = options.limit ?? Infinity;
    const items: KeyValue[] = [];
    for (let i = lowerBound(this.sorted, end) - 1; i >= 0; i--) {
      const key = this.sorted[i]!;
      if (!key.startsWith(prefix)) break;
      if (items.length >= limit) return { items, more: true, revision: this.rev };
      items.push(this.data.get(key)!);
    }
    return { items, more: false, revision: this.rev };
  }

  async count(prefix: string): Promise<number> {
    let n = 0;
    for (let i = lowerBound(this.sorted, prefix); i < this.sorted.length && this.sorted[i]!.startsWith(prefix); i++) n++;
    return n;
  }

  async txn(ops: TxnOp[]): Promise<TxnResult> {
    this.assertOpen();
    this.lessor.check(ops);
    return this.commit(ops);
  }

  private commit(ops: TxnOp[]): TxnResult {
    const planned = planTxn(ops, this.data, this.rev + 1);
    this.rev = planned.revision;
    for (const change of planned.changes) {
      if (change.type === 'delete') {
        this.data.delete(change.kv.key);
        this.sorted.splice(lowerBound(this.sorted, change.kv.key), 1);
      } else {
        if (!this.data.has(change.kv.key)) this.sorted.splice(lowerBound(this.sorted, change.kv.key), 0, change.kv.key);
        this.data.set(change.kv.key, change.kv);
      }
      this.log.push(change);
    }
    this.lessor.apply(planned.changes);
    this.hub.publish(planned.changes);
    return { revision: planned.revision, results: planned.results };
  }

  async leaseGrant(ttlSeconds: number): Promise<Lease> {
    this.assertOpen();
    return this.lessor.grant(ttlSeconds);
  }

  async leaseKeepAlive(id: LeaseId): Promise<Lease> {
    this.assertOpen();
    return this.lessor.keepAlive(id);
  }

  async leaseRevoke(id: LeaseId): Promise<void> {
    this.assertOpen();
    const keys = this.lessor.take(id);
    if (keys.length > 0) this.commit(keys.map((key) => ({ op: 'delete', key })));
  }

  watch(prefix: string, fromRevision: number, onEvent: (event: WatchEvent) => void): Watcher {
    return this.hub.add(prefix, fromRevision, onEvent, (p, from) => this.history(p, from), this.compacted, this.rev);
  }

  private *history(prefix: string, fromRevision: number): Iterable<Change> {
    // The log is ordered by revision; find the first change after fromRevision.
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.log[mid]!.kv.modRevision <= fromRevision) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.log.length; i++) {
      const c = this.log[i]!;
      if (c.kv.key.startsWith(prefix)) yield c;
    }
  }

  async compact(revision: number): Promise<number> {
    const target = Math.min(revision, this.rev);
    if (target <= this.compacted) return this.compacted;
    let drop = 0;
    while (drop < this.log.length && this.log[drop]!.kv.modRevision <= target) drop++;
    this.log.splice(0, drop);
    this.compacted = target;
    return target;
  }

  async compactedRevision(): Promise<number> {
    return this.compacted;
  }

  async snapshot(): Promise<{ revision: number; items: AsyncIterable<ExportedKeyValue> }> {
    this.assertOpen();
    // copied now: the snapshot is this revision's even if writes go on while it is read
    const items = this.sorted.map((key): ExportedKeyValue => {
      const lease = this.lessor.leaseOf(key);
      return lease === undefined ? this.data.get(key)! : { ...this.data.get(key)!, lease };
    });
    return { revision: this.rev, items: iterate(items) };
  }

  async load(items: AsyncIterable<LoadItem>, revision: number): Promise<number> {
    this.assertOpen();
    if (this.sorted.length > 0) throw new TxnConflict('exists', this.sorted[0]!);
    const loaded = await collectLoad(items, revision);
    if (this.sorted.length > 0) throw new TxnConflict('exists', this.sorted[0]!);
    for (const kv of loaded.kvs) {
      this.data.set(kv.key, kv);
      this.sorted.push(kv.key);
    }
    // no history before the load: a watch from an earlier revision resyncs
    this.rev = Math.max(this.rev, loaded.revision);
    this.log.length = 0;
    this.compacted = this.rev;
    return this.rev;
  }

  async status(): Promise<StoreStatus> {
    return { backend: this.name, revision: this.rev, members: [{ name: 'memory', endpoint: 'memory:', healthy: !this.closed, leader: true }] };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.lessor.close();
    this.hub.closeAll('the store is closing', this.rev);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the store is closed');
  }
}

function lowerBound(sorted: string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

registerBackend('memory', async (_url, options) => {
  checkOptions('memory', options, []);
  return new MemoryBackend();
});
