import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { MemoryBackend } from '../store/memory.js';
import { Repository } from '../store/repository.js';
import { FakeClock } from '../model/runtime.js';
import { instanceKind, projectKind } from '../model/kinds/index.js';
import type { Instance, InstanceSpec } from '../model/kinds/instance.js';
import { QuotaTracker, exceeded, RESERVATION_MS } from './quota.js';
import { StratusError } from '../model/errors.js';
import type { Principal } from './auth.js';

const spec = (cpu: number, memory = 64): InstanceSpec => ({ driver: 'process', command: ['x'], resources: { cpu, memory, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10 });
const admin: Principal = { id: 'user:admin', token: 't', clusterAdmin: true, roles: new Map() };

let clock: FakeClock;
let repo: Repository;
let quota: QuotaTracker;

async function admit(name: string, cpu: number) {
  await quota.admission({ op: 'create', kind: instanceKind, name, project: 'p', object: { metadata: { name }, spec: spec(cpu) }, principal: admin }, repo);
}

beforeEach(async () => {
  clock = new FakeClock();
  repo = new Repository(new MemoryBackend(), clock);
  await repo.create(projectKind, { metadata: { name: 'p' }, spec: { quotas: { cpu: 1000, instances: 3 } } });
  quota = new QuotaTracker(repo);
  await quota.start();
});
afterEach(() => quota.stop());

describe('exceeded', () => {
  it.each([
    [{ cpu: 1000 }, { cpu: 600 }, { cpu: 400 }, undefined],   // 600 + 400 = 1000 ≤ 1000
    [{ cpu: 1000 }, { cpu: 600 }, { cpu: 401 }, 'cpu'],       // 600 + 401 = 1001 > 1000
    [{ instances: 2 }, { instances: 2 }, { instances: 1 }, 'instances'],
    [{ gpu: 500 }, { gpu: 500 }, { gpu: 0 }, undefined],      // asks for no GPU: never blocked by it
  ])('%j used %j asked %j → %s', (q, used, asked, want) => {
    const z = { cpu: 0, memory: 0, disk: 0, gpu: 0, instances: 0 };
    expect(exceeded(q, { ...z, ...used }, { ...z, ...asked })).toBe(want);
  });
});

describe('QuotaTracker', () => {
  it('counts live instances, frees finished ones, and says which quota, used and asked', async () => {
    const a = await repo.create<Instance>(instanceKind, { metadata: { name: 'a', project: 'p' }, spec: spec(700) });
    expect(quota.usage('p')).toMatchObject({ cpu: 700, instances: 1 });
    const err = await admit('b', 400).catch((e: StratusError) => e);
    expect(err).toBeInstanceOf(StratusError);
    expect((err as StratusError).code).toBe('STRATUS_ERR_QUOTA_EXCEEDED');
    expect((err as StratusError).message).toBe('project "p" would exceed its cpu quota: 700m used + 400m asked > 1 allowed');
    await repo.setStatus(instanceKind, a, { phase: 'Succeeded', node: 'n' });
    expect(quota.usage('p').cpu).toBe(0);
    await admit('b', 400);
  });

  it('holds a reservation so that concurrent creates cannot both pass, and lets it expire', async () => {
    await admit('x', 600);
    await expect(admit('y', 600)).rejects.toThrow(/600m used \+ 600m asked/);
    clock.advance(RESERVATION_MS + 1);
    await admit('y', 600);
  });
});
