/**
 * A rate-limited work queue of keys (client-go's workqueue): what a controller's handlers feed and
 * its workers drain, so that each object is reconciled by one worker at a time, as often as needed
 * and no more.
 *
 *   add(key) ─▶ dirty ─▶ queue ─▶ get() ─▶ processing ─▶ done(key)
 *                 ▲                             │ re-added while processing: queued again at done
 *   addRateLimited(key) ── after backoff(key) ──┘ (base · 2^failures, at most max)
 *
 * Contracts:
 * - A key added several times while it waits is processed once.
 * - A key is never handed to two workers at once; one added while it is processed is processed
 *   again after `done`.
 * - `addRateLimited` adds after the key's backoff, which doubles with each call until `forget`.
 * - `shutDown` wakes every waiting `get` with undefined; later adds are ignored.
 */
import type { QueueObserver } from './observers.js';

/** Runs `fn` after `ms`; returns a cancel function. Injectable for tests. */
export type Schedule = (fn: () => void, ms: number) => () => void;

const timerSchedule: Schedule = (fn, ms) => {
  const t = setTimeout(fn, ms);
  t.unref();
  return () => clearTimeout(t);
};

export interface WorkQueueOptions {
  /** First retry delay in ms (default 5). */
  baseMs?: number;
  /** Longest retry delay in ms (default 60 s). */
  maxMs?: number;
  schedule?: Schedule;
  /** Reports the queue's depth and each reconcile's latency under `name` (the server's /metrics). */
  observer?: QueueObserver;
  /** The queue's name for the observer (default "queue"). */
  name?: string;
}

export class WorkQueue<K = string> {
  private readonly queue: K[] = [];
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly failures = new Map<K, number>();
  private readonly waiting = new Map<K, () => void>();
  private readonly getters: ((key: K | undefined) => void)[] = [];
  private shuttingDown = false;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly schedule: Schedule;
  /** Told of each reconcile by runWorkers; unregistered at shutDown. */
  readonly observed: { name: string; observer: QueueObserver; unregister: () => void } | undefined;

  constructor(options: WorkQueueOptions = {}) {
    this.baseMs = options.baseMs ?? 5;
    this.maxMs = options.maxMs ?? 60_000;
    this.schedule = options.schedule ?? timerSchedule;
    const { observer, name = 'queue' } = options;
    if (observer) this.observed = { name, observer, unregister: observer.queue(name, () => this.length) };
  }

  /** Queues `key` unless it waits already; one being processed is queued again at its `done`. */
  add(key: K): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const getter = this.getters.shift();
    if (getter) this.hand(key, getter);
    else this.queue.push(key);
  }

  /** Adds `key` after `ms`; an earlier pending delay for the key wins (the later one is dropped). */
  addAfter(key: K, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    if (this.waiting.has(key)) return;
    const cancel = this.schedule(() => {
      this.waiting.delete(key);
      this.add(key);
    }, ms);
    this.waiting.set(key, cancel);
  }

  /** Adds `key` after its backoff, which doubles with each call until `forget(key)`. */
  addRateLimited(key: K): void {
    this.addAfter(key, this.backoff(key));
  }

  /** The delay the next `addRateLimited(key)` waits, and counts the failure. */
  backoff(key: K): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    return Math.min(this.baseMs * 2 ** n, this.maxMs);
  }

  /** Stops counting the key's failures: its next backoff is the first one again. */
  forget(key: K): void {
    this.failures.delete(key);
  }

  /** How many times the key was rate-limited since its last `forget`. */
  retries(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process (marked processing until `done`); undefined once shut down. */
  get(): Promise<K | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) return Promise.resolve(this.take(key));
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** The key's processing ended; if it was added meanwhile, it is queued again. */
  done(key: K): void {
    this.processing.delete(key);
    if (!this.dirty.has(key)) return;
    const getter = this.getters.shift();
    if (getter) this.hand(key, getter);
    else this.queue.push(key);
  }

  /** Keys waiting (not those processing or delayed). */
  get length(): number {
    return this.queue.length;
  }

  shutDown(): void {
    if (!this.shuttingDown) this.observed?.unregister();
    this.shuttingDown = true;
    for (const cancel of this.waiting.values()) cancel();
    this.waiting.clear();
    for (const getter of this.getters.splice(0)) getter(undefined);
  }

  private take(key: K): K {
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }

  private hand(key: K, getter: (key: K | undefined) => void): void {
    getter(this.take(key));
  }
}

export interface WorkerOptions<K> {
  /** Parallel workers (default 1). */
  workers?: number;
  /** Rate-limited retries of a failing key before it is dropped (default 15); it is retried at its next add. */
  maxRetries?: number;
  /** A failure, and whether the key is retried. */
  onError?(key: K, error: unknown, retrying: boolean): void;
}

/**
 * Runs workers that take keys from `queue` and `reconcile` them: success forgets the key's
 * failures, failure adds it rate-limited (up to `maxRetries`). Resolves when the queue shuts down
 * and the workers finished their keys.
 */
export async function runWorkers<K>(queue: WorkQueue<K>, reconcile: (key: K) => Promise<void>, options: WorkerOptions<K> = {}): Promise<void> {
  const maxRetries = options.maxRetries ?? 15;
  const worker = async () => {
    for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
      const started = performance.now();
      const observed = (ok: boolean) => queue.observed?.observer.reconciled(queue.observed.name, (performance.now() - started) / 1000, ok);
      try {
        await reconcile(key);
        observed(true);
        queue.forget(key);
      } catch (e) {
        observed(false);
        const retrying = queue.retries(key) < maxRetries;
        if (retrying) queue.addRateLimited(key);
        else queue.forget(key);
        options.onError?.(key, e, retrying);
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: options.workers ?? 1 }, worker));
}
