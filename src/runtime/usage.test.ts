import { describe, it, expect } from 'vitest';
import { MemoryBackend } from '../store/memory.js';
import { Repository } from '../store/repository.js';
import { FakeClock } from '../model/runtime.js';
import { Informers } from './informers.js';
import { UsageHistory, writeUsageReport } from './usage.js';
import { ColumnRing } from './usage-ring.js';
import { usageKeys } from '../model/keyspace.js';
import { counterIncrease, type InstanceUsage, type NodeUsageReport, type ServiceTraffic } from '../model/usage.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');

/** A report of `node` measured at `clock`'s time. */
function report(clock: FakeClock, node: string, instances: Partial<InstanceUsage>[] = [], services: ServiceTraffic[] = []): NodeUsageReport {
  return {
    node, at: new Date(clock.now()).toISOString(), intervalMs: 5000, cpu: 100, memory: 200,
    instances: instances.map((u) => ({ uid: 'u1', project: 'alpha', name: 'web', cpu: 0, cpuSeconds: 0, memory: 0, ...u })),
    services,
  };
}

describe('ColumnRing', () => {
  it('keeps at most its capacity, oldest first, in memory fixed at creation', () => {
    const ring = new ColumnRing(3, { t: 'f64', v: 'f32' });
    const bytes = ring.bytes;
    for (let i = 1; i <= 5; i++) ring.push({ t: i, v: i * 10 });
    expect(ring.slice()).toEqual([{ t: 3, v: 30 }, { t: 4, v: 40 }, { t: 5, v: 50 }]);
    expect(ring.bytes).toBe(bytes); // 3 × (8 + 4)
    expect(ring.firstFrom('t', 4)).toBe(1);
    expect(ring.firstFrom('t', 9)).toBe(3);
  });

  it('leaves absent values out', () => {
    const ring = new ColumnRing(2, { t: 'f64', v: 'f32' });
    ring.push({ t: 1 });
    expect(ring.slice()).toEqual([{ t: 1 }]);
  });
});

describe('counterIncrease', () => {
  it.each([
    [undefined, 5, 0], // first reading: nothing known before
    [5, 9, 4],
    [9, 3, 3], // went down: reset (the agent restarted), the new reading is the increase
  ])('%s → %s = %s', (prev, next, want) => expect(counterIncrease(prev, next)).toBe(want));
});

describe('UsageHistory', () => {
  it('bounds each instance\'s and node\'s history to `points`, oldest dropped', () => {
    const clock = new FakeClock(T0);
    const h = new UsageHistory(undefined, { points: 4, clock });
    for (let i = 0; i < 10; i++) {
      h.apply(report(clock, 'n1', [{ cpu: i * 100, cpuSeconds: i }]));
      clock.advance(5000);
    }
    expect(h.history('u1').map((p) => p.cpu)).toEqual([600, 700, 800, 900]);
    expect(h.nodeHistory('n1')).toHaveLength(4);
    expect(h.latest('u1')).toMatchObject({ cpu: 900, node: 'n1', project: 'alpha', name: 'web', at: new Date(T0 + 45_000).toISOString() });
    expect(h.history('u1')[0]).toEqual({ uid: 'u1', project: 'alpha', name: 'web', at: new Date(T0 + 30_000).toISOString(), cpu: 600, cpuSeconds: 6, memory: 0 });
  });

  it('answers a window of history on the server\'s clock', () => {
    const clock = new FakeClock(T0);
    const h = new UsageHistory(undefined, { clock });
    for (let i = 0; i < 13; i++) { // one minute at 5 s
      h.apply(report(clock, 'n1', [{ cpu: i }]));
      clock.advance(5000);
    }
    // now = T0 + 65 s: the last 20 s hold the points at 50, 55, 60 s (45 s is 20 s ago: kept too)
    expect(h.history('u1', 20_000).map((p) => p.cpu)).toEqual([9, 10, 11, 12]);
    expect(h.history('u1').length).toBe(13);
    expect(h.nodeHistory('n1', 10_000)).toHaveLength(2);
    expect(h.history('nobody')).toEqual([]);
  });

  it('applies a report once: the same or an older one again changes nothing', () => {
    const clock = new FakeClock(T0);
    const h = new UsageHistory(undefined, { clock });
    const r = report(clock, 'n1', [{ cpu: 5 }]);
    h.apply(r);
    h.apply(r);
    clock.advance(5000);
    h.apply({ ...r, at: new Date(T0 - 1000).toISOString() });
    expect(h.history('u1')).toHaveLength(1);
  });

  it('sums service rates over nodes from cumulative counters, a reset counter counting from zero', () => {
    const clock = new FakeClock(T0);
    const h = new UsageHistory(undefined, { clock });
    const svc = (connections: number, requests?: number): ServiceTraffic[] => [{ project: 'alpha', service: 'web', connections, ...(requests !== undefined ? { requests } : {}) }];
    // n1: 10 connections a second; n2: 0 → 50 → (agent restarted) 20 → 70: 50 + 20 + 50 = 120 in 15 s = 8/s
    const n1 = [100, 150, 200, 250];
    const n2 = [0, 50, 20, 70];
    for (let i = 0; i < 4; i++) {
      h.apply(report(clock, 'n1', [], svc(n1[i]!, n1[i]! * 2)));
      h.apply(report(clock, 'n2', [], svc(n2[i]!)));
      clock.advance(5000);
    }
    expect(h.serviceRate('alpha', 'web', 60_000)).toBeCloseTo(10 + 8);
    expect(h.serviceRate('alpha', 'web', 60_000, 'requests')).toBeCloseTo(20); // n2 does not count requests
    // the last 6 s hold one point per node: no rate can be known
    expect(h.serviceRate('alpha', 'web', 6000)).toBeUndefined();
    expect(h.serviceRate('alpha', 'other', 60_000)).toBeUndefined();
  });

  it('forgets instances their node stopped reporting, and nodes that stopped reporting', () => {
    const clock = new FakeClock(T0);
    const h = new UsageHistory(undefined, { clock, forgetMs: 60_000 });
    h.apply(report(clock, 'n1', [{ uid: 'a' }, { uid: 'b' }]));
    h.apply(report(clock, 'n2', [{ uid: 'c' }]));
    for (let i = 0; i < 20; i++) {
      clock.advance(5000);
      h.apply(report(clock, 'n1', [{ uid: 'a' }]));
    }
    expect([...h.instances()].map((u) => u.uid)).toEqual(['a']);
    expect([...h.nodes()].map((n) => n.node)).toEqual(['n1']);
  });

  it('lists as current only the instances of each node\'s latest report, of nodes still reporting; the last known stays readable', () => {
    const clock = new FakeClock(T0);
    const h = new UsageHistory(undefined, { clock });
    h.apply(report(clock, 'n1', [{ uid: 'a' }, { uid: 'b', cpu: 7 }]));
    h.apply(report(clock, 'n2', [{ uid: 'c' }]));
    clock.advance(5000);
    h.apply(report(clock, 'n1', [{ uid: 'a' }])); // b stopped
    expect([...h.instances()].map((u) => u.uid).sort()).toEqual(['a', 'c']);
    expect(h.latest('b')?.cpu).toBe(7);
    clock.advance(26_000); // n2 silent for 31 s (3 intervals would be 15 s; at least 30 s)
    h.apply(report(clock, 'n1', [{ uid: 'a' }]));
    expect([...h.instances()].map((u) => u.uid)).toEqual(['a']);
    expect([...h.nodes()].map((n) => n.node)).toEqual(['n1']);
    expect(h.history('c')).toHaveLength(1);
  });

  it('tells listeners after each report applied', () => {
    const clock = new FakeClock(T0);
    const h = new UsageHistory(undefined, { clock });
    const seen: string[] = [];
    const off = h.onReport((n) => seen.push(n));
    h.apply(report(clock, 'n1'));
    off();
    clock.advance(1);
    h.apply(report(clock, 'n1'));
    expect(seen).toEqual(['n1']);
  });

  it('follows the reports in the store: those written before it started, after, and a deleted node', async () => {
    const clock = new FakeClock(T0);
    const repo = new Repository(new MemoryBackend(), clock);
    await writeUsageReport(repo, report(clock, 'n1', [{ uid: 'a', cpu: 10 }]));
    const h = new UsageHistory(new Informers(repo), { clock });
    await h.start();
    expect(h.latest('a')?.cpu).toBe(10);
    clock.advance(5000);
    await writeUsageReport(repo, report(clock, 'n2', [{ uid: 'b', cpu: 20 }]));
    expect(h.latest('b')).toMatchObject({ cpu: 20, node: 'n2' });
    await repo.records.txn([{ op: 'delete', key: usageKeys.key('n2') }]);
    expect(h.latest('b')).toBeUndefined();
    await h.stop();
    expect(h.lastProblem()).toBe('');
  });

  it('ignores a stored report older than forgetMs when it starts (a node gone long ago)', async () => {
    const clock = new FakeClock(T0);
    const repo = new Repository(new MemoryBackend(), clock);
    await writeUsageReport(repo, report(clock, 'gone', [{ uid: 'a' }]));
    clock.advance(3_600_000);
    const h = new UsageHistory(new Informers(repo), { clock });
    await h.start();
    expect([...h.nodes()]).toEqual([]);
    await h.stop();
  });
});

describe('UsageHistory memory', () => {
  it('holds 56 bytes per point of an instance, fixed when the instance is first seen', () => {
    const clock = new FakeClock(T0);
    const h = new UsageHistory(undefined, { clock, points: 720 });
    h.apply(report(clock, 'n1', [{ uid: 'a' }]));
    const one = h.bytes;
    for (let i = 0; i < 1000; i++) {
      clock.advance(5000);
      h.apply(report(clock, 'n1', [{ uid: 'a' }]));
    }
    expect(h.bytes).toBe(one);
    const node = 720 * (8 + 8 + 4 + 4);
    expect(one - node).toBe(720 * 56);
  });
});
