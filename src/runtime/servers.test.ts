import { describe, it, expect } from 'vitest';
import { MemoryBackend } from '../store/memory.js';
import { Repository } from '../store/repository.js';
import { FakeClock } from '../model/runtime.js';
import { LeaderElection } from './leader.js';
import { listServers, ServerRegistry } from './servers.js';
import { CONTROLLERS_ELECTION, type ServerRecord } from '../model/cluster.js';

function record(name: string, identity: string): () => ServerRecord {
  return () => ({ name, url: `http://127.0.0.1:${name.length}`, version: '0.1.0', identity, startedAt: '2026-01-01T00:00:00.000Z' });
}

describe('the servers of a store', () => {
  it('lists every registered server; the leader is whoever holds the controllers election now', async () => {
    const repo = new Repository(new MemoryBackend(), new FakeClock());
    const a = new ServerRegistry(repo, record('a', 'id-a'));
    const b = new ServerRegistry(repo, record('bb', 'id-b'));
    await a.start();
    await b.start();
    expect((await listServers(repo)).map((s) => [s.name, s.status.leader])).toEqual([['a', false], ['bb', false]]);
    const election = new LeaderElection(repo, { election: CONTROLLERS_ELECTION, identity: 'id-b', onStartedLeading: () => undefined, onStoppedLeading: () => undefined });
    await election.start();
    expect((await listServers(repo)).map((s) => [s.name, s.status.leader])).toEqual([['a', false], ['bb', true]]);
    await election.stop();
    await b.stop();
    expect((await listServers(repo)).map((s) => [s.name, s.status.leader])).toEqual([['a', false]]);
    await a.stop();
  });

  it("a server's record goes with its lease, and comes back when the server renews after losing it", async () => {
    const backend = new MemoryBackend();
    const repo = new Repository(backend, new FakeClock());
    const a = new ServerRegistry(repo, record('a', 'id-a'), 3);
    await a.start();
    const lease = (a as unknown as { lease: { id: string } }).lease.id;
    // what expiry does (the store deletes the keys bound to the lease)
    await backend.leaseRevoke(lease);
    expect(await listServers(repo)).toEqual([]);
    await (a as unknown as { renew(): Promise<void> }).renew();
    expect((await listServers(repo)).map((s) => s.name)).toEqual(['a']);
    await a.stop();
  });
});
