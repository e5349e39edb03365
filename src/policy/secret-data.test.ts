import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackend, type Backend } from '../store/index.js';
import { Repository } from '../store/repository.js';
import { secretKind } from '../model/kinds/index.js';
import { SecretBox } from './secret-box.js';
import { SecretData } from './secret-data.js';
import { secretDataKeys } from '../model/keyspace.js';

const PLAIN = 'plaintext-canary-7f3a9c';
const values = (v: string) => new Map([['password', Buffer.from(v)], ['user', Buffer.from('app')]]);

describe('SecretData', () => {
  let dir: string;
  let backend: Backend;
  let repo: Repository;
  let data: SecretData;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'secret-data-'));
    backend = await openBackend(`sqlite://${join(dir, 'stratus.db')}?sync=normal`);
    repo = new Repository(backend);
    data = new SecretData(repo, await SecretBox.open(join(dir, 'secret-keys.json')));
  });
  afterEach(async () => {
    data.stopJanitor();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const create = (name: string, v: string) => repo.create(secretKind, { metadata: { name, project: 'p' }, spec: { keys: { password: 1, user: 1 } } }, { extraOps: [data.putOp('p', name, values(v))] });

  it('stores sealed values only: the SQLite files never hold the plaintext', async () => {
    await create('db', PLAIN);
    expect((await data.read('p', 'db')).get('password')!.toString()).toBe(PLAIN);
    expect([...(await data.read('p', 'db', ['user'])).keys()]).toEqual(['user']);
    await backend.close();
    const files = readdirSync(dir).filter((f) => f.startsWith('stratus.db'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(readFileSync(join(dir, f)).includes(Buffer.from(PLAIN)), f).toBe(false);
    backend = await openBackend(`sqlite://${join(dir, 'stratus.db')}?sync=normal`);
  });

  it('seals every record again with a new key, after which the old key can go', async () => {
    await create('a', 'one');
    await create('b', 'two');
    const old = data.box.activeKeyId;
    const fresh = await data.box.rotate();
    expect([...(await data.keyUsage()).keys()]).toEqual([old]);
    expect(await data.reseal()).toBe(2);
    expect([...(await data.keyUsage())]).toEqual([[fresh, 4]]);
    await data.box.retire();
    expect((await data.read('p', 'b')).get('password')!.toString()).toBe('two');
    expect(await data.reseal()).toBe(0);
  });

  it('answers a readable error, not a 500, for a value whose key is gone', async () => {
    await create('db', PLAIN);
    await data.box.rotate();
    await data.box.retire();
    await expect(data.read('p', 'db')).rejects.toMatchObject({ code: 'STRATUS_ERR_UNAVAILABLE', message: expect.stringMatching(/^secret "db" in project "p", key "password": sealed with key "k-[0-9a-f]+", which the server's key file does not have/) });
  });

  it('sweeps records whose secret is gone, and only those', async () => {
    await create('kept', 'x');
    await create('gone', 'y');
    await repo.delete(secretKind, 'gone', 'p');
    await data.startJanitor((e) => { throw e; });
    const keys = (await backend.range(secretDataKeys.prefix)).items.map((kv) => kv.key);
    expect(keys).toEqual([`${secretDataKeys.prefix}p/kept`]);
    // While it runs, a deletion by any path takes its record with it.
    await repo.delete(secretKind, 'kept', 'p');
    for (let i = 0; i < 50 && (await backend.range(secretDataKeys.prefix)).items.length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await backend.range(secretDataKeys.prefix)).items).toEqual([]);
  });
});
