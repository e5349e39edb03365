import { describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import { instance, node } from '../engine/fixtures.js';
import type { Instance } from '../../model/kinds/instance.js';
import type { Volume } from '../../model/kinds/volume.js';
import { checkRemoval, pendingForCapacity, planScaleUp, type PoolView } from './simulate.js';

const engine = () => new Engine({ policy: 'binpack', preemption: false });

/** A pool of machines with `cpu` millicores and `memory` MiB, `size` nodes now, at most `max`. */
function pool(name: string, o: { cpu: number; memory?: number; gpus?: { model: string; count: number }[]; size?: number; max?: number; labels?: Record<string, string>; zone?: string; upcoming?: string[] }): PoolView {
  return {
    name,
    spec: { min: 0, max: o.max ?? 10, shape: { cpu: o.cpu, memory: o.memory ?? 8192, disk: 0, gpus: o.gpus ?? [], labels: o.labels ?? {}, ...(o.zone ? { zone: o.zone } : {}) } },
    size: o.size ?? 0,
    upcoming: o.upcoming ?? [],
  };
}

/** `n` pending instances named `${prefix}-i`, each asking `cpu` millicores, as the scheduler left them (no room). */
function pending(prefix: string, n: number, cpu: number, extra: Parameters<typeof instance>[1] = {}): Instance[] {
  return Array.from({ length: n }, (_, i) => {
    const inst = instance(`${prefix}-${i}`, { cpu, ...extra });
    inst.status = { phase: 'Pending', reason: 'Unschedulable' };
    return inst;
  });
}

describe('planScaleUp: which pool, how many machines', () => {
  // one full node: 4 cores, all taken
  const full = node('n1', { cpu: 4000 });
  const busy = instance('busy', { cpu: 4000, node: 'n1' });

  it.each([
    // pending shapes                  pools                                               → pool, machines, let in
    { what: '20 × 500m on 4-core machines: 20 × 0.5 = 10 cores → 3 machines (8 per machine)', pending: pending('w', 20, 500), pools: [pool('small', { cpu: 4000 })], want: { pool: 'small', count: 3, fits: 20 } },
    { what: 'the same, max 2 more: 2 machines take 16 of 20', pending: pending('w', 20, 500), pools: [pool('small', { cpu: 4000, size: 1, max: 3 })], want: { pool: 'small', count: 2, fits: 16 } },
    { what: 'a 6-core instance fits no 4-core machine, but one 8-core', pending: pending('big', 1, 6000), pools: [pool('small', { cpu: 4000 }), pool('large', { cpu: 8000 })], want: { pool: 'large', count: 1, fits: 1 } },
    { what: 'equal help: fewer machines wins (16 × 1 core: 2 of 8 cores, not 4 of 4)', pending: pending('w', 16, 1000), pools: [pool('small', { cpu: 4000 }), pool('large', { cpu: 8000 })], want: { pool: 'large', count: 2, fits: 16 } },
    { what: 'GPU instances go to the GPU pool', pending: pending('g', 3, 1000, { gpu: { count: 1 } }), pools: [pool('cpu', { cpu: 16000 }), pool('gpu', { cpu: 8000, gpus: [{ model: 'T4', count: 2 }] })], want: { pool: 'gpu', count: 2, fits: 3 } },
    { what: 'a node selector picks the pool with the label', pending: pending('s', 2, 500, { placement: { nodeSelector: 'disk=ssd' } }), pools: [pool('hdd', { cpu: 4000 }), pool('ssd', { cpu: 4000, labels: { disk: 'ssd' } })], want: { pool: 'ssd', count: 1, fits: 2 } },
    { what: 'zones: only the pool in the allowed zone', pending: pending('z', 1, 500, { placement: { zones: ['b'] } }), pools: [pool('za', { cpu: 4000, zone: 'a' }), pool('zb', { cpu: 4000, zone: 'b' })], want: { pool: 'zb', count: 1, fits: 1 } },
  ])('$what', ({ pending: p, pools, want }) => {
    const plan = planScaleUp(engine(), [full], [busy], pools, p);
    expect(plan.choice).toMatchObject(want);
  });

  it('no pool helps: a 64-core instance, 4-core pools; one at its max is "at its max"', () => {
    const plan = planScaleUp(engine(), [full], [busy], [pool('small', { cpu: 4000 }), pool('capped', { cpu: 64000, size: 2, max: 2 })], pending('huge', 1, 64000));
    expect(plan.choice).toBeUndefined();
    expect(plan.verdicts.find((v) => v.pool === 'small')!.reason).toBe('no new machine of it would take any of 1 pending instance (p/huge-0: 1 node: 1 insufficient CPU)');
    expect(plan.verdicts.find((v) => v.pool === 'capped')!.reason).toBe('at its max (2)');
  });

  it('machines still joining count: what they will take causes no new machine', () => {
    // one joining 4-core machine takes 8 × 500m; 2 more need a second machine
    const joining = pool('small', { cpu: 4000, size: 1, upcoming: ['small-abcde'] });
    expect(planScaleUp(engine(), [full], [busy], [joining], pending('w', 8, 500)).choice).toBeUndefined();
    expect(planScaleUp(engine(), [full], [busy], [joining], pending('w', 8, 500)).awaitingUpcoming).toBe(8);
    expect(planScaleUp(engine(), [full], [busy], [joining], pending('w', 10, 500)).choice).toMatchObject({ pool: 'small', count: 1, fits: 2 });
  });

  it('an instance pinned to a node no pool can make is left alone', () => {
    const plan = planScaleUp(engine(), [full], [busy], [pool('small', { cpu: 4000 })], pending('pin', 1, 500, { placement: { node: 'n1' } }));
    expect(plan.choice).toBeUndefined();
  });

  it('pendingForCapacity: only instances the scheduler found no room for', () => {
    const [unsched] = pending('a', 1, 100);
    const fresh = instance('b'); // not tried yet
    const bound = instance('c', { node: 'n1' });
    const noNodes = { ...instance('d'), status: { phase: 'Pending' as const, reason: 'NoNodes' } };
    expect(pendingForCapacity([unsched!, fresh, bound, noNodes]).map((i) => i.metadata.name)).toEqual(['a-0', 'd']);
  });
});

describe('checkRemoval: can a node go', () => {
  const nodes = [node('n1', { cpu: 4000 }), node('n2', { cpu: 4000 }), node('n3', { cpu: 4000 })];
  const volume = (name: string, on: string): Volume => ({ kind: 'volume', metadata: { name, project: 'p', uid: name, revision: 1, generation: 1, createdAt: '2026-01-01T00:00:00.000Z' }, spec: { size: 1024, type: 'filesystem', node: on }, status: { phase: 'Available' } });
  const e = engine();

  it.each([
    { what: 'empty node: remove', on: [], other: [], volumes: [], want: { remove: true, reason: 'it runs no instances' } },
    { what: 'its 2 instances fit on n2: remove', on: [instance('a', { cpu: 1000, node: 'n1' }), instance('b', { cpu: 1000, node: 'n1' })], other: [], volumes: [], want: { remove: true, reason: 'its 2 instances fit on other nodes' } },
    { what: 'the others are full: keep', on: [instance('a', { cpu: 1000, node: 'n1' })], other: [instance('x', { cpu: 4000, node: 'n2' }), instance('y', { cpu: 4000, node: 'n3' })], volumes: [], want: { remove: false, reason: 'instance p/a would fit on no other node (2 nodes: 2 insufficient CPU)' } },
    { what: 'a volume lives on it: keep', on: [], other: [], volumes: [volume('data', 'n1')], want: { remove: false, reason: 'volume p/data lives on it' } },
    { what: 'an instance pinned to it: keep', on: [instance('a', { node: 'n1', placement: { node: 'n1' } })], other: [], volumes: [], want: { remove: false, reason: 'instance p/a cannot move: pinned to n1 (spec.placement.node)' } },
    { what: 'restartPolicy never: keep', on: [{ ...instance('job', { node: 'n1' }), spec: { ...instance('job').spec, restartPolicy: 'never' as const } }], other: [], volumes: [], want: { remove: false, reason: 'instance p/job cannot move: restartPolicy never (a drain would stop it for good)' } },
    { what: 'an instance using a volume: keep', on: [{ ...instance('db', { node: 'n1' }), spec: { ...instance('db').spec, volumes: [{ volume: 'data', path: '/data' }] } }], other: [], volumes: [], want: { remove: false, reason: 'instance p/db cannot move: uses volume data' } },
    { what: 'a host port taken on every other node: keep', on: [instance('web', { node: 'n1', ports: [{ port: 80, publish: 30080 }] })], other: [instance('w2', { node: 'n2', ports: [{ port: 80, publish: 30080 }] }), instance('w3', { node: 'n3', ports: [{ port: 80, publish: 30080 }] })], volumes: [], want: { remove: false, reason: expect.stringMatching(/^instance p\/web would fit on no other node/) } },
  ])('$what', ({ on, other, volumes, want }) => {
    expect(checkRemoval(e, nodes, [...on, ...other], volumes, 'n1')).toEqual(want);
  });
});
