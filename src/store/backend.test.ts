import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackend, TxnConflict, type Backend, type WatchEvent } from './index.js';
import { etcdMissing } from '../../test/helpers/etcd.js';
import { useEtcd } from '../../test/helpers/etcd-suite.js';

// etcd: one member for the file, a fresh key prefix per store (so every store starts empty)
const etcd = etcdMissing() ? undefined : useEtcd('test-backend');

let stores = 0;
/** Each call opens a new, empty store. */
const backends: [string, (dir: string) => Promise<Backend>][] = [
  ['memory', () => openBackend('memory:')],
  ['sqlite', (dir) => openBackend(`sqlite://${join(dir, `db${stores++}.sqlite`)}?sync=normal`)],
  ...(etcd ? [['etcd', () => openBackend(etcd.spec())] as [string, (dir: string) => Promise<Backend>]] : []),
];

/**
 * The events a watcher receives; `received(n)` waits until it has n (etcd delivers them from its
 * own stream, after the call that made them returns; memory and sqlite before).
 */
function collect(store: Backend, prefix: string, from: number) {
  const events: WatchEvent[] = [];
  const watcher = store.watch(prefix, from, (e) => events.push(e));
  const received = async (n: number) => {
    for (let i = 0; events.length < n; i++) {
      if (i > 1000) throw new Error(`${events.length} events, not ${n}: ${JSON.stringify(events)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return events;
  };
  return { events, watcher, received };
}

const revs = (events: WatchEvent[]) => events.map((e) => (e.type === 'resync' ? -1 : e.kv.modRevision));

describe.each(backends)('%s backend', (name, open) => {
  let dir: string;
  let store: Backend;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stratus-store-'));
    store = await open(dir);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // etcd's revisions are its own (it starts at 1, other prefixes write too): every revision is
  // counted from the store's when the test starts
  it('creates, reads and counts by prefix', async () => {
    const base = await store.revision();
    const r1 = await store.txn([{ op: 'create', key: '/a/1', value: 'one' }]);
    const r2 = await store.txn([{ op: 'create', key: '/a/2', value: 'two' }, { op: 'create', key: '/b/1', value: 'x' }]);
    expect(r1.revision).toBe(base + 1);
    expect(r2.revision).toBe(base + 2);
    expect(r2.results).toEqual([
      { key: '/a/2', value: 'two', createRevision: base + 2, modRevision: base + 2, version: 1 },
      { key: '/b/1', value: 'x', createRevision: base + 2, modRevision: base + 2, version: 1 },
    ]);
    expect(await store.get('/a/1')).toEqual({ key: '/a/1', value: 'one', createRevision: base + 1, modRevision: base + 1, version: 1 });
    expect(await store.count('/a/')).toBe(2);
    expect((await store.range('/a/')).items.map((kv) => kv.key)).toEqual(['/a/1', '/a/2']);
    expect(await store.revision()).toBe(base + 2);
    const r3 = await store.txn([{ op: 'put', key: '/a/1', value: 'uno' }, { op: 'delete', key: '/b/1' }]);
    expect(r3.results).toEqual([
      { key: '/a/1', value: 'uno', createRevision: base + 1, modRevision: base + 3, version: 2 },
      { key: '/b/1', value: 'x', createRevision: base + 2, modRevision: base + 3, version: 1 },
    ]);
  });

  it('paginates ranges with startAfter and limit', async () => {
    for (let i = 0; i < 25; i++) await store.txn([{ op: 'create', key: `/p/${String(i).padStart(3, '0')}`, value: String(i) }]);
    const seen: string[] = [];
    let startAfter: string | undefined;
    for (;;) {
      const page = await store.range('/p/', { limit: 10, startAfter });
      seen.push(...page.items.map((kv) => kv.value));
      if (!page.more) break;
      startAfter = page.items.at(-1)!.key;
    }
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => String(i)));
    const back: string[] = [];
    let before: string | undefined;
    for (;;) {
      const page = await store.range('/p/', { limit: 7, startAfter: before, reverse: true });
      back.push(...page.items.map((kv) => kv.value));
      if (!page.more) break;
      before = page.items.at(-1)!.key;
    }
    expect(back).toEqual(Array.from({ length: 25 }, (_, i) => String(24 - i)));
  });

  it('refuses a stale revision and applies nothing of a failed transaction', async () => {
    const base = await store.revision();
    const { revision } = await store.txn([{ op: 'create', key: '/k', value: 'v1' }]);
    await store.txn([{ op: 'put', key: '/k', value: 'v2', expectRevision: revision }]);
    await expect(store.txn([{ op: 'put', key: '/k', value: 'v3', expectRevision: revision }])).rejects.toBeInstanceOf(TxnConflict);
    await expect(store.txn([{ op: 'create', key: '/other', value: 'x' }, { op: 'create', key: '/k', value: 'dup' }])).rejects.toMatchObject({ failure: 'exists' });
    expect(await store.get('/other')).toBeUndefined();
    expect((await store.get('/k'))!.value).toBe('v2');
    expect((await store.get('/k'))!.version).toBe(2);
    await expect(store.txn([{ op: 'delete', key: '/missing' }])).rejects.toMatchObject({ failure: 'missing' });
    expect(await store.revision()).toBe(base + 2);
  });

  it('names the first refused operation, with the revisions expected and found', async () => {
    const { revision } = await store.txn([{ op: 'create', key: '/n/a', value: '1' }, { op: 'create', key: '/n/b', value: '1' }]);
    const refused = (ops: Parameters<Backend['txn']>[0]) => store.txn(ops).then(() => 'applied', (e: TxnConflict) => [e.failure, e.key, e.expected, e.actual]);
    expect(await refused([{ op: 'put', key: '/n/c', value: 'x', expectRevision: 0 }, { op: 'put', key: '/n/a', value: 'x', expectRevision: revision + 5 }, { op: 'create', key: '/n/b', value: 'x' }]))
      .toEqual(['conflict', '/n/a', revision + 5, revision]);
    expect(await refused([{ op: 'delete', key: '/n/a', expectRevision: revision }, { op: 'delete', key: '/n/gone' }, { op: 'create', key: '/n/b', value: 'x' }]))
      .toEqual(['missing', '/n/gone', undefined, undefined]);
    expect(await refused([{ op: 'create', key: '/n/b', value: 'x' }, { op: 'delete', key: '/n/gone' }])).toEqual(['exists', '/n/b', 0, revision]);
    expect(await refused([{ op: 'delete', key: '/n/a', expectRevision: revision - 1 }])).toEqual(['conflict', '/n/a', revision - 1, revision]);
    expect(await refused([{ op: 'put', key: '/n/new', value: 'x', expectRevision: revision }])).toEqual(['conflict', '/n/new', revision, undefined]);
    expect(await refused([{ op: 'put', key: '/n/a', value: 'x', expectRevision: 0 }])).toEqual(['conflict', '/n/a', 0, revision]);
    expect(await store.revision()).toBe(revision);
  });

  it('watches from a revision: history first, then live, in order, filtered by prefix', async () => {
    const base = await store.revision();
    await store.txn([{ op: 'create', key: '/w/a', value: '1' }]);
    const { revision } = await store.txn([{ op: 'create', key: '/x/a', value: 'other' }]);
    await store.txn([{ op: 'put', key: '/w/a', value: '2' }]);
    const all = collect(store, '/w/', base);
    await store.txn([{ op: 'delete', key: '/w/a' }]);
    await store.txn([{ op: 'create', key: '/x/b', value: 'ignored' }]);
    await all.received(3);
    all.watcher.close();
    await store.txn([{ op: 'create', key: '/w/late', value: 'after close' }]);
    const fromMiddle = collect(store, '/w/', revision);
    await fromMiddle.received(3);
    fromMiddle.watcher.close();
    expect(fromMiddle.events.map((e) => [e.type, e.type === 'resync' ? 0 : e.kv.key, e.type === 'resync' ? 0 : e.kv.modRevision]))
      .toEqual([['put', '/w/a', base + 3], ['delete', '/w/a', base + 4], ['put', '/w/late', base + 6]]);
    // the closed watcher saw nothing of /w/late, which the later one had received
    expect(all.events.map((e) => [e.type, e.type === 'resync' ? 0 : e.kv.modRevision])).toEqual([['put', base + 1], ['put', base + 3], ['delete', base + 4]]);
  });

  it('carries the previous value of a put, live and from history', async () => {
    const base = await store.revision();
    await store.txn([{ op: 'create', key: '/v/a', value: 'old' }]);
    const live = collect(store, '/v/', await store.revision());
    await store.txn([{ op: 'put', key: '/v/a', value: 'new' }]);
    await store.txn([{ op: 'delete', key: '/v/a' }]);
    const history = collect(store, '/v/', base);
    for (const { events, received, watcher } of [live, history]) {
      await received(events === live.events ? 2 : 3);
      watcher.close();
      expect(events.find((e) => e.type === 'put' && e.kv.value === 'new')).toMatchObject({ prevModRevision: base + 1, prevValue: 'old' });
      expect(events.find((e) => e.type === 'delete')).toEqual({ type: 'delete', kv: { key: '/v/a', value: 'new', createRevision: base + 1, modRevision: base + 3, version: 2 }, prevModRevision: base + 2 });
    }
    expect(history.events[0]).toEqual({ type: 'put', kv: { key: '/v/a', value: 'old', createRevision: base + 1, modRevision: base + 1, version: 1 } });
  });

  it('sends resync to a watcher that starts below the compacted revision', async () => {
    const base = await store.revision();
    for (let i = 0; i < 5; i++) await store.txn([{ op: 'put', key: '/c', value: String(i) }]);
    expect(await store.compact(base + 3)).toBe(base + 3);
    expect(await store.compactedRevision()).toBe(base + 3);
    const below = collect(store, '/c', base + 1);
    expect((await below.received(1))[0]!.type).toBe('resync');
    const ok = collect(store, '/c', base + 3);
    await ok.received(2);
    ok.watcher.close();
    expect(ok.events.map((e) => (e.type === 'resync' ? -1 : e.kv.value))).toEqual(['3', '4']);
    // resync is final: a later write reaches the working watcher only
    await store.txn([{ op: 'put', key: '/c', value: '5' }]);
    const after = collect(store, '/c', base + 5);
    await after.received(1);
    after.watcher.close();
    expect(below.events).toHaveLength(1);
  });

  it('sends resync to a watcher that starts above the store\'s revision (the store went back)', async () => {
    const rev = await store.revision();
    const above = collect(store, '/', rev + 10);
    const [event] = await above.received(1);
    expect(event).toMatchObject({ type: 'resync', reason: expect.stringMatching(/lower than the watch's/) });
    // from the current revision itself: no resync, live events
    const current = collect(store, '/', await store.revision());
    await store.txn([{ op: 'put', key: '/now', value: 'x' }]);
    expect(revs(await current.received(1))).toEqual([await store.revision()]);
    current.watcher.close();
    expect(above.events).toHaveLength(1);
  });

  it('matches a model of the store under random transactions', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ op: fc.constantFrom('create', 'put', 'delete'), key: fc.constantFrom('/m/a', '/m/b', '/m/c'), stale: fc.boolean() }), { maxLength: 30 }),
        async (ops) => {
          const model = new Map<string, { value: string; rev: number }>();
          const fresh = await open(dir);
          const base = await fresh.revision();
          const watched = collect(fresh, '/m/', base);
          let rev = base;
          for (const [i, o] of ops.entries()) {
            const cur = model.get(o.key);
            const expect = o.stale ? (cur?.rev ?? 0) + 1 : cur?.rev;
            const op = o.op === 'create' ? { op: 'create' as const, key: o.key, value: String(i) }
              : o.op === 'put' ? { op: 'put' as const, key: o.key, value: String(i), expectRevision: expect }
              : { op: 'delete' as const, key: o.key, expectRevision: expect };
            const shouldFail = (o.op === 'create' && cur) || (o.op === 'delete' && !cur) || (o.op !== 'create' && o.stale);
            try {
              const r = await fresh.txn([op]);
              if (shouldFail) return false;
              rev = r.revision;
              if (o.op === 'delete') model.delete(o.key);
              else model.set(o.key, { value: String(i), rev });
            } catch (e) {
              if (!(e instanceof TxnConflict) || !shouldFail) return false;
            }
          }
          const items = (await fresh.range('/m/')).items;
          const seen = revs(await watched.received(rev - base));
          await fresh.close();
          return items.length === model.size
            && items.every((kv) => model.get(kv.key)?.value === kv.value && model.get(kv.key)?.rev === kv.modRevision)
            && seen.every((r, i) => r === base + i + 1) && seen.length === rev - base;
        },
      ),
      // each run opens a store: sqlite's and etcd's cost more to open and to write than memory's
      { numRuns: name === 'memory' ? 200 : name === 'sqlite' ? 20 : 40, seed: 42 },
    );
  });
});

describe('sqlite group commit', () => {
  it('gives concurrent transactions the outcome of applying them one by one, in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-store-'));
    const op = fc.record({ op: fc.constantFrom('create', 'put', 'delete'), key: fc.constantFrom('/g/a', '/g/b'), expect: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }) });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(op, { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 25 }), async (txns) => {
        const sqlite = await openBackend(`sqlite://${join(dir, `g${run++}.db`)}?sync=normal`);
        const memory = await openBackend('memory:');
        const toOps = (t: typeof txns[number]) => {
          const seen = new Set<string>();
          return t.filter((o) => !seen.has(o.key) && seen.add(o.key)).map((o, i) => o.op === 'create' ? { op: 'create' as const, key: o.key, value: `v${i}` }
            : o.op === 'put' ? { op: 'put' as const, key: o.key, value: `p${i}`, expectRevision: o.expect }
            : { op: 'delete' as const, key: o.key, expectRevision: o.expect });
        };
        const concurrent = await Promise.allSettled(txns.map((t) => sqlite.txn(toOps(t))));
        const sequential: PromiseSettledResult<unknown>[] = [];
        for (const t of txns) sequential.push(await memory.txn(toOps(t)).then((v) => ({ status: 'fulfilled' as const, value: v }), (e) => ({ status: 'rejected' as const, reason: e })));
        const outcome = (r: PromiseSettledResult<unknown>) => (r.status === 'fulfilled' ? JSON.stringify(r.value) : `rejected ${(r.reason as Error).message}`);
        expect(concurrent.map(outcome)).toEqual(sequential.map(outcome));
        expect((await sqlite.range('/g/')).items).toEqual((await memory.range('/g/')).items);
        expect(await sqlite.revision()).toBe(await memory.revision());
        await sqlite.close();
      }),
      { numRuns: 60, seed: 11 },
    );
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('sqlite persistence', () => {
  it('keeps data and the revision across reopen, and refuses a second opener', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-store-'));
    const url = `sqlite://${join(dir, 'db.sqlite')}`;
    const a = await openBackend(url);
    await a.txn([{ op: 'create', key: '/k', value: 'v' }]);
    await a.txn([{ op: 'put', key: '/k', value: 'w' }]);
    await a.compact(2);
    await expect(openBackend(url)).rejects.toThrow(/in use by another process/);
    await a.close();
    const b = await openBackend(url);
    expect(await b.revision()).toBe(2);
    expect((await b.get('/k'))!.value).toBe('w');
    expect((await b.txn([{ op: 'put', key: '/k', value: 'x' }])).revision).toBe(3);
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses unknown options instead of ignoring them', async () => {
    await expect(openBackend('sqlite:///tmp/x.db?journal=off')).rejects.toThrow(/does not support option "journal"/);
    await expect(openBackend('memory:', { sync: 'full' })).rejects.toThrow(/does not support option "sync"/);
    await expect(openBackend('redis://localhost')).rejects.toThrow(/not supported here/);
  });
});
