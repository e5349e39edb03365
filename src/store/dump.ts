/**
 * What the single-process backends (memory, sqlite) share for snapshot() and load(): the checks a
 * load makes before it writes anything, and the revisions it gives each key.
 */
import { TxnConflict, type KeyValue, type LoadItem } from './backend.js';

/** Reads every item of a load into memory, refusing a key given twice; nothing is written yet. */
export async function collectLoad(items: AsyncIterable<LoadItem>, revision: number): Promise<{ kvs: KeyValue[]; revision: number }> {
  if (!Number.isInteger(revision) || revision < 0) throw new Error(`a load's revision is a whole number ≥ 0, not ${revision}`);
  const seen = new Set<string>();
  const kvs: KeyValue[] = [];
  let top = revision;
  for await (const item of items) {
    if (seen.has(item.key)) throw new TxnConflict('exists', item.key);
    seen.add(item.key);
    const modRevision = item.modRevision ?? revision;
    const createRevision = item.createRevision ?? modRevision;
    if (createRevision > modRevision) throw new Error(`${item.key}: createRevision ${createRevision} is after modRevision ${modRevision}`);
    top = Math.max(top, modRevision);
    kvs.push({ key: item.key, value: item.value, createRevision, modRevision, version: item.version ?? 1 });
  }
  kvs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { kvs, revision: top };
}

/** The items of a snapshot as an async iterable (single-process stores read them at once). */
export async function* iterate<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}
