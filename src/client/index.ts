import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type WebSocket from 'ws';
import type { KindOf, StoredObject } from '../model/kind.js';
import { Resources, type ResourcesOptions } from './resources.js';

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

/** The server could not be reached, or a watch had to stop. */
export class ConnectionError extends Error {
  constructor(message: string) {
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

export class ApiClient {
  constructor(readonly server: string, private readonly token: string) {}

  /** The generic routes of `kind`, in `project` (project kinds; none: every project, list and watch only). */
  resources<T extends StoredObject>(kind: KindOf<T>, project?: string, opts?: ResourcesOptions): Resources<T> {
    return new Resources<T>(this, kind, project, opts);
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    const text = await res.text();
    if (!res.ok) throw toApiError(res.status, text);
    return (text ? JSON.parse(text) : undefined) as T;
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
   * each event. Resolves when `signal` aborts; rejects on a resync the caller must handle.
   */
  async watch(path: string, fromRevision: number, query: RequestOptions['query'], onMessage: (m: WatchMessage) => void, signal: AbortSignal): Promise<void> {
    let revision = fromRevision;
    while (!signal.aborted) {
      let res: Response;
      try {
        res = await this.send('GET', path, { query: { ...query, watch: true, revision }, signal });
      } catch (e) {
        if (signal.aborted) return;
        throw e;
      }
      if (!res.ok) throw toApiError(res.status, await res.text());
      try {
        for await (const msg of readEvents(res.body!)) {
          if (msg.revision !== undefined) revision = msg.revision;
          if (msg.type === 'resync') throw new ResyncError(msg.reason ?? 'resync', msg.revision ?? revision);
          onMessage(msg);
        }
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof ResyncError) throw e;
      }
      if (!signal.aborted) await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Streams a text response (logs) to `onChunk` until it ends or `signal` aborts. */
  async stream(path: string, query: RequestOptions['query'], onChunk: (text: string) => void, signal: AbortSignal): Promise<void> {
    let res: Response;
    try {
      res = await this.send('GET', path, { query, signal });
    } catch (e) {
      if (signal.aborted) return;
      throw e;
    }
    if (!res.ok) throw toApiError(res.status, await res.text());
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) onChunk(decoder.decode(chunk, { stream: true }));
    } catch (e) {
      if (!signal.aborted) throw e;
    }
  }

  /** Streams a response body (an image archive) into `file`. */
  async download(path: string, file: string): Promise<void> {
    const res = await this.send('GET', path, {});
    if (!res.ok) throw toApiError(res.status, await res.text());
    await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), createWriteStream(file));
  }

  /** Uploads a stream (an image archive) with PUT. */
  async upload<T>(path: string, body: Readable, contentType = 'application/x-tar'): Promise<T> {
    const res = await this.send('PUT', path, { body: body as unknown as string, contentType, raw: true });
    const text = await res.text();
    if (!res.ok) throw toApiError(res.status, text);
    return JSON.parse(text) as T;
  }

  /**
   * Opens a WebSocket to `path` (exec, port-forward; protocol in streams.ts), array values as
   * repeated parameters. Loads `ws` only when called. A refusal is an ApiError, an unreachable
   * server a ConnectionError.
   */
  async socket(path: string, query: Record<string, string | number | boolean | string[] | undefined>, signal?: AbortSignal): Promise<WebSocket> {
    const { openSocket } = await import('./streams.js');
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(query)) {
      for (const x of v === undefined ? [] : Array.isArray(v) ? v : [v]) url.searchParams.append(k, String(x));
    }
    try {
      return await openSocket(url.toString(), { authorization: `Bearer ${this.token}` }, signal);
    } catch (e) {
      const err = e as { status?: number; body?: string; message: string };
      if (err.status !== undefined) throw toApiError(err.status, err.body ?? '');
      throw new ConnectionError(`cannot reach the server at ${this.server}: ${err.message}`);
    }
  }

  private async send(method: string, path: string, opts: RequestOptions & { raw?: boolean }): Promise<Response> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      body = opts.raw || typeof opts.body === 'string' ? (opts.body as string) : JSON.stringify(opts.body);
    }
    try {
      return await fetch(url, { method, headers, body, signal: opts.signal, ...(opts.raw ? { duplex: 'half' } : {}) } as RequestInit);
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code === 'ECONNREFUSED' ? 'connection refused (is `stratus server` running?)' : cause?.message ?? (e as Error).message;
      throw new ConnectionError(`cannot reach the server at ${this.server}: ${why}`);
    }
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

/** Parses a text/event-stream body into messages. */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<WatchMessage> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let id: number | undefined;
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) id = Number(line.slice(4));
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (!data) continue;
      const msg = JSON.parse(data) as WatchMessage;
      if (id !== undefined) msg.revision = id;
      yield msg;
    }
  }
}
