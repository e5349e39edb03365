/**
 * The servers of a cloud: each running server keeps a record of itself in the store (its URL,
 * version, start time), bound to a lease it keeps alive, so a server that dies leaves the list
 * within the lease's TTL. Who leads is read from the leader election's own key at read time, so
 * `status.leader` is never a server's stale claim about itself.
 *
 *   start ─▶ lease ─▶ put /internal/servers/<name> (bound) ─▶ keep alive every ttl/3
 *              ▲                                                 │ lease gone (expired while the store
 *              └──────────────── grant again, put again ◀────────┘ was unreachable)
 */
import type { Component } from './component.js';
import type { Repository } from '../store/repository.js';
import { LeaseNotFound, type Lease } from '../store/backend.js';
import { leaderKeys, serverKeys } from '../model/keyspace.js';
import { every } from './component.js';
import { CONTROLLERS_ELECTION, type ServerRecord, type ServerView } from '../model/cluster.js';

export class ServerRegistry implements Component {
  readonly name = 'server-registry';
  private lease: Lease | undefined;
  private loop: { stop(): void } | undefined;
  private lastError = '';

  constructor(private readonly repo: Repository, private readonly record: () => ServerRecord, private readonly ttlSeconds = 10) {}

  async start(): Promise<void> {
    await this.register();
    this.loop = every(Math.floor((this.ttlSeconds * 1000) / 3), () => this.renew(), (e) => void (this.lastError = `keeping the server's record failed: ${(e as Error).message}`));
  }

  async stop(): Promise<void> {
    this.loop?.stop();
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await this.repo.leases.revoke(lease.id).catch(() => undefined);
  }

  health(): string {
    return this.lastError;
  }

  private async register(): Promise<void> {
    const lease = await this.repo.leases.grant(this.ttlSeconds);
    const rec = this.record();
    await this.repo.records.txn([{ op: 'put', key: serverKeys.key(rec.name), value: JSON.stringify(rec), lease: lease.id }]);
    this.lease = lease;
    this.lastError = '';
  }

  private async renew(): Promise<void> {
    if (!this.lease) return this.register();
    try {
      await this.repo.leases.keepAlive(this.lease.id);
      this.lastError = '';
    } catch (e) {
      if (!(e instanceof LeaseNotFound)) throw e;
      this.lease = undefined;
      await this.register();
    }
  }
}

/** Every registered server, by name, with whether it holds the controllers' election now. */
export async function listServers(repo: Repository): Promise<ServerView[]> {
  const [{ items }, holder] = await Promise.all([
    repo.records.range(serverKeys.prefix),
    repo.records.json<{ holder: string }>(leaderKeys.key(CONTROLLERS_ELECTION)),
  ]);
  return items.map((kv) => {
    const r = JSON.parse(kv.value) as ServerRecord;
    return { name: r.name, url: r.url, version: r.version, startedAt: r.startedAt, status: { leader: holder?.holder === r.identity } };
  });
}
