import { describe, it, expect } from 'vitest';
import { FakeClock } from '../../model/runtime.js';
import type { Instance } from '../../model/kinds/instance.js';
import type { TaskHandle, TaskStats } from '../drivers/index.js';
import type { NodeUsageReport } from '../../model/usage.js';
import { statusUsageSource, UsageReporter, type RunningTask, type UsageReporterDeps } from './usage.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function instance(name: string, labels: Record<string, string> = {}): Instance {
  return {
    kind: 'instance',
    metadata: { name, project: 'alpha', uid: `uid-${name}`, labels, revision: 1, generation: 1, createdAt: new Date(T0).toISOString() },
    spec: { driver: 'process', resources: { cpu: 500, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'never', gracePeriod: 10 },
    status: { phase: 'Running', node: 'n1' },
  } as Instance;
}

function handle(taskId: string, startedAt = T0): TaskHandle {
  return { driver: 'process', version: 1, taskId, instance: { project: 'alpha', name: taskId, uid: taskId }, dir: '/nowhere', pid: 999_999_999, startedAt: new Date(startedAt).toISOString(), state: {} } as unknown as TaskHandle;
}

/** A driver whose cumulative CPU counter (ns) is what the test sets. */
function driver(counter: { ns: number }, extra: Partial<TaskStats> = {}) {
  return {
    stats: async (): Promise<TaskStats> => ({ at: '', cpu: 12345, cpuUsageNs: counter.ns, memory: 40, memoryBytes: 40 * 1024 * 1024, source: 'cgroup', ...extra }),
  };
}

function reporter(tasks: RunningTask[], more: Partial<UsageReporterDeps> = {}) {
  const clock = new FakeClock(T0);
  const sent: NodeUsageReport[] = [];
  const logs: string[] = [];
  const r = new UsageReporter({ node: 'n1', clock, running: () => tasks, send: async (rep) => void sent.push(rep), log: (m) => logs.push(m), procRoot: '/nonexistent', ...more });
  return { r, clock, sent, logs };
}

describe('UsageReporter', () => {
  it('computes millicores from the cumulative counter between its own readings, whatever stats().cpu says', async () => {
    const counter = { ns: 0 };
    const { r, clock } = reporter([{ instance: instance('web', { 'stratus.io/service': 'web' }), handle: handle('t1'), driver: driver(counter, { throttling: { periods: 50, throttledPeriods: 20, throttledNs: 1 }, pids: 3 }) }]);
    clock.advance(10_000);
    counter.ns = 5e9; // 5 s of CPU in the 10 s since the start: 500m
    const first = await r.collect();
    expect(first.instances[0]).toMatchObject({ uid: 'uid-web', project: 'alpha', name: 'web', service: 'web', cpu: 500, cpuSeconds: 5, memory: 40, throttledPeriods: 20, periods: 50, pids: 3 });
    expect(first.instances[0]!.netRxBytes).toBeUndefined(); // no namespace to read
    clock.advance(5000);
    counter.ns = 5e9 + 1.25e9; // 1.25 s in 5 s: 250m
    const second = await r.collect();
    expect(second).toMatchObject({ node: 'n1', intervalMs: 5000, cpu: 250, memory: 40, services: [] });
    expect(second.instances[0]!.cpu).toBe(250);
  });

  it('counts a counter that went down (a new run under the same task) from zero', async () => {
    const counter = { ns: 8e9 };
    const { r, clock } = reporter([{ instance: instance('web'), handle: handle('t1'), driver: driver(counter) }]);
    clock.advance(10_000);
    await r.collect();
    clock.advance(1000);
    counter.ns = 0.5e9; // reset: 0.5 s in 1 s
    expect((await r.collect()).instances[0]!.cpu).toBe(500);
  });

  it('leaves out an instance whose stats fail, sums node totals over the others, and sends the services\' counters', async () => {
    const failing = { stats: async (): Promise<TaskStats> => { throw new Error('gone'); } };
    const { r } = reporter([
      { instance: instance('a'), handle: handle('ta'), driver: driver({ ns: 0 }) },
      { instance: instance('b'), handle: handle('tb'), driver: failing },
      { instance: instance('c'), handle: handle('tc'), driver: driver({ ns: 0 }) },
    ], { serviceTraffic: async () => [{ project: 'alpha', service: 'web', connections: 7 }] });
    const rep = await r.collect();
    expect(rep.instances.map((u) => u.name)).toEqual(['a', 'c']);
    expect(rep.memory).toBe(80);
    expect(rep.services).toEqual([{ project: 'alpha', service: 'web', connections: 7 }]);
  });

  it('adds GPU usage from one sample per round', async () => {
    let samples = 0;
    const gpu = {
      sample: async () => (samples++, { memory: new Map(), sm: new Map(), devices: [], cgroups: new Map() }),
      usage: () => ({ gpuMemory: 1024, gpuUtilization: 37 }),
    };
    const { r } = reporter([{ instance: instance('a'), handle: handle('ta'), driver: driver({ ns: 0 }) }, { instance: instance('b'), handle: handle('tb'), driver: driver({ ns: 0 }) }], { gpu });
    const rep = await r.collect();
    expect(samples).toBe(1);
    expect(rep.instances[1]).toMatchObject({ gpuMemory: 1024, gpuUtilization: 37 });
  });

  it('says a failing send once, and when reports are accepted again', async () => {
    let fail = true;
    const { r, logs } = reporter([], { send: async () => { if (fail) throw new Error('503 store unavailable'); } });
    await r.round();
    await r.round();
    expect(r.health()).toMatch(/503/);
    fail = false;
    await r.round();
    expect(logs).toEqual(['could not send the usage report: 503 store unavailable', 'usage reports are accepted again']);
    expect(r.health()).toBe('');
  });

  it('gives the agent\'s status.usage writes its last round, so the drivers\' stats() have one reader', async () => {
    const counter = { ns: 0 };
    let calls = 0;
    const d = { stats: async () => (calls++, driver(counter).stats()) };
    const task = { instance: instance('web'), handle: handle('t1'), driver: d };
    const { r, clock } = reporter([task]);
    const source = await statusUsageSource(r, { driver: () => d, running: [task.instance] });
    expect(await source(task.instance, task.handle)).toBeUndefined(); // no round yet
    clock.advance(10_000);
    counter.ns = 2e9;
    await r.collect();
    expect(await source(task.instance, task.handle)).toEqual({ cpu: 200, memory: 40, at: new Date(T0 + 10_000).toISOString() });
    expect(calls).toBe(1);
  });

  it('without a reporter, status.usage is measured by stats() and one GPU sample', async () => {
    const counter = { ns: 0 };
    const task = { instance: instance('web'), handle: handle('t1'), driver: driver(counter) };
    let samples = 0;
    const gpu = { sample: async () => (samples++, { memory: new Map(), sm: new Map(), devices: [], cgroups: new Map() }), usage: () => ({ gpuMemory: 512 }) };
    const source = await statusUsageSource(undefined, { driver: () => task.driver, gpu, running: [task.instance] });
    expect(await source(task.instance, task.handle)).toEqual({ cpu: 12345, memory: 40, at: '', gpuMemory: 512 });
    await source(task.instance, task.handle);
    expect(samples).toBe(1);
  });
});
