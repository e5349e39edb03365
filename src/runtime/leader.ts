/**
 * Leader election on a store lease (etcd's election recipe, Nomad's leader loop): of the servers
 * sharing a store, one leads, and only it runs what must run once (controllers, the scheduler).
 *
 *   follower: grant a lease ─▶ txn create /internal/leader/<name> bound to it
 *                 │ exists: wait until that key is deleted (watch) or retryMs, then try again
 *                 ▼ created
 *   leader:   onStartedLeading ─▶ keep the lease alive every renewMs
 *                 │ keep-alive refused (LeaseNotFound), the key deleted or taken, no keep-alive
 *                 │ acknowledged for ttl − margin, or stop()
 *                 ▼
 *             onStoppedLeading (awaited) ─▶ revoke the lease (best effort) ─▶ follower (or stopped)
 *
 * Contracts:
 * - Never two leaders: a leader stops leading (its onStoppedLeading has returned, if it returns
 *   within `marginMs`) before its lease can expire, since the deadline counts from the time
 *   *before* the last acknowledged grant or keep-alive, which is at or before the store's start of
 *   the TTL. A key deleted under it (revoked by someone else) is seen synchronously by its watch.
 * - `start` resolves after the first campaign: uncontested, this process leads (and its
 *   onStartedLeading has run) by then. `stop` steps down and revokes the lease, so another server
 *   leads at once instead of after the TTL.
 * - onStartedLeading / onStoppedLeading alternate, never overlap, and a failing onStartedLeading
 *   steps down (the error is kept in `lastError`).
 */
import type { Component } from './component.js';
import type { Repository } from '../store/repository.js';
import { LeaseNotFound, TxnConflict, type Lease, type Watcher } from '../store/backend.js';
import { leaderKeys } from '../model/keyspace.js';
import { systemClock, type Clock } from '../model/runtime.js';

export interface LeaderOptions {
  /** What is led (one key per name): e.g. "controllers". */
  election: string;
  /** Who this is (stored in the key, for people reading it). */
  identity: string;
  /** The lease's TTL in whole seconds (default 10). */
  ttlSeconds?: number;
  /** Keep-alive period (default a third of the TTL). */
  renewMs?: number;
  /** A follower tries again this often even without seeing the key go (default renewMs). */
  retryMs?: number;
  /** Steps down this long before the lease could expire (default a fifth of the TTL). */
  marginMs?: number;
  clock?: Clock;
  onStartedLeading(): Promise<void> | void;
  onStoppedLeading(): Promise<void> | void;
  log?(msg: string): void;
}

export class LeaderElection implements Component {
  readonly name: string;
  private readonly ttl: number;
  private readonly renewMs: number;
  private readonly retryMs: number;
  private readonly marginMs: number;
  private readonly clock: Clock;
  private readonly key;
  private lease: Lease | undefined;
  /** Client time before the lease's last acknowledged grant or keep-alive. */
  private leaseFrom = 0;
  private leading = false;
  private stopped = false;
  /** Bumped at each step down: timers and replies of an earlier term are ignored. */
  private term = 0;
  private deadline: NodeJS.Timeout | undefined;
  private keyWatch: Watcher | undefined;
  private steppingDown: Promise<void> = Promise.resolve();
  /** onStartedLeading of the current term, once called: what a step down waits for first. */
  private starting: Promise<void> | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** Woken while not sleeping: the next sleep returns at once. */
  private poked = false;
  /** The last failure (a store call, a callback); '' when none. */
  lastError = '';

  constructor(private readonly repo: Repository, private readonly opts: LeaderOptions) {
    this.name = `leader-election:${opts.election}`;
    this.ttl = opts.ttlSeconds ?? 10;
    this.renewMs = opts.renewMs ?? Math.floor((this.ttl * 1000) / 3);
    this.retryMs = opts.retryMs ?? this.renewMs;
    this.marginMs = opts.marginMs ?? Math.floor((this.ttl * 1000) / 5);
    if (this.renewMs >= this.ttl * 1000 - this.marginMs) throw new Error(`leader election ${opts.election}: renewMs must be shorter than the TTL less the margin`);
    this.clock = opts.clock ?? systemClock;
    this.key = leaderKeys.key(opts.election);
  }

  /** Whether this process leads now. */
  get isLeader(): boolean {
    return this.leading;
  }

  /** The lease this process holds (leading or campaigning), if any. */
  get leaseId(): string | undefined {
    return this.lease?.id;
  }

  /** Who holds the election's key now, if anyone. */
  async holder(): Promise<string | undefined> {
    return (await this.repo.records.json<{ holder: string }>(this.key))?.holder;
  }

  async start(): Promise<void> {
    await this.campaign();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.poke();
    await this.loop;
    await this.stepDown('stopping');
    await this.steppingDown;
    this.keyWatch?.close();
    if (this.lease) await this.repo.leases.revoke(this.lease.id).catch(() => undefined);
    this.lease = undefined;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.leading) {
        await this.sleep(this.renewMs);
        if (this.leading && !this.stopped) await this.renew();
      } else {
        await this.sleep(this.retryMs);
        if (!this.stopped) await this.campaign();
      }
    }
  }

  /** One attempt at leading: a lease (kept from earlier attempts while live), then the key. */
  private async campaign(): Promise<void> {
    await this.steppingDown;
    if (this.stopped || this.leading) return;
    try {
      await this.holdLease();
      const lease = this.lease!;
      const { revision } = await this.repo.records.txn([{ op: 'create', key: this.key, value: JSON.stringify({ holder: this.opts.identity }), lease: lease.id }]);
      this.lastError = '';
      await this.lead(lease, revision);
    } catch (e) {
      if (e instanceof TxnConflict) await this.followKey().catch((err: Error) => void (this.lastError = `${this.name}: watching the leader failed: ${err.message}`));
      else {
        if (e instanceof LeaseNotFound) this.lease = undefined;
        this.lastError = `${this.name}: campaigning failed: ${(e as Error).message}`;
      }
    }
  }

  /** A live lease of our own: the one held, kept alive, or a new one. */
  private async holdLease(): Promise<void> {
    const from = this.clock.now();
    if (this.lease) {
      try {
        await this.repo.leases.keepAlive(this.lease.id);
        this.leaseFrom = from;
        return;
      } catch (e) {
        if (!(e instanceof LeaseNotFound)) throw e;
      }
    }
    this.lease = await this.repo.leases.grant(this.ttl);
    this.leaseFrom = from;
  }

  /** As a follower: campaign again as soon as the leader's key is deleted. */
  private async followKey(): Promise<void> {
    const kv = await this.repo.records.get(this.key);
    this.keyWatch?.close();
    this.keyWatch = undefined;
    if (!kv) return this.poke();
    this.keyWatch = this.repo.records.watch(leaderKeys.prefix, kv.modRevision, (e) => {
      if (e.type === 'resync' || (e.type === 'delete' && e.kv.key === this.key)) this.poke();
    });
  }

  /** Leads from `revision`, where our key was created: watched from there, so no change of it is missed. */
  private async lead(lease: Lease, revision: number): Promise<void> {
    const term = this.term;
    this.leading = true;
    this.armDeadline(term);
    this.keyWatch?.close();
    // the key deleted (lease revoked elsewhere) or written by another: no longer ours
    this.keyWatch = this.repo.records.watch(leaderKeys.prefix, revision, (e) => {
      if (e.type === 'resync' || e.kv.key === this.key) void this.stepDown(e.type === 'resync' ? 'watch lost' : `the leader key was ${e.type === 'delete' ? 'deleted' : 'overwritten'}`, term);
    });
    if (term !== this.term) return;
    this.opts.log?.(`${this.opts.identity} leads ${this.opts.election} (lease ${lease.id})`);
    const starting = (async () => {
      try {
        await this.opts.onStartedLeading();
      } catch (e) {
        this.lastError = `${this.name}: starting to lead failed: ${(e as Error).message}`;
        void this.stepDown('starting failed', term);
      }
    })();
    this.starting = starting;
    await starting;
  }

  private async renew(): Promise<void> {
    const term = this.term;
    const from = this.clock.now();
    try {
      await this.repo.leases.keepAlive(this.lease!.id);
      if (term !== this.term) return;
      this.leaseFrom = from;
      this.armDeadline(term);
    } catch (e) {
      if (term !== this.term) return;
      this.lastError = `${this.name}: keep-alive failed: ${(e as Error).message}`;
      if (e instanceof LeaseNotFound) await this.stepDown('the lease is gone', term);
      // otherwise: try again at the next renewal; the deadline steps down if none gets through
    }
  }

  /** Steps down at ttl − margin after the last acknowledged keep-alive. */
  private armDeadline(term: number): void {
    if (this.deadline) clearTimeout(this.deadline);
    const at = this.leaseFrom + this.ttl * 1000 - this.marginMs;
    this.deadline = setTimeout(() => void this.stepDown('no keep-alive acknowledged in time', term), Math.max(0, at - this.clock.now()));
    this.deadline.unref();
  }

  /**
   * Stops leading (once per term): synchronously no longer the leader, then onStoppedLeading, then
   * the lease is revoked so that the key goes at once. `term`: only if still that term.
   */
  private stepDown(reason: string, term = this.term): Promise<void> {
    if (!this.leading || term !== this.term) return this.steppingDown;
    this.leading = false;
    this.term++;
    if (this.deadline) clearTimeout(this.deadline);
    this.keyWatch?.close();
    this.keyWatch = undefined;
    const lease = this.lease;
    this.lease = undefined;
    const starting = this.starting;
    this.starting = undefined;
    this.opts.log?.(`${this.opts.identity} stops leading ${this.opts.election}: ${reason}`);
    this.steppingDown = (async () => {
      if (starting) {
        await starting;
        try {
          await this.opts.onStoppedLeading();
        } catch (e) {
          this.lastError = `${this.name}: stopping to lead failed: ${(e as Error).message}`;
        }
      }
      if (lease) await this.repo.leases.revoke(lease.id).catch(() => undefined);
    })();
    this.poke();
    return this.steppingDown;
  }

  private poke(): void {
    if (this.wake) this.wake();
    else this.poked = true;
  }

  /** Waits `ms`, or less when woken (stop, the leader's key deleted, a step down). */
  private sleep(ms: number): Promise<void> {
    if (this.poked) {
      this.poked = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wake = done;
    });
  }
}
