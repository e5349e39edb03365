import { describe, it, expect } from 'vitest';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBackend } from '../store/memory.js';
import { Repository } from '../store/repository.js';
import { FakeClock } from '../model/runtime.js';
import { SecretBox } from './secret-box.js';
import { checkSharedSecretKeys, recordSharedSecretKeys, SecretKeysMismatch } from './secret-keys-shared.js';

describe('servers sharing a store share the secret key file', () => {
  it('the first server records its keys; a server with another file refuses to start, one with a copy starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-keys-'));
    try {
      const repo = new Repository(new MemoryBackend(), new FakeClock());
      const first = await SecretBox.open(join(dir, 'a.json'));
      await checkSharedSecretKeys(repo, first);
      const other = await SecretBox.open(join(dir, 'b.json'));
      await expect(checkSharedSecretKeys(repo, other)).rejects.toThrow(SecretKeysMismatch);
      await expect(checkSharedSecretKeys(repo, other)).rejects.toThrow(new RegExp(`sealed with key "${first.activeKeyId}", which .*b\\.json does not have`));
      copyFileSync(join(dir, 'a.json'), join(dir, 'c.json'));
      await expect(checkSharedSecretKeys(repo, await SecretBox.open(join(dir, 'c.json')))).resolves.toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a key of the same id but other bytes is refused; after a rotation the record names the new key', async () => {
    const repo = new Repository(new MemoryBackend(), new FakeClock());
    const box = SecretBox.ephemeral();
    await checkSharedSecretKeys(repo, box);
    await box.rotate();
    // not recorded yet: this server's file now seals with a key the record does not name
    await expect(checkSharedSecretKeys(repo, box)).rejects.toThrow(/seals with key/);
    await recordSharedSecretKeys(repo, box);
    await expect(checkSharedSecretKeys(repo, box)).resolves.toBeUndefined();
    const forged = SecretBox.ephemeral();
    (forged as unknown as { activeId: string; keys: Map<string, Buffer> }).keys = new Map([[box.activeKeyId, Buffer.alloc(32, 7)]]);
    (forged as unknown as { activeId: string }).activeId = box.activeKeyId;
    await expect(checkSharedSecretKeys(repo, forged)).rejects.toThrow(/not the store's key of that id/);
  });
});
