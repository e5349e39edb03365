import { describe, it, expect, beforeEach } from 'vitest';
import { MemoryBackend } from '../store/memory.js';
import { Repository } from '../store/repository.js';
import { FakeClock, sequentialIds, isoNow } from '../model/runtime.js';
import { instanceKind, nodeKind, projectKind, eventKind, serviceKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import { DRAINED_ANNOTATION, nodeState, type Node } from '../model/kinds/node.js';
import { SERVICE_LABEL, type Service } from '../model/kinds/service.js';
import type { StratusEvent } from '../model/kinds/event.js';
import { release } from '../model/lifecycle.js';
import { NodeController } from './nodes.js';
import { EventRecorder } from '../runtime/events.js';

let clock: FakeClock;
let repo: Repository;
let ctl: NodeController;

async function node(name: string, heartbeatAgoMs: number | undefined, spec: Node['spec'] = {}) {
  const n = await repo.create<Node>(nodeKind, { metadata: { name }, spec });
  const status = { phase: 'Ready' as const, ...(heartbeatAgoMs !== undefined ? { lastHeartbeat: new Date(clock.now() - heartbeatAgoMs).toISOString() } : {}) };
  return repo.setStatus(nodeKind, n, status);
}

async function instance(name: string, nodeName: string, restartPolicy: 'always' | 'never', phase: Instance['status'] extends infer S ? S extends { phase: infer P } ? P : never : never = 'Running') {
  const i = await repo.create<Instance>(instanceKind, { metadata: { name, project: 'p' }, spec: { driver: 'process', command: ['x'], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy, gracePeriod: 10 } });
  return repo.setStatus(instanceKind, i, { phase, node: nodeName, startedAt: isoNow(clock) });
}

const get = (name: string) => repo.get<Instance>(instanceKind, name, 'p');

beforeEach(async () => {
  clock = new FakeClock();
  repo = new Repository(new MemoryBackend(), clock, sequentialIds());
  await repo.create(projectKind, { metadata: { name: 'p' }, spec: {} });
  await repo.create(projectKind, { metadata: { name: 'system' }, spec: {} });
  ctl = new NodeController(repo, new EventRecorder(repo, 'node-controller'), { heartbeatTimeoutMs: 10_000 });
});

describe('NodeController', () => {
  it('marks a silent node Down and moves or loses its instances by restart policy', async () => {
    await ctl.tick();
    clock.advance(11_000);
    await node('n1', 11_000);
    await node('n2', 1_000);
    await instance('web', 'n1', 'always');
    await instance('job', 'n1', 'never');
    await instance('other', 'n2', 'always');
    await ctl.tick();
    expect((await repo.get<Node>(nodeKind, 'n1')).status).toMatchObject({ phase: 'Down', conditions: [{ type: 'Ready', status: 'False', reason: 'NodeLost' }] });
    expect((await repo.get<Node>(nodeKind, 'n2')).status?.phase).toBe('Ready');
    expect((await get('web')).status).toMatchObject({ phase: 'Pending', reason: 'NodeLost' });
    expect((await get('web')).status?.node).toBeUndefined();
    expect((await get('job')).status).toMatchObject({ phase: 'Lost', node: 'n1' });
    expect((await get('other')).status).toMatchObject({ phase: 'Running', node: 'n2' });
    const events = await repo.list(eventKind, { project: 'p' });
    expect(events.items.map((e) => (e.spec as { reason: string }).reason).sort()).toEqual(['Lost', 'NodeLost']);
  });

  it('gives every node the heartbeat timeout to report after the controller starts', async () => {
    await node('alive', 60_000);
    await node('dead', 60_000);
    await instance('web', 'alive', 'always');
    await instance('gone', 'dead', 'always');
    await ctl.tick();
    clock.advance(9_000);
    await ctl.tick();
    expect((await repo.get<Node>(nodeKind, 'alive')).status?.phase).toBe('Ready');
    expect((await repo.get<Node>(nodeKind, 'dead')).status?.phase).toBe('Ready');
    await repo.update<Node>(nodeKind, 'alive', undefined, (n) => ({ ...n, status: { ...n.status!, lastHeartbeat: isoNow(clock) } }));
    clock.advance(2_000);
    await ctl.tick();
    expect((await repo.get<Node>(nodeKind, 'alive')).status?.phase).toBe('Ready');
    expect((await get('web')).status).toMatchObject({ phase: 'Running', node: 'alive' });
    expect((await repo.get<Node>(nodeKind, 'dead')).status).toMatchObject({ phase: 'Down', message: 'no heartbeat for 71 s (timeout 10 s)' });
    expect((await get('gone')).status).toMatchObject({ phase: 'Pending', reason: 'NodeLost' });
  });

  it('releases the instances of a deleted node, found on start and when the node goes', async () => {
    await node('n1', 0);
    await node('n2', 0);
    await instance('a', 'n1', 'always');
    await instance('b', 'n2', 'never');
    await repo.delete(nodeKind, 'n1', undefined);
    await ctl.tick();
    expect((await get('a')).status).toMatchObject({ phase: 'Pending', reason: 'NodeLost', message: 'node n1 was deleted; placing it again' });
    expect((await get('b')).status).toMatchObject({ phase: 'Running', node: 'n2' });
    await repo.delete(nodeKind, 'n2', undefined);
    await new Promise((r) => setTimeout(r, 10));
    await ctl.tick();
    expect((await get('b')).status).toMatchObject({ phase: 'Lost', node: 'n2' });
    await ctl.stop();
  });

  it('releases what was placed on a deleted node even when its agent registered it again before the next pass', async () => {
    await node('n1', 0);
    await instance('old', 'n1', 'always');
    await ctl.tick();
    await repo.delete(nodeKind, 'n1', undefined);
    await new Promise((r) => setTimeout(r, 10));
    clock.advance(1_000);
    await node('n1', 0);
    const placedAfter = await instance('new', 'n1', 'never');
    await repo.setStatus(instanceKind, placedAfter, { ...placedAfter.status!, scheduledAt: isoNow(clock) });
    await ctl.tick();
    expect((await get('old')).status).toMatchObject({ phase: 'Pending', reason: 'NodeLost', message: 'node n1 was deleted; placing it again' });
    expect((await get('new')).status).toMatchObject({ phase: 'Running', node: 'n1' });
    await ctl.stop();
  });

  it('leaves nodes that never reported alone, and is idempotent', async () => {
    await node('manual', undefined);
    await instance('a', 'manual', 'always');
    await ctl.tick();
    await ctl.tick();
    expect((await get('a')).status?.phase).toBe('Running');
    expect((await repo.get<Node>(nodeKind, 'manual')).status?.phase).toBe('Ready');
  });

  it('asks the instances of a draining node to stop, once', async () => {
    await node('d', 0, { unschedulable: true, draining: true });
    await instance('x', 'd', 'always');
    await instance('done', 'd', 'always', 'Succeeded');
    await ctl.tick();
    const x = await get('x');
    expect(x.status).toMatchObject({ phase: 'Stopping', reason: 'Drained', node: 'd' });
    await ctl.tick();
    expect((await get('x')).metadata.revision).toBe(x.metadata.revision);
    expect((await get('done')).status?.phase).toBe('Succeeded');
  });

  it('marks a draining node Drained once nothing is left on it; it stays cordoned', async () => {
    await node('d', 0, { unschedulable: true, draining: true });
    const x = await instance('x', 'd', 'always');
    await ctl.tick();
    expect((await repo.get<Node>(nodeKind, 'd')).spec.draining).toBe(true); // x is stopping
    await repo.setStatus(instanceKind, await get('x'), release(x, 'Drained', 'stopped', 'Stopped', isoNow(clock))); // what its agent does
    await ctl.tick();
    const d = await repo.get<Node>(nodeKind, 'd');
    expect(d.spec).toEqual({ unschedulable: true });
    expect(d.metadata.annotations?.[DRAINED_ANNOTATION]).toBe(isoNow(clock));
    expect(nodeState(d)).toBe('Ready,Drained');
    const events = (await repo.list<StratusEvent>(eventKind, { project: 'system' })).items.map((e) => e.spec.reason);
    expect(events).toContain('Drained');
  });

  it('moves a service\'s replicas within its disruption budget, and all of them once the deadline passed', async () => {
    await repo.create<Service>(serviceKind, { metadata: { name: 'web', project: 'p' }, spec: { replicas: 3, template: { spec: { driver: 'process', command: ['x'], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10 } } } });
    await node('d', 0, { unschedulable: true, draining: true });
    for (const n of ['w1', 'w2', 'w3']) {
      const i = await repo.create<Instance>(instanceKind, { metadata: { name: n, project: 'p', labels: { [SERVICE_LABEL]: 'web' } }, spec: { driver: 'process', command: ['x'], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10 } });
      await repo.setStatus(instanceKind, i, { phase: 'Running', node: 'd', conditions: [{ type: 'Ready', status: 'True' }] });
    }
    await ctl.tick();
    const phases = async () => Promise.all(['w1', 'w2', 'w3'].map(async (n) => (await get(n)).status?.phase));
    expect((await phases()).filter((p) => p === 'Stopping')).toHaveLength(1); // 3 ready, at most 1 unavailable
    await ctl.tick();
    expect((await phases()).filter((p) => p === 'Stopping')).toHaveLength(1); // the moved one is not ready again yet
    await repo.update<Node>(nodeKind, 'd', undefined, (n) => ({ ...n, spec: { ...n.spec, drainDeadline: isoNow(clock) } }));
    await ctl.tick();
    expect(await phases()).toEqual(['Stopping', 'Stopping', 'Stopping']);
  });
});
