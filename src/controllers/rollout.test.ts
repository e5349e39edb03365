import { describe, it, expect } from 'vitest';
import { planRollout, templateHash, withRevision } from './rollout.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Service, UpdateStrategy } from '../model/kinds/service.js';
import { REVISION_LABEL, SERVICE_LABEL } from '../model/kinds/service.js';

const NOW = Date.parse('2026-01-01T00:10:00Z');
const spec = (cmd: string) => ({ driver: 'process' as const, command: [cmd], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always' as const, gracePeriod: 10 });

function service(replicas: number, cmd = 'v2', update: UpdateStrategy = {}, history: Service['status'] = {}): Service {
  return {
    kind: 'service',
    metadata: { name: 'web', project: 'p', uid: 's', revision: 1, generation: 2, createdAt: '2026-01-01T00:00:00Z' },
    spec: { replicas, template: { spec: spec(cmd) }, update },
    status: history,
  };
}

/** A service whose history says: revision 1 = v1 (superseded or active), revision 2 = v2 (active). */
function rolled(replicas: number, update: UpdateStrategy = {}, startedAgoMs = 1000): Service {
  const v1 = { spec: spec('v1') };
  const v2 = { spec: spec('v2') };
  return service(replicas, 'v2', update, {
    revision: 2,
    rolloutStartedAt: new Date(NOW - startedAgoMs).toISOString(),
    history: [
      { revision: 1, hash: templateHash(v1), createdAt: '2026-01-01T00:00:00Z', state: 'superseded', template: v1 },
      { revision: 2, hash: templateHash(v2), createdAt: '2026-01-01T00:05:00Z', state: 'active', template: v2 },
    ],
  });
}

let n = 0;
function replica(revision: number, state: 'ready' | 'starting' | 'failed' | 'crashing' = 'ready'): Instance {
  n++;
  const phase = state === 'failed' ? 'Failed' : state === 'starting' ? 'Scheduled' : 'Running';
  return {
    kind: 'instance',
    metadata: { name: `web-${n}`, project: 'p', uid: `u${n}`, revision: 1, generation: 1, createdAt: new Date(NOW - 100_000 + n).toISOString(), labels: { [SERVICE_LABEL]: 'web', [REVISION_LABEL]: String(revision) } },
    spec: spec(`v${revision}`),
    status: {
      phase, node: 'n1', restarts: state === 'crashing' ? 3 : 0,
      conditions: [{ type: 'Ready', status: state === 'ready' ? 'True' : 'False', lastTransitionTime: new Date(NOW - 60_000).toISOString() }],
    },
  };
}

const removedRevisions = (p: ReturnType<typeof planRollout>) => p.remove.map((r) => r.instance.metadata.labels![REVISION_LABEL]);

describe('planRollout', () => {
  it('creates the first version and records it as revision 1', () => {
    const p = planRollout(service(3, 'v1'), [], NOW);
    expect(p.create).toBe(3); // nothing exists: 3 - 0
    expect(p.status.revision).toBe(1);
    expect(p.started).toBe(1);
    expect(p.status.phase).toBe('Progressing');
  });

  it.each([
    // R=3, surge 1, unavailable 0, three ready old replicas: create min(3-0, 3+1-3) = 1; remove none (3-1 < 3)
    [{}, ['ready', 'ready', 'ready'], [], 1, []],
    // the new one is ready: available 4, so one old goes (4-1 >= 3); create min(3-1, 4-4) = 0
    [{}, ['ready', 'ready', 'ready'], ['ready'], 0, ['1']],
    // surge 0, unavailable 1: room comes from removing one old first (3-1 >= 2); create min(3, 3-3) = 0
    [{ maxSurge: 0, maxUnavailable: 1 }, ['ready', 'ready', 'ready'], [], 0, ['1']],
    // surge 2: create min(3, 3+2-3) = 2
    [{ maxSurge: 2 }, ['ready', 'ready', 'ready'], [], 2, []],
    // an unready old replica goes at once, whatever the budget
    [{}, ['ready', 'ready', 'starting'], [], 1, ['1']],
    // "50%" of 3: surge rounds up to 2, unavailable down to 1: create 2, and 3-1 >= 2 so one old goes
    [{ maxSurge: '50%', maxUnavailable: '50%' }, ['ready', 'ready', 'ready'], [], 2, ['1']],
  ] as const)('rolling %j, old %j, new %j → create %d, remove %j', (update, oldStates, newStates, create, removed) => {
    const p = planRollout(rolled(3, update), [...oldStates.map((s) => replica(1, s)), ...newStates.map((s) => replica(2, s))], NOW);
    expect(p.create).toBe(create);
    expect(removedRevisions(p)).toEqual(removed);
  });

  it('never lets availability drop below replicas - maxUnavailable over a whole rollout', () => {
    for (const update of [{}, { maxSurge: 0, maxUnavailable: 1 }, { maxSurge: 2, maxUnavailable: 0 }, { maxSurge: '100%', maxUnavailable: '34%' }] as UpdateStrategy[]) {
      let pods = [replica(1), replica(1), replica(1), replica(1)];
      const floor = 4 - (update.maxUnavailable === 1 ? 1 : update.maxUnavailable === '34%' ? 1 : 0);
      for (let step = 0; step < 20; step++) {
        const p = planRollout(rolled(4, update), pods, NOW);
        const gone = new Set(p.remove.map((r) => r.instance.metadata.uid));
        pods = pods.filter((x) => !gone.has(x.metadata.uid));
        expect(pods.filter((x) => x.status?.conditions?.[0]?.status === 'True').length).toBeGreaterThanOrEqual(floor);
        pods = [...pods.map((x) => (x.status?.phase === 'Scheduled' ? replica(2) : x)), ...Array.from({ length: p.create }, () => replica(2, 'starting'))];
      }
      expect(pods.every((x) => x.metadata.labels![REVISION_LABEL] === '2')).toBe(true);
      expect(pods).toHaveLength(4);
    }
  });

  it('recreate removes every old replica before creating new ones', () => {
    const first = planRollout(rolled(2, { strategy: 'recreate' }), [replica(1), replica(1)], NOW);
    expect([first.create, removedRevisions(first)]).toEqual([0, ['1', '1']]);
    expect(planRollout(rolled(2, { strategy: 'recreate' }), [], NOW).create).toBe(2);
  });

  it('replaces finished replicas and scales down extras, unready first', () => {
    const p = planRollout(service(2, 'v1', {}, { revision: 1, history: [{ revision: 1, hash: templateHash({ spec: spec('v1') }), createdAt: 'x', state: 'active', template: {} }] }), [replica(1, 'failed'), replica(1), replica(1), replica(1, 'starting')], NOW);
    expect(p.remove.map((r) => r.why.split(' ')[0])).toEqual(['replica', 'scaling']);
    expect(p.remove[1]!.instance.status?.phase).toBe('Scheduled');
  });

  it('rolls back a version whose replicas keep crashing', () => {
    const p = planRollout(rolled(3), [replica(1), replica(1), replica(1), replica(2, 'crashing')], NOW);
    expect(p.rollback?.to.revision).toBe(1);
    expect(p.rollback?.reason).toMatch(/restarted 3 times/);
    expect(p.status.history!.find((h) => h.revision === 2)!.state).toBe('failed');
    expect(p.status.conditions!.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'RolledBack' });
  });

  it('rolls back a version that is not available before the progress deadline', () => {
    const early = planRollout(rolled(3, { progressDeadline: 60 }, 30_000), [replica(1), replica(1), replica(1), replica(2, 'starting')], NOW);
    expect(early.rollback).toBeUndefined();
    const late = planRollout(rolled(3, { progressDeadline: 60 }, 61_000), [replica(1), replica(1), replica(1), replica(2, 'starting')], NOW);
    expect(late.rollback?.reason).toMatch(/only 0 of 3 replicas of the new version became available within 60 s/);
    expect(planRollout(rolled(3, { progressDeadline: 60, autoRollback: false }, 61_000), [replica(2, 'starting')], NOW).status.phase).toBe('Degraded');
  });

  it('clears a failing rollout once a new version starts, and keeps it while the failure holds', () => {
    const failing = planRollout(rolled(3, { progressDeadline: 60, autoRollback: false }, 61_000), [replica(2, 'starting')], NOW);
    expect(failing.status.conditions!.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'RolloutFailing' });
    const again = planRollout({ ...rolled(3, { progressDeadline: 60, autoRollback: false }, 61_000), status: failing.status }, [replica(2, 'starting')], NOW);
    expect(again.status.conditions!.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'RolloutFailing' });
    const next = service(3, 'v3', { progressDeadline: 60, autoRollback: false }, failing.status); // a new template: revision 3 starts now
    const p = planRollout(next, [replica(2, 'starting')], NOW);
    expect(p.started).toBe(3);
    expect(p.status.conditions!.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'False', reason: 'RollingOut' });
    expect(p.status.phase).toBe('Progressing');
  });

  it('says what the failing health check of a new replica found when the deadline passes', () => {
    const failing = replica(2);
    failing.status!.conditions = [{ type: 'Ready', status: 'False', reason: 'HealthCheckFailed', message: 'health check failed: GET http://10.240.0.7:9999/: connection refused' }];
    const p = planRollout(rolled(3, { progressDeadline: 60 }, 61_000), [replica(1), replica(1), replica(1), replica(2, 'starting'), failing], NOW);
    expect(p.rollback?.reason).toBe(`only 0 of 3 replicas of the new version became available within 60 s; ${failing.metadata.name}: health check failed: GET http://10.240.0.7:9999/: connection refused`);
  });

  it('brings a rolled-back version back under its old revision number', () => {
    const svc = rolled(3);
    svc.spec.template = { spec: spec('v1') };
    const r = withRevision(svc, 'now');
    expect(r.revision).toBe(1);
    expect(r.history.find((h) => h.revision === 1)!.state).toBe('active');
    expect(r.history.find((h) => h.revision === 2)!.state).toBe('superseded');
  });

  it('says Available once every replica of the version is available', () => {
    const p = planRollout(rolled(2), [replica(2), replica(2)], NOW);
    expect(p.status).toMatchObject({ phase: 'Available', ready: 2, available: 2, updated: 2 });
  });
});

describe('draining', () => {
  const withPorts = (update: UpdateStrategy = {}) => {
    const s = rolled(3, update);
    s.spec.ports = [{ port: 80 }];
    return s;
  };
  const draining = (i: Instance, agoMs: number): Instance => ({
    ...i,
    status: { ...i.status!, conditions: [...i.status!.conditions!, { type: 'Draining', status: 'True', lastTransitionTime: new Date(NOW - agoMs).toISOString() }] },
  });

  it('drains a ready replica before removing it, and removes it once drained', () => {
    const old = [replica(1), replica(1), replica(1)];
    const p = planRollout(withPorts(), [...old, replica(2)], NOW);
    expect(p.remove).toEqual([]);
    expect(p.drain.map((d) => d.instance.metadata.name)).toEqual([old[2]!.metadata.name]); // the newest old one
    const during = planRollout(withPorts(), [old[0]!, old[1]!, draining(old[2]!, 1000), replica(2)], NOW);
    expect(during.remove).toEqual([]); // 1 s of the default 2 s drain
    const after = planRollout(withPorts(), [old[0]!, old[1]!, draining(old[2]!, 2500), replica(2)], NOW);
    expect(after.remove.map((r) => r.why)).toEqual([expect.stringMatching(/drained; stopping it/)]);
  });

  it('counts draining replicas for nothing, and removes unready ones without draining', () => {
    const p = planRollout(withPorts(), [replica(1), replica(1, 'starting'), draining(replica(1), 500), replica(2)], NOW);
    expect(p.remove.map((r) => r.instance.status?.phase)).toEqual(['Scheduled']);
    expect(p.status.replicas).toBe(3); // the draining one is not counted
  });

  it('does not drain replicas of a service without ports', () => {
    const p = planRollout(rolled(3), [replica(1), replica(1), replica(1), replica(2)], NOW);
    expect(p.drain).toEqual([]);
    expect(p.remove).toHaveLength(1);
  });
});
