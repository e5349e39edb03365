import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LeaseNotFound, openBackend, type Backend, type WatchEvent } from './index.js';
import { etcdMissing } from '../../test/helpers/etcd.js';
import { useEtcd } from '../../test/helpers/etcd-suite.js';

// etcd: one member for the file, a fresh key prefix per test
const etcd = etcdMissing() ? undefined : useEtcd('test-leases');

const backends: [string, (dir: string) => Promise<Backend>][] = [
  ['memory', () => openBackend('memory:')],
  ['sqlite', (dir) => openBackend(`sqlite://${join(dir, 'db.sqlite')}?sync=normal`)],
  ...(etcd ? [['etcd', () => openBackend(etcd.spec())] as [string, (dir: string) => Promise<Backend>]] : []),
];

describe.each(backends)('%s backend leases', (name, open) => {
  // etcd's leases expire by etcd's clock: its tests wait in real time (a few seconds in all)
  const fake = name !== 'etcd';
  let dir: string;
  let store: Backend;
  beforeEach(async () => {
    if (fake) vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    dir = mkdtempSync(join(tmpdir(), 'stratus-lease-'));
    store = await open(dir);
  });
  afterEach(async () => {
    vi.useRealTimers();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Lets the lessor's check run and the revocation it asks for commit. */
  const elapse = async (ms: number) => {
    if (!fake) return new Promise((r) => setTimeout(r, ms));
    await vi.advanceTimersByTimeAsync(ms);
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  };
  /** Moves the clock on by `ms` without running the lessor's check (etcd: waits). */
  const later = async (ms: number) => {
    if (fake) vi.setSystemTime(Date.now() + ms);
    else await new Promise((r) => setTimeout(r, ms));
  };
  /** Waits until `n` events arrived (etcd delivers them from its own stream). */
  const received = async (events: WatchEvent[], n: number) => {
    for (let i = 0; events.length < n && i < 1000; i++) await new Promise((r) => setImmediate(r));
    for (let i = 0; events.length < n && i < 500; i++) await new Promise((r) => setTimeout(r, 10));
    return events;
  };

  it('deletes the keys of a revoked lease in one revision, which watchers see; other keys stay', async () => {
    const lease = await store.leaseGrant(5);
    expect(lease.ttl).toBe(5);
    await store.txn([{ op: 'create', key: '/l/a', value: 'a', lease: lease.id }, { op: 'put', key: '/l/b', value: 'b', lease: lease.id }, { op: 'put', key: '/l/c', value: 'c' }]);
    const from = await store.revision();
    const events: WatchEvent[] = [];
    store.watch('/l/', from, (e) => events.push(e));
    await store.leaseRevoke(lease.id);
    expect(await store.get('/l/a')).toBeUndefined();
    expect(await store.get('/l/b')).toBeUndefined();
    expect(await store.get('/l/c')).toBeDefined();
    expect(await store.revision()).toBe(from + 1);
    await received(events, 2);
    expect(events.map((e) => (e.type === 'delete' ? `${e.kv.key}@${e.kv.modRevision}` : e.type))).toEqual([`/l/a@${from + 1}`, `/l/b@${from + 1}`]);
    await expect(store.leaseRevoke(lease.id)).rejects.toBeInstanceOf(LeaseNotFound);
    await expect(store.leaseKeepAlive(lease.id)).rejects.toBeInstanceOf(LeaseNotFound);
    await expect(store.txn([{ op: 'put', key: '/l/d', value: 'd', lease: lease.id }])).rejects.toBeInstanceOf(LeaseNotFound);
    expect(await store.get('/l/d')).toBeUndefined();
  });

  it('expires a lease not kept alive within its TTL, and not one that is', async () => {
    const kept = await store.leaseGrant(2);
    const dropped = await store.leaseGrant(2);
    await store.txn([{ op: 'create', key: '/k/kept', value: '1', lease: kept.id }, { op: 'create', key: '/k/dropped', value: '1', lease: dropped.id }]);
    for (let t = 0; t < 6; t++) {
      await elapse(500);
      await store.leaseKeepAlive(kept.id);
    }
    expect(await store.get('/k/kept')).toBeDefined();
    // etcd's leader revokes expired leases every 500 ms, through raft: give a loaded machine time
    for (let i = 0; !fake && i < 50 && (await store.get('/k/dropped')); i++) await elapse(100);
    expect(await store.get('/k/dropped')).toBeUndefined();
    await expect(store.leaseKeepAlive(dropped.id)).rejects.toBeInstanceOf(LeaseNotFound);
  });

  it('refuses an expired lease at once, before its keys are deleted', async () => {
    const lease = await store.leaseGrant(1);
    await store.txn([{ op: 'create', key: '/x', value: '1', lease: lease.id }]);
    await later(lease.ttl * 1000);
    await expect(store.leaseKeepAlive(lease.id)).rejects.toBeInstanceOf(LeaseNotFound);
    await expect(store.txn([{ op: 'put', key: '/y', value: '1', lease: lease.id }])).rejects.toBeInstanceOf(LeaseNotFound);
    await elapse(0);
    expect(await store.get('/x')).toBeUndefined();
  });

  it('unbinds a key written again without the lease, or deleted', async () => {
    const lease = await store.leaseGrant(5);
    await store.txn([{ op: 'create', key: '/u/a', value: '1', lease: lease.id }, { op: 'create', key: '/u/b', value: '1', lease: lease.id }]);
    await store.txn([{ op: 'put', key: '/u/a', value: '2' }]);
    await store.txn([{ op: 'delete', key: '/u/b' }]);
    await store.txn([{ op: 'create', key: '/u/b', value: 'new' }]);
    const rev = await store.revision();
    await store.leaseRevoke(lease.id);
    expect((await store.get('/u/a'))?.value).toBe('2');
    expect((await store.get('/u/b'))?.value).toBe('new');
    expect(await store.revision()).toBe(rev); // nothing left to delete: no new revision
  });

  it('refuses a TTL that is not a whole number of seconds', async () => {
    await expect(store.leaseGrant(0)).rejects.toThrow(/whole number of seconds/);
    await expect(store.leaseGrant(1.5)).rejects.toThrow(/whole number of seconds/);
  });

  if (name === 'sqlite') {
    it('deletes the keys bound to its previous opener\'s leases when opened again', async () => {
      const lease = await store.leaseGrant(60);
      await store.txn([{ op: 'create', key: '/leader', value: 'me', lease: lease.id }, { op: 'create', key: '/plain', value: 'x' }]);
      const rev = await store.revision();
      await store.close();
      store = await open(dir);
      expect(await store.get('/leader')).toBeUndefined();
      expect(await store.get('/plain')).toBeDefined();
      expect(await store.revision()).toBe(rev + 1);
      const events: WatchEvent[] = [];
      store.watch('/', rev, (e) => events.push(e));
      expect(events.map((e) => e.type)).toEqual(['delete']);
    });
  }
});
