import { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackend, type Backend, type KeyValue, type WatchEvent } from './index.js';
import { BackupInvalid, TargetNotEmpty, backupOf, copyStore, restoreBackup, verifyBackup, DEFAULT_REVISION_BUMP } from './backup.js';
import { etcdMissing, startEtcd, type EtcdCluster } from '../../test/helpers/etcd.js';

/** Backups, restores and migrations of whole stores (the file format: backup.ts). */
const noEtcd = etcdMissing();
let etcd: EtcdCluster | undefined;
let prefixes = 0;
beforeAll(async () => {
  if (!noEtcd) etcd = await startEtcd({ members: 1 });
}, 60_000);
afterAll(async () => etcd?.stop());

/** Each backend, how to open a new empty store of it, and whether a load keeps the keys' revisions (etcd's are its own). */
const backends: [string, (dir: string, name: string) => Promise<Backend>, boolean][] = [
  ['memory', () => openBackend('memory:'), true],
  ['sqlite', (dir, name) => openBackend(`sqlite://${join(dir, `${name}.sqlite`)}?sync=normal`), true],
  ...(noEtcd ? [] : [['etcd', (_dir: string, name: string) => openBackend(`${etcd!.endpoints}/backup-test-${++prefixes}-${name}`), false] as [string, (dir: string, name: string) => Promise<Backend>, boolean]]),
];

const INFO = { createdAt: '2025-01-02T03:04:05.000Z', serverVersion: '1.2.3' };

/** Writes a backup of `store` into `file`; returns its header's revision. */
async function backupTo(store: Backend, file: string): Promise<number> {
  const { header, chunks } = await backupOf(store, INFO);
  let text = '';
  for await (const chunk of chunks) text += chunk;
  writeFileSync(file, text);
  return header.revision;
}

/** The type of the first event a watch of every key from `from` gets (etcd's come asynchronously). */
function firstEvent(store: Backend, from: number): Promise<WatchEvent['type']> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no event on a watch from ${from}`)), 5000);
    const watcher = store.watch('', from, (e) => {
      clearTimeout(timer);
      queueMicrotask(() => watcher.close());
      resolve(e.type);
    });
  });
}

/** A file whose checksum line is made right again for `lines` (header, keys; the end line is added). */
function sealed(lines: string[]): string {
  const body = lines.map((l) => `${l}\n`).join('');
  const sha256 = createHash('sha256').update(body).digest('hex');
  return `${body}${JSON.stringify({ end: true, keys: lines.length - 1, sha256 })}\n`;
}

describe.each(backends)('%s backups', (_name, open, keepsRevisions) => {
  let dir: string;
  let store: Backend;
  let file: string;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stratus-backup-'));
    store = await open(dir, 'source');
    file = join(dir, 'backup.ndjson');
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function withTarget<T>(name: string, use: (target: Backend) => Promise<T>): Promise<T> {
    const target = await open(dir, name);
    try {
      return await use(target);
    } finally {
      await target.close();
    }
  }

  it('holds every key at one revision but the leased ones, and restores them with their revisions', async () => {
    // more than one chunk of lines, keys written several times, a deleted one
    const created: number[] = [];
    for (let i = 0; i < 1500; i++) created.push((await store.txn([{ op: 'create', key: `/k/${String(i).padStart(4, '0')}`, value: JSON.stringify({ i, pad: 'x'.repeat(40) }) }])).revision);
    const changed = (await store.txn([{ op: 'put', key: '/k/0007', value: '"changed"' }, { op: 'delete', key: '/k/0008' }])).revision;
    const lease = await store.leaseGrant(30);
    const revision = (await store.txn([{ op: 'create', key: '/leader', value: 'me', lease: lease.id }])).revision;
    const { header, chunks } = await backupOf(store, INFO);
    // written after the snapshot: not in the backup
    await store.txn([{ op: 'create', key: '/k/after', value: '1' }, { op: 'put', key: '/k/0009', value: '"later"' }]);
    let text = '';
    for await (const chunk of chunks) text += chunk;
    writeFileSync(file, text);

    expect(header).toEqual({ format: 'stratus-backup', formatVersion: 1, revision, backend: store.name, ...INFO });
    const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toEqual(header);
    expect(lines.at(-1)).toEqual({ end: true, keys: 1499, sha256: createHash('sha256').update(text.slice(0, text.lastIndexOf('{"end"'))).digest('hex') });
    expect(lines.find((l) => l.key === '/k/0007')).toEqual({ key: '/k/0007', value: '"changed"', createRevision: created[7], modRevision: changed, version: 2 });
    expect(lines.some((l) => l.key === '/leader' || l.key === '/k/0008' || l.key === '/k/after')).toBe(false);
    expect(await verifyBackup(file)).toEqual({ header, keys: 1499 });

    const expected = (await store.range('/k/')).items.filter((kv) => kv.key !== '/k/after' && kv.key !== '/k/0009');
    const comparable = (kvs: KeyValue[]) => (keepsRevisions ? kvs : kvs.map((kv) => ({ key: kv.key, value: kv.value })));
    await withTarget('restored', async (target) => {
      const restored = await restoreBackup(file, target);
      expect(restored).toMatchObject({ revision, keys: 1499 });
      expect(restored.storeRevision).toBe(await target.revision());
      if (keepsRevisions) expect(restored.storeRevision).toBe(revision + DEFAULT_REVISION_BUMP);
      const got = (await target.range('')).items;
      expect(comparable(got.filter((kv) => kv.key !== '/k/0009'))).toEqual(comparable(expected));
      expect(got.find((kv) => kv.key === '/k/0009')?.value).toContain('"i":9');
      if (keepsRevisions) expect(got.find((kv) => kv.key === '/k/0009')?.modRevision).toBe(created[9]);
      expect(await target.get('/leader')).toBeUndefined();
      // no history before the restore: a watch from the backup's revision starts over
      expect(await firstEvent(target, revision)).toBe('resync');
      if (!keepsRevisions) return;
      // a watcher of the old cloud, from a revision it reached after the backup, starts over, even
      // once the restored store has had writes of its own
      for (let i = 0; i < 3; i++) await target.txn([{ op: 'put', key: '/new', value: String(i) }]);
      expect(await firstEvent(target, revision + 1)).toBe('resync');
    });
  });

  it.runIf(keepsRevisions)('restores at the backup revision itself with no bump', async () => {
    await store.txn([{ op: 'create', key: '/a', value: '1' }]);
    await backupTo(store, file);
    await withTarget('exact', async (target) => {
      expect(await restoreBackup(file, target, 0)).toEqual({ revision: 1, keys: 1, storeRevision: 1 });
      expect((await target.txn([{ op: 'put', key: '/a', value: '2' }])).revision).toBe(2);
    });
  });

  it('refuses a file that is not a whole, unaltered backup, writing nothing', async () => {
    for (let i = 0; i < 5; i++) await store.txn([{ op: 'create', key: `/k/${i}`, value: `"v${i}"` }]);
    await backupTo(store, file);
    const good = readFileSync(file, 'utf8');
    const lines = good.trimEnd().split('\n');
    const header = lines[0]!;
    const cases: [string, string | undefined, RegExp][] = [
      ['empty', '', /: it is empty$/],
      ['not json', 'hello\n', /: it is not a Stratus backup \(its first line is not a "stratus-backup" header\)$/],
      ['another format', '{"format":"tar"}\n', /: it is not a Stratus backup/],
      ['a later format version', `${header.replace('"formatVersion":1', '"formatVersion":2')}\n`, /: its format version 2 is not one this version of Stratus reads \(1\)$/],
      ['cut mid-line', good.slice(0, good.length - 30), /: it ends after 5 keys without its end line: the backup was cut short \(take it again\)$/],
      ['cut before its end line', `${lines.slice(0, -1).join('\n')}\n`, /: it ends after 5 keys without its end line/],
      ['cut inside the keys', `${lines.slice(0, 3).join('\n')}\n`, /: it ends after 2 keys without its end line/],
      ['a value edited', good.replace('v3', 'v9'), /: its checksum does not match its content \(sha256 [0-9a-f]{12}\.\.\., expected [0-9a-f]{12}\.\.\.\): it was altered or damaged$/],
      ['a key line dropped', [...lines.slice(0, 2), ...lines.slice(3)].join('\n'), /: its end line counts 5 keys but it holds 4: it was altered$/],
      ['more after the end', `${good}{"key":"/x","value":"1","createRevision":1,"modRevision":1,"version":1}\n`, /: there is more after its end line \(line 8\): it was altered$/],
      ['a bad end line', `${lines.slice(0, -1).join('\n')}\n{"end":true,"keys":5}\n`, /: line 7 is not a valid end line/],
      ['a line that is no key', sealed([header, '{"nope":1}']), /: line 2 is not a key/],
      ['a key after the backup revision', sealed([header, `{"key":"/x","value":"1","createRevision":1,"modRevision":${(JSON.parse(header) as { revision: number }).revision + 1},"version":1}`]), /: line 2 \(key \/x\) has revisions that do not fit/],
      ['a key twice', sealed([header, lines[1]!, lines[1]!]), /: line 3 holds key \/k\/0 a second time$/],
      ['no such file', undefined, /: no such file$/],
    ];
    for (const [what, content, message] of cases) {
      const bad = join(dir, `bad-${what.replaceAll(' ', '-')}`);
      if (content !== undefined) writeFileSync(bad, content);
      await expect(verifyBackup(bad), what).rejects.toThrow(message);
      await withTarget(`target-${what.replaceAll(' ', '-')}`, async (target) => {
        const refused = await restoreBackup(bad, target).catch((e: Error) => e);
        expect(refused, what).toBeInstanceOf(BackupInvalid);
        expect((refused as Error).message, what).toMatch(message);
        expect((refused as Error).message.startsWith(`${bad}: `), what).toBe(true);
        expect(await target.count(''), what).toBe(0);
        if (keepsRevisions) expect(await target.revision(), what).toBe(0);
      });
    }
    mkdirSync(join(dir, 'a-dir'));
    await expect(verifyBackup(join(dir, 'a-dir'))).rejects.toThrow(/a-dir is a directory, not a backup file$/);
  });

  it('restores only into an empty store, and leaves a store with keys as it was', async () => {
    await store.txn([{ op: 'create', key: '/a', value: '1' }]);
    await backupTo(store, file);
    await withTarget('busy', async (target) => {
      await target.txn([{ op: 'create', key: '/mine', value: 'x' }, { op: 'create', key: '/mine2', value: 'y' }]);
      const refused = await restoreBackup(file, target).catch((e: Error) => e);
      expect(refused).toBeInstanceOf(TargetNotEmpty);
      expect((refused as Error).message).toBe('it holds 2 keys (/mine, ...): restore only into an empty store');
      const before = await target.revision();
      expect((await target.range('')).items.map((kv) => [kv.key, kv.value])).toEqual([['/mine', 'x'], ['/mine2', 'y']]);
      expect(await target.revision()).toBe(before);
    });
  });

  it('copies one store into another (migration): every key but the leased ones, revisions kept', async () => {
    await store.txn([{ op: 'create', key: '/a', value: '1' }]);
    await store.txn([{ op: 'put', key: '/a', value: '2' }, { op: 'create', key: '/b', value: '3' }]);
    const lease = await store.leaseGrant(30);
    const revision = (await store.txn([{ op: 'create', key: '/hb', value: 'alive', lease: lease.id }])).revision;
    await withTarget('copy', async (target) => {
      const copied = await copyStore(store, target);
      expect(copied).toMatchObject({ revision, keys: 2 });
      if (keepsRevisions) expect(copied.storeRevision).toBe(3 + DEFAULT_REVISION_BUMP);
      const kvs = (await store.range('')).items.filter((kv) => kv.key !== '/hb');
      const got = (await target.range('')).items;
      expect(keepsRevisions ? got : got.map((kv) => [kv.key, kv.value])).toEqual(keepsRevisions ? kvs : kvs.map((kv) => [kv.key, kv.value]));
      await expect(copyStore(store, target)).rejects.toBeInstanceOf(TargetNotEmpty);
    });
  });
});
