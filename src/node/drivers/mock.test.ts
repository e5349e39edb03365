import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MockDriver, MockWorld } from './mock.js';
import { isExecCapable } from './driver.js';
import { makeTask } from './testing.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const task = (env: Record<string, string> = {}) => makeTask('/tmp/mock', ['anything'], { spec: { env } });

describe('mock driver', () => {
  it('runs until stopped, then reports Stopped by SIGTERM', async () => {
    const d = new MockDriver();
    const h = await d.start(task());
    expect(await d.inspect(h)).toMatchObject({ running: true });
    expect(await d.stop(h, 1000)).toMatchObject({ reason: 'Stopped', signal: 'SIGTERM' });
    expect(await d.inspect(h)).toMatchObject({ running: false, exit: { reason: 'Stopped' } });
  });

  it('exits with the configured code after N ms (from the spec environment)', async () => {
    const d = new MockDriver();
    const h = await d.start(task({ STRATUS_MOCK_RUN_FOR_MS: '500', STRATUS_MOCK_EXIT_CODE: '4' }));
    const waiting = d.wait(h);
    await vi.advanceTimersByTimeAsync(499);
    expect((await d.inspect(h)).running).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(await waiting).toMatchObject({ code: 4, reason: 'Error' });
  });

  it('simulates OOM kills, start failures and start delays', async () => {
    const d = new MockDriver();
    const oom = await d.start(task({ STRATUS_MOCK_OOM_AFTER_MS: '10' }));
    await vi.advanceTimersByTimeAsync(10);
    expect(await d.wait(oom)).toMatchObject({ reason: 'OOMKilled', oomKilled: true, signal: 'SIGKILL' });
    await expect(d.start(task({ STRATUS_MOCK_START_ERROR: 'image pull failed' }))).rejects.toMatchObject({ code: 'START_FAILED', message: 'image pull failed' });
    const slow = new MockDriver({ defaults: { startDelayMs: 200 } }).start(task());
    let started = false;
    void slow.then(() => (started = true));
    await vi.advanceTimersByTimeAsync(199);
    expect(started).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(started).toBe(true);
  });

  it('waits the whole grace period for a task that ignores SIGTERM', async () => {
    const d = new MockDriver({ defaults: { ignoreTerm: true } });
    const h = await d.start(task());
    const stopping = d.stop(h, 300);
    await vi.advanceTimersByTimeAsync(299);
    expect((await d.inspect(h)).running).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(await stopping).toMatchObject({ reason: 'Stopped', signal: 'SIGKILL' });
  });

  it('survives an "agent restart": a new driver on the same world recovers the handle', async () => {
    const world = new MockWorld();
    const before = new MockDriver({ world });
    const h = await before.start(task({ STRATUS_MOCK_RUN_FOR_MS: '100' }));
    const after = new MockDriver({ world });
    const r = await after.recover(JSON.parse(JSON.stringify(h)));
    expect(r.pid).toBe(h.pid);
    await vi.advanceTimersByTimeAsync(100);
    expect(await after.wait(r)).toMatchObject({ reason: 'Completed' });
    await after.destroy(r);
    await after.destroy(r);
    await expect(after.recover(h)).rejects.toMatchObject({ code: 'UNKNOWN_TASK' });
    await expect(after.recover({ driver: 'process' })).rejects.toMatchObject({ code: 'INVALID_HANDLE' });
    expect(after.calls.map((c) => c.method)).toEqual(['recover', 'wait', 'destroy', 'destroy', 'recover']);
  });

  it('can stand in for another driver, and offers exec', async () => {
    const d = new MockDriver({ name: 'process', defaults: { stats: { cpu: 250, memory: 64 }, logLines: ['hello'] } });
    const h = await d.start(task());
    expect(h.driver).toBe('process');
    expect(await d.stats(h)).toMatchObject({ cpu: 250, memory: 64 });
    const lines = [];
    for await (const l of d.logs(h)) lines.push(l.line);
    expect(lines).toEqual(['hello']);
    expect(isExecCapable(d)).toBe(true);
    expect((await d.exec(h, ['echo', 'x'])).stdout).toBe('echo x\n');
  });
});
