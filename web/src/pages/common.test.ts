import { describe, expect, it } from 'vitest';
import type { Instance } from '../../../src/model/kinds/instance.js';
import { actionsFor, allocationByNode, filterInstances, gpuText, phaseCounts, whyPending } from './common.js';

function inst(name: string, status: Partial<NonNullable<Instance['status']>> | undefined, resources = { cpu: 100, memory: 128, disk: 0 }): Instance {
  return { kind: 'instance', metadata: { name, project: 'p', revision: 1, createdAt: '2026-01-01T00:00:00Z' }, spec: { driver: 'process', resources }, status } as unknown as Instance;
}

describe('what the pages derive', () => {
  it('whyPending speaks the scheduler\'s explanation, else the status message', () => {
    const explained = inst('a', { phase: 'Pending', explanation: { nodes: 12, at: 't', reasons: [{ reason: 'insufficient memory', count: 9 }, { reason: 'cordoned', count: 3 }] } });
    expect(whyPending(explained)).toBe('9 of 12 nodes: insufficient memory; 3 of 12 nodes: cordoned');
    expect(whyPending(inst('b', { phase: 'Pending', message: 'waiting for the scheduler' }))).toBe('waiting for the scheduler');
    expect(whyPending(inst('c', { phase: 'Pending', explanation: { nodes: 0, at: 't', reasons: [] } }))).toBe('no nodes to consider');
  });

  it('phaseCounts counts, most first; no status counts as Pending', () => {
    expect(phaseCounts([inst('a', { phase: 'Running' }), inst('b', undefined), inst('c', { phase: 'Running' })])).toEqual([['Running', 2], ['Pending', 1]]);
  });

  it('allocationByNode sums what bound, unfinished instances hold', () => {
    const a = allocationByNode([
      inst('a', { phase: 'Running', node: 'n1', allocation: { gpus: [{ index: 0, milli: 500 }] } }, { cpu: 500, memory: 256, disk: 1024 }),
      inst('b', { phase: 'Starting', node: 'n1' }, { cpu: 250, memory: 128, disk: 0 }),
      inst('c', { phase: 'Succeeded', node: 'n1' }),
      inst('d', { phase: 'Pending' }),
    ]);
    expect(a.get('n1')).toEqual({ cpu: 750, memory: 384, disk: 1024, gpuMilli: 500, instances: 2 });
    expect(a.size).toBe(1);
  });

  it('filterInstances filters by phase, node and name', () => {
    const items = [inst('web-1', { phase: 'Running', node: 'n1' }), inst('web-2', { phase: 'Pending' }), inst('db', { phase: 'Running', node: 'n2' })];
    expect(filterInstances(items, { phase: 'Running' }).map((i) => i.metadata.name)).toEqual(['web-1', 'db']);
    expect(filterInstances(items, { node: 'n2' }).map((i) => i.metadata.name)).toEqual(['db']);
    expect(filterInstances(items, { q: 'WEB' }).map((i) => i.metadata.name)).toEqual(['web-1', 'web-2']);
    expect(filterInstances(items, {})).toHaveLength(3);
  });

  it('actionsFor offers only what the API would not refuse', () => {
    const vm = (phase: string, owner?: object) => ({ ...inst('v', { phase: phase as never }), spec: { driver: 'vm' }, metadata: { name: 'v', project: 'p', ...(owner ? { owner } : {}) } }) as unknown as Instance;
    expect(actionsFor(vm('Running'))).toEqual(['Stop', 'Reboot', 'Delete']);
    expect(actionsFor(vm('Off'))).toEqual(['Start', 'Delete']);
    expect(actionsFor(vm('Running', { kind: 'service', name: 'web' }))).toEqual(['Reboot', 'Delete']);
    expect(actionsFor(inst('a', { phase: 'Running' }))).toEqual(['Stop', 'Delete']);
    expect(actionsFor(inst('a', { phase: 'Pending' }))).toEqual(['Delete']);
  });

  it('gpuText names each device, its model where the node says, and the share', () => {
    expect(gpuText([{ index: 0, milli: 1000 }, { index: 1, milli: 250 }], [{ index: 0, model: 'V100M32' }])).toBe('GPU 0 (V100M32): whole device, GPU 1: 25% share');
    expect(gpuText([])).toBe('');
  });
});
