import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackend, TxnConflict, type Backend, type WatchEvent } from './index.js';

const backends: [string, (dir: string) => Promise<Backend>][] = [
  ['memory', () => openBackend('memory:')],
  ['sqlite', (dir) => openBackend(`sqlite://${join(dir, 'db.sqlite')}?sync=normal`)],
];

describe.each(backends)('%s backend', (_name, open) => {
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

  it('creates, reads and counts by prefix', async () => {
    const r1 = await store.txn([{ op: 'create', key: '/a/1', value: 'one' }]);
    const r2 = await store.txn([{ op: 'create', key: '/a/2', value: 'two' }, { op: 'create', key: '/b/1', value: 'x' }]);
    expect(r1.revision).toBe(1);
    expect(r2.revision).toBe(2);
    expect(await store.get('/a/1')).toEqual({ key: '/a/1', value: 'one', createRevision: 1, modRevision: 1, version: 1 });
    expect(await store.count('/a/')).toBe(2);
    expect((await store.range('/a/')).items.map((kv) => kv.key)).toEqual(['/a/1', '/a/2']);
    expect(await store.revision()).toBe(2);
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
    const { revision } = await store.txn([{ op: 'create', key: '/k', value: 'v1' }]);
    await store.txn([{ op: 'put', key: '/k', value: 'v2', expectRevision: revision }]);
    await expect(store.txn([{ op: 'put', key: '/k', value: 'v3', expectRevision: revision }])).rejects.toBeInstanceOf(TxnConflict);
    await expect(store.txn([{ op: 'create', key: '/other', value: 'x' }, { op: 'create', key: '/k', value: 'dup' }])).rejects.toMatchObject({ failure: 'exists' });
    expect(await store.get('/other')).toBeUndefined();
    expect((await store.get('/k'))!.value).toBe('v2');
    expect((await store.get('/k'))!.version).toBe(2);
    await expect(store.txn([{ op: 'delete', key: '/missing' }])).rejects.toMatchObject({ failure: 'missing' });
    expect(await store.revision()).toBe(2);
  });

  it('watches from a revision: history first, then live, in order, filtered by prefix', async () => {
    await store.txn([{ op: 'create', key: '/w/a', value: '1' }]);
    const { revision } = await store.txn([{ op: 'create', key: '/x/a', value: 'other' }]);
    await store.txn([{ op: 'put', key: '/w/a', value: '2' }]);
    const events: WatchEvent[] = [];
    const watcher = store.watch('/w/', 0, (e) => events.push(e));
    await store.txn([{ op: 'delete', key: '/w/a' }]);
    await store.txn([{ op: 'create', key: '/x/b', value: 'ignored' }]);
    watcher.close();
    await store.txn([{ op: 'create', key: '/w/late', value: 'after close' }]);
    expect(events.map((e) => [e.type, e.type === 'resync' ? 0 : e.kv.modRevision])).toEqual([['put', 1], ['put', 3], ['delete', 4]]);
    const fromMiddle: WatchEvent[] = [];
    store.watch('/w/', revision, (e) => fromMiddle.push(e)).close();
    expect(fromMiddle.map((e) => (e.type === 'resync' ? 0 : e.kv.modRevision))).toEqual([3, 4, 6]);
  });

  it('carries the previous value of a put, live and from history', async () => {
    await store.txn([{ op: 'create', key: '/v/a', value: 'old' }]);
    const live: WatchEvent[] = [];
    store.watch('/v/', await store.revision(), (e) => live.push(e));
    await store.txn([{ op: 'put', key: '/v/a', value: 'new' }]);
    const history: WatchEvent[] = [];
    store.watch('/v/', 0, (e) => history.push(e)).close();
    for (const events of [live, history]) {
      const put = events.find((e) => e.type === 'put' && e.kv.value === 'new');
      expect(put).toMatchObject({ prevModRevision: 1, prevValue: 'old' });
    }
  });

  it('sends resync to a watcher that starts below the compacted revision', async () => {
    for (let i = 0; i < 5; i++) await store.txn([{ op: 'put', key: '/c', value: String(i) }]);
    expect(await store.compact(3)).toBe(3);
    const events: WatchEvent[] = [];
    store.watch('/c', 1, (e) => events.push(e));
    expect(events).toHaveLength(1);
    expect(events[0]!.type).toBe('resync');
    const ok: WatchEvent[] = [];
    store.watch('/c', 3, (e) => ok.push(e)).close();
    expect(ok.map((e) => (e.type === 'resync' ? -1 : e.kv.value))).toEqual(['3', '4']);
  });

  it('matches a model of the store under random transactions', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ op: fc.constantFrom('create', 'put', 'delete'), key: fc.constantFrom('/m/a', '/m/b', '/m/c'), stale: fc.boolean() }), { maxLength: 30 }),
        async (ops) => {
          const model = new Map<string, { value: string; rev: number }>();
          const fresh = await openBackend('memory:');
          const events: WatchEvent[] = [];
          fresh.watch('/m/', 0, (e) => events.push(e));
          let rev = 0;
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
          const revs = events.map((e) => (e.type === 'resync' ? -1 : e.kv.modRevision));
          return items.length === model.size
            && items.every((kv) => model.get(kv.key)?.value === kv.value && model.get(kv.key)?.rev === kv.modRevision)
            && revs.every((r, i) => r === i + 1) && revs.length === rev;
        },
      ),
      { numRuns: 200, seed: 42 },
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
