/**
 * Watch streams as server-sent events:
 *
 *   id: 42            ← the revision; reconnect with ?revision=<last id> or the standard
 *   event: put          `Last-Event-ID: <last id>` header (which wins) to resume after it
 *   data: {"type":"put","object":{...}}   (event: put | delete | bookmark | resync)
 *
 * A bookmark every 15 s carries the current revision (and keeps proxies from closing the
 * stream). An object that stops matching the selector (or the caller's view) arrives as `delete`.
 * A consumer that falls more than 16 MiB behind, or a start below the compacted
 * revision, gets `resync` and the stream ends: list again and watch from the list's revision.
 * Every event but a resync below the compacted revision carries an id, so an EventSource that
 * reconnects (after a server shutdown, say) resumes without a gap.
 *
 * Streams are long-lived by design: once authenticated, their connection is exempt from the
 * server's idle timeout (the bookmarks keep proxies' timeouts at bay).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiDeps } from '../server.js';
import type { Kind, StoredObject } from '../../model/kind.js';
import { matches, type Selector } from '../../model/labels.js';
import type { ObjectEvent } from '../../store/repository.js';
import type { Watcher } from '../../store/backend.js';
import { Widening } from './watch-widen.js';
import type { WidenSource } from '../../policy/node-authorizer.js';
import { ValidationError } from '../../model/errors.js';

const MAX_BUFFERED = 16 * 1024 * 1024;
const BOOKMARK_MS = 15_000;

export interface WatchOptions {
  project?: string;
  selector?: Selector;
  fromRevision?: number;
  /** The object as the caller may see it (whole or redacted), or undefined when it may not. */
  view: (obj: StoredObject) => StoredObject | undefined;
  /** Tells when the caller's view grows without objects changing (a node hosting another project). */
  widen?: WidenSource;
}

/**
 * Open streams by HTTP server (one per app, whichever encapsulated context served the stream),
 * ended with a resync when the server shuts down (they would hold it open).
 */
const openStreams = new WeakMap<object, Set<() => void>>();

export function endWatchStreams(app: FastifyInstance): void {
  for (const end of [...(openStreams.get(app.server) ?? [])]) end();
}

/** Watch streams open on this app's HTTP server (the server's /metrics). */
export function watchStreamCount(app: FastifyInstance): number {
  return openStreams.get(app.server)?.size ?? 0;
}

/** The revision a reconnecting EventSource names in `Last-Event-ID`, if any. */
export function lastEventId(req: FastifyRequest): number | undefined {
  const raw = req.headers['last-event-id'];
  if (raw === undefined || raw === '') return undefined;
  const text = Array.isArray(raw) ? raw[0]! : raw;
  if (!/^\d{1,15}$/.test(text.trim())) throw new ValidationError([{ path: 'header.last-event-id', message: `"${text.slice(0, 40)}" is not a revision (a non-negative integer)`, value: text.slice(0, 40) }]);
  return Number(text.trim());
}

export async function streamWatch(req: FastifyRequest, reply: FastifyReply, deps: ApiDeps, kind: Kind, opts: WatchOptions): Promise<void> {
  const from = lastEventId(req) ?? opts.fromRevision ?? (await deps.repo.revision());
  reply.hijack();
  req.raw.socket?.setTimeout(0);
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-request-id': req.id,
  });
  res.write(`retry: 2000\n\n`);
  if (opts.widen?.missedSince(from, opts.project)) {
    // Objects became readable after `from` without changing: no history replay brings them.
    res.end(`event: resync\ndata: ${JSON.stringify({ type: 'resync', revision: from, reason: `what you may read grew after revision ${from}: list again` })}\n\n`);
    return;
  }
  let done = false;
  let lastRevision = from;
  const streams = openStreams.get(req.server.server) ?? new Set<() => void>();
  openStreams.set(req.server.server, streams);
  let unsubscribe: (() => void) | undefined;
  // Set once the watch is registered: its history replay may already end the stream (a resync).
  let watcher: Watcher | undefined = undefined;
  let timer: NodeJS.Timeout | undefined = undefined;
  const finish = () => {
    if (done) return;
    done = true;
    streams.delete(shutdown);
    unsubscribe?.();
    clearInterval(timer);
    watcher?.close();
    res.end();
  };
  const send = (event: string, id: number | undefined, data: unknown) => {
    if (done) return;
    res.write(`${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (res.writableLength > MAX_BUFFERED) {
      res.write(`id: ${lastRevision}\nevent: resync\ndata: ${JSON.stringify({ type: 'resync', revision: lastRevision, reason: 'the client is reading too slowly' })}\n\n`);
      finish();
    }
  };
  const selected = (view: StoredObject | undefined) => (view && (!opts.selector || matches(opts.selector, view.metadata.labels)) ? view : undefined);
  const deliver = (e: Exclude<ObjectEvent<StoredObject>, { type: 'resync' }>) => {
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
  };
  const widening = opts.widen && new Widening({
    list: async (project) => (await deps.repo.list(kind, { project })).items,
    put: (obj) => {
      const view = selected(opts.view(obj));
      if (view) send('put', undefined, { type: 'put', object: view });
    },
    deliver,
    fail: (e) => {
      send('resync', undefined, { type: 'resync', revision: lastRevision, reason: `list again (${e.message})` });
      finish();
    },
  });
  // The stream ends with a bookmark, not a resync: the client resumes from that revision on this
  // server once it is back, or on another server of the store, without listing everything again.
  const shutdown = () => {
    send('bookmark', lastRevision, { type: 'bookmark', revision: lastRevision, reason: 'the server is shutting down' });
    finish();
  };
  watcher = deps.repo.watch(kind, opts.project, from, (e: ObjectEvent<StoredObject>) => {
    if (e.type === 'resync') {
      send('resync', undefined, e);
      finish();
    } else if (!widening?.hold(e)) deliver(e);
  });
  if (done) {
    watcher.close(); // ended during the replay (below the compacted revision, a slow reader)
    return;
  }
  if (widening) unsubscribe = opts.widen!.subscribe((project) => (opts.project ?? project) === project && widening.widen(project));
  timer = setInterval(() => {
    if (widening?.busy) return; // its id would claim the widening's objects were received
    void deps.repo.revision().then((revision) => send('bookmark', revision, { type: 'bookmark', revision }));
  }, BOOKMARK_MS);
  timer.unref();
  streams.add(shutdown);
  req.raw.on('close', finish);
  res.on('close', finish);
  res.on('error', finish);
}
