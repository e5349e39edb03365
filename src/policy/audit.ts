/**
 * The audit trail: who did what, when, and with which result, for every mutation.
 *
 * Entries live in the store under /audit/<time>-<server>-<seq> (model/keyspace.ts), so they are as durable as the
 * objects. A successful write carries its entry in the same transaction (`op`); a refused one
 * is recorded on its own afterwards (`record`). A periodic sweep drops entries older than the
 * retention age and the oldest beyond its count (each entry is at most ~2 KiB: the count bounds the size).
 */
import type { Backend, TxnOp } from '../store/backend.js';
import { Records } from '../store/records.js';
import type { Clock, Ids } from '../model/runtime.js';
import { auditKeys } from '../model/keyspace.js';
import type { AuditEntry } from '../model/audit.js';

export type { AuditEntry };

export type AuditInput = Omit<AuditEntry, 'id' | 'time'>;

export interface AuditQuery {
  limit?: number;
  /** Entries older than this id (pagination, newest first). */
  before?: string;
  actor?: string;
  token?: string;
  project?: string;
  kind?: string;
  failedOnly?: boolean;
}

/** How long entries are kept and how many: the older and the oldest beyond the count go. */
export interface AuditRetention {
  maxAgeMs: number;
  maxEntries: number;
}

export const DEFAULT_AUDIT_RETENTION: AuditRetention = { maxAgeMs: 30 * 86_400_000, maxEntries: 1_000_000 };

export class AuditLog {
  private seq = 0;
  private readonly server: string;
  private readonly records: Records;

  constructor(backend: Backend, private readonly clock: Clock, ids: Ids) {
    this.records = new Records(backend);
    this.server = ids.uid().replace(/[^a-z0-9]/gi, '').slice(0, 8).toLowerCase();
  }

  /** Builds the entry and the store operation that writes it. */
  op(input: AuditInput): { entry: AuditEntry; op: TxnOp } {
    const now = this.clock.now();
    this.seq = (this.seq + 1) % 1_000_000;
    const id = `${String(now).padStart(14, '0')}-${this.server}-${String(this.seq).padStart(6, '0')}`;
    const entry: AuditEntry = { id, time: new Date(now).toISOString(), ...input };
    return { entry, op: { op: 'create', key: auditKeys.key(id), value: JSON.stringify(entry) } };
  }

  async record(input: AuditInput): Promise<AuditEntry> {
    const { entry, op } = this.op(input);
    await this.records.txn([op]);
    return entry;
  }

  /** Newest first. Filters apply before the limit. */
  async query(q: AuditQuery = {}): Promise<{ items: AuditEntry[]; before?: string }> {
    const limit = Math.min(q.limit ?? 100, 10_000);
    const items: AuditEntry[] = [];
    let startAfter: string | undefined = q.before ? auditKeys.key(q.before) : undefined;
    for (;;) {
      const page = await this.records.range(auditKeys.prefix, { reverse: true, startAfter, limit: 500 });
      for (const kv of page.items) {
        startAfter = kv.key;
        const e = JSON.parse(kv.value) as AuditEntry;
        if (q.actor && e.actor !== q.actor) continue;
        if (q.token && e.token !== q.token) continue;
        if (q.project && e.project !== q.project) continue;
        if (q.kind && e.kind !== q.kind) continue;
        if (q.failedOnly && e.status < 400) continue;
        items.push(e);
        if (items.length === limit) return { items, before: e.id };
      }
      if (!page.more) return { items };
    }
  }

  /** Applies the retention: entries older than maxAgeMs go, then the oldest beyond maxEntries. Returns how many went. */
  async sweep(retention: AuditRetention): Promise<number> {
    return (await this.pruneBefore(this.clock.now() - retention.maxAgeMs)) + (await this.prune(retention.maxEntries));
  }

  /** Deletes the entries recorded before `time` (epoch ms); ids start with their time, so they sort first. */
  async pruneBefore(time: number): Promise<number> {
    const end = auditKeys.key(String(Math.max(0, time)).padStart(14, '0'));
    let removed = 0;
    for (;;) {
      const page = await this.records.range(auditKeys.prefix, { limit: 1000 });
      const old = page.items.filter((kv) => kv.key < end);
      if (old.length === 0) return removed;
      await this.records.txn(old.map((kv) => ({ op: 'delete' as const, key: kv.key })));
      removed += old.length;
      if (old.length < page.items.length) return removed;
    }
  }

  /** Deletes the oldest entries so that at most `keep` remain; returns how many went. */
  async prune(keep: number): Promise<number> {
    const total = await this.records.count(auditKeys.prefix);
    let excess = total - keep;
    let removed = 0;
    while (excess > 0) {
      const page = await this.records.range(auditKeys.prefix, { limit: Math.min(excess, 1000) });
      if (page.items.length === 0) break;
      await this.records.txn(page.items.map((kv) => ({ op: 'delete' as const, key: kv.key })));
      removed += page.items.length;
      excess -= page.items.length;
    }
    return removed;
  }
}
