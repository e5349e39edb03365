/**
 * Servers sharing a store (several servers on etcd) must seal and open secret values with the same
 * keys: each reads its own key file (policy/secret-box.ts), so a server started with another file
 * would seal values the others cannot open. The store records which key is active and each key's
 * fingerprint (never a key); a server whose file disagrees refuses to start and says what to copy.
 *
 *   start: record absent ─▶ write ours          record present ─▶ our file has its active key,
 *                                                                  with the same fingerprint? ─▶ start
 *                                                                  else ─▶ refuse, naming the file
 *   rotation (one server) ─▶ record rewritten with the new active key
 */
import { TxnConflict } from '../store/backend.js';
import type { Repository } from '../store/repository.js';
import { secretKeysKey } from '../model/keyspace.js';
import type { SecretBox } from './secret-box.js';

interface SharedKeys {
  active: string;
  fingerprints: Record<string, string>;
}

/** Thrown at start when this server's key file is not the one the store's secrets are sealed with. */
export class SecretKeysMismatch extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretKeysMismatch';
  }
}

/** Checks this server's key file against the store's record (writing the record on a first start). */
export async function checkSharedSecretKeys(repo: Repository, box: SecretBox): Promise<void> {
  for (;;) {
    const kv = await repo.records.get(secretKeysKey);
    if (!kv) {
      try {
        await repo.records.txn([{ op: 'create', key: secretKeysKey, value: JSON.stringify(ours(box)) }]);
        return;
      } catch (e) {
        if (e instanceof TxnConflict) continue; // another server wrote it first: check against theirs
        throw e;
      }
    }
    const shared = JSON.parse(kv.value) as SharedKeys;
    const mine = box.fingerprints();
    const where = box.file || 'the server\'s secret key file';
    if (mine[shared.active] === undefined) {
      throw new SecretKeysMismatch(`the store's secret values are sealed with key "${shared.active}", which ${where} does not have (it has ${box.keyIds().join(', ')}): servers sharing a store need the same key file; copy it from a running server of this cloud (docs/ha.md)`);
    }
    if (mine[shared.active] !== shared.fingerprints[shared.active]) {
      throw new SecretKeysMismatch(`${where} has a key "${shared.active}" that is not the store's key of that id: copy the key file from a running server of this cloud (docs/ha.md)`);
    }
    if (box.activeKeyId !== shared.active) {
      throw new SecretKeysMismatch(`${where} seals with key "${box.activeKeyId}", the store's servers with "${shared.active}": copy the key file from a running server of this cloud (docs/ha.md)`);
    }
    return;
  }
}

/** After a rotation on this server: the store's record names the new active key. */
export async function recordSharedSecretKeys(repo: Repository, box: SecretBox): Promise<void> {
  await repo.records.txn([{ op: 'put', key: secretKeysKey, value: JSON.stringify(ours(box)) }]);
}

function ours(box: SecretBox): SharedKeys {
  return { active: box.activeKeyId, fingerprints: box.fingerprints() };
}
