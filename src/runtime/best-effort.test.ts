import { describe, it, expect } from 'vitest';
import { BestEffort } from './best-effort.js';

describe('BestEffort', () => {
  it('runs at most `concurrency` at once, queues the rest in order, drops beyond the queue', async () => {
    const limiter = new BestEffort(2, 3);
    let inFlight = 0;
    let most = 0;
    const done: number[] = [];
    const releases: (() => void)[] = [];
    for (let i = 0; i < 7; i++) {
      limiter.offer(async () => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise<void>((r) => releases.push(r));
        inFlight--;
        done.push(i);
      });
    }
    expect(limiter.pending).toBe(5);
    expect(limiter.dropped).toBe(2);
    while (done.length < 5) {
      releases.shift()?.();
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(done).toEqual([0, 1, 2, 3, 4]);
    expect(most).toBe(2);
    expect(limiter.pending).toBe(0);
  });

  it('a failing job goes to onError and frees its slot', async () => {
    const limiter = new BestEffort(1, 10);
    const errors: string[] = [];
    let ran = false;
    limiter.offer(async () => { throw new Error('store down'); }, (e) => errors.push(e.message));
    limiter.offer(async () => { ran = true; });
    await new Promise((r) => setTimeout(r, 5));
    expect(errors).toEqual(['store down']);
    expect(ran).toBe(true);
  });
});
