/**
 * The store backend: a revisioned key/value store in the shape of etcd's API.
 *
 * Contract (every backend):
 * - One global revision, incremented by every successful write; each written key records it as
 *   its modRevision. Revisions never go backwards, also across restarts.
 * - `txn` applies all its operations or none. Each operation may name the revision it expects;
 *   a mismatch refuses the whole transaction with TxnConflict (the API maps it to HTTP 409).
 * - `watch(prefix, fromRevision)` delivers every change with revision > fromRevision, in order,
 *   none skipped; if fromRevision is below the compacted revision, or above the store's current
 *   revision (the store is behind what the watcher saw, e.g. after a restore), the watcher
 *   receives one `resync` event instead and is closed.
 * - Leases (etcd's): `leaseGrant(ttl)` makes a lease of `ttl` seconds, `leaseKeepAlive` starts its
 *   TTL again, `leaseRevoke` ends it. A key written with a lease (`create`/`put` with `lease`) is
 *   bound to it (a later write without one unbinds it); when the lease is revoked, or expires
 *   (`ttl` seconds after its grant or last keep-alive, found by a check every fraction of a second),
 *   its keys are deleted in one transaction, at one revision, which watchers see as deletes. An
 *   expired lease cannot be kept alive or written with (LeaseNotFound). Single-process backends
 *   hold leases in memory: their holders live in the same process, so a backend opened again
 *   deletes the keys its previous opener had bound to leases.
 * - The store knows nothing about kinds: keys are strings, values are strings (JSON by convention).
 */

import type { StoreStatus } from '../model/cluster.js';

export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  /** Number of writes since creation, 1 for a new key. */
  version: number;
}

export type TxnOp =
  /** Fails with 'exists' when the key exists. With `lease`, the key is bound to that lease. */
  | { op: 'create'; key: string; value: string; lease?: LeaseId }
  /**
   * Replaces or creates. With `expectRevision`, fails unless the key's modRevision equals it (0: must
   * not exist). With `lease`, the key is bound to that lease; without, it is bound to none.
   */
  | { op: 'put'; key: string; value: string; expectRevision?: number; lease?: LeaseId }
  /** Fails with 'missing' when absent, or 'conflict' when `expectRevision` is given and differs. */
  | { op: 'delete'; key: string; expectRevision?: number };

export interface TxnResult {
  revision: number;
  /** One entry per op: the key-value as written, or the deleted one (with the deleting revision as modRevision). */
  results: KeyValue[];
}

export type TxnFailure = 'exists' | 'missing' | 'conflict';

export class TxnConflict extends Error {
  constructor(
    readonly failure: TxnFailure,
    readonly key: string,
    readonly expected?: number,
    readonly actual?: number,
  ) {
    super(`${failure} on ${key}${expected !== undefined ? ` (expected revision ${expected}, found ${actual ?? 'none'})` : ''}`);
    this.name = 'TxnConflict';
  }
}

/** A lease's id: a string, as etcd's 64-bit ids do not fit a JavaScript number. */
export type LeaseId = string;

export interface Lease {
  id: LeaseId;
  /** Seconds the lease lives after its grant or its last keep-alive. */
  ttl: number;
}

/** The lease does not exist: it was never granted, was revoked, or expired. */
export class LeaseNotFound extends Error {
  constructor(readonly lease: LeaseId) {
    super(`lease ${lease} not found (it expired or was revoked)`);
    this.name = 'LeaseNotFound';
  }
}

/**
 * The store cannot answer now (etcd without quorum, unreachable, or a request past its deadline).
 * A write that fails with it may or may not have been applied. The API answers 503.
 */
export class StoreUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnavailable';
  }
}

/** A value larger than the store accepts (etcd's request size limit): refused, never truncated. The API answers 413. */
export class ValueTooLarge extends Error {
  constructor(readonly key: string, readonly size: number, readonly limit: number) {
    super(`${key} is ${size} bytes, more than the store's limit of ${limit} bytes`);
    this.name = 'ValueTooLarge';
  }
}

export class RevisionCompacted extends Error {
  constructor(readonly requested: number, readonly compacted: number) {
    super(`revision ${requested} was compacted (oldest available: ${compacted}); list again and watch from the list's revision`);
    this.name = 'RevisionCompacted';
  }
}

export interface RangeOptions {
  /** Return keys strictly after this one (pagination). */
  startAfter?: string;
  /** Most items to return; `more` tells whether others remain. */
  limit?: number;
  /** Descending key order; `startAfter` then means "keys before this one". */
  reverse?: boolean;
}

export interface RangeResult {
  items: KeyValue[];
  more: boolean;
  /** The store revision the range was read at. */
  revision: number;
}

export type WatchEvent =
  /** `prevValue`: the value before this write, when the store still has it. */
  | { type: 'put'; kv: KeyValue; prevModRevision?: number; prevValue?: string }
  | { type: 'delete'; kv: KeyValue; prevModRevision: number }
  /** The watcher fell behind compaction or its consumer: re-list and watch again. Final. */
  | { type: 'resync'; revision: number; reason: string };

/** A key as a backup holds it: `lease` is set when the key is bound to one (such keys are not restored). */
export interface ExportedKeyValue extends KeyValue {
  lease?: LeaseId;
}

/** A key to load; single-process stores keep its revisions when given (each at most the load's revision). */
export interface LoadItem {
  key: string;
  value: string;
  createRevision?: number;
  modRevision?: number;
  version?: number;
}

/** What `status()` reports (its type lives in the model, which the API and the client share). */
export type { StoreStatus };

export interface Watcher {
  /** Stops delivery. Idempotent. */
  close(): void;
}

export interface Backend {
  readonly name: string;
  /** The revision of the latest write (0 for an empty store). */
  revision(): Promise<number>;
  get(key: string): Promise<KeyValue | undefined>;
  range(prefix: string, options?: RangeOptions): Promise<RangeResult>;
  count(prefix: string): Promise<number>;
  txn(ops: TxnOp[]): Promise<TxnResult>;
  /**
   * Calls `onEvent` for every change under `prefix` after `fromRevision`, in revision order.
   * Events already in history are delivered first, then live ones. `onEvent` must not throw.
   */
  watch(prefix: string, fromRevision: number, onEvent: (event: WatchEvent) => void): Watcher;
  /** Drops history up to and including `revision`; returns the compacted revision. */
  compact(revision: number): Promise<number>;
  /** The oldest revision a watch may start from. */
  compactedRevision(): Promise<number>;
  /** A new lease of `ttlSeconds` (a whole number ≥ 1), running from now (etcd: LeaseGrant). */
  leaseGrant(ttlSeconds: number): Promise<Lease>;
  /** Starts the lease's TTL again from now (etcd: LeaseKeepAlive); LeaseNotFound once it expired or was revoked. */
  leaseKeepAlive(id: LeaseId): Promise<Lease>;
  /** Ends the lease and deletes its keys in one revision (etcd: LeaseRevoke); LeaseNotFound when there is none. */
  leaseRevoke(id: LeaseId): Promise<void>;
  /**
   * Every key, read at one revision (consistent while writes go on), in key order. `items` may be
   * iterated once; the store stays usable meanwhile.
   */
  snapshot(): Promise<{ revision: number; items: AsyncIterable<ExportedKeyValue> }>;
  /**
   * Writes `items` into this store, which must hold no key (else TxnConflict 'exists' on the first
   * key found). Keys are written bound to no lease. Afterwards `revision()` is at least
   * `revision` where the backend can set its counter (memory, sqlite), else whatever the store
   * reached (etcd). Returns the store's revision after the load.
   */
  load(items: AsyncIterable<LoadItem>, revision: number): Promise<number>;
  /** The store's members and their health. */
  status(): Promise<StoreStatus>;
  close(): Promise<void>;
}

export interface BackendOptions {
  /** Backend-specific settings; unknown keys are refused by each backend. */
  [key: string]: unknown;
}

export type BackendFactory = (url: URL, options: BackendOptions) => Promise<Backend>;

const factories = new Map<string, BackendFactory>();

/** Backends register themselves by URL scheme (sqlite, memory, etcd). */
export function registerBackend(scheme: string, factory: BackendFactory): void {
  factories.set(scheme, factory);
}

/**
 * Opens a store from a URL such as `sqlite:///var/lib/stratus/stratus.db`, `memory:` or
 * `etcd://h1:2379,h2:2379,h3:2379/prefix`. A list of hosts, which URL cannot parse, reaches the
 * factory percent-encoded as one host (`url.host`; decodeURIComponent gives the list back).
 */
export async function openBackend(spec: string, options: BackendOptions = {}): Promise<Backend> {
  let url: URL;
  try {
    // several hosts (etcd's): the authority is kept whole for the backend to parse (etcd's one host too, to name a bad port)
    const hosts = /^(etcds?:\/\/)([^/?#]*)(.*)$/is.exec(spec) ?? /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*,[^/?#]*)(.*)$/is.exec(spec);
    url = new URL(hosts ? hosts[1]! + encodeURIComponent(hosts[2]!) + hosts[3]! : spec);
  } catch {
    throw new Error(`store ${JSON.stringify(spec)} is not a URL (use e.g. sqlite:///path/to/stratus.db, memory:, etcd://host:2379)`);
  }
  const scheme = url.protocol.replace(/:$/, '');
  const factory = factories.get(scheme);
  if (!factory) {
    throw new Error(`store scheme "${scheme}" is not supported here (available: ${[...factories.keys()].join(', ')})`);
  }
  return factory(url, options);
}

/** Refuses options the backend does not understand, instead of ignoring them. */
export function checkOptions(backend: string, options: BackendOptions, known: string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new Error(`the ${backend} store does not support option "${key}" (supported: ${known.join(', ') || 'none'})`);
  }
}

/** Drops history older than the latest `retain` revisions (watches from before them resync); returns the compacted revision, if any. */
export async function compactKeeping(backend: Backend, retain: number): Promise<number | undefined> {
  const rev = await backend.revision();
  return rev > retain ? backend.compact(rev - retain) : undefined;
}

/** The smallest string greater than every string starting with `prefix`. */
export function prefixEnd(prefix: string): string {
  if (prefix === '') return '\u{10FFFF}';
  const last = prefix.charCodeAt(prefix.length - 1);
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}
