import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../engine.js';
import { instance, node } from '../fixtures.js';
import { compileRequest } from '../request.js';
import { ClusterSnapshot } from '../snapshot.js';
import type { PlacedInstance } from '../types.js';
import { compareVectors, fitsWithout, minimalVictims } from './preemption.js';

const byPriority = (vs: readonly PlacedInstance[]) => vs.map((v) => v.priority).sort((a, b) => b - a);

/** Every subset, smallest first: the true minimum and, among those, the lowest priorities. */
function bruteForce(n: Parameters<typeof fitsWithout>[0], d: Parameters<typeof fitsWithout>[1], cands: PlacedInstance[]) {
  let best: PlacedInstance[] | undefined;
  for (let mask = 1; mask < 1 << cands.length; mask++) {
    const set = cands.filter((_, i) => mask & (1 << i));
    if (!fitsWithout(n, d, set)) continue;
    if (!best || compareVectors(byPriority(set), byPriority(best)) < 0) best = set;
  }
  return best;
}

describe('minimalVictims', () => {
  it('finds the smallest set, then the lowest priorities (vs brute force)', () => {
    const victimArb = fc.record({
      cpu: fc.integer({ min: 0, max: 4 }).map((n) => n * 500),
      memory: fc.integer({ min: 0, max: 4 }).map((n) => n * 512),
      gpu: fc.constantFrom(undefined, 1, 300, 700),
      port: fc.boolean(),
      priority: fc.integer({ min: 0, max: 4 }),
    });
    fc.assert(
      fc.property(fc.array(victimArb, { minLength: 1, maxLength: 9 }), fc.record({ cpu: fc.integer({ min: 0, max: 8 }), gpu: fc.constantFrom(undefined, 1, 2, 500), port: fc.boolean() }), (vs, want) => {
        const bound = vs.map((v, i) =>
          instance(`v${i}`, {
            node: 'a',
            cpu: v.cpu,
            memory: v.memory,
            priority: v.priority,
            ...(v.gpu === undefined ? {} : { gpu: v.gpu === 1 ? { count: 1 } : { share: v.gpu } }),
            ...(v.port ? { ports: [{ port: 1, publish: 80 }] } : {}),
          }),
        );
        const snap = ClusterSnapshot.from([node('a', { cpu: 4000, memory: 4096, gpus: 2 })], bound);
        const n = snap.node('a')!;
        const req = compileRequest(
          instance('x', { cpu: want.cpu * 500, memory: 0, ...(want.gpu === undefined ? {} : { gpu: want.gpu <= 2 ? { count: want.gpu } : { share: want.gpu } }), ...(want.port ? { ports: [{ port: 1, publish: 80 }] } : {}) }),
          () => 'binpack',
        );
        const cands = [...n.instances].map((k) => snap.instance(k)!).sort((a, b) => a.priority - b.priority || (a.key < b.key ? -1 : 1));
        const got = minimalVictims(n, req.demand, cands);
        const ref = bruteForce(n, req.demand, cands);
        if (!ref) {
          expect(got).toBeUndefined();
          return;
        }
        expect(got).toBeDefined();
        expect(fitsWithout(n, req.demand, got!)).toBe(true);
        expect(byPriority(got!)).toEqual(byPriority(ref));
      }),
      { numRuns: 400 },
    );
  });
});

describe('preemption in the engine', () => {
  it('only ever evicts strictly lower priority, on the node it places on', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ cpu: fc.integer({ min: 1, max: 4 }), priority: fc.integer({ min: 0, max: 3 }), node: fc.constantFrom('a', 'b') }), { maxLength: 8 }), fc.integer({ min: 0, max: 4 }), (vs, priority) => {
        const bound = vs.map((v, i) => instance(`v${i}`, { node: v.node, cpu: v.cpu * 500, priority: v.priority }));
        const snap = ClusterSnapshot.from([node('a', { cpu: 2000 }), node('b', { cpu: 2000 })]);
        for (const b of bound) if (createEngine().fits(snap, b.status!.node!, b).kind === 'fits') snap.bind(b);
        const plan = createEngine({ policy: 'binpack' }).schedule(snap, [instance('x', { cpu: 1500, priority })]);
        for (const v of plan.preemptions) {
          expect(v.priority).toBeLessThan(priority);
          expect(v.node).toBe(plan.placements[0]!.node);
        }
        if (plan.unplaced.length > 0) {
          const lower = [...snap.nodes()].map((n) => [...n.instances].filter((k) => snap.instance(k)!.priority < priority).reduce((s, k) => s + snap.instance(k)!.demand.cpu, n.freeCpu));
          expect(Math.max(0, ...lower)).toBeLessThan(1500);
        }
      }),
      { numRuns: 300 },
    );
  });
});
