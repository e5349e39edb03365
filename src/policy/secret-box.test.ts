import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretBox, SecretKeyError, SECRET_KEY_FILE } from './secret-box.js';

const PLAIN = Buffer.from('hunter2 correct horse', 'utf8');

describe('SecretBox', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'secret-box-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('opens what it sealed, in the same context, and the sealed form holds no plaintext', () => {
    const box = SecretBox.ephemeral();
    const sealed = box.seal(PLAIN, 'p/db/password');
    expect(box.open(sealed, 'p/db/password').equals(PLAIN)).toBe(true);
    expect(JSON.stringify(sealed)).not.toContain('hunter2');
    expect(Buffer.from(sealed.c, 'base64').includes(PLAIN)).toBe(false);
    expect(sealed.k).toBe(box.activeKeyId);
  });

  it('uses a new nonce for every value: the same value seals differently', () => {
    const box = SecretBox.ephemeral();
    const a = box.seal(PLAIN, 'ctx');
    const b = box.seal(PLAIN, 'ctx');
    expect(a.n).not.toBe(b.n);
    expect(a.c).not.toBe(b.c);
  });

  it('refuses another key, another context and altered ciphertext, without quoting the value', () => {
    const box = SecretBox.ephemeral();
    const sealed = box.seal(PLAIN, 'p/db/password');
    const other = SecretBox.ephemeral();
    expect(() => other.open(sealed, 'p/db/password')).toThrow(SecretKeyError);
    // The same key id in another key file (a restored, wrong file): authentication fails.
    expect(() => other.open({ ...sealed, k: other.activeKeyId }, 'p/db/password')).toThrow(/does not authenticate/);
    expect(() => box.open(sealed, 'p/db/user')).toThrow(/does not authenticate/);
    const body = Buffer.from(sealed.c, 'base64');
    body[0] = body[0]! ^ 1;
    expect(() => box.open({ ...sealed, c: body.toString('base64') }, 'p/db/password')).toThrow(SecretKeyError);
    try {
      box.open(sealed, 'p/db/user');
    } catch (e) {
      expect((e as Error).message).not.toContain('hunter2');
    }
  });

  it('creates its key file on first open, mode 0600, and reads it back', async () => {
    const file = join(dir, SECRET_KEY_FILE);
    const box = await SecretBox.open(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const sealed = box.seal(PLAIN, 'ctx');
    const again = await SecretBox.open(file);
    expect(again.activeKeyId).toBe(box.activeKeyId);
    expect(again.open(sealed, 'ctx').equals(PLAIN)).toBe(true);
  });

  it('makes a key file others can read private, and says so', async () => {
    const file = join(dir, SECRET_KEY_FILE);
    await SecretBox.open(file);
    chmodSync(file, 0o644);
    const warnings: string[] = [];
    await SecretBox.open(file, (m) => warnings.push(m));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(warnings.join()).toMatch(/readable by others/);
  });

  it('refuses a damaged key file with a readable error', async () => {
    const file = join(dir, SECRET_KEY_FILE);
    writeFileSync(file, '{"version":1,"active":"k-1","keys":{"k-1":"c2hvcnQ="}}', { mode: 0o600 });
    await expect(SecretBox.open(file)).rejects.toThrow(/not a Stratus secret key file/);
    writeFileSync(file, 'not json');
    await expect(SecretBox.open(file)).rejects.toThrow(/not valid JSON/);
  });

  it('rotates: the new key is saved and active, old values still open until the old key is retired', async () => {
    const file = join(dir, SECRET_KEY_FILE);
    const box = await SecretBox.open(file);
    const old = box.seal(PLAIN, 'ctx');
    const id = await box.rotate();
    expect(box.activeKeyId).toBe(id);
    expect(box.seal(PLAIN, 'ctx').k).toBe(id);
    expect(box.open(old, 'ctx').equals(PLAIN)).toBe(true);
    const onDisk = JSON.parse(readFileSync(file, 'utf8')) as { active: string; keys: Record<string, string> };
    expect(onDisk.active).toBe(id);
    expect(Object.keys(onDisk.keys).sort()).toEqual([old.k, id].sort());
    expect(await box.retire()).toEqual([old.k]);
    expect(() => box.open(old, 'ctx')).toThrow(/key file does not have/);
    expect((await SecretBox.open(file)).keyIds()).toEqual([id]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('keeps a key that is still in use when retiring', async () => {
    const box = await SecretBox.open(join(dir, SECRET_KEY_FILE));
    const first = box.activeKeyId;
    await box.rotate();
    expect(await box.retire(new Set([first]))).toEqual([]);
    expect(box.keyIds()).toContain(first);
  });
});
