import { describe, expect, it } from 'vitest';
import type { Service } from '../../../src/model/kinds/service.js';
import { restartPatch, rollbackBody, rollbackTargets, rolloutProgress, scaleProblems, RESTARTED_AT } from './service-actions.js';

/** A stored service as the API answers it: quantities canonical (millicores, MiB). */
function service(over: Partial<Service['spec']> = {}, status: Service['status'] = {}): Service {
  return {
    kind: 'service',
    metadata: { name: 'web', project: 'shop', revision: 42, uid: 'u', generation: 3, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', labels: { app: 'web' } },
    spec: { replicas: 2, template: { spec: { driver: 'process', command: ['sleep', '1'], resources: { cpu: 250, memory: 64 } } }, ...over },
    status,
  } as unknown as Service;
}

const history = [
  { revision: 1, hash: 'a', createdAt: '2026-01-01T00:00:00Z', state: 'superseded' as const, template: { spec: { driver: 'process', command: ['old'], resources: { cpu: 500, memory: 128 } } } },
  { revision: 2, hash: 'b', createdAt: '2026-01-02T00:00:00Z', state: 'failed' as const, reason: 'crashing', template: { spec: { driver: 'process', command: ['bad'] } } },
  { revision: 3, hash: 'c', createdAt: '2026-01-03T00:00:00Z', state: 'active' as const, template: { spec: { driver: 'process', command: ['sleep', '1'] } } },
];

describe('service actions', () => {
  it('scale: checked by the service schema at spec.replicas, in the API\'s words', () => {
    expect(scaleProblems(service(), '3')).toEqual([]);
    expect(scaleProblems(service(), '-1').map((p) => [p.path, p.message])).toEqual([['spec.replicas', expect.stringMatching(/-1 is less than the minimum 0/)]]);
    expect(scaleProblems(service(), '10001')[0]!.message).toMatch(/more than the maximum 10000/);
    expect(scaleProblems(service(), 'three')[0]).toMatchObject({ path: 'spec.replicas', message: '"three" is not a whole number' });
  });

  it('scale: an autoscaled service is refused, naming its range', () => {
    const svc = service({ autoscale: { min: 2, max: 5, cpu: { target: 60 } } } as never);
    expect(scaleProblems(svc, '3')[0]!.message).toMatch(/autoscaled between 2 and 5/);
  });

  it('restart: a new restarted-at annotation on the template, keeping its labels and annotations', () => {
    const svc = service({ template: { metadata: { labels: { tier: 'a' }, annotations: { note: 'x' } }, spec: { driver: 'process', command: ['x'] } } } as never);
    expect(restartPatch(svc, '2026-02-01T00:00:00Z')).toEqual({ spec: { template: { metadata: { labels: { tier: 'a' }, annotations: { note: 'x', [RESTARTED_AT]: '2026-02-01T00:00:00Z' } } } } });
  });

  it('rollback: the old template whole, quantities written back as strings, guarded by the revision', () => {
    const body = rollbackBody(service({}, { revision: 3, history }), history[0]!) as { metadata: { revision: number }; spec: { replicas: number; template: { spec: { command: string[]; resources: { cpu: string; memory: string } } } } };
    expect(body.metadata.revision).toBe(42);
    expect(body.spec.replicas).toBe(2);
    expect(body.spec.template.spec.command).toEqual(['old']);
    expect(body.spec.template.spec.resources).toEqual({ cpu: '500m', memory: '128Mi' });
  });

  it('rollback targets: every recorded version but the running one, newest first', () => {
    expect(rollbackTargets(service({}, { revision: 3, history })).map((h) => h.revision)).toEqual([2, 1]);
    expect(rollbackTargets(service())).toEqual([]);
  });

  it('progress: available of desired, rolling while another version runs or some are not available', () => {
    expect(rolloutProgress(service({}, { revision: 3, replicas: 2, updated: 2, ready: 2, available: 2 }))).toMatchObject({ desired: 2, available: 2, rolling: false, text: 'revision 3: 2 of 2 replicas available' });
    expect(rolloutProgress(service({}, { revision: 4, replicas: 3, updated: 1, ready: 3, available: 1 }))).toMatchObject({ rolling: true, text: 'revision 4: 1 of 2 replicas available, rolling out' });
  });
});
