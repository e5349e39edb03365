/**
 * The etcd backend (`etcd://h1:2379,h2:2379,h3:2379[/prefix]`, `etcds://` for TLS): several
 * Stratus servers share one etcd cluster. A Stratus revision is etcd's revision.
 *
 * Keys: a store key K is etcd's `<prefix>/kv<K>`, so several clouds (or other users) share an etcd
 * under different prefixes; the compacted revision is kept in `<prefix>/meta/compacted` (etcd does
 * not report it), outside the keys' range. Other prefixes' writes also move the revision: it is
 * etcd's, global.
 *
 *   get/range/count ─▶ Range (linearizable)        watch ─▶ etcd-watch.ts (own stream, resumed)
 *   txn ─▶ Txn: compares (create: create_revision = 0; expected revision: mod_revision = it;
 *          delete: exists) ▸ success: the writes, prev_kv ▸ failure: a read of every key, from
 *          which planTxn names the first refused op as the single-process stores would
 *   leases ─▶ LeaseGrant / one keep-alive on a LeaseKeepAlive stream / LeaseRevoke
 *   snapshot/load/status ─▶ etcd-dump.ts
 *
 * Every request has a deadline (requestTimeoutMs) and is retried within it (etcd-calls.ts);
 * past it, or without quorum, StoreUnavailable. Values over maxValueBytes are refused before
 * they are sent (ValueTooLarge), as is what etcd finds too large.
 */
import { CompareResult, CompareTarget, EtcdLeaseInvalidError, SortOrder, SortTarget, type Etcd3, type ICompare, type IRangeRequest, type IRequestOp, type IResponseOp, type ITxnRequest } from 'etcd3';
import {
  LeaseNotFound, RevisionCompacted, ValueTooLarge,
  type Backend, type ExportedKeyValue, type KeyValue, type Lease, type LeaseId, type LoadItem, type RangeOptions, type RangeResult, type StoreStatus, type TxnOp, type TxnResult, type WatchEvent, type Watcher,
} from './backend.js';
import { planTxn } from './txn.js';
import { etcdClient, etcdConfig, type EtcdConfig } from './etcd-config.js';
import { EtcdCalls, type CallOptions, type Retry } from './etcd-calls.js';
import { EtcdWatch, endStream, toKeyValue } from './etcd-watch.js';
import { etcdStatus, loadInto, snapshotAt } from './etcd-dump.js';

export class EtcdBackend implements Backend {
  readonly name = 'etcd';
  readonly client: Etcd3;
  readonly calls: EtcdCalls;
  /** Etcd keys of the store: `root + key`. */
  private readonly root: string;
  private readonly rootBytes: number;
  private readonly metaCompacted: Buffer;
  /** The highest compacted revision learned from etcd (watches, errors) or written by compact(). */
  private compacted = 0;
  private readonly watchers = new Set<EtcdWatch>();

  constructor(readonly config: EtcdConfig) {
    this.client = etcdClient(config);
    this.calls = new EtcdCalls(config.hosts, config.requestTimeoutMs);
    this.root = `${config.prefix}/kv`;
    this.rootBytes = Buffer.byteLength(this.root);
    this.metaCompacted = Buffer.from(`${config.prefix}/meta/compacted`);
  }

  /** The etcd key of a store key. */
  etcdKey(key: string): Buffer {
    return Buffer.from(this.root + key);
  }

  /** etcd's range of the store keys that start with `prefix`. */
  prefixRange(prefix: string): { key: Buffer; range_end: Buffer } {
    const key = this.etcdKey(prefix);
    return { key, range_end: rangeEnd(key) };
  }

  /** An etcd key-value as the store's (its key without the prefix). */
  kv(raw: Parameters<typeof toKeyValue>[0]): KeyValue {
    return toKeyValue(raw, this.rootBytes);
  }

  /** Runs a KV range through the deadline and retries. */
  async rangeRaw(what: string, req: IRangeRequest) {
    return this.request(what, 'read', (o) => this.client.kv.range(req, o));
  }

  /** One request through the deadline and retries of EtcdCalls. */
  request<T>(what: string, retry: Retry, fn: (o: CallOptions) => Promise<T>): Promise<T> {
    return this.calls.run(what, retry, fn);
  }

  async revision(): Promise<number> {
    const res = await this.rangeRaw('read the revision', { key: this.metaCompacted, count_only: true });
    return Number(res.header.revision);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.rangeRaw(`read ${key}`, { key: this.etcdKey(key) });
    return res.kvs[0] ? this.kv(res.kvs[0]) : undefined;
  }

  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    const { key, range_end } = this.prefixRange(prefix);
    const req: IRangeRequest = { key, range_end };
    const after = options.startAfter;
    if (options.reverse) {
      if (after !== undefined && after <= prefix) return { items: [], more: false, revision: await this.revision() };
      if (after !== undefined && Buffer.compare(this.etcdKey(after), range_end) < 0) req.range_end = this.etcdKey(after);
      req.sort_order = SortOrder.Descend;
      req.sort_target = SortTarget.Key;
    } else if (after !== undefined && after >= prefix) {
      req.key = this.etcdKey(`${after}\0`);
    }
    if (options.limit !== undefined) req.limit = options.limit;
    const res = await this.rangeRaw(`read the keys under ${prefix || '/'}`, req);
    return { items: res.kvs.map((kv) => this.kv(kv)), more: res.more, revision: Number(res.header.revision) };
  }

  async count(prefix: string): Promise<number> {
    const res = await this.rangeRaw(`count the keys under ${prefix || '/'}`, { ...this.prefixRange(prefix), count_only: true });
    return Number(res.count);
  }

  async txn(ops: TxnOp[]): Promise<TxnResult> {
    this.checkSizes(ops);
    const keys = new Set<string>();
    for (const op of ops) {
      if (keys.has(op.key)) throw new Error(`a transaction may touch ${op.key} only once`);
      keys.add(op.key);
    }
    const req: ITxnRequest = {
      compare: ops.flatMap((op) => this.compares(op)),
      success: ops.map((op): IRequestOp => (op.op === 'delete'
        ? { request_delete_range: { key: this.etcdKey(op.key), prev_kv: true } }
        : { request_put: { key: this.etcdKey(op.key), value: Buffer.from(op.value), lease: op.lease ?? 0, prev_kv: true } })),
      failure: ops.map((op): IRequestOp => ({ request_range: { key: this.etcdKey(op.key) } })),
    };
    const res = await this.request(`write ${describe(ops)}`, 'write', (o) => this.client.kv.txn(req, o)).catch((e: Error) => {
      throw this.writeError(e, ops);
    });
    const revision = Number(res.header.revision);
    if (!res.succeeded) throw this.conflict(ops, res.responses, revision);
    await this.delivered(ops.map((op) => this.etcdKey(op.key)), revision);
    return { revision, results: ops.map((op, i) => this.written(op, res.responses[i]!, revision)) };
  }

  /**
   * Read-your-writes for this process: waits until every watcher of a key just written has
   * delivered `revision` (for at most 2 s), as memory and sqlite deliver within the
   * commit. A controller that writes and then reads its informer sees its own write; without this
   * a service controller planned from a cache without the replicas it had just created.
   */
  private async delivered(keys: Buffer[], revision: number): Promise<void> {
    const waiting = [...this.watchers].filter((w) => keys.some((k) => w.covers(k)));
    // bounded: a watcher reconnecting (a member restarted) costs a write at most this, not its deadline
    if (waiting.length > 0) await Promise.all(waiting.map((w) => w.waitFor(revision, Math.min(2_000, this.config.requestTimeoutMs))));
  }

  private compares(op: TxnOp): ICompare[] {
    const key = this.etcdKey(op.key);
    if (op.op === 'create') return [{ key, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 }];
    const expected: ICompare[] = op.expectRevision === undefined ? [] : [{ key, target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: op.expectRevision }];
    if (op.op === 'put') return expected;
    return [{ key, target: CompareTarget.Create, result: CompareResult.Greater, create_revision: 0 }, ...expected];
  }

  /** The op refused first, as planTxn would name it, from the keys read in the failure branch. */
  private conflict(ops: TxnOp[], responses: IResponseOp[], revision: number): Error {
    const current = new Map<string, KeyValue>();
    for (const r of responses) for (const raw of r.response_range.kvs) current.set(this.kv(raw).key, this.kv(raw));
    try {
      planTxn(ops, current, revision + 1);
    } catch (e) {
      return e as Error;
    }
    return new Error(`etcd refused the transaction's conditions at revision ${revision}, yet they hold there: please report this`);
  }

  private written(op: TxnOp, r: IResponseOp, revision: number): KeyValue {
    if (op.op === 'delete') return { ...this.kv(r.response_delete_range.prev_kvs[0]!), modRevision: revision };
    const prev = r.response_put.prev_kv;
    return { key: op.key, value: op.value, createRevision: prev ? Number(prev.create_revision) : revision, modRevision: revision, version: prev ? Number(prev.version) + 1 : 1 };
  }

  private checkSizes(ops: TxnOp[]): void {
    let total = 0;
    let largest: TxnOp | undefined;
    for (const op of ops) {
      const size = Buffer.byteLength(op.key) + (op.op === 'delete' ? 0 : Buffer.byteLength(op.value));
      if (size > this.config.maxValueBytes) throw new ValueTooLarge(op.key, size, this.config.maxValueBytes);
      if (!largest || size > opSize(largest)) largest = op;
      total += size;
    }
    if (largest && total > this.config.maxValueBytes) throw new ValueTooLarge(largest.key, total, this.config.maxValueBytes);
  }

  /** A failed write's error in the store's terms: a lease not found, a request etcd found too large. */
  private writeError(e: Error, ops: TxnOp[]): Error {
    const lease = ops.find((op) => op.op !== 'delete' && op.lease !== undefined);
    if (e instanceof EtcdLeaseInvalidError && lease && lease.op !== 'delete') return new LeaseNotFound(lease.lease!);
    if (/request is too large/.test(e.message)) {
      const size = ops.reduce((n, op) => n + Buffer.byteLength(op.key) + (op.op === 'delete' ? 0 : Buffer.byteLength(op.value)), 0);
      return new ValueTooLarge([...ops].sort((a, b) => opSize(b) - opSize(a))[0]!.key, size, this.config.maxValueBytes);
    }
    return e;
  }

  watch(prefix: string, fromRevision: number, onEvent: (event: WatchEvent) => void): Watcher {
    this.calls.assertOpen();
    const { key, range_end } = this.prefixRange(prefix);
    const watcher = new EtcdWatch({
      client: this.client.watchClient, key, rangeEnd: range_end, rootBytes: this.rootBytes, revisionNow: () => this.revision(),
      onCompacted: (rev) => (this.compacted = Math.max(this.compacted, rev)),
      onClosed: (w) => this.watchers.delete(w),
    }, fromRevision, onEvent);
    this.watchers.add(watcher);
    return watcher;
  }

  async compact(revision: number): Promise<number> {
    const [current, known] = await Promise.all([this.revision(), this.compactedRevision()]);
    const target = Math.min(revision, current);
    if (target <= known) return known;
    try {
      await this.request(`compact to revision ${target}`, 'read', (o) => this.client.kv.compact({ revision: target, physical: true }, o));
    } catch (e) {
      if (!/required revision has been compacted/.test((e as Error).message)) throw e;
    }
    this.compacted = Math.max(this.compacted, target);
    await this.recordCompacted(target);
    return target;
  }

  /** Raises `<prefix>/meta/compacted` to `revision` (compare-and-swap; a higher value stays). */
  private async recordCompacted(revision: number): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const cur = (await this.rangeRaw('read the compacted revision', { key: this.metaCompacted })).kvs[0];
      if (cur && Number(cur.value.toString()) >= revision) return;
      const res = await this.request('record the compacted revision', 'write', (o) => this.client.kv.txn({
        compare: [{ key: this.metaCompacted, target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: cur?.mod_revision ?? 0 }],
        success: [{ request_put: { key: this.metaCompacted, value: Buffer.from(String(revision)) } }],
      }, o));
      if (res.succeeded) return;
    }
  }

  async compactedRevision(): Promise<number> {
    const cur = (await this.rangeRaw('read the compacted revision', { key: this.metaCompacted })).kvs[0];
    this.compacted = Math.max(this.compacted, cur ? Number(cur.value.toString()) : 0);
    return this.compacted;
  }

  async leaseGrant(ttlSeconds: number): Promise<Lease> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new Error(`a lease's TTL is a whole number of seconds, at least 1 (not ${ttlSeconds})`);
    const res = await this.request('grant a lease', 'write', (o) => this.client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 }, o));
    if (res.error) throw new Error(`etcd refused a lease of ${ttlSeconds} s: ${res.error}`);
    return { id: String(res.ID), ttl: Number(res.TTL) };
  }

  async leaseKeepAlive(id: LeaseId): Promise<Lease> {
    const ttl = await this.request(`keep lease ${id} alive`, 'read', (o) => this.keepAliveOnce(id, o.deadline));
    if (ttl <= 0) throw new LeaseNotFound(id);
    return { id, ttl };
  }

  /** One request and its answer on a LeaseKeepAlive stream: the lease's TTL, 0 when etcd has no such lease. */
  private async keepAliveOnce(id: LeaseId, deadline: number): Promise<number> {
    const stream = await this.client.leaseClient.leaseKeepAlive({ deadline });
    return new Promise<number>((resolve, reject) => {
      stream.on('data', (res) => resolve(Number(res.TTL)));
      stream.on('error', (e) => reject(e));
      stream.on('end', () => reject(new Error('the lease keep-alive stream ended without an answer')));
      stream.write({ ID: id });
    }).finally(() => endStream(stream as never));
  }

  async leaseRevoke(id: LeaseId): Promise<void> {
    try {
      await this.request(`revoke lease ${id}`, 'write', (o) => this.client.leaseClient.leaseRevoke({ ID: id }, o));
    } catch (e) {
      if (e instanceof EtcdLeaseInvalidError) throw new LeaseNotFound(id);
      throw e;
    }
  }

  async snapshot(): Promise<{ revision: number; items: AsyncIterable<ExportedKeyValue> }> {
    return snapshotAt(this, (rev) => new RevisionCompacted(rev, Math.max(this.compacted, rev + 1)));
  }

  async load(items: AsyncIterable<LoadItem>): Promise<number> {
    return loadInto(this, items);
  }

  async status(): Promise<StoreStatus> {
    return etcdStatus(this);
  }

  async close(): Promise<void> {
    for (const w of [...this.watchers]) w.resync(0, 'the store is closing');
    this.calls.close();
    this.client.close();
  }
}

function opSize(op: TxnOp): number {
  return Buffer.byteLength(op.key) + (op.op === 'delete' ? 0 : Buffer.byteLength(op.value));
}

function describe(ops: TxnOp[]): string {
  return ops.length === 1 ? ops[0]!.key : `${ops[0]?.key ?? 'nothing'} and ${ops.length - 1} more keys`;
}

/** The end of etcd's range of keys starting with `key`: its last byte below 0xff plus one. */
export function rangeEnd(key: Buffer): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** Opens the etcd store of `url` (registered for etcd: and etcds: by index.ts) once a member answers. */
export async function openEtcd(url: URL, options: Record<string, unknown>): Promise<Backend> {
  const backend = new EtcdBackend(etcdConfig(url, options));
  try {
    await backend.compactedRevision();
  } catch (e) {
    await backend.close();
    throw e;
  }
  return backend;
}
