/**
 * A live list of one kind's objects: listed page by page (1,000 a request), then kept current by
 * the API's watch stream (no polling). Pages read it through `version`, a signal bumped at most
 * once per animation frame however many events arrive, so 10,000 objects changing cost one render.
 *
 *   list ──▶ items (Map by project/name) ◀── watch from the list's revision: put / delete
 *                         │ resync: list again
 *                         ▼
 *                 version (signal) ──▶ pages re-derive what they show
 *
 * `useWatchList(kind, project)` shares one list per (kind, project, selector) among the pages that
 * show it, started by the first and stopped a second after the last leaves (each watch holds one
 * of the browser's six connections to the server).
 */
import { signal, type Signal } from '@preact/signals';
import { useEffect, useState } from 'preact/hooks';
import type { KindOf, StoredObject } from '../../../src/model/kind.js';
import { ApiError, ResyncError, type Api, type WatchMessage } from './client.js';

/** The key of an object in a list: `project/name` (cluster kinds: `/name`). */
export function objectKey(o: StoredObject): string {
  return `${o.metadata.project ?? ''}/${o.metadata.name}`;
}

/**
 * Applies one watch message to `items`; returns whether anything changed. A put older than what
 * is held (a replayed event after a list) is ignored. Pure apart from `items`.
 */
export function applyMessage<T extends StoredObject>(items: Map<string, T>, msg: WatchMessage): boolean {
  const obj = msg.object as T | undefined;
  if (!obj || (msg.type !== 'put' && msg.type !== 'delete')) return false;
  const key = objectKey(obj);
  if (msg.type === 'delete') return items.delete(key);
  const held = items.get(key);
  if (held && held.metadata.revision > obj.metadata.revision) return false;
  items.set(key, obj);
  return true;
}

const PAGE = 1000;

export class WatchList<T extends StoredObject> {
  readonly items = new Map<string, T>();
  /** Bumped when items change (coalesced to one bump per frame). */
  readonly version: Signal<number> = signal(0);
  /** True until the first page arrived. */
  readonly loading: Signal<boolean> = signal(true);
  /** True once every page arrived. */
  readonly complete: Signal<boolean> = signal(false);
  /** Why the list or its watch stopped, in a sentence; undefined while fine. */
  readonly error: Signal<string | undefined> = signal(undefined);
  private abort = new AbortController();
  private pending = false;

  constructor(readonly api: Api, readonly kind: KindOf<T>, readonly project?: string, readonly selector?: string) {}

  /** Lists, then watches until stop(). Idempotent while running. */
  start(): void {
    void this.run(this.abort.signal);
  }

  stop(): void {
    this.abort.abort();
    this.abort = new AbortController();
  }

  /** The objects, in no particular order (a fresh array: callers sort and filter it). */
  values(): T[] {
    return [...this.items.values()];
  }

  private async run(signal: AbortSignal): Promise<void> {
    const res = this.api.resources(this.kind, this.project);
    while (!signal.aborted) {
      try {
        this.items.clear();
        this.complete.value = false;
        let cont: string | undefined;
        let revision = 0;
        do {
          const page = await res.page({ selector: this.selector, limit: PAGE, continue: cont }, signal);
          for (const o of page.items) this.items.set(objectKey(o), o);
          revision ||= page.revision;
          cont = page.continue;
          this.loading.value = false;
          this.changed();
        } while (cont && !signal.aborted);
        this.complete.value = true;
        this.error.value = undefined;
        await res.watch(revision, (m) => { if (applyMessage(this.items, m)) this.changed(); }, signal, this.selector);
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof ApiError) {
          this.error.value = e.message;
          this.loading.value = false;
          return;
        }
        if (!(e instanceof ResyncError)) this.error.value = `lost the connection to the server (${(e as Error).message}); retrying`;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  private changed(): void {
    if (this.pending) return;
    this.pending = true;
    const flush = () => { this.pending = false; this.version.value++; };
    if (typeof requestAnimationFrame === 'function' && !document.hidden) requestAnimationFrame(flush);
    else setTimeout(flush, 0);
  }
}

interface Shared { list: WatchList<StoredObject>; users: number; stopTimer?: ReturnType<typeof setTimeout> }
const shared = new Map<string, Shared>();
/**
 * How long a list no page shows keeps watching: long enough for the next page to adopt a list it
 * shares with the last one (its effects run after paint), short because each watch holds one of
 * the browser's 6 HTTP/1.1 connections to the server: lists lingering longer starved the next
 * page's requests (web/README.md, connection limit).
 */
const LINGER_MS = 1000;

/** Stops `e` after LINGER_MS unless a page uses it by then. */
function release(key: string, e: Shared): void {
  clearTimeout(e.stopTimer);
  e.stopTimer = setTimeout(() => {
    if (e.users > 0) return;
    e.list.stop();
    if (shared.get(key) === e) shared.delete(key);
  }, LINGER_MS);
}

/** The shared live list of `kind` in `project` (undefined: every project the caller reads), for a component's lifetime. */
export function useWatchList<T extends StoredObject>(api: Api, kind: KindOf<T>, project?: string, selector?: string): WatchList<T> {
  const key = `${kind.kind}|${project ?? '*'}|${selector ?? ''}`;
  let entry = shared.get(key);
  if (!entry || entry.list.api !== api) {
    entry?.list.stop();
    entry = { list: new WatchList<StoredObject>(api, kind, project, selector), users: 0 };
    shared.set(key, entry);
    entry.list.start();
    // A render whose effects never run (replaced before commit) must not leave a watch open.
    release(key, entry);
  }
  const e = entry;
  useEffect(() => {
    e.users++;
    clearTimeout(e.stopTimer);
    return () => {
      if (--e.users === 0) release(key, e);
    };
  }, [e]);
  return e.list as unknown as WatchList<T>;
}

/** Stops every shared list (logging out). */
export function stopAllWatchLists(): void {
  for (const e of shared.values()) e.list.stop();
  shared.clear();
}

/**
 * One object, live: read once, then kept current from its collection's watch (events of other
 * objects are skipped). `object` is undefined while loading and after the object is deleted
 * (`gone` then says so); `error` holds a refusal such as "instance "web" not found".
 * No `name`: nothing is read (a hook must be called on every render, needed or not).
 */
export function useLiveObject<T extends StoredObject>(api: Api, kind: KindOf<T>, project: string | undefined, name: string | undefined): { object: T | undefined; gone: boolean; error: string | undefined } {
  const [state, setState] = useState<{ object: T | undefined; gone: boolean; error: string | undefined }>({ object: undefined, gone: false, error: undefined });
  useEffect(() => {
    setState({ object: undefined, gone: false, error: undefined });
    if (name === undefined) return undefined;
    const abort = new AbortController();
    const res = api.resources(kind, project);
    const run = async () => {
      while (!abort.signal.aborted) {
        try {
          const obj = await res.get(name);
          setState({ object: obj, gone: false, error: undefined });
          await res.watch(obj.metadata.revision, (m) => {
            const o = m.object as T | undefined;
            if (!o || o.metadata.name !== name) return;
            if (m.type === 'put') setState({ object: o, gone: false, error: undefined });
            if (m.type === 'delete') setState({ object: undefined, gone: true, error: undefined });
          }, abort.signal);
          return;
        } catch (e) {
          if (abort.signal.aborted) return;
          if (e instanceof ApiError) { setState({ object: undefined, gone: e.status === 404, error: e.message }); return; }
          if (!(e instanceof ResyncError)) await new Promise((r) => setTimeout(r, 1000));
        }
      }
    };
    void run();
    return () => abort.abort();
  }, [api, kind, project, name]);
  return state;
}
