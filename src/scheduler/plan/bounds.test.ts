import { describe, expect, it } from 'vitest';
import type { TraceNode, TraceTask } from '../sim/trace.js';
import { homogeneousBound, kindsOf, mixedBound, totalsOf } from './bounds.js';

const gpuNode = (name: string): TraceNode => ({ name, cpu: 96000, memory: 393216, gpus: 8, model: 'G2' });
const cpuNode = (name: string): TraceNode => ({ name, cpu: 64000, memory: 262144, gpus: 0, model: '' });
const task = (cpu: number, memory: number, gpuCount = 0, gpuMilli = 0): TraceTask => ({ name: `t${cpu}-${memory}-${gpuCount}-${gpuMilli}-${Math.random()}`, cpu, memory, gpuCount, gpuMilli });

describe('kindsOf', () => {
  it('groups nodes by shape, counts them, most GPUs first', () => {
    const kinds = kindsOf([cpuNode('c0'), gpuNode('g0'), cpuNode('c1'), gpuNode('g1'), gpuNode('g2')]);
    expect(kinds.map((k) => [k.name, k.available])).toEqual([['96c-384Gi-8xG2', 3], ['64c-256Gi', 2]]);
    expect(kindsOf([cpuNode('c0')], true)[0]!.available).toBe(Infinity);
  });
});

describe('bounds', () => {
  it('totals requests, a share as its fraction', () => {
    expect(totalsOf([task(1000, 512, 1, 500), task(2000, 1024, 2, 1000), task(500, 256)])).toEqual({ cpu: 3500, memory: 1792, gpu: 2500 });
  });

  it('homogeneous: ⌈sum ÷ size⌉ per resource, the max of them', () => {
    // 100 cores on 96-core machines → 2; 1 TiB on 384 GiB → 3; 9.5 GPUs on 8 → 2.
    const b = homogeneousBound({ cpu: 100_000, memory: 1_048_576, gpu: 9500 }, { cpu: 96000, memory: 393216, gpu: 8000 });
    expect(b.byResource).toEqual({ cpu: 2, memory: 3, gpu: 2 });
    expect(b).toMatchObject({ machines: 3, binding: 'memory' });
    expect(homogeneousBound({ cpu: 1, memory: 1, gpu: 1 }, { cpu: 1000, memory: 1000, gpu: 0 }).machines).toBe(Infinity);
    expect(homogeneousBound({ cpu: 0, memory: 0, gpu: 0 }, { cpu: 1000, memory: 1000, gpu: 0 }).machines).toBe(0);
  });

  it('mixed: the largest available machines first, per resource', () => {
    const kinds = kindsOf([gpuNode('g0'), gpuNode('g1'), cpuNode('c0'), cpuNode('c1'), cpuNode('c2')]);
    // 300 cores: two 96-core machines (192) + two 64-core (128) = 4 machines.
    // 10 GPUs: two 8-GPU machines (16) = 2. Memory 1 GiB: 1.
    const b = mixedBound({ cpu: 300_000, memory: 1024, gpu: 10_000 }, kinds);
    expect(b.byResource).toEqual({ cpu: 4, memory: 1, gpu: 2 });
    expect(b).toMatchObject({ machines: 4, binding: 'cpu' });
    // More GPU than the list holds: no plan can place it.
    expect(mixedBound({ cpu: 0, memory: 0, gpu: 17_000 }, kinds).byResource.gpu).toBe(Infinity);
    // Unlimited: ⌈sum ÷ the largest machine⌉.
    expect(mixedBound({ cpu: 300_000, memory: 0, gpu: 17_000 }, kindsOf([gpuNode('g'), cpuNode('c')], true)).byResource).toEqual({ cpu: 4, memory: 0, gpu: 3 });
  });
});
