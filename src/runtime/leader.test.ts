import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackend, type Backend, type WatchEvent, type Watcher } from '../store/index.js';
import { Repository } from '../store/repository.js';
import { LeaderElection } from './leader.js';

const backends: [string, (dir: string) => Promise<Backend>][] = [
  ['memory', () => openBackend('memory:')],
  ['sqlite', (dir) => openBackend(`sqlite://${join(dir, 'db.sqlite')}?sync=normal`)],
];

const TTL = 3;

/**
 * The store as one runtime reaches it: `cut` makes its calls fail and its watches go quiet, as a
 * lost connection does; a watch that missed changes ends with `resync` once delivery resumes.
 */
function reach(backend: Backend): { repo: Repository; cut: { on: boolean } } {
  const cut = { on: false };
  const failing = new Set<string | symbol>(['leaseGrant', 'leaseKeepAlive', 'leaseRevoke', 'txn', 'get', 'revision']);
  const proxied = new Proxy(backend, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'watch') return (prefix: string, from: number, onEvent: (e: WatchEvent) => void) => quietWhenCut(target, cut, prefix, from, onEvent);
      if (typeof value !== 'function') return value;
      if (cut.on && failing.has(prop)) return () => Promise.reject(new Error('connection refused'));
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
  return { repo: new Repository(proxied), cut };
}

function quietWhenCut(backend: Backend, cut: { on: boolean }, prefix: string, from: number, onEvent: (e: WatchEvent) => void): Watcher {
  let missed = false;
  let ended = false;
  const inner = backend.watch(prefix, from, (e) => {
    if (ended) return;
    if (cut.on) {
      missed = true;
      return;
    }
    if (missed) {
      ended = true;
      inner.close();
      return onEvent({ type: 'resync', revision: e.type === 'resync' ? e.revision : e.kv.modRevision, reason: 'the connection was lost' });
    }
    onEvent(e);
  });
  return inner;
}

describe.each(backends)('leader election on the %s store', (_name, open) => {
  let dir: string;
  let backend: Backend;
  /** Who leads, by the callbacks, and every time two did at once. */
  let current: string | undefined;
  let intervals: { who: string; from: number; to?: number }[];
  let overlaps: string[];
  const runtimes: LeaderElection[] = [];

  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    dir = mkdtempSync(join(tmpdir(), 'stratus-leader-'));
    backend = await open(dir);
    current = undefined;
    intervals = [];
    overlaps = [];
  });
  afterEach(async () => {
    for (const r of runtimes.splice(0)) await r.stop();
    vi.useRealTimers();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function runtime(who: string, repo: Repository): LeaderElection {
    const r = new LeaderElection(repo, {
      election: 'controllers',
      identity: who,
      ttlSeconds: TTL,
      onStartedLeading: () => {
        if (current !== undefined) overlaps.push(`${who} started leading while ${current} led`);
        current = who;
        intervals.push({ who, from: Date.now() });
      },
      onStoppedLeading: () => {
        if (current !== who) overlaps.push(`${who} stopped leading while ${current ?? 'no one'} led`);
        current = undefined;
        intervals.at(-1)!.to = Date.now();
      },
    });
    runtimes.push(r);
    return r;
  }

  /** Runtimes a (which leads, uncontested) and b (which follows), started in that order. */
  const startTwo = async (aRepo = reach(backend).repo) => {
    const a = runtime('a', aRepo);
    const b = runtime('b', reach(backend).repo);
    await a.start();
    expect(a.isLeader).toBe(true);
    await b.start();
    return [a, b] as const;
  };

  const elapse = async (ms: number) => {
    for (let t = 0; t < ms; t += 50) {
      await vi.advanceTimersByTimeAsync(50);
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    }
  };

  /** Advances time until `r` leads; returns how long that took (ms). */
  const untilLeads = async (r: LeaderElection, limitMs: number) => {
    const from = Date.now();
    while (!r.isLeader && Date.now() - from < limitMs) await elapse(50);
    return Date.now() - from;
  };

  /** Leadership intervals in order; each ended before the next began. */
  const assertNoOverlap = () => {
    expect(overlaps).toEqual([]);
    for (let i = 1; i < intervals.length; i++) expect(intervals[i - 1]!.to).toBeLessThanOrEqual(intervals[i]!.from);
  };

  it('leads uncontested at start; the other follows while the leader keeps its lease alive', async () => {
    const [a, b] = await startTwo();
    await elapse(4 * TTL * 1000);
    expect([a.isLeader, b.isLeader]).toEqual([true, false]);
    expect(await a.holder()).toBe('a');
    assertNoOverlap();
  });

  it('a leader that loses the store steps down before its lease expires; the other leads within the TTL, and the first follows when back', async () => {
    const ra = reach(backend);
    const [a, b] = await startTwo(ra.repo);
    await elapse(2000);
    ra.cut.on = true;
    const took = await untilLeads(b, 3 * TTL * 1000);
    expect(b.isLeader).toBe(true);
    expect(a.isLeader).toBe(false);
    // the lease ran out at most TTL after the cut; the store checks leases every 250 ms
    expect(took).toBeLessThanOrEqual(TTL * 1000 + 250);
    ra.cut.on = false;
    await elapse(3 * TTL * 1000);
    expect([a.isLeader, b.isLeader]).toEqual([false, true]);
    expect(intervals.map((i) => i.who)).toEqual(['a', 'b']);
    assertNoOverlap();
  });

  it('a leader whose lease is revoked by someone else stops at once, and the other leads', async () => {
    const [a, b] = await startTwo();
    const repo = new Repository(backend);
    await repo.leases.revoke(a.leaseId!);
    expect(a.isLeader).toBe(false);
    await untilLeads(b, TTL * 1000);
    expect(b.isLeader).toBe(true);
    assertNoOverlap();
  });

  it('a leader that stops hands over without waiting for its lease to run out', async () => {
    const [a, b] = await startTwo();
    await a.stop();
    const took = await untilLeads(b, 3 * TTL * 1000);
    expect(b.isLeader).toBe(true);
    expect(took).toBeLessThan(TTL * 1000);
    assertNoOverlap();
  });

  it('never has two leaders through a seeded run of cuts, heals, revocations and restarts of three runtimes', async () => {
    let seed = 11;
    /** mulberry32: a seeded uniform integer below n. */
    const rand = (n: number) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return (((t ^ (t >>> 14)) >>> 0) / 2 ** 32 * n) | 0;
    };
    const reaches = ['a', 'b', 'c'].map(() => reach(backend));
    const rs = reaches.map((r, i) => runtime('abc'[i]!, r.repo));
    for (const r of rs) await r.start();
    const admin = new Repository(backend);
    for (let step = 0; step < 40; step++) {
      const i = rand(3);
      const action = rand(4);
      if (action === 0) reaches[i]!.cut.on = true;
      else if (action === 1) reaches[i]!.cut.on = false;
      else if (action === 2 && rs[i]!.isLeader) await admin.leases.revoke(rs[i]!.leaseId!).catch(() => undefined);
      else if (action === 3) {
        await rs[i]!.stop();
        runtimes.splice(runtimes.indexOf(rs[i]!), 1);
        rs[i] = runtime('abc'[i]!, reaches[i]!.repo);
        await rs[i]!.start().catch(() => undefined);
      }
      await elapse(rand(2 * TTL * 1000));
      expect(rs.filter((r) => r.isLeader).length).toBeLessThanOrEqual(1);
    }
    for (const r of reaches) r.cut.on = false;
    await elapse(3 * TTL * 1000);
    expect(rs.filter((r) => r.isLeader)).toHaveLength(1);
    expect(intervals.length).toBeGreaterThan(2);
    assertNoOverlap();
  });
});
