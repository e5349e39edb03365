/**
 * The dashboard's HTTP client: the API's paths come from src/client/paths.ts and its types from
 * the kind descriptors (src/model/kinds), as for the CLI; the transport is the browser's fetch
 * (src/client/index.ts holds Node's failover and streams, which a page served by one server does
 * not need). The token travels in the Authorization header only, never in a URL.
 *
 *   const api = new Api(token);
 *   const page = await api.resources(instanceKind, 'shop').list();      // Instance[]
 *   await api.resources(nodeKind).patch('n1', { spec: { unschedulable: true } });
 */
import type { KindOf, StoredObject } from '../../../src/model/kind.js';
import type { FieldProblem } from '../../../src/model/errors.js';
import type { WatchMessage } from '../../../src/client/index.js';
import type { Whoami } from '../../../src/client/routes.js';
import { collectionPath, itemPath, paths } from '../../../src/client/paths.js';
import { readEvents } from '../../../src/client/events.js';
import { BEARER_PROTOCOL } from '../../../src/client/bearer-protocol.js';

export type { WatchMessage, Whoami };
export { paths };

/** An error answer of the API: its stable STRATUS_ERR_* code, message and details. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details?: Record<string, unknown>) {
    super(message);
    this.name = 'ApiError';
  }

  /** The fields a validation error names (details.problems), if any. */
  get problems(): FieldProblem[] {
    const p = this.details?.['problems'];
    return Array.isArray(p) ? (p as FieldProblem[]) : [];
  }
}

/** The watch must start over from a fresh list (the server sent `resync`). */
export class ResyncError extends Error {
  constructor(readonly reason: string) {
    super(`the watch must start over (${reason})`);
    this.name = 'ResyncError';
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

export interface ListPage<T> {
  items: T[];
  revision: number;
  continue?: string;
}

export class Api {
  /** `onUnauthenticated`: told when the server refuses the token (401), e.g. it was revoked or expired. */
  constructor(private readonly token: string, private readonly onUnauthenticated?: (e: ApiError) => void) {}

  /** A JSON request; a non-2xx answer rejects with ApiError. */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.open(method, path, opts);
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** The generic routes of `kind` in `project` (project kinds; none: every project the caller reads, list and watch only). */
  resources<T extends StoredObject>(kind: KindOf<T>, project?: string): Resources<T> {
    return new Resources<T>(this, kind, project);
  }

  whoami(): Promise<Whoami> {
    return this.request<Whoami>('GET', paths.whoami());
  }

  /**
   * Follows a watch stream from `fromRevision`, reconnecting after the last revision seen until
   * `signal` aborts (then resolves). Rejects with ResyncError when the caller must list again,
   * with ApiError when the server refuses.
   */
  async watch(path: string, fromRevision: number, query: Query, onMessage: (m: WatchMessage) => void, signal: AbortSignal): Promise<void> {
    let revision = fromRevision;
    let failures = 0;
    while (!signal.aborted) {
      try {
        const res = await this.open('GET', path, { query: { ...query, watch: true, revision }, signal });
        for await (const msg of readEvents(res.body!)) {
          failures = 0;
          if (msg.revision !== undefined) revision = msg.revision;
          if (msg.type === 'resync') throw new ResyncError(msg.reason ?? 'resync');
          onMessage(msg);
        }
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof ResyncError || e instanceof ApiError) throw e;
        failures++;
      }
      await sleep(Math.min(500 * 2 ** failures, 10_000), signal);
    }
  }

  /** Streams a text response (logs) to `onChunk` until it ends or `signal` aborts. */
  async stream(path: string, query: Query, onChunk: (text: string) => void, signal: AbortSignal): Promise<void> {
    try {
      const res = await this.open('GET', path, { query, signal });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        onChunk(value);
      }
    } catch (e) {
      if (!signal.aborted) throw e;
    }
  }

  /**
   * A WebSocket to `path` (a VM's console) speaking `protocol`; the token rides in the bearer
   * subprotocol (src/client/bearer-protocol.ts), never in the URL.
   */
  socket(path: string, protocol: string): WebSocket {
    const url = new URL(path, location.origin);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const token = btoa(String.fromCharCode(...new TextEncoder().encode(this.token))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const ws = new WebSocket(url, [protocol, `${BEARER_PROTOCOL}${token}`]);
    ws.binaryType = 'arraybuffer';
    return ws;
  }

  private async open(method: string, path: string, opts: RequestOptions): Promise<Response> {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    }
    const res = await fetch(url, { method, headers, body, signal: opts.signal ?? null, cache: 'no-store' });
    if (!res.ok) {
      const err = toApiError(res.status, await res.text());
      if (res.status === 401) this.onUnauthenticated?.(err);
      throw err;
    }
    return res;
  }
}

export interface ObjectBody {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; revision?: number };
  spec: unknown;
}

/** The generic routes of one kind (src/api/routes/resources.ts), typed by its stored object. */
export class Resources<T extends StoredObject> {
  constructor(private readonly api: Api, readonly kind: KindOf<T>, readonly project?: string) {}

  get path(): string {
    return collectionPath(this.kind, this.project);
  }

  get(name: string): Promise<T> {
    return this.api.request<T>('GET', itemPath(this.kind, name, this.project));
  }

  /** One page of at most `limit` objects after `continue`; `selector` is a label selector. */
  page(opts: { selector?: string; limit?: number; continue?: string } = {}, signal?: AbortSignal): Promise<ListPage<T>> {
    return this.api.request<ListPage<T>>('GET', this.path, { query: { ...opts }, signal });
  }

  create(body: ObjectBody, dryRun = false): Promise<T> {
    return this.api.request<T>('POST', this.path, { body: { kind: this.kind.kind, ...body }, query: { dryRun: dryRun || undefined } });
  }

  /** A JSON merge patch (RFC 7386) of metadata and spec. */
  patch(name: string, patch: Record<string, unknown>): Promise<T> {
    return this.api.request<T>('PATCH', itemPath(this.kind, name, this.project), { body: patch, contentType: 'application/merge-patch+json' });
  }

  delete(name: string): Promise<T> {
    return this.api.request<T>('DELETE', itemPath(this.kind, name, this.project));
  }

  watch(fromRevision: number, onMessage: (m: WatchMessage) => void, signal: AbortSignal, selector?: string): Promise<void> {
    return this.api.watch(this.path, fromRevision, { selector }, onMessage, signal);
  }
}

export function toApiError(status: number, text: string): ApiError {
  try {
    const body = JSON.parse(text) as { error?: { code: string; message: string; details?: Record<string, unknown> } };
    if (body.error) return new ApiError(status, body.error.code, body.error.message, body.error.details);
  } catch {
    // not JSON: below
  }
  return new ApiError(status, `HTTP_${status}`, `the server answered ${status}: ${text.slice(0, 200)}`);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}
