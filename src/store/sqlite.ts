/**
 * Embedded SQLite backend (`sqlite:///path/to/stratus.db`), the default.
 *
 * Tables: `kv` holds the current value of each key; `log` holds every change (rev, idx) for
 * watches, trimmed by compaction; `meta` holds the compacted revision. WAL journal; `sync=full`
 * (default) fsyncs every commit so an acknowledged write survives power loss, `sync=normal`
 * survives a crash of the process but not of the machine. An exclusive lock on <db>.lock refuses a
 * second server on the same file instead of letting it corrupt the revision. The database, its
 * WAL and shared-memory files and the lock are 0600 (SQLite gives the WAL and SHM the database's
 * mode); a directory made for them is 0700.
 *
 * Checkpoints (copying the WAL into the database, with an fsync) run in a worker thread on its
 * own connection, never on the event loop: SQLite's automatic checkpoints stalled every request
 * behind them for 100+ ms. PASSIVE checkpoints do not block writers.
 *
 * Group commit: transactions submitted in the same event-loop turn are checked one after the
 * other against a batch-local view (so each sees the ones before it) and written in one SQLite
 * transaction, so N concurrent writers share one commit and one fsync. Each keeps its own
 * all-or-nothing outcome: a refused precondition rejects only its own transaction.
 *
 * Leases (backend.ts) are held in memory by a Lessor; `lease_key` records which keys are bound to
 * one, so that opening the database again deletes them (their holders were in the process that
 * had it open before), in one revision, before anything else is served.
 */
import Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { mkdirSync, statSync } from 'node:fs';
import { privateFile } from './private.js';
import { dirname } from 'node:path';
import {
  checkOptions, prefixEnd, registerBackend, TxnConflict,
  type Backend, type ExportedKeyValue, type LoadItem, type StoreStatus, type KeyValue, type Lease, type LeaseId, type RangeOptions, type RangeResult, type TxnOp, type TxnResult, type WatchEvent, type Watcher,
} from './backend.js';
import { planTxn } from './txn.js';
import { WatchHub, type Change } from './watch-hub.js';
import { Lessor } from './lessor.js';
import { collectLoad } from './dump.js';
import { snapshotReader, writeLoad } from './sqlite-dump.js';
import type { Clock } from '../model/runtime.js';

interface Pending {
  /** The operations, or (a lease's revocation) what to delete, decided in commit order. */
  ops: TxnOp[] | (() => TxnOp[]);
  resolve: (r: TxnResult) => void;
  reject: (e: unknown) => void;
}

interface KvRow { key: string; value: string; create_rev: number; mod_rev: number; version: number }
/** kv rows read straight into KeyValue's shape (no copy per row on the read paths). */
const KV_COLUMNS = 'key, value, create_rev AS createRevision, mod_rev AS modRevision, version';
interface LogRow extends KvRow { type: number; prev_rev: number | null }

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY, value TEXT NOT NULL,
  create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL, version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (
  rev INTEGER NOT NULL, idx INTEGER NOT NULL, key TEXT NOT NULL, type INTEGER NOT NULL,
  value TEXT NOT NULL, create_rev INTEGER NOT NULL, version INTEGER NOT NULL, prev_rev INTEGER,
  PRIMARY KEY (rev, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lease_key (key TEXT PRIMARY KEY, lease TEXT NOT NULL) WITHOUT ROWID;
`;

/** A change of lease binding: the key, and its lease (undefined: none now). */
type Binding = [string, LeaseId | undefined];

export type SyncMode = 'full' | 'normal';

export class SqliteBackend implements Backend {
  readonly name = 'sqlite';
  private readonly db: Database.Database;
  private readonly hub = new WatchHub();
  private rev: number;
  private compacted: number;
  private closed = false;
  private readonly stmt;
  private readonly applyTxn: (changes: Change[], bindings: Binding[]) => void;
  private readonly lessor: Lessor;
  private queue: Pending[] = [];
  private flushScheduled = false;
  private readonly lock: Database.Database | undefined;
  private readonly checkpointer: Worker | undefined;

  constructor(readonly path: string, sync: SyncMode = 'full', options: { clock?: Clock } = {}) {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      for (const suffix of ['', '-wal', '-shm', '.lock']) privateFile(path + suffix, suffix === '' || suffix === '.lock');
    }
    this.lock = path === ':memory:' ? undefined : takeLock(`${path}.lock`, path);
    this.db = new Database(path);
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('wal_autocheckpoint = 0');
    this.db.exec(SCHEMA);
    this.stmt = {
      get: this.db.prepare<[string], KeyValue>(`SELECT ${KV_COLUMNS} FROM kv WHERE key = ?`),
      range: this.db.prepare<[string, string, number], KeyValue>(`SELECT ${KV_COLUMNS} FROM kv WHERE key > ? AND key < ? ORDER BY key LIMIT ?`),
      rangeFrom: this.db.prepare<[string, string, number], KeyValue>(`SELECT ${KV_COLUMNS} FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?`),
      rangeDesc: this.db.prepare<[string, string, number], KeyValue>(`SELECT ${KV_COLUMNS} FROM kv WHERE key >= ? AND key < ? ORDER BY key DESC LIMIT ?`),
      count: this.db.prepare<[string, string], { n: number }>('SELECT count(*) AS n FROM kv WHERE key >= ? AND key < ?'),
      upsert: this.db.prepare('INSERT INTO kv (key, value, create_rev, mod_rev, version) VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, mod_rev = excluded.mod_rev, version = excluded.version'),
      del: this.db.prepare('DELETE FROM kv WHERE key = ?'),
      logInsert: this.db.prepare('INSERT INTO log (rev, idx, key, type, value, create_rev, version, prev_rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      history: this.db.prepare<[number, string, string], LogRow & { rev: number }>('SELECT rev, key, type, value, create_rev, rev AS mod_rev, version, prev_rev FROM log WHERE rev > ? AND key >= ? AND key < ? ORDER BY rev, idx'),
      logValue: this.db.prepare<[number, string], { value: string }>('SELECT value FROM log WHERE rev = ? AND key = ? AND type = 0'),
      compactLog: this.db.prepare('DELETE FROM log WHERE rev <= ?'),
      setMeta: this.db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value'),
      getMeta: this.db.prepare<[string], { value: number }>('SELECT value FROM meta WHERE name = ?'),
      bind: this.db.prepare('INSERT INTO lease_key (key, lease) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET lease = excluded.lease'),
      unbind: this.db.prepare('DELETE FROM lease_key WHERE key = ?'),
    };
    this.checkpointer = path === ':memory:' ? undefined : startCheckpointer(path);
    this.compacted = this.stmt.getMeta.get('compacted')?.value ?? 0;
    const maxLog = (this.db.prepare('SELECT max(rev) AS r FROM log').get() as { r: number | null }).r ?? 0;
    const maxKv = (this.db.prepare('SELECT max(mod_rev) AS r FROM kv').get() as { r: number | null }).r ?? 0;
    this.rev = Math.max(maxLog, maxKv, this.compacted, this.stmt.getMeta.get('revision')?.value ?? 0);
    this.applyTxn = this.db.transaction((changes: Change[], bindings: Binding[]) => {
      let lastRev = -1;
      let idx = 0;
      for (const c of changes) {
        const kv = c.kv;
        idx = kv.modRevision === lastRev ? idx + 1 : 0;
        lastRev = kv.modRevision;
        if (c.type === 'delete') this.stmt.del.run(kv.key);
        else this.stmt.upsert.run(kv.key, kv.value, kv.createRevision, kv.modRevision, kv.version);
        this.stmt.logInsert.run(kv.modRevision, idx, kv.key, c.type === 'delete' ? 1 : 0, kv.value, kv.createRevision, kv.version, c.prevModRevision ?? null);
      }
      for (const [key, lease] of bindings) {
        if (lease === undefined) this.stmt.unbind.run(key);
        else this.stmt.bind.run(key, lease);
      }
    });
    this.lessor = new Lessor((id) => void this.leaseRevoke(id).catch(() => undefined), options.clock);
    this.dropStaleLeaseKeys();
  }

  /** Deletes the keys bound to the leases of an earlier opener, in one revision. */
  private dropStaleLeaseKeys(): void {
    const keys = this.db.prepare<[], { key: string }>('SELECT key FROM lease_key').all().map((r) => r.key);
    if (keys.length === 0) return;
    const planned = planTxn(keys.filter((k) => this.getSync(k)).map((key) => ({ op: 'delete', key })), { get: (k) => this.getSync(k) }, this.rev + 1);
    this.applyTxn(planned.changes, keys.map((k) => [k, undefined]));
    if (planned.changes.length > 0) this.rev = planned.revision;
  }

  async revision(): Promise<number> {
    return this.rev;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    return this.getSync(key);
  }

  private getSync(key: string): KeyValue | undefined {
    return this.stmt.get.get(key);
  }

  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    const limit = options.limit ?? -1;
    const end = prefixEnd(prefix);
    const fetch = limit < 0 ? -1 : limit + 1;
    const after = options.startAfter;
    const rows = options.reverse
      ? this.stmt.rangeDesc.all(prefix, after !== undefined && after < end ? after : end, fetch)
      : after !== undefined && after >= prefix
        ? this.stmt.range.all(after, end, fetch)
        : this.stmt.rangeFrom.all(prefix, end, fetch);
    const more = limit >= 0 && rows.length > limit;
    const items = more ? rows.slice(0, limit) : rows;
    return { items, more, revision: this.rev };
  }

  async count(prefix: string): Promise<number> {
    return this.stmt.count.get(prefix, prefixEnd(prefix))!.n;
  }

  txn(ops: TxnOp[]): Promise<TxnResult> {
    return this.enqueue(ops);
  }

  private enqueue(ops: Pending['ops']): Promise<TxnResult> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits every queued transaction whose preconditions hold, in one SQLite transaction. */
  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (this.closed) {
      for (const p of batch) p.reject(new Error('the store is closed'));
      return;
    }
    const overlay = new Map<string, KeyValue | undefined>();
    const view = { get: (k: string) => (overlay.has(k) ? overlay.get(k) : this.getSync(k)) };
    const accepted: { pending: Pending; planned: ReturnType<typeof planTxn> }[] = [];
    const bindings: Binding[] = [];
    let rev = this.rev;
    for (const pending of batch) {
      try {
        const revoke = typeof pending.ops === 'function';
        const ops = typeof pending.ops === 'function' ? pending.ops().filter((op) => view.get(op.key)) : pending.ops;
        if (revoke && ops.length === 0) {
          pending.resolve({ revision: rev, results: [] });
          continue;
        }
        this.lessor.check(ops);
        const planned = planTxn(ops, view, rev + 1);
        rev = planned.revision;
        for (const c of planned.changes) overlay.set(c.kv.key, c.type === 'delete' ? undefined : c.kv);
        // Bindings follow in commit order (a revocation later in the batch finds these keys). If
        // the SQLite commit below fails, the store is failing anyway.
        bindings.push(...this.lessor.apply(planned.changes));
        accepted.push({ pending, planned });
      } catch (e) {
        pending.reject(e);
      }
    }
    if (accepted.length === 0) return;
    try {
      this.applyTxn(accepted.flatMap((a) => a.planned.changes), bindings);
    } catch (e) {
      for (const a of accepted) a.pending.reject(e);
      return;
    }
    this.rev = rev;
    for (const a of accepted) {
      this.hub.publish(a.planned.changes);
      a.pending.resolve({ revision: a.planned.revision, results: a.planned.results });
    }
  }

  watch(prefix: string, fromRevision: number, onEvent: (event: WatchEvent) => void): Watcher {
    return this.hub.add(prefix, fromRevision, onEvent, (p, from) => this.history(p, from), this.compacted, this.rev);
  }

  private *history(prefix: string, fromRevision: number): Iterable<Change> {
    // Read eagerly: a generator holding a live cursor would block writes made by watchers.
    const rows = this.stmt.history.all(fromRevision, prefix, prefixEnd(prefix));
    for (const row of rows) {
      const kv = toKv(row);
      if (row.type === 1) yield { type: 'delete', kv, prevModRevision: row.prev_rev ?? 0 };
      else if (row.prev_rev === null) yield { type: 'put', kv };
      else yield { type: 'put', kv, prevModRevision: row.prev_rev, prevValue: this.stmt.logValue.get(row.prev_rev, row.key)?.value };
    }
  }

  async compact(revision: number): Promise<number> {
    const target = Math.min(revision, this.rev);
    if (target <= this.compacted) return this.compacted;
    this.db.transaction(() => {
      this.stmt.compactLog.run(target);
      this.stmt.setMeta.run('compacted', target);
      this.stmt.setMeta.run('revision', this.rev);
    })();
    this.compacted = target;
    return target;
  }

  async compactedRevision(): Promise<number> {
    return this.compacted;
  }

  async leaseGrant(ttlSeconds: number): Promise<Lease> {
    this.assertOpen();
    return this.lessor.grant(ttlSeconds);
  }

  async leaseKeepAlive(id: LeaseId): Promise<Lease> {
    this.assertOpen();
    return this.lessor.keepAlive(id);
  }

  /** Queued with the transactions: the keys are taken from the lease in commit order. */
  async leaseRevoke(id: LeaseId): Promise<void> {
    await this.enqueue(() => this.lessor.take(id).map((key) => ({ op: 'delete', key })));
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the store is closed');
  }

  async snapshot(): Promise<{ revision: number; items: AsyncIterable<ExportedKeyValue> }> {
    this.assertOpen();
    const revision = this.rev;
    return { revision, items: snapshotReader(this.path, this.db) };
  }

  async load(items: AsyncIterable<LoadItem>, revision: number): Promise<number> {
    this.assertOpen();
    const first = () => this.stmt.rangeFrom.get('', prefixEnd(''), 1);
    const existing = first();
    if (existing) throw new TxnConflict('exists', existing.key);
    const loaded = await collectLoad(items, revision);
    const now = first();
    if (now) throw new TxnConflict('exists', now.key);
    const rev = Math.max(this.rev, loaded.revision);
    writeLoad(this.db, loaded.kvs, rev);
    this.rev = rev;
    this.compacted = rev;
    return rev;
  }

  async status(): Promise<StoreStatus> {
    const size = this.path === ':memory:' ? undefined : statSync(this.path).size;
    return { backend: this.name, revision: this.rev, members: [{ name: 'sqlite', endpoint: `sqlite://${this.path}`, healthy: !this.closed, leader: true, ...(size === undefined ? {} : { dbSizeBytes: size }) }] };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.queue.length > 0) this.flush();
    this.closed = true;
    this.lessor.close();
    this.hub.closeAll('the store is closing', this.rev);
    if (this.checkpointer) {
      const exited = new Promise((r) => this.checkpointer!.once('exit', r));
      // Unreferenced while it runs, the worker must hold the process open while it finishes.
      this.checkpointer.ref();
      this.checkpointer.postMessage('close');
      await exited;
    }
    this.db.close();
    this.lock?.close();
  }
}

/** Holds an exclusive SQLite lock on `file` for the life of the process (released on exit or crash). */
function takeLock(file: string, path: string): Database.Database {
  const lock = new Database(file);
  try {
    lock.pragma('busy_timeout = 0');
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.exec('CREATE TABLE IF NOT EXISTS owner (pid INTEGER); BEGIN EXCLUSIVE; DELETE FROM owner; INSERT INTO owner VALUES (' + process.pid + '); COMMIT;');
    return lock;
  } catch (e) {
    lock.close();
    throw new Error(`the store ${path} is in use by another process (is another Stratus server running on this data directory?): ${(e as Error).message}`);
  }
}

const CHECKPOINTER = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 5000');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (e) { parentPort.postMessage(String(e && e.message)); }
}, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'close') return;
  clearInterval(timer);
  try { db.pragma('wal_checkpoint(TRUNCATE)'); } catch {}
  db.close();
  parentPort.close();
});
`;

/** Checkpoints the WAL every `intervalMs` from a worker thread with its own connection. */
function startCheckpointer(path: string, intervalMs = 1000): Worker {
  const worker = new Worker(CHECKPOINTER, { eval: true, workerData: { path, intervalMs, module: createRequire(import.meta.url).resolve('better-sqlite3') } });
  worker.unref();
  worker.on('message', (m: string) => process.stderr.write(`sqlite checkpoint: ${m}\n`));
  return worker;
}

function toKv(row: KvRow): KeyValue {
  return { key: row.key, value: row.value, createRevision: row.create_rev, modRevision: row.mod_rev, version: row.version };
}

registerBackend('sqlite', async (url, options) => {
  checkOptions('sqlite', options, ['sync']);
  const sync = (options.sync ?? url.searchParams.get('sync') ?? 'full') as string;
  if (sync !== 'full' && sync !== 'normal') throw new Error(`sqlite option sync must be "full" or "normal", not ${JSON.stringify(sync)}`);
  for (const key of url.searchParams.keys()) {
    if (key !== 'sync') throw new Error(`the sqlite store does not support option "${key}" (supported: sync)`);
  }
  const path = decodeURIComponent(url.pathname);
  if (!path || path === '/') throw new Error('the sqlite store needs a file path, e.g. sqlite:///var/lib/stratus/stratus.db');
  return new SqliteBackend(path, sync);
});
