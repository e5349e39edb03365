import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackend, TxnConflict, type Backend, type ExportedKeyValue, type WatchEvent } from './index.js';

/** snapshot() and load(): what backups, restores and migrations stand on. */
const backends: [string, (dir: string, name: string) => Promise<Backend>][] = [
  ['memory', () => openBackend('memory:')],
  ['sqlite', (dir, name) => openBackend(`sqlite://${join(dir, `${name}.sqlite`)}?sync=normal`)],
];

async function all(items: AsyncIterable<ExportedKeyValue>): Promise<ExportedKeyValue[]> {
  const out: ExportedKeyValue[] = [];
  for await (const kv of items) out.push(kv);
  return out;
}

describe.each(backends)('%s snapshot and load', (_name, open) => {
  let dir: string;
  let store: Backend;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stratus-dump-'));
    store = await open(dir, 'a');
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads every key at one revision while writes go on', async () => {
    for (let i = 0; i < 2500; i++) await store.txn([{ op: 'create', key: `/k/${String(i).padStart(5, '0')}`, value: `v${i}` }]);
    const before = (await store.range('')).items;
    const snap = await store.snapshot();
    expect(snap.revision).toBe(await store.revision());
    // after the snapshot: a change, a delete, a new key (beyond the first page of a paged read)
    await store.txn([{ op: 'put', key: '/k/02000', value: 'changed' }, { op: 'delete', key: '/k/01500' }, { op: 'create', key: '/k/99999', value: 'new' }]);
    const items = await all(snap.items);
    expect(items).toEqual(before);
  });

  it('marks keys bound to a lease', async () => {
    const lease = await store.leaseGrant(30);
    await store.txn([{ op: 'create', key: '/leased', value: 'x', lease: lease.id }, { op: 'create', key: '/plain', value: 'y' }]);
    const items = await all((await store.snapshot()).items);
    expect(items.map((kv) => [kv.key, kv.lease])).toEqual([['/leased', lease.id], ['/plain', undefined]]);
  });

  it('loads into an empty store: same keys and revisions, no history before it', async () => {
    await store.txn([{ op: 'create', key: '/a', value: '1' }]);
    await store.txn([{ op: 'create', key: '/b', value: '2' }, { op: 'put', key: '/a', value: '1b' }]);
    const snap = await store.snapshot();
    const target = await open(dir, 'b');
    try {
      const rev = await target.load(snap.items, snap.revision);
      expect(rev).toBe(snap.revision);
      expect(await target.revision()).toBe(snap.revision);
      expect((await target.range('')).items).toEqual((await store.range('')).items);
      // a watch from before the load cannot be served: resync, never silence
      const events: WatchEvent[] = [];
      target.watch('', 1, (e) => events.push(e)).close();
      expect(events.map((e) => e.type)).toEqual(['resync']);
      // and writes go on from the loaded revision
      expect((await target.txn([{ op: 'create', key: '/c', value: '3' }])).revision).toBe(snap.revision + 1);
    } finally {
      await target.close();
    }
  });

  it('refuses to load into a store that holds keys, and a key given twice, writing nothing', async () => {
    await store.txn([{ op: 'create', key: '/x', value: '1' }]);
    const items = async function* () { yield { key: '/y', value: '2' }; };
    await expect(store.load(items(), 10)).rejects.toBeInstanceOf(TxnConflict);
    expect((await store.range('')).items.map((kv) => kv.key)).toEqual(['/x']);
    const target = await open(dir, 'c');
    try {
      const twice = async function* () { yield { key: '/y', value: '1' }; yield { key: '/y', value: '2' }; };
      await expect(target.load(twice(), 5)).rejects.toThrow(/exists on \/y/);
      expect(await target.count('')).toBe(0);
    } finally {
      await target.close();
    }
  });

  it('reports itself as one healthy member', async () => {
    await store.txn([{ op: 'create', key: '/a', value: '1' }]);
    const status = await store.status();
    expect(status.revision).toBe(1);
    expect(status.members).toHaveLength(1);
    expect(status.members[0]!.healthy).toBe(true);
  });
});
