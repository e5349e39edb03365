/**
 * What only the etcd backend does: its URLs, several members (one down, quorum lost, all down),
 * TLS, etcd's size limit, key prefixes, snapshot/load on etcd, and watches across member restarts.
 * The contract every backend keeps is tested in backend.test.ts and leases.test.ts, etcd included.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackend, RevisionCompacted, StoreUnavailable, TxnConflict, ValueTooLarge, type Backend, type ExportedKeyValue, type WatchEvent } from './index.js';
import type { EtcdBackend } from './etcd.js';
import { etcdMissing, makeEtcdCerts } from '../../test/helpers/etcd.js';
import { useEtcd } from '../../test/helpers/etcd-suite.js';
import { until } from '../../test/helpers/processes.js';

const noEtcd = etcdMissing();

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function* each<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

const unavailable = (p: Promise<unknown>) => p.then(() => 'answered', (e: Error) => (e instanceof StoreUnavailable ? e.message : `${e.name}: ${e.message}`));

describe('etcd store URLs and options', () => {
  it('refuses unknown, malformed and contradictory options before connecting', async () => {
    await expect(openBackend('etcd://127.0.0.1:2379?journal=off')).rejects.toThrow(/the etcd store does not support option "journal" \(supported: cacert, cert, key, prefix, requestTimeoutMs, maxValueBytes\)/);
    await expect(openBackend('etcd://127.0.0.1:2379', { sync: 'full' })).rejects.toThrow(/does not support option "sync"/);
    await expect(openBackend('etcd://127.0.0.1:2379,127.0.0.1:70000')).rejects.toThrow(/etcd endpoint "127.0.0.1:70000" is not host:port/);
    await expect(openBackend('etcd://127.0.0.1:2379,[::1:2379')).rejects.toThrow(/etcd endpoint "\[::1:2379" is not host:port/);
    await expect(openBackend('etcd://127.0.0.1:2379', { cert: '/x.crt' })).rejects.toThrow(/needs both cert and key/);
    await expect(openBackend('etcd://127.0.0.1:2379/a', { prefix: '/b' })).rejects.toThrow(/given both as the URL's path and as the prefix option/);
    await expect(openBackend('etcd://127.0.0.1:2379?requestTimeoutMs=5000', { requestTimeoutMs: 100 })).rejects.toThrow(/given both in the store URL and as an option/);
    await expect(openBackend('etcd://127.0.0.1:2379?requestTimeoutMs=soon')).rejects.toThrow(/requestTimeoutMs must be a whole number ≥ 1, not "soon"/);
    await expect(openBackend('etcds://127.0.0.1:2379', { cacert: '/nonexistent/ca.crt' })).rejects.toThrow(/cannot read the etcd CA certificate \(cacert\) \/nonexistent\/ca.crt/);
  });

  it('reads several hosts from one URL, and answers StoreUnavailable naming them when none listens', async () => {
    const message = await unavailable(openBackend('etcd://127.0.0.1:1,127.0.0.1:2/p?requestTimeoutMs=1000'));
    expect(message).toMatch(/^etcd at 127\.0\.0\.1:1, 127\.0\.0\.1:2 could not .* within 1000 ms \(connection refused by 127\.0\.0\.1:[12]\)/);
    // without a port: etcd's 2379
    expect(await unavailable(openBackend('etcd://127.0.0.1,[::1]/p', { requestTimeoutMs: 100 }))).toMatch(/^etcd at 127\.0\.0\.1:2379, \[::1\]:2379 could not/);
  });
});

describe.skipIf(noEtcd)('etcd store on one member', () => {
  const etcd = useEtcd('one');
  const open = (options: Record<string, unknown> = {}) => openBackend(etcd.spec(), options);

  it('returns from a write only once its watchers have delivered it (read-your-writes, as in one process)', async () => {
    const store = await open();
    try {
      const seen: number[] = [];
      const other: number[] = [];
      const w = store.watch('/ryw/', await store.revision(), (e) => e.type === 'put' && seen.push(e.kv.modRevision));
      const elsewhere = store.watch('/elsewhere/', await store.revision(), (e) => e.type === 'put' && other.push(e.kv.modRevision));
      for (let i = 0; i < 20; i++) {
        const { revision } = await store.txn([{ op: 'put', key: `/ryw/${i}`, value: String(i) }]);
        expect(seen.at(-1)).toBe(revision);
      }
      expect(other).toEqual([]);
      w.close();
      elsewhere.close();
    } finally {
      await store.close();
    }
  });

  it('keeps each store under its prefix, and strips it from what it returns', async () => {
    const a = await open({ });
    const b = await openBackend(etcd.cluster.endpoints, { prefix: '/other/cloud' });
    try {
      const from = await b.revision();
      const events: WatchEvent[] = [];
      b.watch('', from, (e) => events.push(e));
      await a.txn([{ op: 'create', key: '/k', value: 'a' }]);
      await b.txn([{ op: 'create', key: '/k', value: 'b' }]);
      expect((await a.range('')).items.map((kv) => [kv.key, kv.value])).toEqual([['/k', 'a']]);
      expect((await b.range('')).items.map((kv) => [kv.key, kv.value])).toEqual([['/k', 'b']]);
      const raw = await (a as EtcdBackend).client.getAll().prefix('/other/').keys();
      expect(raw).toEqual(['/other/cloud/kv/k']);
      await until('b sees its write', async () => events.length, (l) => l >= 1, 5000);
      expect(events.map((e) => (e.type === 'resync' ? e : [e.kv.key, e.kv.value]))).toEqual([['/k', 'b']]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('refuses a value over maxValueBytes before sending it, and what etcd finds too large', async () => {
    const small = await open({ maxValueBytes: 1000 });
    const defaults = await open();
    const lax = await open({ maxValueBytes: 3_000_000 });
    try {
      await expect(small.txn([{ op: 'create', key: '/ok', value: 'x' }, { op: 'create', key: '/big', value: 'x'.repeat(2000) }])).rejects.toMatchObject({ name: 'ValueTooLarge', key: '/big', size: 2004, limit: 1000 });
      expect(await small.get('/ok')).toBeUndefined();
      // the default leaves room for a request's framing under etcd's default 1.5 MiB
      await defaults.txn([{ op: 'put', key: '/fits', value: 'x'.repeat(1_399_000) }]);
      expect((await defaults.get('/fits'))?.value.length).toBe(1_399_000);
      await expect(defaults.txn([{ op: 'put', key: '/over', value: 'x'.repeat(1_400_001) }])).rejects.toBeInstanceOf(ValueTooLarge);
      // several values, each under the limit, over it together
      await expect(defaults.txn([{ op: 'put', key: '/a', value: 'x'.repeat(800_000) }, { op: 'put', key: '/b', value: 'x'.repeat(800_000) }])).rejects.toMatchObject({ name: 'ValueTooLarge', size: 1_600_004 });
      // past etcd's own --max-request-bytes: etcd refuses, the store says ValueTooLarge
      await expect(lax.txn([{ op: 'put', key: '/huge', value: 'x'.repeat(2_000_000) }])).rejects.toMatchObject({ name: 'ValueTooLarge', key: '/huge', limit: 3_000_000 });
      expect(await lax.get('/huge')).toBeUndefined();
    } finally {
      await Promise.all([small.close(), defaults.close(), lax.close()]);
    }
  });

  it('delivers a revision that etcd sends in fragments whole, once', async () => {
    const store = await open();
    try {
      const big = (c: string) => c.repeat(600_000);
      await store.txn([{ op: 'create', key: '/f/a', value: big('a') }]);
      await store.txn([{ op: 'create', key: '/f/b', value: big('b') }]);
      const from = await store.revision();
      const events: WatchEvent[] = [];
      store.watch('/f/', from, (e) => events.push(e));
      // with the previous values, the two events pass etcd's 1.5 MiB: it splits the response
      const { revision } = await store.txn([{ op: 'put', key: '/f/a', value: big('A') }, { op: 'put', key: '/f/b', value: big('B') }]);
      await store.txn([{ op: 'put', key: '/f/c', value: 'after' }]);
      await until('the events', async () => events.length, (l) => l >= 3, 5000);
      expect(events.map((e) => (e.type === 'put' ? [e.kv.key, e.kv.modRevision, e.kv.value.length, e.prevValue?.[0]] : e.type))).toEqual([
        ['/f/a', revision, 600_000, 'a'], ['/f/b', revision, 600_000, 'b'], ['/f/c', revision + 1, 5, undefined],
      ]);
    } finally {
      await store.close();
    }
  });

  it('snapshots every key at one revision while writes go on, leases marked', async () => {
    const store = await open();
    try {
      for (let i = 0; i < 6; i++) await store.txn(Array.from({ length: 100 }, (_, j) => ({ op: 'create' as const, key: `/s/${String(i * 100 + j).padStart(4, '0')}`, value: `v${i * 100 + j}` })));
      const lease = await store.leaseGrant(60);
      await store.txn([{ op: 'create', key: '/s/leased', value: 'l', lease: lease.id }]);
      const before = (await store.range('')).items;
      const snap = await store.snapshot();
      expect(snap.revision).toBe(await store.revision());
      const items: ExportedKeyValue[] = [];
      for await (const kv of snap.items) {
        // writes while the snapshot is read, some in pages not read yet
        if (items.length === 0) await store.txn([{ op: 'put', key: '/s/0500', value: 'changed' }, { op: 'delete', key: '/s/0300' }, { op: 'create', key: '/s/0299x', value: 'new' }]);
        items.push(kv);
      }
      expect(items).toEqual(before.map((kv) => (kv.key === '/s/leased' ? { ...kv, lease: lease.id } : kv)));
      // a snapshot whose revision is compacted before it is read through fails, never returns a mix
      const stale = await store.snapshot();
      await store.txn([{ op: 'put', key: '/s/0001', value: 'again' }]);
      await store.compact(await store.revision());
      await expect(all(stale.items)).rejects.toBeInstanceOf(RevisionCompacted);
    } finally {
      await store.close();
    }
  });

  it('loads into an empty prefix in transactions of at most 128 keys, and refuses a prefix that holds keys', async () => {
    const source = await open();
    const target = await open();
    const dup = await open();
    try {
      await source.txn(Array.from({ length: 100 }, (_, i) => ({ op: 'create' as const, key: `/l/${String(i).padStart(3, '0')}`, value: `v${i}` })));
      await source.txn(Array.from({ length: 100 }, (_, i) => ({ op: 'create' as const, key: `/l/${String(100 + i).padStart(3, '0')}`, value: `v${100 + i}` })));
      const lease = await source.leaseGrant(60);
      await source.txn([{ op: 'create', key: '/l/leased', value: 'l', lease: lease.id }]);
      const from = await target.revision();
      const snap = await source.snapshot();
      const rev = await target.load(snap.items, snap.revision);
      expect(rev).toBe(await target.revision());
      expect(rev).toBe(from + 2); // 201 keys: two transactions
      const loaded = await all((await target.snapshot()).items);
      expect(loaded.map((kv) => [kv.key, kv.value, kv.lease])).toEqual((await source.range('')).items.map((kv) => [kv.key, kv.value, undefined]));
      await expect(target.load(each([{ key: '/new', value: 'x' }]), 0)).rejects.toMatchObject({ name: 'TxnConflict', failure: 'exists', key: '/l/000' });
      await expect(dup.load(each([{ key: '/a', value: '1' }, { key: '/a', value: '2' }]), 0)).rejects.toBeInstanceOf(TxnConflict);
    } finally {
      await Promise.all([source.close(), target.close(), dup.close()]);
    }
  });

  it('learns the compacted revision from etcd when another prefix compacted it', async () => {
    const a = await open();
    const b = await open();
    try {
      const from = await a.revision();
      await a.txn([{ op: 'put', key: '/x', value: '1' }]);
      await b.txn([{ op: 'put', key: '/y', value: '1' }]);
      const compacted = await b.compact(await b.revision());
      const events: WatchEvent[] = [];
      a.watch('/', from, (e) => events.push(e));
      await until('a resync', async () => events.length, (l) => l >= 1, 5000);
      expect(events).toEqual([{ type: 'resync', revision: expect.any(Number), reason: `revision ${from} was compacted (oldest available: ${compacted})` }]);
      expect(await a.compactedRevision()).toBe(compacted);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe.skipIf(noEtcd)('etcd store on three members', () => {
  const etcd = useEtcd('three', { members: 3 });
  const open = (options: Record<string, unknown> = {}) => openBackend(etcd.spec(), options);
  /** Starts the members that are down and waits for a leader. */
  const heal = async () => {
    for (const m of etcd.cluster.members) if (m.pid === undefined) await m.restart();
    await etcd.cluster.healthy();
  };

  it('reports every member and its health', async () => {
    const store = await open();
    try {
      const status = await store.status();
      expect(status.backend).toBe('etcd');
      expect(status.members.map((m) => [m.name, m.endpoint, m.healthy, m.version]).sort()).toEqual(etcd.cluster.members.map((m) => [m.name, m.endpoint, true, '3.4.23']).sort());
      expect(status.members.filter((m) => m.leader).map((m) => m.name)).toEqual([(await etcd.cluster.leader())!.name]);
    } finally {
      await store.close();
    }
  });

  it('keeps working with one member down', async () => {
    const store = await open();
    const follower = (await Promise.all(etcd.cluster.members.map(async (m) => ((await etcd.cluster.leader()) === m ? undefined : m)))).find(Boolean)!;
    try {
      await follower.kill();
      for (let i = 0; i < 20; i++) {
        await store.txn([{ op: 'put', key: '/k', value: String(i) }]);
        expect((await store.get('/k'))?.value).toBe(String(i));
      }
      const status = await store.status();
      expect(status.members.find((m) => m.name === follower.name)).toMatchObject({ healthy: false, error: expect.stringMatching(/connection refused/) });
    } finally {
      await heal();
      await store.close();
    }
  });

  it('answers StoreUnavailable without quorum, and works again once it is back', async () => {
    const store = await open({ requestTimeoutMs: 1500 });
    try {
      await store.txn([{ op: 'put', key: '/q', value: 'before' }]);
      await etcd.cluster.members[0]!.kill();
      await etcd.cluster.members[1]!.kill();
      await until('the last member knows it has no leader', () => etcd.cluster.members[2]!.status(), (st) => st !== undefined && st.leader === undefined, 10_000);
      // it says so at once (the store asks for a member with a leader) rather than wait for one
      expect(await unavailable(store.get('/q'))).toMatch(/could not read \/q within 1500 ms \(etcdserver: no leader\): is a majority of its members up and reachable\?/);
      expect(await unavailable(store.txn([{ op: 'put', key: '/q', value: 'lost?' }]))).toMatch(/^etcd at .* (could not|failed to) write \/q/);
      await heal();
      await store.txn([{ op: 'put', key: '/q', value: 'after' }]);
      expect((await store.get('/q'))?.value).toBe('after');
    } finally {
      await heal();
      await store.close();
    }
  });

  it('delivers every event once, in order, while each member in turn is killed and restarted', async () => {
    // a write in flight when the leader dies waits for etcd until the deadline: keep it short
    const store = await open({ requestTimeoutMs: 1500 });
    const events: WatchEvent[] = [];
    try {
      store.watch('/r/', await store.revision(), (e) => events.push(e));
      const acked: number[] = [];
      let stop = false;
      const writer = (async () => {
        for (let i = 0; !stop; i++) {
          try {
            acked.push((await store.txn([{ op: 'put', key: '/r/k', value: String(i) }])).revision);
          } catch (e) {
            if (!(e instanceof StoreUnavailable)) throw e; // may or may not have been applied
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      })();
      // events before every kill: whichever member the watch stream is on, it is cut with events behind it
      await until('writes', async () => acked.length, (l) => l >= 10, 20_000);
      for (const member of etcd.cluster.members) {
        const before = acked.length;
        await member.kill();
        await member.restart();
        await etcd.cluster.healthy();
        await until('writes after the restart', async () => acked.length, (l) => l >= before + 10, 20_000);
      }
      stop = true;
      await writer;
      const applied = (await store.get('/r/k'))!.version; // every applied put, acknowledged or not
      await until('every event', async () => events.length, (l) => l >= applied, 10_000);
      const revs = events.map((e) => (e.type === 'put' ? e.kv.modRevision : -1));
      expect(revs).toHaveLength(applied);
      expect(revs.every((r, i) => i === 0 || r > revs[i - 1]!)).toBe(true);
      expect(acked.filter((r) => !revs.includes(r))).toEqual([]);
    } finally {
      await heal();
      await store.close();
    }
  });

  it('answers StoreUnavailable within its deadline when every member is down', async () => {
    const store = await open({ requestTimeoutMs: 1000 });
    try {
      for (const m of etcd.cluster.members) await m.kill();
      // one after the other: the read first finds the connections dropped (a write that meets a
      // dropped connection may have been applied, and says so instead)
      for (const call of [() => store.get('/k'), () => store.txn([{ op: 'create', key: '/k', value: 'x' }]), () => store.leaseGrant(5), () => openBackend(etcd.cluster.endpoints, { requestTimeoutMs: 1000 })]) {
        const message = await unavailable(call());
        for (const m of etcd.cluster.members) expect(message).toContain(m.endpoint);
        expect(message).toMatch(/could not .* within 1000 ms \(connection refused by /);
      }
      const status = await store.status();
      expect(status.members.map((m) => m.healthy)).toEqual([false, false, false]);
    } finally {
      await heal();
      await store.close();
    }
  });
});

describe.skipIf(noEtcd)('etcd store over TLS', () => {
  let dir: string;
  let certs: ReturnType<typeof makeEtcdCerts>;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'stratus-etcd-tls-'));
    certs = makeEtcdCerts(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const tls = useEtcd('tls', { members: 1, tls: () => ({ caFile: certs.ca, certFile: certs.serverCert, keyFile: certs.serverKey }) });

  it('connects with the CA and a client certificate, and refuses clearly without them', async () => {
    expect(tls.cluster.endpoints).toMatch(/^etcds:\/\//);
    const store: Backend = await openBackend(tls.cluster.endpoints, { cacert: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    try {
      await store.txn([{ op: 'create', key: '/tls', value: 'yes' }]);
      expect((await store.get('/tls'))?.value).toBe('yes');
      expect((await store.status()).members.map((m) => m.healthy)).toEqual([true]);
    } finally {
      await store.close();
    }
    // certificate options alone mean TLS, also with etcd://
    const implied = await openBackend(tls.cluster.endpoints.replace('etcds://', 'etcd://'), { cacert: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    await implied.close();
    expect(await unavailable(openBackend(tls.cluster.endpoints, { cert: certs.clientCert, key: certs.clientKey }))).toMatch(/refused the TLS connection \(unable to verify the first certificate\): check the cacert, cert and key options/);
    expect(await unavailable(openBackend(tls.cluster.endpoints, { cacert: certs.ca }))).toMatch(/refused the TLS connection \(.*certificate.*\): check the cacert, cert and key options/);
  });
});
