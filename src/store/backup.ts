/**
 * Backups of a whole store: the file format, writing one from a snapshot, reading and verifying
 * one, loading one into an empty store, and copying a store into another (migration).
 *
 * The format is JSON lines (UTF-8, every line ended by "\n"):
 *
 *   {"format":"stratus-backup","formatVersion":1,"revision":R,"backend":"sqlite","createdAt":"...","serverVersion":"..."}
 *   {"key":"/registry/...","value":"...","createRevision":3,"modRevision":9,"version":2}     one line per key
 *   {"end":true,"keys":N,"sha256":"<hex>"}       N key lines; SHA-256 of every byte before this line
 *
 * Keys bound to a lease are left out: they belong to live holders (the leader key, heartbeats,
 * server registrations), and restored unbound they would never go away.
 *
 * A file is refused, before anything is written, when its header or end line is missing or
 * wrong, when a line is not a key, or when its checksum or key count differs from its content
 * (truncated, edited): `BackupInvalid`, with one line that says what is wrong.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Backend, LoadItem } from './backend.js';

export const BACKUP_FORMAT = 'stratus-backup';
export const BACKUP_FORMAT_VERSION = 1;

/**
 * How far a restore moves the store's revision past the backup's: every watch a client kept from
 * the old cloud (whatever revision it reached after the backup) is then below the restored
 * store's compacted revision and resyncs, instead of resuming in a history that is not its own.
 * The same as etcd's `snapshot restore --bump-revision` recommended for Kubernetes.
 */
export const DEFAULT_REVISION_BUMP = 1_000_000_000;

/** Lines longer than this are refused (a file that is not a backup, not a gigabyte-long line read into memory). */
const MAX_LINE_BYTES = 64 * 1024 * 1024;
/** Lines are handed on in chunks of about this size (one write per chunk, not per key). */
const CHUNK_BYTES = 64 * 1024;

export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  formatVersion: number;
  /** The store revision the backup holds every key at. */
  revision: number;
  /** The backend it was taken from (sqlite, etcd, memory). */
  backend: string;
  createdAt: string;
  serverVersion: string;
}

/** What a verified file holds. */
export interface BackupSummary {
  header: BackupHeader;
  keys: number;
}

/** What a restore or migration wrote. */
export interface LoadSummary {
  /** The revision the backup (or source snapshot) holds its keys at. */
  revision: number;
  keys: number;
  /** The target store's revision afterwards (the backup's plus the bump where the backend can set it). */
  storeRevision: number;
}

/** A file that is not a complete, unaltered backup; the message is one line naming the file and the problem. */
export class BackupInvalid extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupInvalid';
  }
}

/** The target of a restore holds keys: nothing was written. */
export class TargetNotEmpty extends Error {
  constructor(readonly keys: number, readonly firstKey: string) {
    super(`it holds ${keys} key${keys === 1 ? '' : 's'} (${firstKey}, ...): restore only into an empty store`);
    this.name = 'TargetNotEmpty';
  }
}

/**
 * A backup of `backend` at one revision: its header, and its lines to be read once, in chunks
 * (the store is read as they are, never held whole here). The snapshot is taken before this
 * returns, so writes that follow are not in it.
 */
export async function backupOf(backend: Backend, info: { createdAt: string; serverVersion: string }): Promise<{ header: BackupHeader; chunks: AsyncIterable<string> }> {
  const snap = await backend.snapshot();
  const header: BackupHeader = {
    format: BACKUP_FORMAT, formatVersion: BACKUP_FORMAT_VERSION, revision: snap.revision, backend: backend.name, createdAt: info.createdAt, serverVersion: info.serverVersion,
  };
  async function* chunks(): AsyncGenerator<string> {
    const hash = createHash('sha256');
    let keys = 0;
    let chunk = line(header);
    for await (const kv of snap.items) {
      if (kv.lease !== undefined) continue;
      keys++;
      chunk += line({ key: kv.key, value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version });
      if (chunk.length >= CHUNK_BYTES) {
        hash.update(chunk);
        yield chunk;
        chunk = '';
      }
    }
    hash.update(chunk);
    yield chunk + line({ end: true, keys, sha256: hash.digest('hex') });
  }
  return { header, chunks: chunks() };
}

/**
 * Reads all of `file` and checks it (header, every key line, key count, checksum); throws
 * BackupInvalid, whose message starts with `name` (default: the file's path).
 */
export async function verifyBackup(file: string, name = file): Promise<BackupSummary> {
  const reader = readBackup(file, name);
  for await (const _item of reader.items) {
    // every line is checked as it is read
  }
  return reader.summary();
}

/**
 * Loads the backup in `file` into `target`, which must hold no key. The file is verified whole
 * first, then read again into the store: a bad file, or a target with keys (TargetNotEmpty), is
 * refused before anything is written. The store's revision ends `bump` past the backup's.
 */
export async function restoreBackup(file: string, target: Backend, bump = DEFAULT_REVISION_BUMP): Promise<LoadSummary> {
  return loadBackup(file, await verifyBackup(file), target, bump);
}

/**
 * restoreBackup() for a file verifyBackup() already read (`summary`), so that a caller verifies it
 * before it opens (and so creates) the target. The file is checked again as it is loaded.
 */
export async function loadBackup(file: string, summary: BackupSummary, target: Backend, bump = DEFAULT_REVISION_BUMP): Promise<LoadSummary> {
  await assertEmpty(target);
  // read again, checked again: a file changed since it was verified fails the load
  const loaded = await target.load(readBackup(file, file).items, summary.header.revision + bump);
  return { revision: summary.header.revision, keys: summary.keys, storeRevision: await noHistoryBefore(target, loaded) };
}

/** Copies every key of `source` (at one revision; leased keys left out) into `target`, which must hold no key. */
export async function copyStore(source: Backend, target: Backend, bump = DEFAULT_REVISION_BUMP): Promise<LoadSummary> {
  await assertEmpty(target);
  const snap = await source.snapshot();
  let keys = 0;
  async function* items(): AsyncGenerator<LoadItem> {
    for await (const kv of snap.items) {
      if (kv.lease !== undefined) continue;
      keys++;
      yield { key: kv.key, value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version };
    }
  }
  const loaded = await target.load(items(), snap.revision + bump);
  return { revision: snap.revision, keys, storeRevision: await noHistoryBefore(target, loaded) };
}

/**
 * Compacts a loaded store up to its load, so that every watch from before it resyncs (etcd's
 * `--mark-compacted`): memory and sqlite loads already do; an etcd load leaves its own writes in
 * the history, and its revision cannot be moved past an old cloud's, so a watcher of that cloud
 * resuming from a revision at or below the load's would otherwise be served this store's history
 * as if it were its own. Returns the store's revision.
 */
async function noHistoryBefore(target: Backend, loaded: number): Promise<number> {
  await target.compact(loaded);
  return target.revision();
}

/** Throws TargetNotEmpty when `target` holds any key. */
export async function assertEmpty(target: Backend): Promise<void> {
  const first = await target.range('', { limit: 1 });
  if (first.items.length > 0) throw new TargetNotEmpty(await target.count(''), first.items[0]!.key);
}

/**
 * The key lines of `file` as load items, each checked as it is read; the iteration throws
 * BackupInvalid at the first problem, the end line included. `summary()` once it is done.
 */
function readBackup(file: string, name: string): { items: AsyncIterable<LoadItem>; summary: () => BackupSummary } {
  let result: BackupSummary | undefined;
  async function* items(): AsyncGenerator<LoadItem> {
    const check = new BackupCheck(name);
    try {
      for await (const [raw, ended] of lines(file, name)) {
        const item = check.line(raw, ended);
        if (item) yield item;
      }
    } catch (e) {
      if (e instanceof BackupInvalid) throw e;
      throw new BackupInvalid(unreadable(name, e as NodeJS.ErrnoException));
    }
    result = check.finish();
  }
  return {
    items: items(),
    summary: () => {
      if (!result) throw new Error('the backup was not read to its end');
      return result;
    },
  };
}

/** Checks the lines of one file in order: header, keys, end line (and nothing after it). */
class BackupCheck {
  private header?: BackupHeader;
  private end?: { keys: number; sha256: string };
  private readonly hash: Hash = createHash('sha256');
  private readonly seen = new Set<string>();
  private n = 0;
  private digest = '';

  constructor(private readonly name: string) {}

  /** Checks one line (without its "\n"; `ended`: it had one); returns it as a load item when it is a key. */
  line(raw: Buffer, ended: boolean): LoadItem | undefined {
    this.n++;
    if (this.end) throw this.invalid(`there is more after its end line (line ${this.n}): it was altered`);
    const value = parse(raw);
    // the last line, cut: only an end line may do without its "\n"
    if (!ended && !(this.header && isObject(value) && 'end' in value)) throw this.cutShort();
    if (!this.header) {
      this.header = this.checkHeader(value);
      this.hash.update(raw).update('\n');
      return undefined;
    }
    if (isObject(value) && 'end' in value) {
      this.end = this.checkEnd(value);
      this.digest = this.hash.digest('hex');
      return undefined;
    }
    this.hash.update(raw).update('\n');
    return this.checkKey(value);
  }

  /** After the last line: the end line is there and agrees with the content. */
  finish(): BackupSummary {
    if (!this.header) throw this.invalid('it is empty');
    if (!this.end) throw this.cutShort();
    if (this.end.keys !== this.seen.size) throw this.invalid(`its end line counts ${this.end.keys} keys but it holds ${this.seen.size}: it was altered`);
    if (this.end.sha256 !== this.digest) throw this.invalid(`its checksum does not match its content (sha256 ${short(this.digest)}, expected ${short(this.end.sha256)}): it was altered or damaged`);
    return { header: this.header, keys: this.seen.size };
  }

  private checkHeader(value: unknown): BackupHeader {
    if (!isObject(value) || value.format !== BACKUP_FORMAT) throw this.invalid(`it is not a Stratus backup (its first line is not a "${BACKUP_FORMAT}" header)`);
    if (value.formatVersion !== BACKUP_FORMAT_VERSION) {
      throw this.invalid(`its format version ${JSON.stringify(value.formatVersion)} is not one this version of Stratus reads (${BACKUP_FORMAT_VERSION})`);
    }
    if (!isCount(value.revision, 0)) throw this.invalid(`its header's revision ${JSON.stringify(value.revision)} is not a whole number ≥ 0`);
    for (const field of ['backend', 'createdAt', 'serverVersion']) {
      if (typeof value[field] !== 'string') throw this.invalid(`its header has no ${field}`);
    }
    return value as unknown as BackupHeader;
  }

  private checkEnd(value: Record<string, unknown>): { keys: number; sha256: string } {
    if (value.end !== true || !isCount(value.keys, 0) || typeof value.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(value.sha256)) {
      throw this.invalid(`line ${this.n} is not a valid end line ({"end":true,"keys":N,"sha256":"<64 hex digits>"})`);
    }
    return { keys: value.keys, sha256: value.sha256 };
  }

  private checkKey(value: unknown): LoadItem {
    const revision = this.header!.revision;
    if (!isObject(value) || typeof value.key !== 'string' || value.key === '' || typeof value.value !== 'string') {
      throw this.invalid(`line ${this.n} is not a key ({"key","value","createRevision","modRevision","version"})`);
    }
    const { key, createRevision, modRevision, version } = value;
    if (!isCount(createRevision, 1) || !isCount(modRevision, 1) || !isCount(version, 1) || createRevision > modRevision || modRevision > revision) {
      throw this.invalid(`line ${this.n} (key ${key}) has revisions that do not fit (createRevision ≤ modRevision ≤ the backup's ${revision}, version ≥ 1)`);
    }
    if (this.seen.has(key)) throw this.invalid(`line ${this.n} holds key ${key} a second time`);
    this.seen.add(key);
    return { key, value: value.value, createRevision, modRevision, version };
  }

  private cutShort(): BackupInvalid {
    return this.invalid(`it ends after ${this.seen.size} keys without its end line: the backup was cut short (take it again)`);
  }

  private invalid(problem: string): BackupInvalid {
    return new BackupInvalid(`${this.name}: ${problem}`);
  }
}

/** The lines of `file` as raw bytes without their "\n", each with whether it had one (a last line may not). */
async function* lines(file: string, name: string): AsyncGenerator<[Buffer, boolean]> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      parts.push(chunk.subarray(start, nl));
      yield [parts.length === 1 ? parts[0]! : Buffer.concat(parts), true];
      parts = [];
      size = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      parts.push(chunk.subarray(start));
      size += chunk.length - start;
      if (size > MAX_LINE_BYTES) throw new BackupInvalid(`${name}: it has a line longer than ${MAX_LINE_BYTES / 1024 / 1024} MiB: it is not a Stratus backup`);
    }
  }
  if (size > 0) yield [Buffer.concat(parts), false];
}

function line(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

function parse(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown, min: number): value is number {
  return Number.isSafeInteger(value) && (value as number) >= min;
}

function short(hex: string): string {
  return `${hex.slice(0, 12)}...`;
}

function unreadable(file: string, e: NodeJS.ErrnoException): string {
  if (e.code === 'ENOENT') return `${file}: no such file`;
  if (e.code === 'EISDIR') return `${file} is a directory, not a backup file`;
  if (e.code === 'EACCES') return `${file}: permission denied`;
  return `${file} cannot be read: ${e.message}`;
}
