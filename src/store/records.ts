/**
 * The store's records that are not objects of a kind (token hashes, sealed secret values, address
 * grants, guards, the scheduler's ledger, audit records), and transactions that mix them with
 * objects. Their keys come from the keyspace (model/keyspace.ts): the methods take only a `Key`
 * or `Prefix` it built. Everything outside store/ reaches the backend through this class or the
 * repository, never directly, so a backend change (etcd, leases) has one place to look.
 */
import type { Backend, KeyValue, RangeOptions, RangeResult, TxnOp, TxnResult, WatchEvent, Watcher } from './backend.js';
import type { Key, Prefix } from '../model/keyspace.js';

export class Records {
  constructor(private readonly backend: Backend) {}

  get(key: Key): Promise<KeyValue | undefined> {
    return this.backend.get(key);
  }

  /** The JSON value stored at `key`, parsed, or undefined. */
  async json<T>(key: Key): Promise<T | undefined> {
    const kv = await this.backend.get(key);
    return kv ? (JSON.parse(kv.value) as T) : undefined;
  }

  range(prefix: Prefix, options?: RangeOptions): Promise<RangeResult> {
    return this.backend.range(prefix, options);
  }

  count(prefix: Prefix): Promise<number> {
    return this.backend.count(prefix);
  }

  /** The backend's watch of `prefix` (see Backend.watch: ordered, none skipped, `resync` below compaction). */
  watch(prefix: Prefix, fromRevision: number, onEvent: (event: WatchEvent) => void): Watcher {
    return this.backend.watch(prefix, fromRevision, onEvent);
  }

  /**
   * All of `ops` or none (Backend.txn); a refused one throws TxnConflict. For writes of records,
   * and for writes that put objects (Repository.putOp) and records in one transaction.
   */
  txn(ops: TxnOp[]): Promise<TxnResult> {
    return this.backend.txn(ops);
  }

  /** The revision of the latest write. */
  revision(): Promise<number> {
    return this.backend.revision();
  }
}
