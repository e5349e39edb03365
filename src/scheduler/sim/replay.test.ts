import { describe, expect, it } from 'vitest';
import { createRng, shuffle } from '../engine/rng.js';
import { allocationAt, arrivalsFor, replay, tuneWorkload, type ReplayResult } from './replay.js';
import { taskGpu, type TraceNode, type TraceTask } from './trace.js';

const task = (name: string, gpuCount: number, gpuMilli: number, cpu = 1000): TraceTask => ({ name, cpu, memory: 1024, gpuCount, gpuMilli });
const asked = (ts: readonly TraceTask[]) => ts.reduce((s, t) => s + taskGpu(t), 0);
/** `n` tasks each asking a 300 share. */
const shares = (n: number) => Array.from({ length: n }, (_, i) => task(`s${i}`, 1, 300));

describe('tuneWorkload (the GPU request tuned to 1.3 × capacity)', () => {
  // capacity: 2 GPUs = 2000 thousandths; target 1.3 × 2000 = 2600
  it('appends draws until the next would pass the target', () => {
    // 3 × 300 = 900 asked; each draw adds 300: 900 → 1200 → … → 2400 after 5 draws; 2700 > 2600 stops
    for (const seed of [1, 2, 3]) {
      const t = tuneWorkload(shares(3), shares(3), 2000, createRng(seed));
      expect([t.appended, t.removed, t.tasks.length, t.asked, asked(t.tasks)]).toEqual([5, 0, 8, 2400, 2400]);
      expect(t.tasks.slice(0, 3).map((x) => x.name)).toEqual(['s0', 's1', 's2']); // appended at the end
      expect(new Set(t.tasks.map((x) => x.name)).size).toBe(8); // copies get their own names
    }
  });

  it('appends tasks without GPUs without stopping, and stops at a GPU draw that would pass', () => {
    // one 1-GPU task (1000) and one CPU-only task: 1000 → 2000 with the first GPU draw; the second
    // GPU draw would reach 3000 > 2600 and stops; CPU-only draws in between are all appended
    const original = [task('g', 1, 1000), task('c', 0, 0)];
    const t = tuneWorkload([...original], original, 2000, createRng(5));
    expect(t.asked).toBe(2000);
    expect(t.tasks.filter((x) => x.gpuCount > 0)).toHaveLength(2);
    expect(t.appended).toBe(t.tasks.length - 2);
  });

  it('removes random tasks until the request is at most the target', () => {
    // 10 × 300 = 3000 > 2600: removing 2 leaves 2400 ≤ 2600 (one removal leaves 2700)
    const t = tuneWorkload(shares(10), shares(10), 2000, createRng(9));
    expect([t.appended, t.removed, t.tasks.length, t.asked]).toEqual([0, 2, 8, 2400]);
    // which ones go depends on the seed
    const other = tuneWorkload(shares(10), shares(10), 2000, createRng(10));
    expect(other.tasks.map((x) => x.name)).not.toEqual(t.tasks.map((x) => x.name));
  });

  it('refuses a list without GPU tasks and a cluster without GPUs', () => {
    expect(() => tuneWorkload([task('c', 0, 0)], [task('c', 0, 0)], 2000, createRng(1))).toThrow(/tasks: none asks for a GPU/);
    expect(() => arrivalsFor(shares(3), [{ name: 'c', cpu: 1000, memory: 1024, gpus: 0, model: '' }], 42)).toThrow(/nodes: none has a GPU/);
  });
});

describe('arrivalsFor', () => {
  const nodes: TraceNode[] = ['g-0', 'g-1', 'g-2'].map((name) => ({ name, cpu: 32000, memory: 131072, gpus: 1, model: 'T4' }));

  it('shuffles with the seed, then tunes, then draws the tie order', () => {
    const a = arrivalsFor(shares(5), nodes, 42);
    // same seed, same run; the shuffle is the seed's
    expect(arrivalsFor(shares(5), nodes, 42)).toEqual(a);
    expect(a.tuned.tasks.slice(0, 5).map((t) => t.name)).toEqual(shuffle(shares(5), createRng(42)).map((t) => t.name));
    expect([...a.tieOrder].sort()).toEqual(['g-0', 'g-1', 'g-2']);
    const orders = new Set([42, 43, 44, 45, 46].map((s) => arrivalsFor(shares(5), nodes, s).tieOrder.join()));
    expect(orders.size).toBeGreaterThan(1);
  });
});

describe('replay', () => {
  const nodes: TraceNode[] = [
    { name: 'g-0', cpu: 32000, memory: 131072, gpus: 1, model: 'T4' },
    { name: 'g-1', cpu: 32000, memory: 131072, gpus: 1, model: 'T4' },
  ];

  it('records arrived and allocated GPU after each arrival, and has no value for a checkpoint not reached', () => {
    const r = replay(nodes, shares(3), { policy: 'bestfit', seed: 7 });
    // tuned to 8 × 300 = 2400 of 2000: arrivals 15, 30, …, 120 %; 6 shares fit (3 per GPU)
    expect(r.arrivals).toBe(8);
    expect(Array.from(r.arrived)).toEqual([15, 30, 45, 60, 75, 90, 105, 120]);
    expect(Array.from(r.allocated)).toEqual([15, 30, 45, 60, 75, 90, 90, 90]);
    expect(r.failed).toBe(2);
    expect(allocationAt(r, 90)).toBe(90);
    expect(allocationAt(r, 100)).toBeUndefined(); // 90 % and 105 % arrived: none rounds to 100
    expect(allocationAt(r, 130)).toBeUndefined(); // never got there
  });

  it('learns FGD\'s target from the arrivals, or takes it from the task list', () => {
    // a 1-GPU and a 2-GPU task on a 1-GPU and a 2-GPU node. When the 1-GPU task comes first and the
    // tie order favours the 2-GPU node: learned online, FGD knows only 1-GPU tasks (both nodes
    // score alike) and takes the 2-GPU node, so the 2-GPU task fails; from the task list it knows
    // 2-GPU tasks come, keeps the 2-GPU node whole, and both fit.
    const two: TraceNode[] = [
      { name: 'one', cpu: 32000, memory: 131072, gpus: 1, model: 'T4' },
      { name: 'two', cpu: 32000, memory: 131072, gpus: 2, model: 'T4' },
    ];
    const tasks = [task('a', 1, 1000), task('b', 2, 1000)];
    const seed = [...Array(100).keys()].find((s) => {
      const a = arrivalsFor(tasks, two, s);
      return a.tuned.tasks[0]!.name === 'a' && a.tieOrder[0] === 'two';
    })!;
    expect(replay(two, tasks, { policy: 'fgd', seed, workload: 'online' }).failed).toBe(1);
    expect(replay(two, tasks, { policy: 'fgd', seed, workload: 'trace' }).failed).toBe(0);
  });
});

describe('allocationAt', () => {
  const curve = (arrived: number[], allocated: number[]): ReplayResult => ({
    appended: 0,
    removed: 0,
    arrivals: arrived.length,
    failed: 0,
    arrived: Float64Array.from(arrived),
    allocated: Float64Array.from(allocated),
    wallMs: 0,
  });

  it('averages the arrivals that round to the checkpoint', () => {
    // 89.6 and 90.4 round to 90: (88 + 89)/2 = 88.5
    expect(allocationAt(curve([80, 89.6, 90.4, 95], [80, 88, 89, 90]), 90)).toBe(88.5);
  });

  it('has no value when no arrival rounds to the checkpoint', () => {
    expect(allocationAt(curve([80, 89.2, 91.4], [80, 88, 89]), 90)).toBeUndefined();
    expect(allocationAt(curve([80, 120], [80, 99]), 130)).toBeUndefined();
  });
});
