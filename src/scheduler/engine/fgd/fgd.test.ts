import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CapacityIndex } from '../capacity.js';
import { createEngine } from '../engine.js';
import { instance, node } from '../fixtures.js';
import { compileRequest } from '../request.js';
import { ClusterSnapshot } from '../snapshot.js';
import type { Demand } from '../types.js';
import { fragOf, NodeFrag } from './frag.js';
import { FGD_SC, fgdScore, scarcityWeighted, sigmoidScore } from './plugin.js';
import { WorkloadModel, type TypicalShape } from './workload.js';

const shape = (s: Partial<TypicalShape> & { p: number }): TypicalShape => ({ cpu: 0, gpuCount: 1, gpuMilli: 1000, gpuModels: undefined, ...s });

// The worked example, in the paper's terms (§3: a node's fragmentation for one task shape, by
// quadrant; for a workload, weighted by popularity). Target workload:
//   m1: one whole GPU, 4 cores, popularity 0.5;  m2: a 0.5 share, 2 cores, 0.3;  m3: no GPU, 1 core, 0.2.
// Node: 8 free cores, four T4 with 1000, 1000, 500 and 200 thousandths free (2700 in all).
const M1 = shape({ cpu: 4000, p: 0.5 });
const M2 = shape({ cpu: 2000, gpuMilli: 500, p: 0.3 });
const M3 = shape({ cpu: 1000, gpuCount: 0, gpuMilli: 0, p: 0.2 });
const SHAPES = [M1, M2, M3];
const NODE = { cpu: 8000, free: [1000, 1000, 500, 200], models: ['T4', 'T4', 'T4', 'T4'] };
const one = (m: TypicalShape) => [{ ...m, p: 1 }];

describe('fragmentation (the paper\'s measure)', () => {
  it.each([
    // Q-III (m1 fits): the devices that cannot take a whole GPU are the fragment: 500 + 200 = 700
    { name: 'Q-III, whole GPU', shapes: one(M1), want: 700 },
    // Q-III (m2 fits): only the 200 device cannot take 500: 200
    { name: 'Q-III, share 500', shapes: one(M2), want: 200 },
    // a share of 100 fits every device: nothing is a fragment: 0
    { name: 'Q-III, share 100', shapes: one(shape({ cpu: 1000, gpuMilli: 100, p: 1 })), want: 0 },
    // no GPU asked: all free GPU is a fragment for it: 1000 + 1000 + 500 + 200 = 2700
    { name: 'task without GPUs', shapes: one(M3), want: 2700 },
    // Q-IV (GPU fits, CPU does not: 16 cores > 8): all free GPU: 2700
    { name: 'Q-IV, lacks CPU', shapes: one(shape({ cpu: 16_000, p: 1 })), want: 2700 },
    // Q-II (4 whole GPUs asked, 2 devices have 1000 free): all free GPU: 2700
    { name: 'Q-II, lacks GPU', shapes: one(shape({ cpu: 4000, gpuCount: 4, p: 1 })), want: 2700 },
    // Q-I (both short): 2700
    { name: 'Q-I, lacks both', shapes: one(shape({ cpu: 16_000, gpuCount: 4, p: 1 })), want: 2700 },
    // the task may only use V100: no device can serve it: 2700
    { name: 'no GPU of its model', shapes: one(shape({ cpu: 4000, gpuModels: ['V100'], p: 1 })), want: 2700 },
    // F = 0.5·700 + 0.3·200 + 0.2·2700 = 350 + 60 + 540 = 950
    { name: 'the workload', shapes: SHAPES, want: 950 },
  ])('$name → $want', ({ shapes, want }) => {
    expect(fragOf(NODE, shapes)).toBeCloseTo(want, 9);
  });

  it.each([
    // fgd-sc's cpu-aware measure: where m fits, (paper's value + s) / 2 with
    // s = total − min(⌊total / gpu(m)⌋, ⌊cpu / cpu(m)⌋) · gpu(m)
    // m1: s = 2700 − min(2, 8000/4000 = 2) · 1000 = 700 → (700 + 700) / 2 = 700
    { name: 'whole GPU, CPU for 2', shapes: one(M1), want: 700 },
    // 6 cores each: CPU for one copy: s = 2700 − 1 · 1000 = 1700 → (700 + 1700) / 2 = 1200
    { name: 'whole GPU, CPU for 1', shapes: one(shape({ cpu: 6000, p: 1 })), want: 1200 },
    // m2: s = 2700 − min(⌊2700 / 500⌋ = 5, 8000/2000 = 4) · 500 = 700 → (200 + 700) / 2 = 450
    { name: 'share 500, CPU for 4', shapes: one(M2), want: 450 },
    // where m cannot run, all free GPU, as in the paper: 2700
    { name: 'lacks CPU', shapes: one(shape({ cpu: 16_000, p: 1 })), want: 2700 },
    { name: 'task without GPUs', shapes: one(M3), want: 2700 },
    // F = 0.5·700 + 0.3·450 + 0.2·2700 = 350 + 135 + 540 = 1025
    { name: 'the workload', shapes: SHAPES, want: 1025 },
  ])('cpu-aware: $name → $want', ({ shapes, want }) => {
    expect(fragOf(NODE, shapes, 'cpu-aware')).toBeCloseTo(want, 9);
  });

  it('computes F after a placement incrementally', () => {
    const f = new NodeFrag();
    f.load(NODE, SHAPES);
    // m2 (2 cores, 500) on device 2: free 1000, 1000, 0, 200 (2200), 6 cores left
    // m1: 0 + 200 = 200; m2: 200; m3: 2200 → F' = 0.5·200 + 0.3·200 + 0.2·2200 = 100 + 60 + 440 = 600
    expect(f.after(2000, [{ device: 2, before: 500, after: 0 }])).toBeCloseTo(600, 9);
    // m2 on device 0: free 500, 1000, 500, 200 → m1: 500 + 500 + 200 = 1200; m2: 200; m3: 2200
    //   F' = 0.5·1200 + 0.3·200 + 0.2·2200 = 600 + 60 + 440 = 1100
    expect(f.after(2000, [{ device: 0, before: 1000, after: 500 }])).toBeCloseTo(1100, 9);
  });

  it('after() always equals a fresh computation (random states)', () => {
    const shapeArb = fc.record({
      cpu: fc.integer({ min: 0, max: 8 }).map((n) => n * 1000),
      gpuCount: fc.integer({ min: 0, max: 3 }),
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
          const s = { cpu: 8000, free: devices.map((d) => d.free), models: devices.map((d) => d.model) };
          const dev = which % devices.length;
          const t = Math.min(take, s.free[dev]!);
          for (const measure of ['paper', 'cpu-aware'] as const) {
            const f = new NodeFrag(measure);
            f.load(s, shapes);
            const free = s.free.slice();
            free[dev]! -= t;
            const fresh = fragOf({ ...s, cpu: s.cpu - cpuTake * 1000, free }, shapes, measure);
            expect(f.after(cpuTake * 1000, [{ device: dev, before: s.free[dev]!, after: s.free[dev]! - t }])).toBeCloseTo(fresh, 6);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

const demand = (cpu: number, gpu?: { count?: number; share?: number; models?: string[] }): Demand => compileRequest(instance('x', { cpu, ...(gpu ? { gpu } : {}) }), () => 'fgd').demand;

/** The example's workload as a task list: 5 × m1, 3 × m2, 2 × m3. */
function exampleWorkload(): WorkloadModel {
  return WorkloadModel.fromDemands([
    ...Array.from({ length: 5 }, () => demand(4000, { count: 1 })),
    ...Array.from({ length: 3 }, () => demand(2000, { share: 500 })),
    ...Array.from({ length: 2 }, () => demand(1000)),
  ]);
}

describe('FGD score', () => {
  it.each([
    [0, 50], // ⌊100 · σ(0)⌋ = ⌊100 · 0.5⌋ = 50
    [-1000, 73], // ⌊100 · σ(1)⌋ = ⌊73.11⌋ = 73
    [1000, 26], // ⌊100 · σ(−1)⌋ = ⌊26.89⌋ = 26
    [-350, 58], // ⌊100 · σ(0.35)⌋ = ⌊58.66⌋ = 58
    [150, 46], // ⌊100 · σ(−0.15)⌋ = ⌊46.26⌋ = 46
  ])('Δ = %i → %i', (delta, want) => expect(sigmoidScore(delta)).toBe(want));

  it('puts a share on the lowest-index device with the best score', () => {
    const model = exampleWorkload();
    expect(model.shapes().map((s) => s.p)).toEqual([0.5, 0.3, 0.2]);
    // the example's node: devices 1000, 1000, 500, 200 free, 8 of 12 cores free
    const snap = ClusterSnapshot.from(
      [node('n', { cpu: 12_000, memory: 100_000, gpus: 4 })],
      [
        instance('u1', { node: 'n', cpu: 4000, memory: 0, gpu: { share: 500 }, gpuAllocation: [{ index: 2, milli: 500 }] }),
        instance('u2', { node: 'n', cpu: 0, memory: 0, gpu: { share: 800 }, gpuAllocation: [{ index: 3, milli: 800 }] }),
      ],
    );
    const s = fgdScore(model).score(compileRequest(instance('x', { cpu: 2000, gpu: { share: 500 } }), () => 'fgd'), snap.node('n')!);
    // device 2: Δ = 600 − 950 = −350 → 58; devices 0 and 1: Δ = 1100 − 950 = +150 → 46
    expect(s).toEqual({ score: 58, devices: [2] });
    // a 200 share: device 3 (200 → 0) leaves F = 0.5·500 + 0.3·0 + 0.2·2500 = 750 → Δ −200 → 54;
    // devices 0 and 1 (1000 → 800) give F = 0.5·(800+500+200) + 0.3·(200) + 0.2·2500 = 1310 → 41;
    // device 2 (500 → 300): F = 0.5·(300+200) + 0.3·(300+200) + 0.2·2500 = 900 → 51
    const small = fgdScore(model).score(compileRequest(instance('y', { cpu: 0, gpu: { share: 200 } }), () => 'fgd'), snap.node('n')!);
    expect(small).toEqual({ score: 54, devices: [3] });
  });

  it('breaks ties between equal scores by the engine\'s fixed node order', () => {
    const nodes = ['a', 'b', 'c'].map((n) => node(n, { cpu: 8000, memory: 65_536, gpus: 2 }));
    for (const order of [['b', 'c', 'a'], ['c', 'a', 'b']]) {
      const engine = createEngine({ policy: 'fgd', workload: exampleWorkload(), tieOrder: order });
      const plan = engine.schedule(ClusterSnapshot.from(nodes), [instance('x', { cpu: 1000, gpu: { count: 1 } })]);
      expect(plan.placements[0]!.node).toBe(order[0]);
    }
  });
});

describe('fgd-sc', () => {
  // 3 nodes with 4 T4 and 32 cores, 1 node with 8 V100 and 64 cores: S = 20 GPUs
  const nodes = [0, 1, 2].map((i) => node(`t${i}`, { cpu: 32_000, gpus: 4, model: 'T4' }));
  const snap = ClusterSnapshot.from([...nodes, node('v', { cpu: 64_000, gpus: 8, model: 'V100' })]);
  const ctx = { maxNodeCpu: 64_000, maxNodeGpus: 8, capacity: new CapacityIndex(() => snap.nodes()) };

  it.each([
    // any node can host it: 20 GPUs of 20 → p · 20/20
    { name: 'one GPU, any model', m: shape({ cpu: 4000, p: 0.1 }), want: 0.1 },
    // only the V100 node: 8 GPUs → 0.1 · 20/8 = 0.25
    { name: 'one V100', m: shape({ cpu: 4000, gpuModels: ['V100'], p: 0.1 }), want: 0.25 },
    // 8 devices: only the V100 node → 0.25
    { name: '8 GPUs', m: shape({ cpu: 4000, gpuCount: 8, p: 0.1 }), want: 0.25 },
    // 48 cores: only the V100 node (64 cores) → 0.25
    { name: 'one GPU, 48 cores', m: shape({ cpu: 48_000, p: 0.1 }), want: 0.25 },
    // 8 T4: no node can host it: left as it is
    { name: 'nowhere', m: shape({ cpu: 4000, gpuCount: 8, gpuModels: ['T4'], p: 0.1 }), want: 0.1 },
    // no GPU: left as it is
    { name: 'no GPU', m: shape({ cpu: 4000, gpuCount: 0, gpuMilli: 0, p: 0.1 }), want: 0.1 },
  ])('weighs $name by the scarcity of its hosts → $want', ({ m, want }) => {
    expect(scarcityWeighted([m], ctx)[0]!.p).toBeCloseTo(want, 9);
  });

  it('keeps work that could go anywhere off the nodes a rare, constrained shape needs', () => {
    // 20 tasks of one GPU on any model, 1 bound to V100: the paper's 95 % leaves the V100 shape out
    // (20/21 = 95.2 %), so fgd sees both nodes alike and follows the tie order; fgd-sc counts it,
    // weighted 4/2 = 2 (2 of 4 GPUs can host it), and keeps the V100 node free.
    const two = [node('v', { cpu: 32_000, memory: 65_536, gpus: 2, model: 'V100' }), node('t', { cpu: 32_000, memory: 65_536, gpus: 2, model: 'T4' })];
    const workload = () => WorkloadModel.fromDemands([...Array.from({ length: 20 }, () => demand(4000, { count: 1 })), demand(4000, { count: 1, models: ['V100'] })]);
    const place = (policy: 'fgd' | 'fgd-sc') =>
      createEngine({ policy, workload: workload(), tieOrder: ['v', 't'] }).schedule(ClusterSnapshot.from(two), [instance('x', { cpu: 4000, gpu: { count: 1 } })]).placements[0]!.node;
    expect(place('fgd')).toBe('v');
    expect(place('fgd-sc')).toBe('t');
    expect(fgdScore(workload(), FGD_SC).epoch(ctx)).toMatch(/^FGD-SC:/);
  });
});

describe('WorkloadModel', () => {
  const d = (cpu: number) => demand(cpu, { count: 1 });

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

  it('keeps the most common shapes until they cover 95 %, renormalised, in the paper\'s order', () => {
    // 12 × 1 core, 7 × 3 cores, 1 × 2 cores: 12 (60 %) < 19, 12 + 7 = 19 (95 %) ≥ 19: stop
    const counts: [number, number][] = [[1000, 12], [3000, 7], [2000, 1]];
    const m = WorkloadModel.fromDemands(counts.flatMap(([cpu, n]) => Array.from({ length: n }, () => d(cpu))));
    // p = 12/19 and 7/19 (the kept shapes sum to 1)
    expect(m.shapes().map((s) => [s.cpu, Number(s.p.toFixed(4))])).toEqual([[1000, 0.6316], [3000, 0.3684]]);
    // every shape (fgd-sc): 12/20, 7/20, 1/20
    expect(m.allShapes().map((s) => [s.cpu, s.p])).toEqual([[1000, 0.6], [3000, 0.35], [2000, 0.05]]);
    // equally frequent shapes: more CPU first (the 95 % cut then keeps both, 50 % each)
    const tie = WorkloadModel.fromDemands([d(1000), d(4000), d(1000), d(4000)]);
    expect(tie.shapes().map((s) => s.cpu)).toEqual([4000, 1000]);
  });

  it('is frozen when taken from a task list', () => {
    const m = WorkloadModel.fromDemands([d(1000)]);
    const v = m.refresh();
    for (let i = 0; i < 100; i++) m.observe(`p/${i}`, d(2000));
    expect(m.refresh()).toBe(v);
    expect(m.shapes().map((s) => s.cpu)).toEqual([1000]);
  });
});
