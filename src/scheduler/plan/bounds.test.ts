import { describe, expect, it } from 'vitest';
import type { TraceNode, TraceTask } from '../sim/trace.js';
import { homogeneousBound, kindsOf, mixedBound, modelBound, totalsOf, workloadBound } from './bounds.js';

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

  it('GPU models: tasks bound to a model need machines of that model', () => {
    const v100 = (name: string): TraceNode => ({ name, cpu: 48000, memory: 376832, gpus: 4, model: 'V100M32' });
    const kinds = kindsOf([gpuNode('g0'), gpuNode('g1'), v100('v0'), v100('v1'), v100('v2'), v100('v3')]);
    // 10 GPUs that must be V100M32 (4 per machine) → 3 machines; ignoring models, two 8-GPU machines would do.
    const tasks = Array.from({ length: 10 }, (_, i): TraceTask => ({ name: `v${i}`, cpu: 1000, memory: 1024, gpuCount: 1, gpuMilli: 1000, models: ['V100M32'] }));
    expect(mixedBound(totalsOf(tasks), kinds).byResource.gpu).toBe(2);
    expect(modelBound(tasks, kinds)).toBe(3);
    expect(workloadBound(tasks, kinds)).toMatchObject({ machines: 3, binding: 'gpu' });
    // A task that may use either model loosens nothing: the V100M32-only ones still need 3.
    const either: TraceTask = { name: 'e', cpu: 1000, memory: 1024, gpuCount: 1, gpuMilli: 1000, models: ['G2', 'V100M32'] };
    expect(modelBound([...tasks, either], kinds)).toBe(3);
    expect(modelBound([task(1000, 1024, 1, 1000)], kinds)).toBe(0);
  });

  it('GPU models: groups bound to disjoint models add up, the rest goes on the largest machines left', () => {
    const v100 = (name: string): TraceNode => ({ name, cpu: 48000, memory: 376832, gpus: 4, model: 'V100M32' });
    const t4 = (name: string): TraceNode => ({ name, cpu: 104000, memory: 524288, gpus: 2, model: 'T4' });
    const kinds = kindsOf([gpuNode('g0'), gpuNode('g1'), ...[0, 1, 2, 3].map((i) => v100(`v${i}`)), ...[0, 1, 2, 3].map((i) => t4(`t${i}`))]);
    const bound = (n: number, models?: string[]) => Array.from({ length: n }, (_, i): TraceTask => ({ name: `${models?.[0] ?? 'any'}-${i}`, cpu: 1000, memory: 1024, gpuCount: 1, gpuMilli: 1000, ...(models ? { models } : {}) }));
    // 10 V100M32-only GPUs → 3 V100 machines (12 GPUs); 4 T4-only → 2 T4 machines; 8 more GPUs of
    // any model: 2 fit the V100s' spare, 6 need one more machine (a G2). 3 + 2 + 1 = 6, where the
    // total alone (22 GPUs, largest first) would say 4.
    const tasks = [...bound(10, ['V100M32']), ...bound(4, ['T4']), ...bound(8)];
    expect(mixedBound(totalsOf(tasks), kinds).byResource.gpu).toBe(4);
    expect(modelBound(tasks, kinds)).toBe(6);
    // Not enough machines of a model for its tasks: no plan places them.
    expect(modelBound(bound(9, ['T4']), kinds)).toBe(Infinity);
  });
});
