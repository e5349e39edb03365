/**
 * snapshot() and load() of the SQLite backend.
 *
 * A snapshot reads through a second, read-only connection inside one read transaction: in WAL
 * mode that transaction sees the database as of its first read, whatever commits afterwards, so
 * a backup taken while the cloud runs is the store at one revision. Its first read happens before
 * snapshot() returns, in the same event-loop turn as reading the revision (commits are
 * synchronous on the main connection, so none can fall between them).
 */
import Database from 'better-sqlite3';
import type { ExportedKeyValue, KeyValue } from './backend.js';

const PAGE = 1000;
const SELECT = 'SELECT kv.key AS key, value, create_rev AS createRevision, mod_rev AS modRevision, version, lease_key.lease AS lease FROM kv LEFT JOIN lease_key ON lease_key.key = kv.key';

type Row = KeyValue & { lease: string | null };

function exported(row: Row): ExportedKeyValue {
  const { lease, ...kv } = row;
  return lease === null ? kv : { ...kv, lease };
}

/** Starts a consistent read of every key; `main` is used only for in-memory databases (read at once). */
export function snapshotReader(path: string, main: Database.Database): AsyncIterable<ExportedKeyValue> {
  if (path === ':memory:') {
    const rows = main.prepare<[], Row>(`${SELECT} ORDER BY kv.key`).all().map(exported);
    return (async function* () { yield* rows; })();
  }
  const db = new Database(path, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  const page = db.prepare<[string, number], Row>(`${SELECT} WHERE kv.key > ? ORDER BY kv.key LIMIT ?`);
  db.exec('BEGIN');
  let first: Row[];
  try {
    first = page.all('', PAGE);
  } catch (e) {
    db.close();
    throw e;
  }
  return (async function* () {
    try {
      let rows = first;
      while (rows.length > 0) {
        for (const row of rows) yield exported(row);
        if (rows.length < PAGE) break;
        rows = page.all(rows[rows.length - 1]!.key, PAGE);
      }
      db.exec('COMMIT');
    } finally {
      db.close();
    }
  })();
}

/** Writes loaded keys and the new revision in one transaction (the store is empty and quiet). */
export function writeLoad(main: Database.Database, kvs: KeyValue[], revision: number): void {
  const insert = main.prepare('INSERT INTO kv (key, value, create_rev, mod_rev, version) VALUES (?, ?, ?, ?, ?)');
  const meta = main.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value');
  main.transaction(() => {
    for (const kv of kvs) insert.run(kv.key, kv.value, kv.createRevision, kv.modRevision, kv.version);
    main.prepare('DELETE FROM log').run();
    // no history before the load: a watch from an earlier revision resyncs
    meta.run('compacted', revision);
    meta.run('revision', revision);
  })();
}
