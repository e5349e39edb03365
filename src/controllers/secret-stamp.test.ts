import { describe, it, expect } from 'vitest';
import { stampOf, secretChanged } from './secret-stamp.js';
import { planRollout, templateHash } from './rollout.js';
import type { Secret } from '../model/kinds/secret.js';
import type { Instance, InstanceSpec } from '../model/kinds/instance.js';
import { REVISION_LABEL, SERVICE_LABEL, type Service } from '../model/kinds/service.js';
import { secretRefsOf } from '../model/secret-refs.js';

const NOW = Date.parse('2026-01-01T00:10:00Z');

function secret(keys: Record<string, number>, generation = 1, uid = 'sec-1'): Secret {
  return { kind: 'secret', metadata: { name: 'db', project: 'p', uid, revision: 1, generation, createdAt: '' }, spec: { keys } };
}

const spec: InstanceSpec = {
  driver: 'process', command: ['app'], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10,
  env: { PW: { valueFrom: { secret: 'db', key: 'password' } } },
};

function service(status: Service['status'] = {}): Service {
  return { kind: 'service', metadata: { name: 'web', project: 'p', uid: 's', revision: 1, generation: 1, createdAt: '' }, spec: { replicas: 2, template: { spec } }, status };
}

function replica(revision: number, n: number): Instance {
  const since = new Date(NOW - 60_000).toISOString();
  return {
    kind: 'instance',
    metadata: { name: `web-${n}`, project: 'p', uid: `r${revision}-${n}`, revision: 1, generation: 1, createdAt: since, labels: { [SERVICE_LABEL]: 'web', [REVISION_LABEL]: String(revision) } },
    spec,
    status: { phase: 'Running', startedAt: since, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: since }] },
  };
}

describe('secret stamps', () => {
  const refs = secretRefsOf({ ...spec, secrets: [{ secret: 'db' }] });

  it('change with the referenced key\'s version, the secret\'s generation for mounts, and its uid', () => {
    const a = stampOf(refs, new Map([['db', secret({ password: 1, user: 1 })]]));
    expect(a).toBe('db.password=sec-1:1,db/=sec-1:1');
    expect(stampOf(refs, new Map([['db', secret({ password: 3, user: 1 }, 3)]]))).toBe('db.password=sec-1:3,db/=sec-1:3');
    expect(stampOf(refs, new Map([['db', secret({ password: 1, user: 1 }, 1, 'sec-2')]]))).not.toBe(a);
    expect(stampOf(refs, new Map())).toBe('db=missing');
    expect(stampOf([], new Map())).toBe('');
  });

  it('tell a value change from a label change', () => {
    const before = secret({ password: 1 });
    expect(secretChanged(before, { ...before, metadata: { ...before.metadata, labels: { a: 'b' } } })).toBe(false);
    expect(secretChanged(before, secret({ password: 2 }, 2))).toBe(true);
    expect(secretChanged(undefined, before)).toBe(true);
  });
});

describe('rollouts on new secret values', () => {
  it('a template without secrets hashes as before (no roll on upgrade)', () => {
    expect(templateHash({ spec }, '')).toBe(templateHash({ spec }));
  });

  it('new values are a new version: replicas of the old one are replaced by a rolling update', () => {
    const first = planRollout(service(), [], NOW, 'db.password=sec-1:1');
    const settled = service(first.status);
    expect(planRollout(settled, [replica(1, 1), replica(1, 2)], NOW, 'db.password=sec-1:1').create).toBe(0);
    const rotated = planRollout(settled, [replica(1, 1), replica(1, 2)], NOW, 'db.password=sec-1:2');
    expect(rotated.status.revision).toBe(2);
    expect(rotated.started).toBe(2);
    expect(rotated.create).toBe(1); // maxSurge 1, maxUnavailable 0
  });

  it('a version that changed only secret values is not rolled back to the same template', () => {
    const v1 = planRollout(service(), [], NOW, 'db.password=sec-1:1');
    const v2 = planRollout(service(v1.status), [], NOW, 'db.password=sec-1:2');
    const crashing = { ...replica(2, 3), status: { ...replica(2, 3).status!, restarts: 5 } };
    const failed = planRollout(service(v2.status), [replica(1, 1), replica(1, 2), crashing], NOW, 'db.password=sec-1:2');
    expect(failed.rollback).toBeUndefined();
    expect(failed.status.phase).toBe('Degraded');
  });
});
