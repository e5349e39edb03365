import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { MemoryBackend } from '../store/memory.js';
import { Repository } from '../store/repository.js';
import { FakeClock, sequentialIds, isoNow } from '../model/runtime.js';
import { instanceKind, projectKind, serviceKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import { SERVICE_LABEL, type Service } from '../model/kinds/service.js';
import type { AutoscaleSpec } from '../model/kinds/service-autoscale.js';
import type { EventRecorder } from '../runtime/events.js';
import { Informers } from '../runtime/informers.js';
import { Autoscaler, type UsageSource } from './autoscaler.js';

let clock: FakeClock;
let repo: Repository;
let informers: Informers;
let ctl: Autoscaler;
let events: string[];
/** uid → the cpu millicores its points say; "p/web" → connections per second. */
let cpu: Map<string, number>;
let rate: number | undefined;

const usage: UsageSource = {
  history: (uid) => (cpu.has(uid) ? [{ uid, project: 'p', name: uid, cpu: cpu.get(uid)!, cpuSeconds: 0, memory: 10, at: isoNow(clock) }] : []),
  serviceRate: () => rate,
  onReport: () => () => undefined,
};

async function service(autoscale: Partial<AutoscaleSpec>, replicas = 1): Promise<Service> {
  return repo.create<Service>(serviceKind, {
    metadata: { name: 'web', project: 'p' },
    spec: { replicas, template: { spec: { driver: 'process', command: ['x'], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10 } }, autoscale: { min: 1, max: 6, metric: 'cpu', target: 50, ...autoscale } },
  } as never);
}

/** A Running, Ready replica of web using `millicores` (undefined: not measured). */
async function replica(name: string, millicores?: number): Promise<Instance> {
  const i = await repo.create<Instance>(instanceKind, { metadata: { name, project: 'p', labels: { [SERVICE_LABEL]: 'web' } }, spec: { driver: 'process', command: ['x'], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10 } });
  if (millicores !== undefined) cpu.set(i.metadata.uid, millicores);
  return repo.setStatus(instanceKind, i, { phase: 'Running', node: 'n1', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: isoNow(clock) }] });
}

const get = () => repo.get<Service>(serviceKind, 'web', 'p');

beforeEach(async () => {
  clock = new FakeClock();
  repo = new Repository(new MemoryBackend(), clock, sequentialIds());
  informers = new Informers(repo);
  events = [];
  cpu = new Map();
  rate = undefined;
  const recorder = { record: (_t: unknown, type: string, reason: string, message: string) => (events.push(`${type} ${reason}: ${message}`), Promise.resolve()) } as unknown as EventRecorder;
  ctl = new Autoscaler(repo, recorder, usage, { informers, intervalMs: 3_600_000 });
});

afterEach(async () => {
  await ctl.stop();
});

describe('Autoscaler', () => {
  it('scales up by the proportional rule: status.autoscale, not spec.replicas, and a ScaledUp event', async () => {
    await repo.create(projectKind, { metadata: { name: 'p' }, spec: {} });
    await service({}, 2);
    await replica('web-a', 100);
    await replica('web-b', 100);
    await ctl.start();
    await ctl.evaluate(await get());
    const svc = await get();
    // (100% + 100%) / 2 = 100% against 50%: ratio 2, ceil(2 × 2) = 4
    expect(svc.spec.replicas).toBe(2);
    expect(svc.status?.autoscale).toMatchObject({ metric: 'cpu', target: 50, current: 100, desiredReplicas: 4, recommended: 4, lastScaleUp: isoNow(clock), decisions: [{ from: 2, to: 4 }] });
    expect(events).toEqual([expect.stringMatching(/^Normal ScaledUp: 2 → 4 replicas: average 100 against target 50/)]);
  });

  it('caps a scale-up at what the project\'s quotas leave room for, and says so (status, ScaleBlocked)', async () => {
    await repo.create(projectKind, { metadata: { name: 'p' }, spec: { quotas: { cpu: 300 } } });
    await service({}, 2);
    await replica('web-a', 100);
    await replica('web-b', 100);
    await ctl.start();
    await ctl.evaluate(await get());
    const a = (await get()).status!.autoscale!;
    // 200m used + 2 × 100m > 300m: room for 1 more
    expect(a.desiredReplicas).toBe(3);
    expect(a.blocked).toBe('scale-up to 4 blocked by project "p" quota: cpu: 200m used + 2 × 100m asked > 300m allowed (room for 1 more); keeping 3');
    expect(events.some((e) => e.startsWith('Warning ScaleBlocked: scale-up to 4 blocked by project "p" quota'))).toBe(true);
  });

  it('keeps the count while nothing is measured (no scale-down on missing data)', async () => {
    await repo.create(projectKind, { metadata: { name: 'p' }, spec: {} });
    await service({}, 3);
    await replica('web-a');
    await replica('web-b');
    await replica('web-c');
    await ctl.start();
    await ctl.evaluate(await get());
    expect((await get()).status?.autoscale).toMatchObject({ desiredReplicas: 3, reason: expect.stringMatching(/no measurement/) });
    expect(events).toEqual([]);
  });

  it('a new leader waits one window before scaling down (the window starts with the count it finds)', async () => {
    await repo.create(projectKind, { metadata: { name: 'p' }, spec: {} });
    await service({ window: '30s', scaleDownCooldown: '10s' }, 2);
    await replica('web-a', 5);
    await replica('web-b', 5);
    await ctl.start();
    await ctl.evaluate(await get());
    expect((await get()).status?.autoscale?.desiredReplicas).toBe(2);
    clock.advance(30_000);
    await ctl.evaluate(await get());
    expect((await get()).status?.autoscale).toMatchObject({ desiredReplicas: 1, lastScaleDown: isoNow(clock) });
    expect(events.at(-1)).toMatch(/^Normal ScaledDown: 2 → 1 replica: /);
  });

  it('connections-per-second divides the service\'s rate by its ready replicas', async () => {
    await repo.create(projectKind, { metadata: { name: 'p' }, spec: {} });
    await service({ metric: 'connections-per-second', target: 100 }, 1);
    await replica('web-a');
    rate = 350;
    await ctl.start();
    await ctl.evaluate(await get());
    expect((await get()).status?.autoscale).toMatchObject({ current: 350, desiredReplicas: 4 });
  });
});
