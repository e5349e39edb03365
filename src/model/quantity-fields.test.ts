import { describe, it, expect } from 'vitest';
import { quantitiesAsStrings, objectForPeople } from './quantity-fields.js';
import { instanceKind, nodeKind, projectKind, serviceKind } from './kinds/index.js';
import { normalizeSpec, type StoredObject } from './kind.js';

const meta = { name: 'x', uid: 'u', revision: 1, generation: 1, createdAt: '2026-01-01T00:00:00Z' };

describe('quantitiesAsStrings', () => {
  it('writes the canonical integers of an instance spec as quantity strings', () => {
    const spec = normalizeSpec(instanceKind, { driver: 'process', command: ['x'], resources: { cpu: '250m', memory: '2Gi' } } as never);
    expect((spec as { resources: unknown }).resources).toEqual({ cpu: 250, memory: 2048, disk: 0 });
    expect((quantitiesAsStrings(instanceKind.spec, spec) as { resources: unknown }).resources).toEqual({ cpu: '250m', memory: '2Gi', disk: '0Mi' });
  });

  it('round-trips: the strings parse back to the same stored spec (250m is not read as 250 cores)', () => {
    const spec = normalizeSpec(serviceKind, { replicas: 2, template: { spec: { driver: 'process', command: ['x'], resources: { cpu: 1.5, memory: 1536 } } } } as never);
    const again = normalizeSpec(serviceKind, quantitiesAsStrings(serviceKind.spec, spec) as never);
    expect(again).toEqual(spec);
    expect((again as { template: { spec: { resources: { cpu: number } } } }).template.spec.resources.cpu).toBe(1500);
  });

  it('covers quotas, node capacity in status, and the templates a service keeps in its history', () => {
    const quotas = normalizeSpec(projectKind, { quotas: { cpu: 8, memory: '32Gi', gpu: 2, instances: 50 } } as never);
    expect(quantitiesAsStrings(projectKind.spec, quotas)).toEqual({ quotas: { cpu: '8', memory: '32Gi', gpu: '2', instances: 50 } });
    const node = { kind: 'node', metadata: meta, spec: {}, status: { phase: 'Ready', capacity: { cpu: 4000, memory: 8192, disk: 0, gpus: [{ index: 0, model: 'T4', memory: 16384 }] } } } as StoredObject;
    expect((objectForPeople(nodeKind, node).status as { capacity: unknown }).capacity).toEqual({ cpu: '4', memory: '8Gi', disk: '0Mi', gpus: [{ index: 0, model: 'T4', memory: 16384 }] });
    const template = { spec: { driver: 'process', command: ['x'], resources: { cpu: 100, memory: 64, disk: 0 } } };
    const svc = { kind: 'service', metadata: meta, spec: { replicas: 1, template }, status: { history: [{ revision: 1, hash: 'h', createdAt: meta.createdAt, state: 'active', template }] } } as StoredObject;
    const shown = objectForPeople(serviceKind, svc) as StoredObject<{ template: typeof template }, { history: { template: typeof template }[] }>;
    expect(shown.status!.history[0]!.template.spec.resources).toEqual({ cpu: '100m', memory: '64Mi', disk: '0Mi' });
    expect(svc.spec).toEqual({ replicas: 1, template }); // the input is not changed
  });

  it('leaves strings, missing fields and other numbers alone', () => {
    expect(quantitiesAsStrings(instanceKind.spec, { driver: 'process', priority: 5, resources: { cpu: '2' } })).toEqual({ driver: 'process', priority: 5, resources: { cpu: '2' } });
  });
});
