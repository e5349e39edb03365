import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type WebSocket from 'ws';
import type { KindOf, StoredObject } from '../model/kind.js';
import { Resources, type ResourcesOptions } from './resources.js';
import { readEvents } from './events.js';
import { ANSWER_TIMEOUT, mayRetry, networkFailure, STORE_UNAVAILABLE, unreachedMessage, type Failure } from './failover.js';

export { parseServers, STORE_UNAVAILABLE, type Failure } from './failover.js';
export { readEvents } from './events.js';
export { Resources, type ObjectBody, type ObjectWatchMessage, type DeleteOptions, type ListOptions, type WriteOptions, type ResourcesOptions } from './resources.js';

/**
 * The HTTP client of the Stratus API, used by the CLI and the agent (which talk to the control
 * plane only through the public API). Errors come back as ApiError with the server's
 * STRATUS_ERR_* code; an unreachable server is a ConnectionError with one readable sentence.
 *
 * Typed on top of the transport below: `resources(kind, project)` (resources.ts) for every kind's
 * generic routes, and functions of routes.ts for the others. Paths are built in paths.ts only.
 */

/** An error answer from the API, with its stable code. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details?: Record<string, unknown>) {
    super(message);
    this.name = 'ApiError';
  }
}

/** No server could be reached (`tried`: each with why), or a watch had to stop. */
export class ConnectionError extends Error {
  constructor(message: string, readonly tried: readonly Failure[] = []) {
    super(message);
    this.name = 'ConnectionError';
  }
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
}

export interface WatchMessage {
  type: 'put' | 'delete' | 'bookmark' | 'resync';
  revision?: number;
  object?: Record<string, unknown>;
  reason?: string;
}

/** The server ended a watch: re-list and watch again from the new list's revision. */
export class ResyncError extends Error {
  constructor(readonly reason: string, readonly revision: number) {
    super(`the watch must start over (${reason})`);
    this.name = 'ResyncError';
  }
}

export interface ClientOptions {
  /** How long a GET or HEAD (and a watch's connection) waits for an answer before the next server is tried (default 30 s). */
  answerTimeoutMs?: number;
  /** A watch that received nothing for this long is resumed on the next server (the API sends a bookmark every 15 s; default 60 s). */
  watchIdleMs?: number;
  /** Told when a call went to another server than the one that worked before, and why. */
  onFailover?: (from: string, to: string, why: string) => void;
}

/** A network failure inside one call, before it becomes a ConnectionError (see failover.ts). */
class Unreached extends Error {
  constructor(readonly code: string, readonly why: string) {
    super(why);
  }
}

export class ApiClient {
  /** The servers, in the order given; all share one store (failover.ts). */
  readonly servers: readonly string[];
  /** Where the next call starts. */
  private current = 0;
  /** The server that answered last, and why the client left it when it did on its own (a watch). */
  private answered = 0;
  private leftBecause = '';

  /** `servers`: one URL, or several servers' URLs (checked by the caller: failover.ts parseServers). */
  constructor(servers: string | readonly string[], private readonly token: string, private readonly options: ClientOptions = {}) {
    this.servers = typeof servers === 'string' ? [servers] : [...servers];
    if (this.servers.length === 0) throw new Error('ApiClient: no server URL');
  }

  /** The server the next call goes to first: the one that last answered. */
  get server(): string {
    return this.servers[this.current]!;
  }

  /** The generic routes of `kind`, in `project` (project kinds; none: every project, list and watch only). */
  resources<T extends StoredObject>(kind: KindOf<T>, project?: string, opts?: ResourcesOptions): Resources<T> {
    return new Resources<T>(this, kind, project, opts);
  }

  /** A JSON request; reads (GET, HEAD) go to the next server on any failure, writes only when nothing was sent. */
  request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return this.failover(method, async (base) => {
      const res = await this.fetchAt(base, method, path, opts);
      const text = await bodyText(res);
      if (!res.ok) throw toApiError(res.status, text);
      return (text ? JSON.parse(text) : undefined) as T;
    });
  }

  get<T>(path: string, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  /** Reads every page of a list. */
  async listAll<T>(path: string, query: RequestOptions['query'] = {}): Promise<{ items: T[]; revision: number }> {
    const items: T[] = [];
    let cont: string | undefined;
    let revision = 0;
    do {
      const page = await this.get<{ items: T[]; revision: number; continue?: string }>(path, { ...query, limit: 1000, continue: cont });
      items.push(...page.items);
      revision ||= page.revision;
      cont = page.continue;
    } while (cont);
    return { items, revision };
  }

  /**
   * Follows a watch stream, reconnecting from the last revision seen; calls `onMessage` for
   * each event. A stream that breaks, ends or stays silent longer than watchIdleMs resumes on
   * the next server (revisions are the store's, the same on every server). Resolves when
   * `signal` aborts; rejects on a resync the caller must handle, or when no server answers.
   */
  async watch(path: string, fromRevision: number, query: RequestOptions['query'], onMessage: (m: WatchMessage) => void, signal: AbortSignal): Promise<void> {
    let revision = fromRevision;
    while (!signal.aborted) {
      const silent = new AbortController();
      let res: Response;
      try {
        res = await this.open('GET', path, { query: { ...query, watch: true, revision }, signal: AbortSignal.any([signal, silent.signal]) });
      } catch (e) {
        if (signal.aborted) return;
        throw e;
      }
      const served = this.current;
      const idle = new Idle(this.options.watchIdleMs ?? 60_000, () => silent.abort());
      try {
        for await (const msg of readEvents(res.body!)) {
          idle.reset();
          if (msg.revision !== undefined) revision = msg.revision;
          if (msg.type === 'resync') throw new ResyncError(msg.reason ?? 'resync', msg.revision ?? revision);
          onMessage(msg);
        }
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof ResyncError) throw e;
      } finally {
        idle.stop();
      }
      if (signal.aborted) return;
      if (this.current === served) {
        this.current = (served + 1) % this.servers.length;
        this.leftBecause = `${this.servers[served]}: the watch stream ended`;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Streams a text response (logs) to `onChunk` until it ends or `signal` aborts. */
  async stream(path: string, query: RequestOptions['query'], onChunk: (text: string) => void, signal: AbortSignal): Promise<void> {
    let res: Response;
    try {
      res = await this.open('GET', path, { query, signal });
    } catch (e) {
      if (signal.aborted) return;
      throw e;
    }
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) onChunk(decoder.decode(chunk, { stream: true }));
    } catch (e) {
      if (!signal.aborted) throw e;
    }
  }

  /** Streams a response body (an image archive) into `file`. */
  async download(path: string, file: string): Promise<void> {
    const res = await this.open('GET', path, {});
    await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), createWriteStream(file));
  }

  /** Uploads a stream (an image archive) with PUT; on to the next server only if nothing of it was read yet. */
  upload<T>(path: string, body: Readable, contentType = 'application/x-tar'): Promise<T> {
    const opts = { body: body as unknown as string, contentType, raw: true };
    return this.failover('PUT', async (base) => {
      const res = await this.fetchAt(base, 'PUT', path, opts);
      const text = await bodyText(res);
      if (!res.ok) throw toApiError(res.status, text);
      return JSON.parse(text) as T;
    }, () => !body.readableDidRead);
  }

  /**
   * Opens a WebSocket to `path` (exec, port-forward; protocol in streams.ts), array values as
   * repeated parameters. Loads `ws` only when called. A refusal is an ApiError, an unreachable
   * server a ConnectionError. Like a write, it goes to the next server only when nothing was
   * sent (or the server answered STORE_UNAVAILABLE): what it opens may already have started.
   */
  async socket(path: string, query: Record<string, string | number | boolean | string[] | undefined>, signal?: AbortSignal): Promise<WebSocket> {
    const { openSocket } = await import('./streams.js');
    return this.failover('UPGRADE', async (base) => {
      const url = new URL(base + path);
      for (const [k, v] of Object.entries(query)) {
        for (const x of v === undefined ? [] : Array.isArray(v) ? v : [v]) url.searchParams.append(k, String(x));
      }
      try {
        return await openSocket(url.toString(), { authorization: `Bearer ${this.token}` }, signal);
      } catch (e) {
        const err = e as { status?: number; body?: string; code?: string; message: string };
        if (err.status !== undefined) throw toApiError(err.status, err.body ?? '');
        throw new Unreached(err.code ?? 'UNKNOWN', err.message);
      }
    }, undefined, (code) => code === STORE_UNAVAILABLE || mayRetry('POST', code));
  }

  /** `request`'s fetch, with non-2xx answers as ApiError: for streamed responses. */
  private open(method: string, path: string, opts: RequestOptions): Promise<Response> {
    return this.failover(method, async (base) => {
      const res = await this.fetchAt(base, method, path, opts);
      if (!res.ok) throw toApiError(res.status, await bodyText(res));
      return res;
    });
  }

  /**
   * Runs `call` against the servers, starting with the one that last worked, each at most once:
   * a network failure (Unreached) or a 503 STORE_UNAVAILABLE moves on when `retry(code)` allows
   * it and the body can be sent again (`resendable`). Rethrows the caller's abort and other
   * errors as they are; the last STORE_UNAVAILABLE as its ApiError; else a ConnectionError
   * naming every server tried.
   */
  private async failover<T>(method: string, call: (base: string) => Promise<T>, resendable: () => boolean = () => true, retry = (code: string) => mayRetry(method, code)): Promise<T> {
    const tried: Failure[] = [];
    const start = this.current;
    for (let i = 0; i < this.servers.length; i++) {
      const at = (start + i) % this.servers.length;
      const server = this.servers[at]!;
      try {
        const result = await call(server);
        this.served(at, tried);
        return result;
      } catch (e) {
        const stored = e instanceof ApiError && e.status === 503 && e.code === STORE_UNAVAILABLE;
        if (e instanceof ApiError && !stored) this.served(at, tried);
        if (!(e instanceof Unreached) && !stored) throw e;
        tried.push({ server, code: stored ? STORE_UNAVAILABLE : e.code, why: e instanceof Unreached ? e.why : e.message });
        const last = i === this.servers.length - 1;
        if (!last && retry(tried.at(-1)!.code) && resendable()) continue;
        if (stored) throw e;
        throw new ConnectionError(unreachedMessage(tried, !last), tried);
      }
    }
    throw new Error('unreachable: the loop returns or throws');
  }

  /** Server `at` answered: the next call starts there; onFailover is told when it is not the one that answered before. */
  private served(at: number, tried: readonly Failure[]): void {
    if (at !== this.answered) {
      const why = tried.length ? tried.map((f) => `${f.server}: ${f.why}`).join('; ') : this.leftBecause;
      this.options.onFailover?.(this.servers[this.answered]!, this.servers[at]!, why);
    }
    this.current = this.answered = at;
  }

  /**
   * One fetch to `base`. Network failures become Unreached; GETs and HEADs that have no answer
   * within answerTimeoutMs too. The caller's abort passes as it is.
   */
  private async fetchAt(base: string, method: string, path: string, opts: RequestOptions & { raw?: boolean }): Promise<Response> {
    const url = new URL(base + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      body = opts.raw || typeof opts.body === 'string' ? (opts.body as string) : JSON.stringify(opts.body);
    }
    const waitMs = method === 'GET' || method === 'HEAD' ? (this.options.answerTimeoutMs ?? 30_000) : undefined;
    const late = new AbortController();
    const timer = waitMs === undefined ? undefined : setTimeout(() => late.abort(), waitMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, late.signal]) : late.signal;
    try {
      return await fetch(url, { method, headers, body, signal, ...(opts.raw ? { duplex: 'half' } : {}) } as RequestInit);
    } catch (e) {
      if (late.signal.aborted && !opts.signal?.aborted) throw new Unreached(ANSWER_TIMEOUT, `no answer within ${waitMs! / 1000} s`);
      if ((e as Error).name === 'AbortError') throw e;
      const failure = networkFailure(e) ?? { code: 'UNKNOWN', why: (e as Error).message };
      throw new Unreached(failure.code, failure.why);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A response's text; a connection that breaks while it is read is Unreached (the caller's abort passes). */
async function bodyText(res: Response): Promise<string> {
  try {
    return await res.text();
  } catch (e) {
    const failure = (e as Error).name === 'AbortError' ? undefined : networkFailure(e);
    if (!failure) throw e;
    throw new Unreached(failure.code, failure.why);
  }
}

/** Calls `fire` once `ms` pass without a reset (its timer holds no process open). */
class Idle {
  private timer: NodeJS.Timeout;
  constructor(private readonly ms: number, private readonly fire: () => void) {
    this.timer = setTimeout(fire, ms).unref();
  }

  reset(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(this.fire, this.ms).unref();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

function toApiError(status: number, text: string): ApiError {
  try {
    const body = JSON.parse(text) as { error?: { code: string; message: string; details?: Record<string, unknown> } };
    if (body.error) return new ApiError(status, body.error.code, body.error.message, body.error.details);
  } catch {
    // not JSON: fall through
  }
  return new ApiError(status, `HTTP_${status}`, `the server answered ${status}: ${text.slice(0, 200)}`);
}
