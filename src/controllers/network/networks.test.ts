import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { MemoryBackend } from '../../store/memory.js';
import { Repository } from '../../store/repository.js';
import { FakeClock, sequentialIds } from '../../model/runtime.js';
import { eventKind, instanceKind, networkKind, nodeKind, projectKind } from '../../model/kinds/index.js';
import type { Instance, InstanceStatus } from '../../model/kinds/instance.js';
import type { Network } from '../../model/kinds/network.js';
import type { Node } from '../../model/kinds/node.js';
import { StratusError } from '../../model/errors.js';
import { parseCidrOrThrow, contains, parseIp } from '../../model/cidr.js';
import { networkNotInUse } from '../../policy/network-admission.js';
import type { Principal } from '../../policy/auth.js';
import { NetworkController } from './networks.js';
import { EventRecorder } from '../../runtime/events.js';

let clock: FakeClock;
let repo: Repository;
let ctl: NetworkController;

const net = (name: string, project = 'p') => repo.get<Network>(networkKind, name, project);
const inst = (name: string, project = 'p') => repo.get<Instance>(instanceKind, name, project);

async function createInstance(name: string, project = 'p', network?: string): Promise<Instance> {
  return repo.create<Instance>(instanceKind, {
    metadata: { name, project },
    spec: { driver: 'process', command: ['x'], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10, ...(network ? { network } : {}) },
  });
}

/** What another writer (scheduler, agent) does: replace the status wholesale. */
async function writeStatus(name: string, status: InstanceStatus, project = 'p'): Promise<void> {
  await repo.update<Instance>(instanceKind, name, project, (cur) => ({ ...cur, status }));
}

async function node(name: string, underlay?: string): Promise<void> {
  const n = await repo.create<Node>(nodeKind, { metadata: { name }, spec: {} });
  await repo.setStatus(nodeKind, n, { phase: 'Ready', ...(underlay ? { addresses: [{ type: 'agent', address: 'http://x' }, { type: 'underlay', address: underlay }] } : {}) });
}

/** Lets the controller react to what was just written (and to its own writes). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    ctl.kick();
    await ctl.idle();
  }
  expect(ctl.health()).toBe('');
}

beforeEach(async () => {
  clock = new FakeClock();
  repo = new Repository(new MemoryBackend(), clock, sequentialIds());
  await repo.create(projectKind, { metadata: { name: 'p' }, spec: {} });
  await repo.create(projectKind, { metadata: { name: 'system' }, spec: {} });
  ctl = new NetworkController(repo, undefined, { intervalMs: 3_600_000 });
  await ctl.start();
  await settle();
});

afterEach(async () => {
  await ctl.stop();
});

describe('NetworkController', () => {
  it('gives every project a default network from the pool (not "system"), and new projects at once', async () => {
    const d = await net('default');
    expect(d.metadata.owner).toEqual({ kind: 'project', name: 'p' });
    expect(d.status).toMatchObject({ phase: 'Ready', nodes: [] });
    expect(contains(parseCidrOrThrow('10.240.0.0/12'), parseIp(d.status!.gateway!)!)).toBe(true);
    expect(d.status!.cidr).toMatch(/\/24$/);
    expect(d.status!.vni).toBeGreaterThan(0);
    expect(await repo.find(networkKind, 'default', 'system')).toBeUndefined();
    await repo.create(projectKind, { metadata: { name: 'q' }, spec: {} });
    await settle();
    const q = await net('default', 'q');
    expect(q.status?.phase).toBe('Ready');
    expect(q.status!.cidr).not.toBe(d.status!.cidr);
    expect(q.status!.vni).not.toBe(d.status!.vni);
  });

  it('allocates user networks with their own range, and fails an overlapping one with the reason', async () => {
    await repo.create(networkKind, { metadata: { name: 'back', project: 'p' }, spec: { cidr: '10.50.0.0/23' } });
    await repo.create(networkKind, { metadata: { name: 'clash', project: 'p' }, spec: { cidr: '10.50.1.0/24' } });
    await settle();
    expect((await net('back')).status).toMatchObject({ phase: 'Ready', cidr: '10.50.0.0/23', gateway: '10.50.0.1' });
    const clash = await net('clash');
    expect(clash.status?.phase).toBe('Failed');
    expect(clash.status?.message).toMatch(/10\.50\.1\.0\/24 overlaps network "back" of project "p"/);
  });

  it('gives each instance its own address, keeps it when others drop it or the instance moves, and releases it on delete', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `i${i}`);
    for (const n of names) await createInstance(n);
    await settle();
    const ips = await Promise.all(names.map(async (n) => (await inst(n)).status?.ip));
    expect(new Set(ips).size).toBe(20);
    const cidr = parseCidrOrThrow((await net('default')).status!.cidr!);
    for (const ip of ips) expect(contains(cidr, parseIp(ip!)!)).toBe(true);
    // the scheduler binds (its status has no ip), later the node is lost and it goes back to Pending
    await writeStatus('i0', { phase: 'Scheduled', node: 'n1' });
    await settle();
    expect((await inst('i0')).status).toMatchObject({ phase: 'Scheduled', node: 'n1', ip: ips[0] });
    await writeStatus('i0', { phase: 'Pending', reason: 'NodeLost' });
    await settle();
    expect((await inst('i0')).status).toEqual({ phase: 'Pending', reason: 'NodeLost', ip: ips[0] });
    await repo.delete(instanceKind, 'i0', 'p');
    await settle();
    const leases = await ctl.ipam.listAddresses('p', 'default');
    expect(leases.map((l) => l.ip)).not.toContain(ips[0]);
    expect(leases.filter((l) => l.owner.kind === 'instance')).toHaveLength(19);
    // a new instance of the same name is a new owner
    await createInstance('i0');
    await settle();
    expect((await inst('i0')).status?.ip).toBeDefined();
  });

  it('never overwrites other status fields it does not own', async () => {
    // a concurrent writer (the agent) changes the status between the controller's read and its write
    const realFind = repo.find.bind(repo);
    let raced = false;
    repo.find = (async (kind, name, project) => {
      const found = await realFind(kind, name, project);
      if (!raced && kind === instanceKind && name === 'web' && found) {
        raced = true;
        await repo.setStatus(instanceKind, found, { phase: 'Running', node: 'n1', pid: 42, restarts: 3 });
      }
      return found;
    }) as Repository['find'];
    await createInstance('web');
    await settle();
    expect(raced).toBe(true);
    expect((await inst('web')).status).toMatchObject({ phase: 'Running', node: 'n1', pid: 42, restarts: 3 });
    expect((await inst('web')).status?.ip).toMatch(/^10\./);
  });

  it('waits for a network that does not exist yet, then addresses the instance in it', async () => {
    await createInstance('api', 'p', 'back');
    await settle();
    expect((await inst('api')).status?.ip).toBeUndefined();
    await repo.create(networkKind, { metadata: { name: 'back', project: 'p' }, spec: { cidr: '10.60.0.0/24' } });
    await settle();
    expect((await inst('api')).status?.ip).toMatch(/^10\.60\.0\./);
  });

  it('adds a node to the network where its instances are bound, with its underlay, and releases it after the delay', async () => {
    await node('n1', '198.18.0.1');
    await node('n2', '198.18.0.2');
    await createInstance('a');
    await createInstance('b');
    await settle();
    await writeStatus('a', { ...(await inst('a')).status!, phase: 'Scheduled', node: 'n1' });
    await writeStatus('b', { ...(await inst('b')).status!, phase: 'Scheduled', node: 'n2' });
    await settle();
    const nodes = (await net('default')).status!.nodes!;
    expect(nodes.map((n) => [n.node, n.underlay])).toEqual([['n1', '198.18.0.1'], ['n2', '198.18.0.2']]);
    const addresses = new Set([...nodes.map((n) => n.address), (await inst('a')).status!.ip, (await inst('b')).status!.ip]);
    expect(addresses.size).toBe(4);
    // a node that reports a new underlay address is updated
    await repo.update<Node>(nodeKind, 'n2', undefined, (n) => ({ ...n, status: { ...n.status!, addresses: [{ type: 'underlay', address: '198.18.0.22' }] } }));
    await settle();
    expect((await net('default')).status!.nodes!.find((n) => n.node === 'n2')?.underlay).toBe('198.18.0.22');
    // n2's last instance goes: it keeps its address for a while, then loses it
    await repo.delete(instanceKind, 'b', 'p');
    await settle();
    expect((await net('default')).status!.nodes!.map((n) => n.node)).toEqual(['n1', 'n2']);
    clock.advance(31_000);
    await settle();
    expect((await net('default')).status!.nodes!.map((n) => n.node)).toEqual(['n1']);
    const leases = await ctl.ipam.listAddresses('p', 'default');
    expect(leases.filter((l) => l.owner.kind === 'node').map((l) => l.owner.name)).toEqual(['n1']);
  });

  it('releases a deleted network, and brings a deleted default network back only after a delay', async () => {
    await repo.create(networkKind, { metadata: { name: 'tmp', project: 'p' }, spec: {} });
    await settle();
    expect(await ctl.ipam.getNetwork('p', 'tmp')).toBeDefined();
    await repo.delete(networkKind, 'tmp', 'p');
    await settle();
    expect(await ctl.ipam.getNetwork('p', 'tmp')).toBeUndefined();
    const before = (await net('default')).metadata.uid;
    await repo.delete(networkKind, 'default', 'p');
    await settle();
    expect(await repo.find(networkKind, 'default', 'p')).toBeUndefined();
    expect(await ctl.ipam.getNetwork('p', 'default')).toBeUndefined();
    clock.advance(6000);
    await settle();
    const again = await net('default');
    expect(again.metadata.uid).not.toBe(before);
    expect(again.status?.phase).toBe('Ready');
  });

  it('cleans up on its orphan scan what missed deletes left behind', async () => {
    await ctl.stop();
    // while the controller is down: an instance and a network are deleted, a project too
    const i = await createInstance('gone');
    await ctl.ipam.allocateAddress('p', 'default', { kind: 'instance', name: 'gone', uid: i.metadata.uid });
    await repo.delete(instanceKind, 'gone', 'p');
    await ctl.ipam.allocateNetwork('p', 'vanished');
    ctl = new NetworkController(repo, undefined, { intervalMs: 3_600_000, orphanScanMs: 1000 });
    await ctl.start();
    await settle();
    clock.advance(1000);
    await settle();
    expect(await ctl.ipam.listAddresses('p', 'default')).toEqual([]);
    expect(await ctl.ipam.getNetwork('p', 'vanished')).toBeUndefined();
  });

  it('when a network is full: waiting instances are told why, and get addresses as others release theirs', async () => {
    await ctl.stop();
    ctl = new NetworkController(repo, new EventRecorder(repo, 'network-controller'), { intervalMs: 3_600_000, orphanScanMs: 1000 });
    await ctl.start();
    await repo.create(networkKind, { metadata: { name: 'tiny', project: 'p' }, spec: { cidr: '10.60.0.0/28' } }); // 13 addresses
    for (let i = 0; i < 15; i++) await createInstance(`t-${i}`, 'p', 'tiny');
    await settle();
    const all = async () => (await repo.list<Instance>(instanceKind, { project: 'p' })).items;
    const waiting = (await all()).filter((x) => !x.status?.ip);
    expect(waiting).toHaveLength(2);
    const events = (await repo.list(eventKind, { project: 'p' })).items.map((e) => e.spec as { reason: string; message: string; object: { name: string } });
    const full = events.filter((e) => e.reason === 'NetworkFull');
    expect(full.map((e) => e.object.name).sort()).toEqual(waiting.map((x) => x.metadata.name).sort());
    expect(full[0]!.message).toMatch(/network "tiny" \(10\.60\.0\.0\/28\) has no free address/);
    // a deleted instance frees its address for a waiting one at once
    const holder = (await all()).find((x) => x.status?.ip)!;
    await repo.delete(instanceKind, holder.metadata.name, 'p');
    await settle();
    expect((await all()).filter((x) => !x.status?.ip)).toHaveLength(1);
    // a finished one (a batch job that succeeded) gives its address back on the orphan scan
    const done = (await all()).find((x) => x.status?.ip)!;
    await writeStatus(done.metadata.name, { ...done.status!, phase: 'Succeeded' });
    clock.advance(1000);
    await settle();
    await settle();
    const after = await all();
    expect(after.filter((x) => !x.status?.ip)).toHaveLength(0);
    const live = after.filter((x) => x.status?.phase !== 'Succeeded').map((x) => x.status!.ip!);
    expect(new Set(live).size).toBe(live.length);
  });
});

describe('network admission', () => {
  const principal: Principal = { id: 'user:a', token: 't', clusterAdmin: true, roles: new Map() };
  it('refuses to delete a network instances use, and names them', async () => {
    await createInstance('web');
    await createInstance('api', 'p', 'back');
    const del = (name: string) => networkNotInUse({ op: 'delete', kind: networkKind, name, project: 'p', principal }, repo);
    await expect(del('default')).rejects.toThrow(/network "default" of project "p" is used by instance web; delete them first/);
    await expect(del('default')).rejects.toBeInstanceOf(StratusError);
    await expect(del('other')).resolves.toBeUndefined();
    await expect(networkNotInUse({ op: 'delete', kind: instanceKind, name: 'web', project: 'p', principal }, repo)).resolves.toBeUndefined();
  });
});
