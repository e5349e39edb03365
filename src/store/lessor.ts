/**
 * Leases for the single-process backends (memory, sqlite): etcd's lessor in small.
 *
 *   grant(ttl) ─▶ lease {ttl, expiresAt = now + ttl}      keepAlive ─▶ expiresAt = now + ttl
 *   put/create with lease ─▶ key bound to it               write without / delete ─▶ unbound
 *   revoke, or expiresAt passed (checked every `checkMs`) ─▶ the backend deletes the bound keys
 *                                                           in one transaction (`expire(id)`)
 *
 * An expired lease is dead at once: it cannot be kept alive or written with (LeaseNotFound), even
 * before the periodic check has had the backend delete its keys. Leases live in memory: whoever
 * holds one lives in the backend's process, so nothing of them needs to survive it (sqlite
 * persists only which keys are bound, to delete them when it is opened again).
 */
import { LeaseNotFound, type Lease, type LeaseId, type TxnOp } from './backend.js';
import type { Change } from './watch-hub.js';
import { systemClock, type Clock } from '../model/runtime.js';

interface Held {
  ttl: number;
  expiresAt: number;
  keys: Set<string>;
  /** Its revocation has been asked for (by expiry): not asked again. */
  expiring: boolean;
}

export class Lessor {
  private readonly leases = new Map<LeaseId, Held>();
  private readonly keyLease = new Map<string, LeaseId>();
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;

  /** `expire(id)`: revoke the lease (the backend deletes its keys); called once per expired lease. */
  constructor(private readonly expire: (id: LeaseId) => void, private readonly clock: Clock = systemClock, private readonly checkMs = 250) {}

  grant(ttlSeconds: number): Lease {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new Error(`a lease's TTL is a whole number of seconds, at least 1 (not ${ttlSeconds})`);
    const id = String(++this.seq);
    this.leases.set(id, { ttl: ttlSeconds, expiresAt: this.clock.now() + ttlSeconds * 1000, keys: new Set(), expiring: false });
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.checkMs);
      this.timer.unref();
    }
    return { id, ttl: ttlSeconds };
  }

  keepAlive(id: LeaseId): Lease {
    const held = this.live(id);
    held.expiresAt = this.clock.now() + held.ttl * 1000;
    return { id, ttl: held.ttl };
  }

  /** Throws LeaseNotFound when an operation names a lease that is not live. */
  check(ops: readonly TxnOp[]): void {
    for (const op of ops) if (op.op !== 'delete' && op.lease !== undefined) this.live(op.lease);
  }

  /**
   * Records what committed (or, in sqlite's group commit, accepted) changes do to bindings, in
   * order; returns the bindings that changed: key → its lease, or undefined when it has none now.
   */
  apply(changes: readonly Change[]): [string, LeaseId | undefined][] {
    const out: [string, LeaseId | undefined][] = [];
    if (this.keyLease.size === 0 && !changes.some((c) => c.lease !== undefined)) return out;
    for (const c of changes) {
      const key = c.kv.key;
      const before = this.keyLease.get(key);
      const after = c.type === 'put' ? c.lease : undefined;
      if (before === after) continue;
      if (before !== undefined) {
        this.leases.get(before)?.keys.delete(key);
        this.keyLease.delete(key);
      }
      if (after !== undefined) {
        this.leases.get(after)!.keys.add(key);
        this.keyLease.set(key, after);
      }
      out.push([key, after]);
    }
    return out;
  }

  /** The lease `key` is bound to, if any. */
  leaseOf(key: string): LeaseId | undefined {
    return this.keyLease.get(key);
  }

  /** Ends the lease; returns the keys bound to it, which the caller deletes. LeaseNotFound when there is none. */
  take(id: LeaseId): string[] {
    const held = this.leases.get(id);
    if (!held) throw new LeaseNotFound(id);
    this.leases.delete(id);
    for (const key of held.keys) this.keyLease.delete(key);
    if (this.leases.size === 0) this.stopTimer();
    return [...held.keys];
  }

  close(): void {
    this.stopTimer();
  }

  /** The lease if it is live; an expired one is revoked (once) and is not found. */
  private live(id: LeaseId): Held {
    const held = this.leases.get(id);
    if (!held) throw new LeaseNotFound(id);
    if (this.clock.now() >= held.expiresAt) {
      this.expireOnce(id, held);
      throw new LeaseNotFound(id);
    }
    return held;
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [id, held] of this.leases) if (now >= held.expiresAt) this.expireOnce(id, held);
  }

  private expireOnce(id: LeaseId, held: Held): void {
    if (held.expiring) return;
    held.expiring = true;
    this.expire(id);
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
