import { describe, it, expect } from 'vitest';
import { WorkQueue, runWorkers, type Schedule } from './workqueue.js';

/** A schedule the test runs by hand: `pending` holds what waits, with its delay. */
function manualSchedule(): { schedule: Schedule; pending: { ms: number; fn: () => void; cancelled: boolean }[] } {
  const pending: { ms: number; fn: () => void; cancelled: boolean }[] = [];
  return {
    pending,
    schedule: (fn, ms) => {
      const entry = { ms, fn, cancelled: false };
      pending.push(entry);
      return () => void (entry.cancelled = true);
    },
  };
}

/** Runs what was scheduled so far (not what that schedules). */
function fire(pending: { fn: () => void; cancelled: boolean }[]): void {
  for (const p of pending.splice(0)) if (!p.cancelled) p.fn();
}

describe('WorkQueue', () => {
  it('processes a key added several times while it waits once', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.length).toBe(0);
  });

  it('never hands a key being processed to another worker, and processes it again after done when it was re-added', async () => {
    const q = new WorkQueue();
    q.add('a');
    expect(await q.get()).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.length).toBe(0); // not queued while processing
    let next: string | undefined;
    void q.get().then((k) => (next = k));
    await Promise.resolve();
    expect(next).toBeUndefined();
    q.done('a');
    await Promise.resolve();
    expect(next).toBe('a');
    q.done('a');
    expect(q.length).toBe(0); // not re-added this time: processed once more, not twice
  });

  it('wakes a waiting get on add, and every waiting get with undefined on shut down; adds after it are ignored', async () => {
    const q = new WorkQueue();
    const first = q.get();
    const second = q.get();
    q.add('x');
    expect(await first).toBe('x');
    q.shutDown();
    expect(await second).toBeUndefined();
    q.add('y');
    expect(await q.get()).toBeUndefined();
  });

  it('backs off exponentially per key up to the maximum, and starts over after forget', () => {
    const { schedule, pending } = manualSchedule();
    const q = new WorkQueue({ baseMs: 10, maxMs: 100, schedule });
    for (let i = 0; i < 6; i++) {
      q.addRateLimited('a');
      expect(pending.at(-1)!.ms).toBe([10, 20, 40, 80, 100, 100][i]);
      fire(pending);
    }
    q.addRateLimited('b');
    expect(pending.at(-1)!.ms).toBe(10);
    expect(q.retries('a')).toBe(6);
    q.forget('a');
    q.addRateLimited('a');
    expect(pending.at(-1)!.ms).toBe(10);
    expect(q.length).toBe(1); // 'a' waits once however often it was added
  });

  it('adds a delayed key only when its delay ran out, once however often it was delayed', async () => {
    const { schedule, pending } = manualSchedule();
    const q = new WorkQueue({ schedule });
    q.addAfter('a', 50);
    q.addAfter('a', 50);
    expect(pending.length).toBe(1);
    expect(q.length).toBe(0);
    fire(pending);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
    q.addAfter('b', 50);
    q.shutDown();
    expect(pending[0]!.cancelled).toBe(true);
  });

  it('runWorkers retries a failing key with backoff until it succeeds, then forgets its failures; it gives up after maxRetries', async () => {
    const { schedule, pending } = manualSchedule();
    const q = new WorkQueue({ baseMs: 1, schedule });
    let failuresLeft = 2;
    const reconciled: string[] = [];
    const errors: [string, boolean][] = [];
    const running = runWorkers(q, async (key) => {
      reconciled.push(key);
      if (key === 'flaky' && failuresLeft-- > 0) throw new Error('not yet');
      if (key === 'broken') throw new Error('never');
    }, { maxRetries: 2, onError: (key, _e, retrying) => errors.push([key, retrying]) });
    q.add('flaky');
    q.add('broken');
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setImmediate(r));
      expect(pending.every((p) => p.ms > 0)).toBe(true);
      fire(pending);
    }
    await new Promise((r) => setImmediate(r));
    expect(reconciled.filter((k) => k === 'flaky')).toHaveLength(3);
    expect(q.retries('flaky')).toBe(0);
    expect(reconciled.filter((k) => k === 'broken')).toHaveLength(3);
    expect(errors.filter(([k]) => k === 'broken')).toEqual([['broken', true], ['broken', true], ['broken', false]]);
    expect(pending).toEqual([]);
    q.shutDown();
    await running;
  });

  it('runWorkers with several workers never reconciles one key twice at once', async () => {
    const q = new WorkQueue();
    const busy = new Set<string>();
    let overlaps = 0;
    let runs = 0;
    const running = runWorkers(q, async (key) => {
      runs++;
      if (busy.has(key)) overlaps++;
      busy.add(key);
      await new Promise((r) => setImmediate(r));
      busy.delete(key);
    }, { workers: 4 });
    for (let i = 0; i < 20; i++) {
      q.add(`k${i % 3}`);
      await Promise.resolve();
    }
    while (q.length > 0 || busy.size > 0) await new Promise((r) => setImmediate(r));
    q.shutDown();
    await running;
    expect(overlaps).toBe(0);
    expect(runs).toBeGreaterThanOrEqual(3);
    expect(runs).toBeLessThan(20);
  });
});

describe('WorkQueue observer', () => {
  it('reports the depth while registered, each reconcile with its outcome, and unregisters at shutDown', async () => {
    const depths = new Map<string, () => number>();
    const seen: { name: string; ok: boolean }[] = [];
    const observer = {
      queue: (name: string, depth: () => number) => {
        depths.set(name, depth);
        return () => void depths.delete(name);
      },
      reconciled: (name: string, seconds: number, ok: boolean) => {
        expect(seconds).toBeGreaterThanOrEqual(0);
        seen.push({ name, ok });
      },
    };
    const q = new WorkQueue<string>({ observer, name: 'things', schedule: manualSchedule().schedule });
    q.add('a');
    q.add('b');
    expect(depths.get('things')!()).toBe(2);
    const done = runWorkers(q, async (key) => {
      if (key === 'b') throw new Error('no');
    }, { maxRetries: 0 });
    await new Promise((r) => setTimeout(r, 10));
    expect(seen).toEqual([{ name: 'things', ok: true }, { name: 'things', ok: false }]);
    q.shutDown();
    await done;
    expect(depths.has('things')).toBe(false);
  });
});
