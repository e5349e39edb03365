/**
 * Watch streams as server-sent events:
 *
 *   id: 42            ← the revision; reconnect with ?revision=<last id> to resume
 *   event: put        ← put | delete | bookmark | resync
 *   data: {"type":"put","object":{...}}
 *
 * A bookmark every 15 s carries the current revision (and keeps proxies from closing the
 * stream). An object that stops matching the selector (or the caller's view) arrives as `delete`.
 * A consumer that falls more than 16 MiB behind, or a start below the compacted
 * revision, gets `resync` and the stream ends: list again and watch from the list's revision.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiDeps } from '../server.js';
import type { Kind, StoredObject } from '../../model/kind.js';
import { matches, type Selector } from '../../model/labels.js';
import type { ObjectEvent } from '../../store/repository.js';

const MAX_BUFFERED = 16 * 1024 * 1024;
const BOOKMARK_MS = 15_000;

export interface WatchOptions {
  project?: string;
  selector?: Selector;
  fromRevision?: number;
  /** The object as the caller may see it (whole or redacted), or undefined when it may not. */
  view: (obj: StoredObject) => StoredObject | undefined;
  /** Subscribes `end` to changes of the caller's view that single events cannot tell; returns the unsubscribe. */
  invalidate?: (end: () => void) => () => void;
}

/** Open streams, ended with a resync when the server shuts down (they would hold it open). */
const openStreams = new WeakMap<object, Set<() => void>>();

export function endWatchStreams(app: object): void {
  for (const end of openStreams.get(app) ?? []) end();
}

export async function streamWatch(req: FastifyRequest, reply: FastifyReply, deps: ApiDeps, kind: Kind, opts: WatchOptions): Promise<void> {
  const from = opts.fromRevision ?? (await deps.repo.backend.revision());
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-request-id': req.id,
  });
  res.write(`retry: 2000\n\n`);
  let done = false;
  let lastRevision = from;
  const streams = openStreams.get(req.server) ?? new Set<() => void>();
  openStreams.set(req.server, streams);
  let unsubscribe: (() => void) | undefined;
  const finish = () => {
    if (done) return;
    done = true;
    streams.delete(shutdown);
    unsubscribe?.();
    clearInterval(timer);
    watcher.close();
    res.end();
  };
  const send = (event: string, id: number | undefined, data: unknown) => {
    if (done) return;
    res.write(`${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (res.writableLength > MAX_BUFFERED) {
      res.write(`event: resync\ndata: ${JSON.stringify({ type: 'resync', revision: lastRevision, reason: 'the client is reading too slowly' })}\n\n`);
      finish();
    }
  };
  const selected = (view: StoredObject | undefined) => (view && (!opts.selector || matches(opts.selector, view.metadata.labels)) ? view : undefined);
  const watcher = deps.repo.watch(kind, opts.project, from, (e: ObjectEvent<StoredObject>) => {
    if (e.type === 'resync') {
      send('resync', undefined, e);
      finish();
      return;
    }
    lastRevision = e.revision;
    const now = opts.view(e.object);
    if (selected(now)) {
      send(e.type, e.revision, { type: e.type, object: now });
      return;
    }
    // An object that leaves the caller's view (selector, permission, node binding) is gone for it:
    // told with what it is now if the caller may read that (a selector), else with what it was.
    const before = e.type === 'put' && e.prev ? selected(opts.view(e.prev)) : undefined;
    if (before) send('delete', e.revision, { type: 'delete', object: now ?? before });
  });
  // Deferred, so that the change that widened the view reaches the caller first.
  if (!done) unsubscribe = opts.invalidate?.(() => setImmediate(() => {
    send('resync', undefined, { type: 'resync', revision: lastRevision, reason: 'what you may read changed: list again' });
    finish();
  }));
  const timer = setInterval(() => {
    void deps.repo.backend.revision().then((revision) => send('bookmark', revision, { type: 'bookmark', revision }));
  }, BOOKMARK_MS);
  timer.unref();
  const shutdown = () => {
    send('resync', undefined, { type: 'resync', revision: lastRevision, reason: 'the server is shutting down' });
    finish();
  };
  streams.add(shutdown);
  req.raw.on('close', finish);
  res.on('close', finish);
  res.on('error', finish);
}
