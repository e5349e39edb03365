/**
 * Transaction semantics shared by the single-process backends: check every precondition, then
 * apply every operation at one new revision. Pure over a synchronous key/value accessor.
 */
import { TxnConflict, type KeyValue, type TxnOp, type TxnResult } from './backend.js';
import type { Change } from './watch-hub.js';

export interface SyncKV {
  get(key: string): KeyValue | undefined;
}

export interface PlannedTxn extends TxnResult {
  changes: Change[];
}

/** Validates `ops` against `kv` and returns what to write at `revision`; throws TxnConflict. */
export function planTxn(ops: readonly TxnOp[], kv: SyncKV, revision: number): PlannedTxn {
  const keys = new Set<string>();
  const current: (KeyValue | undefined)[] = [];
  for (const op of ops) {
    if (keys.has(op.key)) throw new Error(`a transaction may touch ${op.key} only once`);
    keys.add(op.key);
    const existing = kv.get(op.key);
    checkPrecondition(op, existing);
    current.push(existing);
  }
  const results: KeyValue[] = [];
  const changes: Change[] = [];
  ops.forEach((op, i) => {
    const prev = current[i];
    if (op.op === 'delete') {
      const kvDeleted: KeyValue = { ...prev!, modRevision: revision };
      results.push(kvDeleted);
      changes.push({ type: 'delete', kv: kvDeleted, prevModRevision: prev!.modRevision });
      return;
    }
    const written: KeyValue = {
      key: op.key,
      value: op.value,
      createRevision: prev?.createRevision ?? revision,
      modRevision: revision,
      version: (prev?.version ?? 0) + 1,
    };
    results.push(written);
    const change: Change = prev ? { type: 'put', kv: written, prevModRevision: prev.modRevision, prevValue: prev.value } : { type: 'put', kv: written };
    if (op.lease !== undefined) change.lease = op.lease;
    changes.push(change);
  });
  return { revision, results, changes };
}

function checkPrecondition(op: TxnOp, existing: KeyValue | undefined): void {
  switch (op.op) {
    case 'create':
      if (existing) throw new TxnConflict('exists', op.key, 0, existing.modRevision);
      return;
    case 'put':
      if (op.expectRevision === undefined) return;
      if ((existing?.modRevision ?? 0) !== op.expectRevision) {
        throw new TxnConflict('conflict', op.key, op.expectRevision, existing?.modRevision);
      }
      return;
    case 'delete':
      if (!existing) throw new TxnConflict('missing', op.key);
      if (op.expectRevision !== undefined && existing.modRevision !== op.expectRevision) {
        throw new TxnConflict('conflict', op.key, op.expectRevision, existing.modRevision);
      }
      return;
  }
}
