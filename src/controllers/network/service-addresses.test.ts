import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { MemoryBackend } from '../../store/memory.js';
import { Repository } from '../../store/repository.js';
import { FakeClock, sequentialIds } from '../../model/runtime.js';
import { networkKind, projectKind, serviceKind } from '../../model/kinds/index.js';
import type { Network } from '../../model/kinds/network.js';
import type { Service, ServiceStatus } from '../../model/kinds/service.js';
import { parseCidrOrThrow, contains, parseIp } from '../../model/cidr.js';
import { NetworkController } from './networks.js';

let clock: FakeClock;
let repo: Repository;
let ctl: NetworkController;

const svc = (name: string, project = 'p') => repo.get<Service>(serviceKind, name, project);
const net = (name: string, project = 'p') => repo.get<Network>(networkKind, name, project);

async function createService(name: string, network?: string, project = 'p'): Promise<Service> {
  return repo.create<Service>(serviceKind, {
    metadata: { name, project },
    spec: {
      replicas: 2,
      template: { spec: { driver: 'process', command: ['x'], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10, ...(network ? { network } : {}) } },
      ports: [{ port: 80 }],
    },
  });
}

/** What the service controller does: replace the status with what it computed. */
async function writeStatus(name: string, status: ServiceStatus): Promise<void> {
  await repo.update<Service>(serviceKind, name, 'p', (cur) => ({ ...cur, status }));
}

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    ctl.kick();
    await ctl.idle();
  }
  expect(ctl.health()).toBe('');
}

const serviceLeases = async (network = 'default') => (await ctl.ipam.listAddresses('p', network)).filter((l) => l.owner.kind === 'service');

beforeEach(async () => {
  clock = new FakeClock();
  repo = new Repository(new MemoryBackend(), clock, sequentialIds());
  await repo.create(projectKind, { metadata: { name: 'p' }, spec: {} });
  ctl = new NetworkController(repo, undefined, { intervalMs: 3_600_000 });
  await ctl.start();
  await settle();
});

afterEach(async () => {
  await ctl.stop();
});

describe('NetworkController: service addresses', () => {
  it('gives each service a stable address in its network, keeps other status fields, and re-writes a dropped one', async () => {
    await createService('web');
    await createService('api');
    await settle();
    const web = await svc('web');
    const cidr = parseCidrOrThrow((await net('default')).status!.cidr!);
    expect(contains(cidr, parseIp(web.status!.address!)!)).toBe(true);
    expect(web.status).toMatchObject({ phase: 'Progressing', replicas: 0 }); // the initial status is kept
    expect((await svc('api')).status!.address).not.toBe(web.status!.address);
    // the service controller writes a status without the address: it comes back, the same
    await writeStatus('web', { phase: 'Available', replicas: 2, ready: 2 });
    await settle();
    expect((await svc('web')).status).toEqual({ phase: 'Available', replicas: 2, ready: 2, address: web.status!.address });
    expect((await serviceLeases()).map((l) => l.owner.name).sort()).toEqual(['api', 'web']);
  });

  it('releases the address when the service is deleted; a new service of that name is a new owner', async () => {
    await createService('web');
    await settle();
    expect((await serviceLeases()).map((l) => l.ip)).toEqual([(await svc('web')).status!.address]);
    await repo.delete(serviceKind, 'web', 'p');
    await settle();
    expect(await serviceLeases()).toEqual([]);
    await createService('web');
    await settle();
    const leases = await serviceLeases();
    expect(leases).toHaveLength(1);
    expect(leases[0]!.ip).toBe((await svc('web')).status!.address);
  });

  it('waits for the network of its template, and moves with the template to another network', async () => {
    await createService('web', 'back');
    await settle();
    expect((await svc('web')).status?.address).toBeUndefined();
    await repo.create(networkKind, { metadata: { name: 'back', project: 'p' }, spec: { cidr: '10.60.0.0/24' } });
    await settle();
    expect((await svc('web')).status!.address).toMatch(/^10\.60\.0\./);
    await repo.update<Service>(serviceKind, 'web', 'p', (cur) => ({ ...cur, spec: { ...cur.spec, template: { spec: { ...cur.spec.template.spec, network: 'default' } } } }));
    await settle();
    const moved = (await svc('web')).status!.address!;
    expect(contains(parseCidrOrThrow((await net('default')).status!.cidr!), parseIp(moved)!)).toBe(true);
    expect(await serviceLeases('back')).toEqual([]);
    expect((await serviceLeases('default')).map((l) => l.ip)).toEqual([moved]);
  });

  it('drops the address when its network is deleted, and takes a new one when the network is back', async () => {
    await repo.create(networkKind, { metadata: { name: 'back', project: 'p' }, spec: { cidr: '10.61.0.0/24' } });
    await createService('web', 'back');
    await settle();
    expect((await svc('web')).status!.address).toMatch(/^10\.61\.0\./);
    await repo.delete(networkKind, 'back', 'p');
    await settle();
    expect((await svc('web')).status?.address).toBeUndefined();
    await repo.create(networkKind, { metadata: { name: 'back', project: 'p' }, spec: { cidr: '10.62.0.0/24' } });
    await settle();
    expect((await svc('web')).status!.address).toMatch(/^10\.62\.0\./);
  });

  it('releases on its orphan scan the address of a service deleted while it was down', async () => {
    await createService('web');
    await settle();
    await ctl.stop();
    await repo.delete(serviceKind, 'web', 'p');
    ctl = new NetworkController(repo, undefined, { intervalMs: 3_600_000, orphanScanMs: 1000 });
    await ctl.start();
    await settle();
    expect(await serviceLeases()).toHaveLength(1);
    clock.advance(1000);
    await settle();
    expect(await serviceLeases()).toEqual([]);
  });
});
