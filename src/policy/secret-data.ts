/**
 * Where secret values live: one sealed record per secret, beside (not inside) the secret object,
 *
 *   /registry/secrets/<project>/<name>       the object: key names and versions (what reads show)
 *   /internal/secret-data/<project>/<name>   {"values": {"<key>": {"k": keyId, "n": nonce, "c": ciphertext}}}
 *
 * written in the same transaction as the object, so lists, watches and every generic read of
 * secrets carry no value, sealed or not. Each value is bound to "<project>/<name>/<key>".
 * A record whose object is gone (a project's cascade delete, a stack's) is swept by the janitor,
 * at start and after each secret deletion.
 */
import type { TxnOp, Watcher } from '../store/backend.js';
import type { Records } from '../store/records.js';
import { TxnConflict } from '../store/backend.js';
import type { Repository } from '../store/repository.js';
import { secretKind } from '../model/kinds/index.js';
import { SecretKeyError, type SealedValue, type SecretBox } from './secret-box.js';
import { StratusError } from '../model/errors.js';
import { secretDataKeys, type Key } from '../model/keyspace.js';
import type { Component } from '../runtime/component.js';

interface SealedRecord {
  values: Record<string, SealedValue>;
}

export class SecretData {
  private watcher: Watcher | undefined;
  private janitor = false;

  constructor(private readonly repo: Repository, readonly box: SecretBox) {}

  private get records(): Records {
    return this.repo.records;
  }

  key(project: string, name: string): Key {
    return secretDataKeys.key(project, name);
  }

  /** The values of a secret (only `keys`, when given), opened. An absent record has none. */
  async read(project: string, name: string, keys?: readonly string[]): Promise<Map<string, Buffer>> {
    const kv = await this.records.get(this.key(project, name));
    const out = new Map<string, Buffer>();
    if (!kv) return out;
    const rec = JSON.parse(kv.value) as SealedRecord;
    for (const [k, sealed] of Object.entries(rec.values)) {
      if (keys && !keys.includes(k)) continue;
      try {
        out.set(k, this.box.open(sealed, `${project}/${name}/${k}`));
      } catch (e) {
        if (!(e instanceof SecretKeyError)) throw e;
        throw new StratusError('STRATUS_ERR_UNAVAILABLE', `secret "${name}" in project "${project}", key "${k}": ${e.message}; or delete the secret and create it again`);
      }
    }
    return out;
  }

  /** The operation that stores `values` (sealed with the active key) for the secret. */
  putOp(project: string, name: string, values: ReadonlyMap<string, Buffer>): TxnOp {
    const sealed: Record<string, SealedValue> = {};
    for (const [k, v] of values) sealed[k] = this.box.seal(v, `${project}/${name}/${k}`);
    return { op: 'put', key: this.key(project, name), value: JSON.stringify({ values: sealed } satisfies SealedRecord) };
  }

  /** Deletes the record if there is one (an object without values has none). */
  async deleteOps(project: string, name: string): Promise<TxnOp[]> {
    const kv = await this.records.get(this.key(project, name));
    return kv ? [{ op: 'delete', key: kv.key, expectRevision: kv.modRevision }] : [];
  }

  /** Key ids that seal at least one value, with how many values each. */
  async keyUsage(): Promise<Map<string, number>> {
    const usage = new Map<string, number>();
    await this.each(async (_key, rec) => {
      for (const s of Object.values(rec.values)) usage.set(s.k, (usage.get(s.k) ?? 0) + 1);
    });
    return usage;
  }

  /**
   * Seals again, with the active key, every record that has a value sealed with another key.
   * A record written meanwhile is read again (it may already use the active key). Returns how
   * many records were rewritten.
   */
  async reseal(): Promise<number> {
    let count = 0;
    await this.each(async (key) => {
      const { project, name } = secretDataKeys.parse(key);
      for (let attempt = 0; attempt < 8; attempt++) {
        const kv = await this.records.get(this.key(project, name));
        if (!kv) return;
        const rec = JSON.parse(kv.value) as SealedRecord;
        if (Object.values(rec.values).every((s) => s.k === this.box.activeKeyId)) return;
        const values = await this.read(project, name);
        try {
          await this.records.txn([{ ...this.putOp(project, name, values), expectRevision: kv.modRevision } as TxnOp]);
          count++;
          return;
        } catch (e) {
          if (!(e instanceof TxnConflict)) throw e;
        }
      }
      throw new Error(`the secret record ${key} kept changing while it was being sealed again; run the rotation again`);
    });
    return count;
  }

  /** Deletes every record whose secret object no longer exists; returns how many. */
  async sweep(): Promise<number> {
    let count = 0;
    await this.each(async (key) => {
      const { project, name } = secretDataKeys.parse(key);
      if (await this.sweepOne(project, name)) count++;
    });
    return count;
  }

  /**
   * Deletes the record of a secret whose object is gone. Safe against a concurrent create: that
   * rewrites the record, so the delete (at the revision read) is refused.
   */
  async sweepOne(project: string, name: string): Promise<boolean> {
    const kv = await this.records.get(this.key(project, name));
    if (!kv || (await this.repo.find(secretKind, name, project))) return false;
    try {
      await this.records.txn([{ op: 'delete', key: kv.key, expectRevision: kv.modRevision }]);
      return true;
    } catch (e) {
      if (e instanceof TxnConflict) return false;
      throw e;
    }
  }

  /** Sweeps now, and each record whose secret is deleted (by any path), until stopJanitor(). */
  async startJanitor(onError: (e: Error) => void): Promise<void> {
    this.janitor = true;
    const revision = await this.repo.revision();
    await this.sweep();
    if (!this.janitor) return;
    this.watcher = this.repo.watch(secretKind, undefined, revision, (e) => {
      if (e.type === 'delete') void this.sweepOne(e.object.metadata.project!, e.object.metadata.name).catch(onError);
      // Fell behind: the watch is over; start again from a full sweep.
      else if (e.type === 'resync' && this.janitor) void this.startJanitor(onError).catch(onError);
    });
  }

  stopJanitor(): void {
    this.janitor = false;
    this.watcher?.close();
    this.watcher = undefined;
  }

  private async each(fn: (key: string, rec: SealedRecord) => Promise<void>): Promise<void> {
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.records.range(secretDataKeys.prefix, { startAfter, limit: 500 });
      for (const kv of page.items) await fn(kv.key, JSON.parse(kv.value) as SealedRecord);
      if (!page.more) return;
      startAfter = page.items.at(-1)!.key;
    }
  }
}

/** The janitor as a server component. */
export function secretJanitor(data: SecretData): Component {
  return {
    name: 'secret-janitor',
    start: async () => {
      await data.startJanitor((e) => console.error(`secret-janitor: ${e.message}`));
      const unknown = [...(await data.keyUsage())].filter(([id]) => !data.box.keyIds().includes(id));
      for (const [id, n] of unknown) console.error(`warning: ${n} secret values are sealed with key "${id}", which is not in ${data.box.file}; restore the key file that has it (docs/operations.md)`);
    },
    stop: async () => data.stopJanitor(),
  };
}
