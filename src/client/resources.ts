/**
 * The generic routes of one kind, typed by the kind's stored object (`KindOf<T>` from
 * model/kinds/index.ts): what src/api/routes/resources.ts serves for every kind.
 *
 *   const instances = api.resources(instanceKind, 'shop');
 *   const web = await instances.get('web');              // Instance
 *   await instances.patch('web', { spec: { priority: 5 } });
 *
 * Without a project, a project kind's collection is every project the caller can read (list and
 * watch only); item operations then throw.
 */
import type { KindOf, StoredObject } from '../model/kind.js';
import type { ApiClient, RequestOptions, WatchMessage } from './index.js';
import { collectionPath, itemPath } from './paths.js';

export interface ListOptions {
  /** Label selector, e.g. "app=web,tier!=db". */
  selector?: string;
}

export interface ListPage<T> {
  items: T[];
  revision: number;
  continue?: string;
}

/** What a user writes: kind (optional), metadata (name, labels, annotations, revision) and spec. */
export interface ObjectBody {
  kind?: string;
  metadata: { name: string; project?: string; labels?: Record<string, string>; annotations?: Record<string, string>; revision?: number };
  spec: unknown;
}

export interface WriteOptions {
  /** Validate and admit only; the answer is what would be stored. */
  dryRun?: boolean;
}

export interface DeleteOptions {
  /** Refuse unless the object is at this revision. */
  revision?: number;
  /** Projects: delete everything they hold first. */
  cascade?: boolean;
  /** Nodes: delete although instances run there. */
  force?: boolean;
}

/** A watch event with the kind's object. */
export type ObjectWatchMessage<T> = Omit<WatchMessage, 'object'> & { object?: T };

const MERGE_PATCH = 'application/merge-patch+json';

export interface ResourcesOptions {
  /** Checks a name before it goes into a path (the CLI's readable refusal); throws to refuse. */
  checkName?: (kind: string, name: string) => void;
}

export class Resources<T extends StoredObject = StoredObject> {
  constructor(private readonly api: ApiClient, readonly kind: KindOf<T>, readonly project?: string, private readonly opts: ResourcesOptions = {}) {}

  /** The collection this client lists and creates in. */
  get path(): string {
    return collectionPath(this.kind, this.project);
  }

  get(name: string): Promise<T> {
    return this.api.request<T>('GET', this.item(name));
  }

  /** Whether the object exists (a 404 NOT_FOUND is `undefined`; other errors throw). */
  async find(name: string): Promise<T | undefined> {
    try {
      return await this.get(name);
    } catch (e) {
      if ((e as { status?: number; code?: string }).status === 404 && (e as { code?: string }).code === 'STRATUS_ERR_NOT_FOUND') return undefined;
      throw e;
    }
  }

  /** Every page of the list, and the revision to watch from. */
  list(opts: ListOptions = {}): Promise<{ items: T[]; revision: number }> {
    return this.api.listAll<T>(this.path, opts.selector ? { selector: opts.selector } : {});
  }

  /** One page: at most `limit` items from `continue` (the previous page's). */
  page(opts: ListOptions & { limit?: number; continue?: string } = {}): Promise<ListPage<T>> {
    return this.api.request<ListPage<T>>('GET', this.path, { query: { ...opts } });
  }

  create(body: ObjectBody, opts: WriteOptions = {}): Promise<T> {
    return this.api.request<T>('POST', this.path, { body: { kind: this.kind.kind, ...body }, query: dryRun(opts) });
  }

  /** Replaces labels, annotations and spec; with metadata.revision, only at that revision. */
  replace(name: string, body: ObjectBody, opts: WriteOptions = {}): Promise<T> {
    return this.api.request<T>('PUT', this.item(name), { body: { kind: this.kind.kind, ...body }, query: dryRun(opts) });
  }

  /** A JSON merge patch (RFC 7386) of metadata (labels, annotations, revision) and spec. */
  patch(name: string, patch: Record<string, unknown>, opts: WriteOptions = {}): Promise<T> {
    return this.api.request<T>('PATCH', this.item(name), { body: patch, contentType: MERGE_PATCH, query: dryRun(opts) });
  }

  delete(name: string, opts: DeleteOptions = {}): Promise<T> {
    const query: RequestOptions['query'] = { revision: opts.revision, cascade: opts.cascade || undefined, force: opts.force || undefined };
    return this.api.request<T>('DELETE', this.item(name), { query });
  }

  /** Writes the status (the platform: cluster admins, node agents); with `revision`, only at that revision. */
  writeStatus(name: string, status: NonNullable<T['status']>, opts: { revision?: number } = {}): Promise<T> {
    return this.api.request<T>('PUT', `${this.item(name)}/status`, { body: status, query: { revision: opts.revision } });
  }

  /**
   * Follows changes after `fromRevision` (reconnecting), until `signal` aborts; rejects with a
   * ResyncError when the caller must list again.
   */
  watch(fromRevision: number, onMessage: (m: ObjectWatchMessage<T>) => void, signal: AbortSignal, opts: ListOptions = {}): Promise<void> {
    return this.api.watch(this.path, fromRevision, opts.selector ? { selector: opts.selector } : {}, onMessage as (m: WatchMessage) => void, signal);
  }

  private item(name: string): string {
    this.opts.checkName?.(this.kind.kind, name);
    return itemPath(this.kind, name, this.project);
  }
}

function dryRun(opts: WriteOptions): RequestOptions['query'] {
  return opts.dryRun ? { dryRun: true } : undefined;
}
