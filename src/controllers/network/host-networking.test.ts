/** The network controller with nodes in host networking: no overlay address there, host ports for services. */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { MemoryBackend } from '../../store/memory.js';
import { Repository } from '../../store/repository.js';
import { FakeClock, sequentialIds } from '../../model/runtime.js';
import { instanceKind, networkKind, nodeKind, projectKind, serviceKind } from '../../model/kinds/index.js';
import type { Instance, InstanceStatus } from '../../model/kinds/instance.js';
import type { Network } from '../../model/kinds/network.js';
import type { Node } from '../../model/kinds/node.js';
import type { Service } from '../../model/kinds/service.js';
import { NetworkController } from './networks.js';
import { hostPortsFor, takenHostPorts } from './service-host-ports.js';

let clock: FakeClock;
let repo: Repository;
let ctl: NetworkController;

const inst = (name: string) => repo.get<Instance>(instanceKind, name, 'p');
const svc = (name: string) => repo.get<Service>(serviceKind, name, 'p');
const SPEC = { driver: 'process' as const, command: ['x'], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always' as const, gracePeriod: 10 };

async function setStatus(name: string, change: (s: InstanceStatus) => InstanceStatus): Promise<void> {
  await repo.update<Instance>(instanceKind, name, 'p', (cur) => ({ ...cur, status: change(cur.status ?? { phase: 'Pending' }) }));
}

/** A node whose agent reports `mode` in its Networking condition. */
async function node(name: string, mode: 'host' | 'overlay'): Promise<void> {
  const n = (await repo.find<Node>(nodeKind, name)) ?? (await repo.create<Node>(nodeKind, { metadata: { name }, spec: {} }));
  await repo.setStatus(nodeKind, n, { phase: 'Ready', conditions: [{ type: 'Networking', status: 'True', reason: mode, message: mode }] });
}

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    ctl.kick();
    await ctl.idle();
  }
  expect(ctl.health()).toBe('');
}

const leases = async () => (await ctl.ipam.listAddresses('p', 'default')).filter((l) => l.owner.kind === 'instance').map((l) => l.owner.name).sort();

beforeEach(async () => {
  clock = new FakeClock();
  repo = new Repository(new MemoryBackend(), clock, sequentialIds());
  await repo.create(projectKind, { metadata: { name: 'p' }, spec: {} });
  ctl = new NetworkController(repo, undefined, { intervalMs: 3_600_000, nodePortRange: [30000, 30003] });
  await ctl.start();
  await node('h1', 'host');
  await node('o1', 'overlay');
  await settle();
});

afterEach(async () => {
  await ctl.stop();
});

describe('NetworkController with host networking', () => {
  it('gives no overlay address to an instance bound to a node with host networking, and takes back the one it had', async () => {
    await repo.create(instanceKind, { metadata: { name: 'a', project: 'p' }, spec: SPEC });
    await settle();
    const overlayIp = (await inst('a')).status?.ip;
    expect(overlayIp).toMatch(/^10\.2[45]\d\./); // unbound: addressed as before, the scheduler may pick an overlay node
    await setStatus('a', (s) => ({ ...s, phase: 'Scheduled', node: 'h1' }));
    await repo.create(instanceKind, { metadata: { name: 'b', project: 'p' }, spec: SPEC });
    await setStatus('b', (s) => ({ ...s, phase: 'Scheduled', node: 'h1' }));
    await settle();
    expect((await inst('b')).status?.ip).toBeUndefined(); // bound to a host node before it had one: none
    // the agent starts both with host networking: the node's address, host ports
    for (const n of ['a', 'b']) await setStatus(n, (s) => ({ ...s, phase: 'Running', ip: '192.0.2.10', hostNetwork: { ports: [] } }));
    await settle();
    expect((await inst('a')).status?.ip).toBe('192.0.2.10');
    expect(await leases()).toEqual([]); // a's overlay address went back
    const network = await repo.get<Network>(networkKind, 'default', 'p');
    expect(network.status?.nodes ?? []).toEqual([]); // and the host node got no address in the network
  });

  it('addresses what waits on a node that switches to overlay networking; what started with host networking keeps it', async () => {
    await repo.create(instanceKind, { metadata: { name: 'old', project: 'p' }, spec: SPEC });
    await setStatus('old', (s) => ({ ...s, phase: 'Running', node: 'h1', hostNetwork: { ports: [] } }));
    await repo.create(instanceKind, { metadata: { name: 'new', project: 'p' }, spec: SPEC });
    await setStatus('new', (s) => ({ ...s, phase: 'Scheduled', node: 'h1' }));
    await settle();
    expect((await inst('new')).status?.ip).toBeUndefined();
    await node('h1', 'overlay');
    await settle();
    expect((await inst('new')).status?.ip).toMatch(/^10\./);
    expect((await inst('old')).status?.ip).toBeUndefined();
    expect(await leases()).toEqual(['new']);
  });

  it('gives services host ports while a node has host networking: publish ports as they are, the others from the top of the range', async () => {
    const ports = [{ port: 80, targetPort: 8080 }, { port: 53, protocol: 'udp' as const }, { port: 9000, publish: 30001 }];
    await repo.create(serviceKind, { metadata: { name: 'web', project: 'p' }, spec: { replicas: 1, template: { spec: SPEC }, ports } });
    await repo.create(serviceKind, { metadata: { name: 'api', project: 'p' }, spec: { replicas: 1, template: { spec: SPEC }, ports: [{ port: 80 }] } });
    await settle();
    const web = (await svc('web')).status?.hostPorts;
    const api = (await svc('api')).status?.hostPorts;
    expect(web).toEqual([{ port: 80, protocol: 'tcp', hostPort: 30003 }, { port: 53, protocol: 'udp', hostPort: 30002 }, { port: 9000, protocol: 'tcp', hostPort: 30001 }]);
    expect(api).toEqual([{ port: 80, protocol: 'tcp', hostPort: 30000 }]);
    // ports change: the ones that stay keep theirs
    await repo.update<Service>(serviceKind, 'web', 'p', (cur) => ({ ...cur, spec: { ...cur.spec, ports: [ports[0]!] } }));
    await settle();
    expect((await svc('web')).status?.hostPorts).toEqual([{ port: 80, protocol: 'tcp', hostPort: 30003 }]);
  });

  it('gives services no host ports while every node has overlay networking', async () => {
    await node('h1', 'overlay');
    await repo.create(serviceKind, { metadata: { name: 'web', project: 'p' }, spec: { replicas: 1, template: { spec: SPEC }, ports: [{ port: 80 }] } });
    await settle();
    expect((await svc('web')).status?.hostPorts).toBeUndefined();
  });
});

describe('hostPortsFor', () => {
  const service = (ports: Service['spec']['ports'], hostPorts?: NonNullable<Service['status']>['hostPorts']): Service =>
    ({ kind: 'service', metadata: { name: 's', project: 'p', uid: 'u', revision: 1, generation: 1, createdAt: '' }, spec: { replicas: 1, template: { spec: SPEC }, ports }, ...(hostPorts ? { status: { hostPorts } } : {}) });

  it('skips ports others hold or publish, and says when none is left', () => {
    const other = service([{ port: 1, publish: 30002 }], [{ port: 1, protocol: 'tcp', hostPort: 30002 }]);
    const taken = takenHostPorts([other], [{ spec: { ...SPEC, ports: [{ port: 5, publish: 30003 }] } } as Instance]);
    expect(hostPortsFor(service([{ port: 80 }]), new Set(taken), [30000, 30003])).toEqual([{ port: 80, protocol: 'tcp', hostPort: 30001 }]);
    expect(hostPortsFor(service([{ port: 80 }, { port: 81 }, { port: 82 }]), new Set(taken), [30000, 30003])).toBeUndefined();
  });

  it('moves a kept host port that one of its own ports now publishes', () => {
    const s = service([{ port: 80 }, { port: 81, publish: 30003 }], [{ port: 80, protocol: 'tcp', hostPort: 30003 }]);
    expect(hostPortsFor(s, takenHostPorts([s], [], s), [30000, 30003])).toEqual([{ port: 80, protocol: 'tcp', hostPort: 30002 }, { port: 81, protocol: 'tcp', hostPort: 30003 }]);
  });
});
