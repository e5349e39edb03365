/**
 * The typed layer on top of a backend: objects of a kind, under keys (model/keyspace.ts)
 *   /registry/<plural>/<project>/<name>   (project kinds)
 *   /registry/<plural>/<name>             (cluster kinds)
 * and, through `records`, the other records of the keyspace.
 * The backend stays kind-agnostic; this file turns its TxnConflicts into domain errors.
 * Every writer (API, scheduler, controllers) goes through here, so there is one truth.
 */
import type { Backend, KeyValue, TxnOp, WatchEvent, Watcher } from './backend.js';
import { StoredText } from './raw-json.js';
import { Records } from './records.js';
import { Leases } from './leases.js';
import { TxnConflict } from './backend.js';
import type { Kind, ObjectMeta, StoredObject } from '../model/kind.js';
import { StratusError, notFound } from '../model/errors.js';
import { matches, type Selector } from '../model/labels.js';
import { isoNow, randomIds, systemClock, type Clock, type Ids } from '../model/runtime.js';
import { objectKeys, type Key, type Prefix } from '../model/keyspace.js';

export interface WriteOptions {
  /** Refuse the write unless the stored object is at this revision. */
  expectRevision?: number;
  /** Written in the same transaction (e.g. the audit record). */
  extraOps?: TxnOp[];
  /** Who is writing; recorded as metadata.createdBy on create. */
  actor?: string;
}

export interface ListOptions {
  project?: string;
  selector?: Selector;
  limit?: number;
  /** Opaque token from a previous page. */
  continue?: string;
  /** Only objects for which this returns true (applied before the limit). */
  filter?: (obj: StoredObject) => boolean;
}

export interface ListResult<T> {
  items: T[];
  revision: number;
  continue?: string;
}

export type ObjectEvent<T> =
  /** `prev`: the object before this write, when the store still has it. */
  | { type: 'put'; object: T; revision: number; created: boolean; prev?: T }
  | { type: 'delete'; object: T; revision: number }
  | { type: 'resync'; revision: number; reason: string };

export interface NewObject<Spec = unknown, Status = unknown> {
  metadata: Pick<ObjectMeta, 'name' | 'labels' | 'annotations' | 'owner'> & { project?: string };
  spec: Spec;
  status?: Status;
}

const SCAN_PAGE = 500;

export class Repository {
  /** The records beside the objects (model/keyspace.ts names them), and mixed transactions. */
  readonly records: Records;
  /** Leases (leader election): keys written with one go when it expires or is revoked. */
  readonly leases: Leases;

  constructor(
    readonly backend: Backend,
    readonly clock: Clock = systemClock,
    readonly ids: Ids = randomIds,
  ) {
    this.records = new Records(backend);
    this.leases = new Leases(backend);
  }

  prefix(kind: Kind, project?: string): Prefix {
    return objectKeys.prefix(kind, project);
  }

  key(kind: Kind, name: string, project?: string): Key {
    return objectKeys.key(kind, name, project);
  }

  /** The store's revision: of its latest write. Watch from here to see only what comes next. */
  revision(): Promise<number> {
    return this.backend.revision();
  }

  /** How many objects of `kind` there are (in `project`, for project kinds), without reading them. */
  count(kind: Kind, project?: string): Promise<number> {
    return this.backend.count(this.prefix(kind, project));
  }

  decode<T extends StoredObject>(value: string, modRevision: number): T {
    const obj = JSON.parse(value) as T;
    obj.metadata.revision = modRevision;
    return obj;
  }

  async get<T extends StoredObject>(kind: Kind, name: string, project?: string): Promise<T> {
    const found = await this.find<T>(kind, name, project);
    if (!found) throw notFound(kind.kind, name, kind.scope === 'project' ? project : undefined);
    return found;
  }

  async find<T extends StoredObject>(kind: Kind, name: string, project?: string): Promise<T | undefined> {
    const kv = await this.backend.get(this.key(kind, name, project));
    return kv ? this.decode<T>(kv.value, kv.modRevision) : undefined;
  }

  /** Lists objects in key order. Label selection happens here, before the page limit. */
  async list<T extends StoredObject>(kind: Kind, options: ListOptions = {}): Promise<ListResult<T>> {
    return this.scan(kind, options, (kv) => {
      const obj = this.decode<T>(kv.value, kv.modRevision);
      if (options.selector && !matches(options.selector, obj.metadata.labels)) return undefined;
      return options.filter && !options.filter(obj) ? undefined : obj;
    });
  }

  /**
   * `list` without decoding: each item is the stored text (`StoredText.json`, the object as JSON),
   * parsed only as far as the selector and `filter` read it (a selector reads the metadata alone).
   */
  async listText(kind: Kind, options: Omit<ListOptions, 'filter'> & { filter?: (obj: StoredText) => boolean } = {}): Promise<ListResult<StoredText>> {
    return this.scan(kind, options, (kv) => {
      const text = new StoredText(kv.key, kv.value, kv.modRevision);
      if (options.selector && !matches(options.selector, text.metadata.labels)) return undefined;
      return options.filter && !options.filter(text) ? undefined : text;
    });
  }

  /** `get` without decoding: the stored text (see `listText`). */
  async getText(kind: Kind, name: string, project?: string): Promise<StoredText> {
    const kv = await this.backend.get(this.key(kind, name, project));
    if (!kv) throw notFound(kind.kind, name, kind.scope === 'project' ? project : undefined);
    return new StoredText(kv.key, kv.value, kv.modRevision);
  }

  /** The objects under the kind's prefix that `accept` turns into items, a page at a time. */
  private async scan<R>(kind: Kind, options: Pick<ListOptions, 'project' | 'limit' | 'continue'>, accept: (kv: KeyValue) => R | undefined): Promise<ListResult<R>> {
    const prefix = this.prefix(kind, options.project);
    const limit = options.limit ?? Infinity;
    const items: R[] = [];
    let startAfter = options.continue !== undefined ? decodeContinue(options.continue, prefix) : undefined;
    let lastKey = '';
    for (;;) {
      const page = await this.backend.range(prefix, { startAfter, limit: Math.min(SCAN_PAGE, limit === Infinity ? SCAN_PAGE : limit + 1) });
      for (const kv of page.items) {
        startAfter = kv.key;
        const item = accept(kv);
        if (item === undefined) continue;
        if (items.length === limit) return { items, revision: page.revision, continue: encodeContinue(lastKey) };
        items.push(item);
        lastKey = kv.key;
      }
      if (!page.more) return { items, revision: page.revision };
    }
  }

  async create<T extends StoredObject>(kind: Kind, input: NewObject, options: WriteOptions = {}): Promise<T> {
    const now = isoNow(this.clock);
    const project = kind.scope === 'project' ? input.metadata.project : undefined;
    const metadata: StoredObject['metadata'] = {
      name: input.metadata.name,
      ...(project ? { project } : {}),
      ...(input.metadata.labels && Object.keys(input.metadata.labels).length > 0 ? { labels: input.metadata.labels } : {}),
      ...(input.metadata.annotations && Object.keys(input.metadata.annotations).length > 0 ? { annotations: input.metadata.annotations } : {}),
      ...(input.metadata.owner ? { owner: input.metadata.owner } : {}),
      uid: this.ids.uid(),
      revision: 0,
      generation: 1,
      createdAt: now,
      ...(options.actor ? { createdBy: options.actor } : {}),
    };
    const obj = { kind: kind.kind, metadata, spec: input.spec } as T;
    const status = input.status ?? kind.initialStatus?.(obj as never);
    if (status !== undefined) obj.status = status;
    const key = this.key(kind, metadata.name, project);
    const result = await this.commit(kind, metadata.name, project, [{ op: 'create', key, value: encode(obj) }, ...(options.extraOps ?? [])]);
    obj.metadata.revision = result;
    return obj;
  }

  /**
   * Replaces labels, annotations and spec; keeps status and identity. The generation grows
   * when the spec changes.
   */
  async replace<T extends StoredObject>(kind: Kind, prev: T, next: NewObject, options: WriteOptions = {}): Promise<T> {
    const specChanged = JSON.stringify(prev.spec) !== JSON.stringify(next.spec);
    const same = (a?: Record<string, string>, b?: Record<string, string>) => JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
    if (!specChanged && same(prev.metadata.labels, next.metadata.labels) && same(prev.metadata.annotations, next.metadata.annotations)) {
      if (options.expectRevision !== undefined && options.expectRevision !== prev.metadata.revision) {
        throw conflict(kind, prev.metadata.name, prev.metadata.project, options.expectRevision, prev.metadata.revision);
      }
      return prev;
    }
    const obj = {
      ...prev,
      metadata: {
        ...prev.metadata,
        labels: next.metadata.labels,
        annotations: next.metadata.annotations,
        generation: prev.metadata.generation + (specChanged ? 1 : 0),
        updatedAt: isoNow(this.clock),
      },
      spec: next.spec,
    } as T;
    if (!obj.metadata.labels || Object.keys(obj.metadata.labels).length === 0) delete obj.metadata.labels;
    if (!obj.metadata.annotations || Object.keys(obj.metadata.annotations).length === 0) delete obj.metadata.annotations;
    return this.write(kind, obj, options.expectRevision ?? prev.metadata.revision, options.extraOps);
  }

  /** Writes a new status; with no expected revision, it applies to the latest object. */
  async setStatus<T extends StoredObject>(kind: Kind, prev: T, status: unknown, options: WriteOptions = {}): Promise<T> {
    const obj = { ...prev, metadata: { ...prev.metadata, updatedAt: isoNow(this.clock) }, status } as T;
    return this.write(kind, obj, options.expectRevision ?? prev.metadata.revision, options.extraOps);
  }

  /**
   * Deletes the object; with `expectRevision`, only if it is still at that revision. Without one,
   * a concurrent write (a controller updating status, say) does not make the delete fail.
   */
  async delete<T extends StoredObject>(kind: Kind, name: string, project: string | undefined, options: WriteOptions = {}): Promise<T> {
    const key = this.key(kind, name, project);
    for (let attempt = 0; ; attempt++) {
      const prev = await this.backend.get(key);
      if (!prev) throw notFound(kind.kind, name, kind.scope === 'project' ? project : undefined);
      const expect = options.expectRevision ?? prev.modRevision;
      try {
        const revision = await this.commit(kind, name, project, [{ op: 'delete', key, expectRevision: expect }, ...(options.extraOps ?? [])], expect);
        return this.decode<T>(prev.value, revision);
      } catch (e) {
        if (options.expectRevision !== undefined || attempt >= 8 || !(e instanceof StratusError && e.code === 'STRATUS_ERR_CONFLICT')) throw e;
      }
    }
  }

  /**
   * Read-modify-write with retries on conflict: `change` gets the latest object and returns the
   * object to store, or undefined to leave it alone. For controllers and the scheduler.
   */
  async update<T extends StoredObject>(kind: Kind, name: string, project: string | undefined, change: (obj: T) => T | undefined, attempts = 8): Promise<T | undefined> {
    for (let i = 0; ; i++) {
      const current = await this.find<T>(kind, name, project);
      if (!current) return undefined;
      const next = change(structuredClone(current));
      if (!next) return current;
      try {
        return await this.write(kind, next, current.metadata.revision);
      } catch (e) {
        if (!(e instanceof StratusError && e.code === 'STRATUS_ERR_CONFLICT') || i + 1 >= attempts) throw e;
      }
    }
  }

  watch<T extends StoredObject>(kind: Kind, project: string | undefined, fromRevision: number, onEvent: (e: ObjectEvent<T>) => void): Watcher {
    return this.backend.watch(this.prefix(kind, project), fromRevision, (e: WatchEvent) => {
      if (e.type === 'resync') onEvent(e);
      else if (e.type === 'delete') onEvent({ type: 'delete', object: this.decode<T>(e.kv.value, e.kv.modRevision), revision: e.kv.modRevision });
      else {
        const prev = e.prevValue !== undefined && e.prevModRevision !== undefined ? this.decode<T>(e.prevValue, e.prevModRevision) : undefined;
        onEvent({ type: 'put', object: this.decode<T>(e.kv.value, e.kv.modRevision), revision: e.kv.modRevision, created: e.prevModRevision === undefined, ...(prev ? { prev } : {}) });
      }
    });
  }

  /** The store operation that writes `obj` if it is still at `expectRevision`; for multi-key transactions. */
  putOp(kind: Kind, obj: StoredObject, expectRevision: number): TxnOp {
    return { op: 'put', key: this.key(kind, obj.metadata.name, obj.metadata.project), value: encode(obj), expectRevision };
  }

  private async write<T extends StoredObject>(kind: Kind, obj: T, expectRevision: number, extraOps: TxnOp[] = []): Promise<T> {
    const project = obj.metadata.project;
    const stored = { ...obj, metadata: { ...obj.metadata } };
    const revision = await this.commit(kind, obj.metadata.name, project, [this.putOp(kind, stored, expectRevision), ...extraOps], expectRevision);
    stored.metadata.revision = revision;
    return stored;
  }

  private async commit(kind: Kind, name: string, project: string | undefined, ops: TxnOp[], expected?: number): Promise<number> {
    try {
      return (await this.backend.txn(ops)).revision;
    } catch (e) {
      if (!(e instanceof TxnConflict)) throw e;
      const where = kind.scope === 'project' && project ? ` in project "${project}"` : '';
      if (e.failure === 'exists') {
        return Promise.reject(new StratusError('STRATUS_ERR_ALREADY_EXISTS', `${kind.kind} "${name}" already exists${where}`, { kind: kind.kind, name, project }));
      }
      if (e.failure === 'missing' || (e.failure === 'conflict' && e.actual === undefined)) {
        return Promise.reject(notFound(kind.kind, name, kind.scope === 'project' ? project : undefined));
      }
      return Promise.reject(conflict(kind, name, project, expected ?? e.expected, e.actual));
    }
  }
}

/** The error for a write that named a stale revision. */
export function conflict(kind: Kind, name: string, project: string | undefined, expected: number | undefined, actual: number | undefined): StratusError {
  const where = kind.scope === 'project' && project ? ` in project "${project}"` : '';
  return new StratusError(
    'STRATUS_ERR_CONFLICT',
    `${kind.kind} "${name}"${where} changed since revision ${expected} (now at ${actual}); read it again and retry`,
    { kind: kind.kind, name, project, expected, actual },
  );
}

function sortKeys(m: Record<string, string> | undefined): [string, string][] {
  return Object.entries(m ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Values are stored without the revision, which the store tracks itself. */
function encode(obj: StoredObject): string {
  const { revision: _revision, ...metadata } = obj.metadata;
  return JSON.stringify({ ...obj, metadata });
}

function encodeContinue(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

function decodeContinue(token: string, prefix: string): string {
  const key = Buffer.from(token, 'base64url').toString('utf8');
  if (!key.startsWith(prefix)) {
    throw new StratusError('STRATUS_ERR_BAD_REQUEST', 'continue token does not belong to this list; start again without it', { continue: token });
  }
  return key;
}
