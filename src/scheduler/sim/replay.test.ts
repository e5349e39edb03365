import { describe, expect, it } from 'vitest';
import { allocationAt, arrivalsFor, replay, type ReplayResult } from './replay.js';
import { taskGpu, type TraceNode, type TraceTask } from './trace.js';

const nodes: TraceNode[] = [
  { name: 'g-0', cpu: 32000, memory: 131072, gpus: 4, model: 'T4' },
  { name: 'g-1', cpu: 32000, memory: 131072, gpus: 4, model: 'T4' },
  { name: 'c-0', cpu: 16000, memory: 65536, gpus: 0, model: '' },
];
const task = (name: string, gpuCount: number, gpuMilli: number, cpu = 1000): TraceTask => ({ name, cpu, memory: 1024, gpuCount, gpuMilli });
const tasks: TraceTask[] = [task('a', 1, 500), task('b', 1, 1000), task('c', 0, 0), task('d', 2, 1000), task('e', 1, 250)];

describe('arrivalsFor', () => {
  it('shuffles with the seed and inflates to 1.3× by sampling the trace', () => {
    const a = arrivalsFor(tasks, nodes, 42);
    expect(a).toHaveLength(Math.ceil(tasks.length * 1.3));
    expect(a.slice(0, 5).map((t) => t.name).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    for (const t of a.slice(5)) expect(tasks.map((x) => x.name)).toContain(t.name.replace(/-c\d+$/, ''));
    expect(arrivalsFor(tasks, nodes, 42)).toEqual(a);
    expect(arrivalsFor(tasks, nodes, 43).map((t) => t.name)).not.toEqual(a.map((t) => t.name));
  });

  it('stops inflating once the GPU asked would exceed the cap', () => {
    // capacity 8000 thousandths; the trace asks 3750; with factor 0.7 the cap is 5600
    const a = arrivalsFor(tasks, nodes, 1, 3, 0.7);
    const asked = a.reduce((s, t) => s + taskGpu(t), 0);
    expect(asked).toBeLessThanOrEqual(5600);
    expect(a.length).toBeLessThan(15);
  });
});

describe('replay', () => {
  it('records arrived and allocated GPU after each arrival through the engine', () => {
    const r = replay(nodes, tasks, { policy: 'bestfit', seed: 7, ratio: 1 });
    expect(r.arrivals).toBe(5);
    // 500 + 1000 + 0 + 2000 + 250 = 3750 of 8000 thousandths asked, all of it fits: 46.875 %
    expect(r.arrived[4]).toBeCloseTo(46.875, 6);
    expect(r.allocated[4]).toBeCloseTo(46.875, 6);
    expect(r.failed).toBe(0);
  });

  it('counts tasks that fit nowhere as failed', () => {
    const r = replay(nodes, [...tasks, task('huge', 8, 1000)], { policy: 'fgd', seed: 7, ratio: 1 });
    expect(r.failed).toBe(1);
    expect(r.allocated[r.arrivals - 1]).toBeLessThan(r.arrived[r.arrivals - 1]!);
  });
});

describe('allocationAt', () => {
  const curve = (arrived: number[], allocated: number[]): ReplayResult => ({
    arrivals: arrived.length,
    failed: 0,
    arrived: Float64Array.from(arrived),
    allocated: Float64Array.from(allocated),
    wallMs: 0,
  });

  it('averages the arrivals that round to the checkpoint', () => {
    // 89.6 and 90.4 round to 90: (88 + 89)/2 = 88.5
    expect(allocationAt(curve([80, 89.6, 90.4, 95], [80, 88, 89, 90]), 90)).toEqual({ value: 88.5, reached: true });
  });

  it('falls back to ±1, then to the last point', () => {
    expect(allocationAt(curve([80, 89.2, 91.4], [80, 88, 89]), 90)).toEqual({ value: 88.5, reached: true });
    expect(allocationAt(curve([80, 120], [80, 99]), 130)).toEqual({ value: 99, reached: false });
  });
});
