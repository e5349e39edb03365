/**
 * An informer: one collection (the objects of a kind, or the records under a prefix) kept in
 * memory from a list and a watch, shared by every component of the process that reads it
 * (client-go's shared informer). Store-free: it reads through a `Source` (informers.ts makes the
 * store's).
 *
 *   source.list ─▶ cache + indexes ◀── source.watch(from the revision read before the list)
 *                        │ add / update / delete: each change once, in the source's order
 *                        ▼
 *                  handlers (the components' reactions)
 *
 * Contracts:
 * - Started by its first user (`use`), stopped when the last one closes its subscription.
 * - Handlers run synchronously as the source delivers (the store delivers in the tick of each
 *   commit, so what a handler keeps is current before the writer's promise resolves). A handler
 *   must not throw (its error is kept in `health()`, the others still run) and must not modify
 *   the objects it gets: they are the cache's, shared by every handler.
 * - The watch starts from the revision read before the list (a list of several pages is not one
 *   snapshot); replayed changes the list already showed are recognised by revision and skipped.
 * - `resync` from the source (the watch fell behind compaction): handlers' `resync()` is called,
 *   the collection is listed again and handlers get the difference (adds, updates, deletes) from
 *   what they were told before. `closed` (a watch that broke): watched again from the last
 *   revision seen, so nothing is lost; failures are retried with backoff.
 */

/** Where an informer reads its collection. */
export interface Source<T> {
  /** The collection now, and a revision at or before its reads: watching from there misses nothing. */
  list(): Promise<{ items: T[]; revision: number }>;
  /**
   * Every change after `fromRevision`, in order; history may be delivered before this returns.
   * `resync` and `closed` are final.
   */
  watch(fromRevision: number, onEvent: (e: SourceEvent<T>) => void): { close(): void };
}

export type SourceEvent<T> =
  | { type: 'put'; object: T; revision: number }
  | { type: 'delete'; object: T; revision: number }
  /** Changes were dropped (compaction): list again. */
  | { type: 'resync'; reason: string }
  /** The watch broke (a connection): watch again from the last revision seen. */
  | { type: 'closed'; reason: string };

/** A component's reactions; each optional. `obj` objects are shared: read, never modify. */
export interface Handler<T> {
  add?(obj: T): void;
  update?(old: T, obj: T): void;
  delete?(obj: T): void;
  /** The collection is being listed again; the differences follow as add/update/delete. */
  resync?(): void;
}

export interface Subscription {
  /** Stops the handler (idempotent); the informer stops with its last subscription. */
  close(): void;
}

/** An index: the values an object is filed under (e.g. the node an instance is bound to). */
export interface IndexDef<T> {
  name: string;
  values(obj: T): readonly string[];
}

export interface InformerOptions<T> {
  /** The cache key of an object. */
  keyOf(obj: T): string;
  /** The revision at which the object was last written. */
  revisionOf(obj: T): number;
  /** First delay before listing or watching again after a failure; doubles up to 30 s. */
  retryMs?: number;
}

interface Entry<T> {
  handler: Handler<T>;
  active: boolean;
}

interface Index<T> {
  def: IndexDef<T>;
  map: Map<string, Map<string, T>>;
}

export class Informer<T> {
  private readonly cache = new Map<string, T>();
  private readonly indexes = new Map<string, Index<T>>();
  private readonly entries = new Set<Entry<T>>();
  private users = 0;
  /** Bumped by stop(): work begun before it is dropped. */
  private generation = 0;
  /** Bumped whenever the watch ends: events of an earlier watch are dropped. */
  private watchId = 0;
  private watcher: { close(): void } | undefined;
  private ready: Promise<void> | undefined;
  private recovering: Promise<void> | undefined;
  private synced = false;
  private rev = 0;
  private lastError = '';

  constructor(readonly name: string, private readonly source: Source<T>, private readonly opts: InformerOptions<T>) {}

  /** The cached objects by key. Read only. */
  get items(): ReadonlyMap<string, T> {
    return this.cache;
  }

  /** The revision of the last change the cache reflects (0 before the first list). */
  get revision(): number {
    return this.rev;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** '' when healthy, else the last failure (a list, a watch, a handler). */
  health(): string {
    return this.lastError;
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(filter?: (obj: T) => boolean): T[] {
    const all = [...this.cache.values()];
    return filter ? all.filter(filter) : all;
  }

  /** Adds an index (idempotent by name); built from what the cache holds already. */
  addIndex(def: IndexDef<T>): void {
    if (this.indexes.has(def.name)) return;
    const index: Index<T> = { def, map: new Map() };
    this.indexes.set(def.name, index);
    for (const [key, obj] of this.cache) file(index, key, undefined, obj);
  }

  /** The objects filed under `value` in the index (added before with addIndex). */
  byIndex(def: IndexDef<T> | string, value: string): T[] {
    return [...(this.indexed(def, value)?.values() ?? [])];
  }

  /** The same as a live map (key → object), or undefined when none; read only. */
  indexed(def: IndexDef<T> | string, value: string): ReadonlyMap<string, T> | undefined {
    const index = this.indexes.get(typeof def === 'string' ? def : def.name);
    if (!index) throw new Error(`informer ${this.name} has no index ${typeof def === 'string' ? def : def.name}`);
    return index.map.get(value);
  }

  /** The values the index files objects under. */
  indexValues(def: IndexDef<T> | string): string[] {
    return [...(this.indexes.get(typeof def === 'string' ? def : def.name)?.map.keys() ?? [])];
  }

  /**
   * Starts the informer if needed and resolves once it has listed; then registers `handler`,
   * which first gets `add` for every cached object unless `replay` is false (a caller that reads
   * `items` itself). Rejects if the first list fails.
   */
  async use(handler?: Handler<T>, options: { replay?: boolean } = {}): Promise<Subscription> {
    this.users++;
    try {
      await this.start();
    } catch (e) {
      this.release();
      throw e;
    }
    const entry: Entry<T> | undefined = handler ? { handler, active: true } : undefined;
    if (entry) {
      this.entries.add(entry);
      if (options.replay !== false && handler!.add) for (const obj of this.cache.values()) this.call(entry, (h) => h.add!(obj));
    }
    let open = true;
    return {
      close: () => {
        if (!open) return;
        open = false;
        if (entry) {
          entry.active = false;
          this.entries.delete(entry);
        }
        this.release();
      },
    };
  }

  /** Resolves once no list or watch is being made again (tests). */
  async settled(): Promise<void> {
    while (this.recovering) await this.recovering;
    await this.ready;
  }

  private start(): Promise<void> {
    if (!this.ready) {
      const gen = this.generation;
      this.ready = this.relist(gen).catch((e: unknown) => {
        if (gen === this.generation) this.ready = undefined;
        throw e;
      });
    }
    return this.ready;
  }

  private release(): void {
    if (--this.users > 0) return;
    this.generation++;
    this.endWatch();
    this.ready = undefined;
    this.recovering = undefined;
    this.synced = false;
    this.cache.clear();
    for (const index of this.indexes.values()) index.map.clear();
    this.rev = 0;
  }

  /** Lists, tells handlers what differs from the cache, and watches from before the list. */
  private async relist(gen: number): Promise<void> {
    const { items, revision } = await this.source.list();
    if (gen !== this.generation) return;
    this.replace(items);
    this.rev = Math.max(this.rev, revision);
    this.synced = true;
    this.lastError = '';
    this.watchFrom(gen, revision);
  }

  private watchFrom(gen: number, from: number): void {
    const id = ++this.watchId;
    const watcher = this.source.watch(from, (e) => this.onEvent(gen, id, e));
    if (id === this.watchId) this.watcher = watcher;
    else watcher.close(); // ended while it replayed history
  }

  private endWatch(): void {
    this.watchId++;
    this.watcher?.close();
    this.watcher = undefined;
  }

  private onEvent(gen: number, id: number, e: SourceEvent<T>): void {
    if (gen !== this.generation || id !== this.watchId) return;
    if (e.type === 'put') this.put(e.object, e.revision);
    else if (e.type === 'delete') this.remove(e.object, e.revision);
    else {
      this.endWatch();
      if (e.type === 'resync') {
        // the changes since this.rev are gone: only a new list can catch up
        for (const entry of this.entries) this.call(entry, (h) => h.resync?.());
        this.recover(gen, 'list', e.reason);
      } else {
        this.recover(gen, 'watch', e.reason);
      }
    }
  }

  private put(obj: T, revision: number): void {
    const key = this.opts.keyOf(obj);
    const old = this.cache.get(key);
    this.rev = Math.max(this.rev, revision);
    if (old !== undefined && this.opts.revisionOf(old) >= revision) return; // the list showed it already
    this.cache.set(key, obj);
    this.reindex(key, old, obj);
    if (old === undefined) this.emit((h) => h.add?.(obj));
    else this.emit((h) => h.update?.(old, obj));
  }

  private remove(obj: T, revision: number): void {
    const key = this.opts.keyOf(obj);
    const old = this.cache.get(key);
    this.rev = Math.max(this.rev, revision);
    if (old === undefined || this.opts.revisionOf(old) >= revision) return; // gone already, or written again since
    this.cache.delete(key);
    this.reindex(key, old, undefined);
    this.emit((h) => h.delete?.(obj));
  }

  /** Makes the cache `items`, telling handlers each difference. */
  private replace(items: readonly T[]): void {
    const next = new Map<string, T>();
    for (const obj of items) next.set(this.opts.keyOf(obj), obj);
    for (const [key, old] of [...this.cache]) {
      if (next.has(key)) continue;
      this.cache.delete(key);
      this.reindex(key, old, undefined);
      this.emit((h) => h.delete?.(old));
    }
    for (const [key, obj] of next) {
      const old = this.cache.get(key);
      if (old !== undefined && this.opts.revisionOf(old) === this.opts.revisionOf(obj)) continue;
      this.cache.set(key, obj);
      this.reindex(key, old, obj);
      if (old === undefined) this.emit((h) => h.add?.(obj));
      else this.emit((h) => h.update?.(old, obj));
    }
  }

  /** Lists or watches again until it works (backoff from retryMs to 30 s), unless stopped meanwhile. */
  private recover(gen: number, what: 'list' | 'watch', reason: string): void {
    const run = async () => {
      let delay = this.opts.retryMs ?? 100;
      for (let attempt = 0; gen === this.generation; attempt++) {
        try {
          if (what === 'list') await this.relist(gen);
          else if (attempt === 0) await Promise.resolve().then(() => this.watchFrom(gen, this.rev));
          else this.watchFrom(gen, this.rev);
          return;
        } catch (e) {
          this.lastError = `${this.name}: ${what === 'list' ? 'listing' : 'watching'} again after "${reason}" failed: ${(e as Error).message}`;
          await new Promise((r) => setTimeout(r, delay).unref());
          delay = Math.min(delay * 2, 30_000);
        }
      }
    };
    const done = run().finally(() => {
      if (this.recovering === done) this.recovering = undefined;
    });
    this.recovering = done;
  }

  private reindex(key: string, old: T | undefined, next: T | undefined): void {
    for (const index of this.indexes.values()) file(index, key, old, next);
  }

  private emit(fn: (h: Handler<T>) => void): void {
    for (const entry of this.entries) this.call(entry, fn);
  }

  private call(entry: Entry<T>, fn: (h: Handler<T>) => void): void {
    if (!entry.active) return;
    try {
      fn(entry.handler);
    } catch (e) {
      this.lastError = `${this.name}: a handler failed: ${(e as Error).message}`;
    }
  }
}

/** Moves `key` in the index from `old`'s values to `next`'s. */
function file<T>(index: Index<T>, key: string, old: T | undefined, next: T | undefined): void {
  const before = old === undefined ? [] : index.def.values(old);
  const after = next === undefined ? [] : index.def.values(next);
  for (const v of before) {
    if (after.includes(v)) continue;
    const bucket = index.map.get(v);
    bucket?.delete(key);
    if (bucket?.size === 0) index.map.delete(v);
  }
  for (const v of after) {
    let bucket = index.map.get(v);
    if (!bucket) index.map.set(v, (bucket = new Map()));
    bucket.set(key, next!);
  }
}
