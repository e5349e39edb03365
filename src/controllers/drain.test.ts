import { describe, it, expect } from 'vitest';
import { planDrain } from './drain.js';
import type { Instance } from '../model/kinds/instance.js';
import { SERVICE_LABEL, type Service } from '../model/kinds/service.js';

const meta = { uid: 'u', revision: 1, generation: 1, createdAt: '2026-01-01T00:00:00Z' };
const spec = { driver: 'process' as const, command: ['x'], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always' as const, gracePeriod: 10 };

function replica(name: string, node: string, ready = true, service = 'web'): Instance {
  return {
    kind: 'instance', metadata: { ...meta, name, project: 'p', labels: service ? { [SERVICE_LABEL]: service } : {} }, spec,
    status: { phase: 'Running', node, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}

function services(replicas: number, maxUnavailable?: number | string): Map<string, Service> {
  return new Map([['p/web', { kind: 'service', metadata: { ...meta, name: 'web', project: 'p' }, spec: { replicas, template: { spec }, update: maxUnavailable === undefined ? {} : { maxUnavailable } } } as Service]]);
}

/** Three replicas of web on node d, one elsewhere, and a standalone instance on d. */
const onD = [replica('web-1', 'd'), replica('web-2', 'd'), replica('web-3', 'd'), replica('batch', 'd', true, '')];
const all = [...onD, replica('web-4', 'e')];
const replicasOf = (_p: string, s: string) => all.filter((i) => i.metadata.labels?.[SERVICE_LABEL] === s);
const names = (l: { metadata: { name: string } }[]) => l.map((i) => i.metadata.name);

describe('planDrain', () => {
  it.each([
    // R=4, budget max(1, 0) = 1: 4 available - 1 >= 4 - 1 → one replica stops, the others wait
    [4, undefined, ['web-1', 'batch']],
    // R=4, maxUnavailable 2: available 4, floor 2 → two stop
    [4, 2, ['web-1', 'web-2', 'batch']],
    // R=4, "50%" = 2
    [4, '50%', ['web-1', 'web-2', 'batch']],
    // R=2 (more replicas exist than wanted): 4 available, floor 1 → three may stop
    [2, 0, ['web-1', 'web-2', 'web-3', 'batch']],
  ])('R=%d, maxUnavailable %j: stops %j', (R, u, want) => {
    expect(names(planDrain(onD, replicasOf, services(R, u), false).stop)).toEqual(want);
  });

  it('says why the others wait', () => {
    const plan = planDrain(onD, replicasOf, services(4), false);
    expect(plan.waiting.map((w) => w.why)).toEqual([
      'service web: 4 of 4 replicas available and at most 1 may be unavailable; web-2 stops once a moved replica is ready elsewhere',
      'service web: 4 of 4 replicas available and at most 1 may be unavailable; web-3 stops once a moved replica is ready elsewhere',
    ]);
  });

  it('counts a replica already moving as unavailable: nothing more stops until it is ready again', () => {
    const moving = replica('web-5', 'e', false); // the replacement, not ready yet
    const list = [replica('web-2', 'd'), replica('web-3', 'd'), replica('web-4', 'e'), moving];
    expect(planDrain(list.slice(0, 2), () => list, services(4), false).stop).toEqual([]);
  });

  it('stops replicas that are not ready, instances of no (or a deleted) service, and everything past the deadline', () => {
    expect(names(planDrain([replica('sick', 'd', false)], replicasOf, services(4), false).stop)).toEqual(['sick']);
    expect(names(planDrain(onD, replicasOf, new Map(), false).stop)).toEqual(['web-1', 'web-2', 'web-3', 'batch']);
    expect(names(planDrain(onD, replicasOf, services(4), true).stop)).toEqual(['web-1', 'web-2', 'web-3', 'batch']);
  });
});
