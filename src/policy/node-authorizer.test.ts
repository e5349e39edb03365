import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { MemoryBackend } from '../store/memory.js';
import { Repository } from '../store/repository.js';
import { FakeClock, sequentialIds } from '../model/runtime.js';
import { imageKind, instanceKind, networkKind, securityGroupKind, serviceKind } from '../model/kinds/index.js';
import type { Instance, InstanceSpec } from '../model/kinds/instance.js';
import type { Service } from '../model/kinds/service.js';
import type { StoredObject } from '../model/kind.js';
import { NodeScope } from './node-scope.js';
import { nodeView, REDACTED_ANNOTATION } from './node-authorizer.js';

let repo: Repository;
let scope: NodeScope;

const SPEC: InstanceSpec = {
  driver: 'process', command: ['server', '--password=hunter2'], env: { DB_PASSWORD: 'hunter2' },
  resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10,
  ports: [{ port: 80 }], health: { http: { port: 80, path: '/healthz' }, interval: 5 },
};

async function instance(name: string, project: string, node?: string, extra: Partial<InstanceSpec> = {}): Promise<Instance> {
  const created = await repo.create<Instance>(instanceKind, { metadata: { name, project, labels: { app: name }, annotations: { note: 'private' } }, spec: { ...SPEC, ...extra } });
  if (!node) return created;
  return repo.setStatus<Instance>(instanceKind, created, { phase: 'Running', node, ip: `10.0.0.${created.metadata.revision}`, pid: 42, message: 'started' });
}

const obj = (name: string, project: string): StoredObject => ({ kind: 'x', metadata: { name, project, uid: name, revision: 1, generation: 1, createdAt: '' }, spec: {} });
const view = (node: string, kind: Parameters<typeof nodeView>[2], o: StoredObject) => nodeView(scope, node, kind, o);

beforeEach(async () => {
  repo = new Repository(new MemoryBackend(), new FakeClock(), sequentialIds());
  scope = new NodeScope(repo);
  await scope.start();
});

afterEach(() => scope.stop());

describe('node scope', () => {
  it('knows the projects and images each node hosts, as instances are bound, moved and deleted', async () => {
    const web = await instance('web', 'team-a', 'n1', { driver: 'container', image: 'system/busybox' });
    expect(scope.hostsProject('n1', 'team-a')).toBe(true);
    expect(scope.hostsProject('n2', 'team-a')).toBe(false);
    expect(scope.usesImage('n1', 'system', 'busybox')).toBe(true);
    expect(scope.boundInstancesOf('n1').map((b) => b.name)).toEqual(['web']);
    await repo.setStatus(instanceKind, web, { phase: 'Pending', node: 'n2' });
    expect(scope.hostsProject('n1', 'team-a')).toBe(false);
    expect(scope.hostsProject('n2', 'team-a')).toBe(true);
    await repo.delete(instanceKind, 'web', 'team-a');
    expect(scope.hostsProject('n2', 'team-a')).toBe(false);
    expect(scope.boundInstancesOf('n2')).toEqual([]);
  });

  it('tells a node when it starts hosting a project, not when it gets another instance of one', async () => {
    const grew: string[] = [];
    const off = scope.onGrow('n1', (project) => grew.push(project));
    const a1 = await instance('a1', 'team-a', 'n1');
    await instance('a2', 'team-a', 'n1');
    await instance('b1', 'team-b', 'n2');
    expect(grew).toEqual(['team-a']);
    off();
    await instance('c1', 'team-c', 'n1');
    expect(grew).toEqual(['team-a']);
    // since when: a watch from before the binding would miss team-a's objects that did not change
    expect(scope.hostedSince('n1', a1.metadata.revision - 1, 'team-a')).toBe(true);
    expect(scope.hostedSince('n1', a1.metadata.revision, 'team-a')).toBe(false);
    expect(scope.hostedSince('n1', a1.metadata.revision)).toBe(true); // team-c came later
    expect(scope.hostedSince('n2', 0, 'team-a')).toBe(false);
  });

  it('starts from what the store already holds', async () => {
    await instance('web', 'team-a', 'n1');
    const fresh = new NodeScope(repo);
    await fresh.start();
    expect(fresh.hostsProject('n1', 'team-a')).toBe(true);
    fresh.stop();
  });
});

describe('node view', () => {
  it('gives a node its own instances whole', async () => {
    const mine = await instance('mine', 'team-a', 'n1');
    expect(view('n1', instanceKind, mine)).toBe(mine);
  });

  it('gives peers of hosted projects redacted: no env, command, annotations or private status', async () => {
    await instance('mine', 'team-a', 'n1');
    const peer = await instance('peer', 'team-a', 'n2');
    const seen = view('n1', instanceKind, peer) as Instance;
    expect(seen.spec).toEqual({ driver: 'process', ports: [{ port: 80 }], health: { http: { port: 80, path: '/healthz' }, interval: 5 } });
    expect(seen.status).toEqual({ phase: 'Running', node: 'n2', ip: peer.status!.ip });
    expect(seen.metadata.labels).toEqual({ app: 'peer' });
    expect(seen.metadata.annotations).toEqual({ [REDACTED_ANNOTATION]: 'true' });
    expect(JSON.stringify(seen)).not.toContain('hunter2');
  });

  it('hides every object of a project with nothing bound to the node', async () => {
    await instance('mine', 'team-a', 'n1');
    const other = await instance('theirs', 'team-b', 'n2');
    const pending = await instance('pending', 'team-b');
    expect(view('n1', instanceKind, other)).toBeUndefined();
    expect(view('n1', instanceKind, pending)).toBeUndefined();
    expect(view('n1', networkKind, obj('default', 'team-b'))).toBeUndefined();
    expect(view('n1', securityGroupKind, obj('web', 'team-b'))).toBeUndefined();
    expect(view('n1', networkKind, obj('default', 'team-a'))).toBeDefined();
    expect(view('n1', securityGroupKind, obj('web', 'team-a'))).toBeDefined();
  });

  it('reads the images its instances run, and no other image of the project', async () => {
    await instance('mine', 'team-a', 'n1', { driver: 'container', image: 'web' });
    expect(view('n1', imageKind, obj('web', 'team-a'))).toBeDefined();
    expect(view('n1', imageKind, obj('db', 'team-a'))).toBeUndefined();
    expect(view('n2', imageKind, obj('web', 'team-a'))).toBeUndefined();
  });

  it('gives services of hosted projects without their template env, command or history', async () => {
    await instance('mine', 'team-a', 'n1');
    const svc: Service = {
      kind: 'service', metadata: { name: 'web', project: 'team-a', uid: 's', revision: 1, generation: 1, createdAt: '' },
      spec: { replicas: 2, ports: [{ port: 80, publish: 30080 }], template: { metadata: { labels: { app: 'web' } }, spec: SPEC } },
      status: { address: '10.0.0.100', history: [{ revision: 1, hash: 'h', createdAt: '', state: 'active', template: SPEC }] },
    };
    const seen = view('n1', serviceKind, svc) as Service;
    expect(seen.spec.ports).toEqual([{ port: 80, publish: 30080 }]);
    expect(seen.spec.template.spec.health).toEqual(SPEC.health);
    expect(seen.status).toEqual({ address: '10.0.0.100' });
    expect(JSON.stringify(seen)).not.toContain('hunter2');
    expect(view('n2', serviceKind, svc)).toBeUndefined();
  });
});
