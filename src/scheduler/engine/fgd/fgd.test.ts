import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { instance, node } from '../fixtures.js';
import { compileRequest } from '../request.js';
import { ClusterSnapshot } from '../snapshot.js';
import { fragOf, NodeFrag } from './frag.js';
import { fgdScore, sigmoidScore } from './plugin.js';
import { WorkloadModel, type TypicalShape } from './workload.js';

const shape = (s: Partial<TypicalShape> & { p: number }): TypicalShape => ({ cpu: 0, memory: 0, gpuCount: 1, gpuMilli: 1000, gpuModels: undefined, ...s });

// m1: one whole GPU (4000m, 10000 MiB), p 0.5; m2: share 500 (2000m, 5000 MiB), p 0.3; m3: share 600, p 0.2
const M1 = shape({ cpu: 4000, memory: 10_000, p: 0.5 });
const M2 = shape({ cpu: 2000, memory: 5000, gpuMilli: 500, p: 0.3 });
const M3 = shape({ gpuMilli: 600, p: 0.2 });
const SHAPES = [M1, M2, M3];
const NODE = { cpu: 20_000, memory: 100_000, free: [1000, 1000, 540, 0], models: ['T4', 'T4', 'T4', 'T4'] };

describe('fragmentation', () => {
  it.each([
    // total free = 2540.
    // m1: devices ≥ 1000: 2, stranded 540; copies min(2, 20000/4000 = 5, 100000/10000 = 10) = 2
    //     f = (540 + (2540 − 2·1000)) / 2 = (540 + 540) / 2 = 540
    { name: 'whole GPU', shapes: [{ ...M1, p: 1 }], want: 540 },
    // m2: devices ≥ 500: 3, stranded 0; copies min(⌊1000/500⌋·2 + ⌊540/500⌋ = 5, 10, 20) = 5
    //     f = (0 + (2540 − 5·500)) / 2 = 40 / 2 = 20
    { name: 'share 500', shapes: [{ ...M2, p: 1 }], want: 20 },
    // m3: devices ≥ 600: 2, stranded 540; copies 2; f = (540 + (2540 − 2·600)) / 2 = (540 + 1340) / 2 = 940
    { name: 'share 600', shapes: [{ ...M3, p: 1 }], want: 940 },
    // F = 0.5·540 + 0.3·20 + 0.2·940 = 270 + 6 + 188 = 464
    { name: 'mix', shapes: SHAPES, want: 464 },
    // not enough CPU for m1: all free GPU is fragmented for it: 2540
    { name: 'CPU short', shapes: [{ ...M1, cpu: 30_000, p: 1 }], want: 2540 },
    // m1 may only use model V100: every device is stranded: 2540
    { name: 'wrong model', shapes: [{ ...M1, gpuModels: ['V100'], p: 1 }], want: 2540 },
    // shapes without GPUs do not count
    { name: 'CPU-only shape', shapes: [shape({ gpuCount: 0, gpuMilli: 0, p: 1 })], want: 0 },
  ])('$name → $want', ({ shapes, want }) => {
    expect(fragOf(NODE, shapes)).toBeCloseTo(want, 9);
  });

  it('computes F after a placement incrementally', () => {
    const f = new NodeFrag();
    f.load(NODE, SHAPES);
    // share 500 on device 2 (540 → 40), 2000m, 5000 MiB: total 2040, CPU 18000, memory 95000
    // m1: (40 + (2040 − 2000)) / 2 = 40; m2: (40 + (2040 − 4·500)) / 2 = 40; m3: (40 + (2040 − 1200)) / 2 = 440
    // F' = 0.5·40 + 0.3·40 + 0.2·440 = 20 + 12 + 88 = 120
    expect(f.after(2000, 5000, [{ device: 2, before: 540, after: 40 }])).toBeCloseTo(120, 9);
    // the same share on device 0 (1000 → 500): m1 1040, m2 20, m3 1240 → 520 + 6 + 248 = 774
    expect(f.after(2000, 5000, [{ device: 0, before: 1000, after: 500 }])).toBeCloseTo(774, 9);
  });

  it('after() always equals a fresh computation (random states)', () => {
    const shapeArb = fc.record({
      cpu: fc.integer({ min: 0, max: 8 }).map((n) => n * 1000),
      memory: fc.integer({ min: 0, max: 8 }).map((n) => n * 1000),
      gpuCount: fc.integer({ min: 1, max: 3 }),
      gpuMilli: fc.integer({ min: 1, max: 1000 }),
      gpuModels: fc.option(fc.constant(['A']), { nil: undefined }),
      p: fc.double({ min: 0, max: 1, noNaN: true }),
    });
    fc.assert(
      fc.property(
        fc.array(shapeArb, { minLength: 1, maxLength: 6 }),
        fc.array(fc.record({ free: fc.integer({ min: 0, max: 1000 }), model: fc.constantFrom('A', 'B') }), { minLength: 1, maxLength: 8 }),
        fc.nat(7),
        fc.nat(1000),
        fc.nat(8),
        (shapes, devices, which, take, cpuTake) => {
          const s = { cpu: 8000, memory: 8000, free: devices.map((d) => d.free), models: devices.map((d) => d.model) };
          const dev = which % devices.length;
          const t = Math.min(take, s.free[dev]!);
          const f = new NodeFrag();
          f.load(s, shapes);
          const free = s.free.slice();
          free[dev]! -= t;
          const fresh = fragOf({ ...s, cpu: s.cpu - cpuTake * 1000, memory: s.memory - 500, free }, shapes);
          expect(f.after(cpuTake * 1000, 500, [{ device: dev, before: s.free[dev]!, after: s.free[dev]! - t }])).toBeCloseTo(fresh, 6);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('FGD score', () => {
  it.each([
    [0, 50], // ⌊100 / (1 + e^0)⌋ = ⌊50⌋ = 50
    [-1000, 73], // ⌊100 / (1 + e^−1)⌋ = ⌊73.11⌋ = 73
    [1000, 26], // ⌊100 / (1 + e^1)⌋ = ⌊26.89⌋ = 26
    [-344, 58], // ⌊100 / (1 + e^−0.344)⌋ = ⌊58.52⌋ = 58
  ])('Δ = %i → %i', (delta, want) => expect(sigmoidScore(delta)).toBe(want));

  it('puts a share on the device where fragmentation grows least', () => {
    const model = new WorkloadModel({ minChanges: 1 });
    const observe = (n: number, s: { cpu: number; memory: number; gpu: { count?: number; share?: number } }, tag: string) => {
      for (let i = 0; i < n; i++) model.observe(`p/${tag}${i}`, compileRequest(instance(`${tag}${i}`, s), () => 'fgd').demand);
    };
    observe(5, { cpu: 4000, memory: 10_000, gpu: { count: 1 } }, 'a');
    observe(3, { cpu: 2000, memory: 5000, gpu: { share: 500 } }, 'b');
    observe(2, { cpu: 0, memory: 0, gpu: { share: 600 } }, 'c');
    model.refresh();
    expect(model.shapes().map((s) => s.p)).toEqual([0.5, 0.3, 0.2]);
    // the node of the table above: devices [1000, 1000, 540, 0]
    const snap = ClusterSnapshot.from(
      [node('n', { cpu: 20_000, memory: 100_000, gpus: 4 })],
      [
        instance('u1', { node: 'n', cpu: 0, memory: 0, gpu: { share: 460 }, gpuAllocation: [{ index: 2, milli: 460 }] }),
        instance('u2', { node: 'n', cpu: 0, memory: 0, gpu: { count: 1 }, gpuAllocation: [{ index: 3, milli: 1000 }] }),
      ],
    );
    const req = compileRequest(instance('x', { cpu: 2000, memory: 5000, gpu: { share: 500 } }), () => 'fgd');
    const s = fgdScore(model).score(req, snap.node('n')!);
    // Δ = 120 − 464 = −344 on device 2 (device 0 would give 774 − 464 = +310)
    expect(s.devices).toEqual([2]);
    expect(s.tie).toBeCloseTo(344, 6);
    expect(s.score).toBe(58);
  });
});

describe('WorkloadModel', () => {
  const d = (cpu: number) => compileRequest(instance('x', { cpu, gpu: { count: 1 } }), () => 'fgd').demand;

  it('counts each instance once and forgets', () => {
    const m = new WorkloadModel();
    m.observe('p/a', d(1000));
    m.observe('p/a', d(1000));
    m.observe('p/b', d(2000));
    expect(m.size).toBe(2);
    m.forget('p/a');
    m.forget('p/zz');
    expect(m.size).toBe(1);
  });

  it('adopts a new target only after enough change and drift', () => {
    const m = new WorkloadModel({ minChanges: 50, refreshRatio: 0.1, minDrift: 0.02 });
    expect(m.refresh()).toBe(0);
    m.observe('p/0', d(1000));
    expect(m.refresh()).toBe(1); // the first instance is looked at at once
    for (let i = 1; i < 50; i++) m.observe(`p/${i}`, d(1000));
    expect(m.refresh()).toBe(1); // 49 changes < 50: not looked at; and the same shape anyway
    m.observe('p/50', d(1000));
    expect(m.refresh()).toBe(1); // looked at: no drift
    for (let i = 51; i < 120; i++) m.observe(`p/${i}`, d(2000));
    expect(m.refresh()).toBe(2); // 69 of 120 are a new shape: drift 0.575
    expect(m.shapes().map((s) => [s.cpu, Number(s.p.toFixed(3))])).toEqual([
      [2000, 0.575],
      [1000, 0.425],
    ]);
  });

  it('keeps the most common shapes up to the coverage', () => {
    const m = new WorkloadModel({ coverage: 0.8 });
    for (let i = 0; i < 8; i++) m.observe(`p/a${i}`, d(1000));
    for (let i = 0; i < 2; i++) m.observe(`p/b${i}`, d(3000));
    m.refresh();
    expect(m.shapes().map((s) => s.cpu)).toEqual([1000]);
  });
});
