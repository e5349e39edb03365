import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiClient } from '../../client/index.js';
import type { Instance } from '../../model/kinds/instance.js';
import type { SecurityGroup } from '../../model/kinds/security-group.js';
import { SERVICE_LABEL, type Service } from '../../model/kinds/service.js';
import { systemClock } from '../../model/runtime.js';
import { RecordingRunner } from '../network/exec.js';
import { NetworkSync, findUnderlay } from './network.js';
import { FakeApi, FakeNodeNetworking, OVERLAY, instance, meta, network, syncFor } from './network-testing.js';

let api: FakeApi;
let dp: FakeNodeNetworking;
let lockDir: string;
let agent: NetworkSync;
const settle = () => new Promise((r) => setTimeout(r, 30));

function make(opts: Parameters<typeof syncFor>[3] = {}, node = 'n1'): NetworkSync {
  return syncFor(api, dp, lockDir, opts, node);
}

beforeEach(() => {
  api = new FakeApi();
  dp = new FakeNodeNetworking();
  lockDir = mkdtempSync(join(tmpdir(), 'stratus-netlock-'));
});

afterEach(async () => {
  await agent?.stop();
  rmSync(lockDir, { recursive: true, force: true });
});

describe('NetworkSync in overlay mode', () => {
  it('waits for an address, the network and its node address, then attaches with peers and env', async () => {
    agent = make();
    await agent.start();
    expect(agent.status()).toEqual({ mode: 'overlay', message: 'overlay: test; underlay 198.18.0.1 (eth0)', addresses: [{ type: 'underlay', address: '198.18.0.1' }] });
    const web = instance('web', { node: 'n1' }, { ports: [{ port: 80, publish: 8080 }] });
    expect((await agent.prepare(web)).wait).toMatch(/status\.ip/);
    web.status!.ip = '10.9.0.10';
    expect((await agent.prepare(web)).wait).toBe('network "default" of project "p" does not exist');
    api.put('networks', { ...network([]), status: { phase: 'Pending' } });
    expect((await agent.prepare(web)).wait).toBe('network p/default is Pending');
    api.put('networks', network([{ node: 'n2', address: '10.9.0.251', underlay: '198.18.0.2' }, { node: 'n3', address: '10.9.0.252' }]));
    expect((await agent.prepare(web)).wait).toBe("waiting for node n1's address in network p/default");
    api.put('networks', network([{ node: 'n1', address: '10.9.0.250', underlay: '198.18.0.1' }, { node: 'n2', address: '10.9.0.251', underlay: '198.18.0.2' }, { node: 'n3', address: '10.9.0.252' }]));
    const ready = await agent.prepare(web);
    expect(ready).toEqual({ netns: `/run/netns/t-${web.metadata.uid}`, env: { STRATUS_IP: '10.9.0.10', STRATUS_DNS: '10.9.0.1' } });
    expect(dp.ensured[0]).toMatchObject({ vni: 77, nodeAddress: '10.9.0.250', peers: [{ underlay: '198.18.0.2', address: '10.9.0.251' }], search: ['p.stratus'] });
    expect(dp.published).toEqual([{ hostPort: 8080, protocol: 'tcp', ip: '10.9.0.10', port: 80 }]);
    expect(dp.records.get(77)).toEqual({ web: '10.9.0.10' });
    // a new node joins the network: its peer is added without touching the instance
    api.put('networks', network([{ node: 'n1', address: '10.9.0.250' }, { node: 'n4', address: '10.9.0.253', underlay: '198.18.0.4' }]));
    await settle();
    expect(dp.ensured.at(-1)!.peers).toEqual([{ underlay: '198.18.0.4', address: '10.9.0.253' }]);
    expect(dp.calls.filter((c) => c.startsWith('attach'))).toHaveLength(1);
  });

  it('attaches a VM by a tap on its bridge (no namespace) and gives its guest the address, gateway, MTU and DNS', async () => {
    agent = make();
    await agent.start();
    api.put('networks', network([{ node: 'n1', address: '10.9.0.250' }]));
    const vm = instance('vm', { node: 'n1', ip: '10.9.0.12' }, { driver: 'vm', image: 'debian', ports: [{ port: 80, publish: 8080 }] });
    expect(await agent.prepare(vm)).toEqual({
      env: { STRATUS_IP: '10.9.0.12', STRATUS_DNS: '10.9.0.1' },
      tap: { name: `stt-${vm.metadata.uid}`, mac: '02:00:00:00:00:01' },
      guestNetwork: { address: '10.9.0.12/24', gateway: '10.9.0.1', dns: ['10.9.0.1'], searchDomains: ['p.stratus'], mtu: 1450 },
    });
    expect(dp.calls.filter((c) => c.startsWith('attach'))).toEqual(['attach-tap vm 10.9.0.12 {}']);
    // the same rules as a container: its published port, its name
    expect(dp.published).toEqual([{ hostPort: 8080, protocol: 'tcp', ip: '10.9.0.12', port: 80 }]);
    expect(dp.records.get(77)).toEqual({ vm: '10.9.0.12' });
  });

  it('names the instances of each local network on every node, and not those of other projects', async () => {
    agent = make();
    await agent.start();
    api.put('networks', network([{ node: 'n1', address: '10.9.0.250' }]));
    api.put('instances', instance('far', { node: 'n2', ip: '10.9.0.20', phase: 'Running' }));
    api.put('instances', instance('done', { node: 'n2', ip: '10.9.0.21', phase: 'Succeeded' }));
    api.put('instances', instance('other', { node: 'n1', ip: '10.9.0.30', phase: 'Running' }, {}, undefined, 'q'));
    await agent.prepare(instance('web', { node: 'n1', ip: '10.9.0.10' }));
    await settle();
    expect(dp.records.get(77)).toEqual({ web: '10.9.0.10', far: '10.9.0.20' });
  });

  it('applies security groups to local instances, with group sources on other nodes', async () => {
    agent = make();
    await agent.start();
    api.put('networks', network([{ node: 'n1', address: '10.9.0.250' }]));
    api.put('instances', instance('client', { node: 'n2', ip: '10.9.0.20', phase: 'Running' }, {}, { app: 'client' }));
    const web = instance('web', { node: 'n1', ip: '10.9.0.10' }, {}, { app: 'web' });
    await agent.prepare(web);
    expect(dp.ingress.get(web.metadata.uid)).toBeUndefined(); // no group: its own network only
    const group = (name: string, spec: SecurityGroup['spec']): SecurityGroup => ({ kind: 'security-group', metadata: meta(name), spec });
    api.put('security-groups', group('clients', { selector: 'app=client', ingress: [] }));
    api.put('security-groups', group('web', { selector: 'app=web', ingress: [{ protocol: 'tcp', ports: '8080', from: { group: 'clients' } }] }));
    await settle();
    expect(dp.ingress.get(web.metadata.uid)).toEqual({ groups: ['web'], rules: [{ protocol: 'tcp', ports: { from: 8080, to: 8080 }, sources: ['10.9.0.20'] }] });
  });

  const rec = (i: Instance) => ({ uid: i.metadata.uid, project: 'p', name: i.metadata.name, driver: 'process', attempt: 1, restarts: 0, previous: [] });

  it('detaches on release and removes the network with its last local instance (no grace period)', async () => {
    agent = make({ networkGraceMs: 0 });
    await agent.start();
    api.put('networks', network([{ node: 'n1', address: '10.9.0.250' }]));
    const a = instance('a', { node: 'n1', ip: '10.9.0.10' }, { ports: [{ port: 80, publish: 8080 }] });
    const b = instance('b', { node: 'n1', ip: '10.9.0.11' });
    await agent.prepare(a);
    await agent.prepare(b);
    await agent.released(rec(a));
    expect(dp.calls.slice(-1)).toEqual([`detach ${a.metadata.uid}`]);
    expect(dp.published).toEqual([]);
    await agent.released(rec(b));
    expect(dp.calls.slice(-2)).toEqual([`detach ${b.metadata.uid}`, 'remove 77']);
  });

  it('keeps a network for its grace period: the next instance finds it made; then removes it', async () => {
    agent = make({ networkGraceMs: 100 });
    await agent.start();
    api.put('networks', network([{ node: 'n1', address: '10.9.0.250' }]));
    const [a, b] = [instance('a', { node: 'n1', ip: '10.9.0.10' }), instance('b', { node: 'n1', ip: '10.9.0.11' })];
    await agent.prepare(a);
    await agent.released(rec(a));
    await agent.prepare(b);
    expect(dp.calls).toEqual(['ensure 77', 'attach a 10.9.0.10', `detach ${a.metadata.uid}`, 'attach b 10.9.0.11']);
    await new Promise((r) => setTimeout(r, 200));
    expect(dp.calls).not.toContain('remove 77'); // b holds it
    await agent.released(rec(b));
    await new Promise((r) => setTimeout(r, 200));
    expect(dp.calls.slice(-2)).toEqual([`detach ${b.metadata.uid}`, 'remove 77']);
  });

  it('removes an idle network at once when this node leaves it', async () => {
    agent = make({ networkGraceMs: 60_000 });
    await agent.start();
    api.put('networks', network([{ node: 'n1', address: '10.9.0.250' }]));
    const a = instance('a', { node: 'n1', ip: '10.9.0.10' });
    await agent.prepare(a);
    await agent.released(rec(a));
    await settle();
    expect(dp.calls).not.toContain('remove 77');
    api.put('networks', network([{ node: 'n2', address: '10.9.0.251' }]));
    await settle();
    expect(dp.calls.at(-1)).toBe('remove 77');
  });

  it('wakes a start waiting for its address as soon as its own watch has it, and starts with that address', async () => {
    let woken = 0;
    agent = new NetworkSync({ api: api as unknown as ApiClient, node: 'n1', dataDir: '/nonexistent', clock: systemClock, log: () => undefined, wake: () => void woken++ }, {
      probe: async () => OVERLAY, nodeNetworking: () => dp, lockDir, runner: new RecordingRunner(), underlayAddress: '198.18.0.1', settleMs: 1,
    });
    await agent.start();
    api.put('networks', network([{ node: 'n1', address: '10.9.0.250' }]));
    const bound = instance('web', { node: 'n1' }); // the run's copy: the agent's own watch has not seen the address yet
    expect((await agent.prepare(bound)).wait).toMatch(/status\.ip/);
    woken = 0;
    api.put('instances', instance('other', { node: 'n2', ip: '10.9.0.20' }));
    expect(woken).toBe(0);
    api.put('instances', instance('web', { node: 'n1', ip: '10.9.0.10' }));
    expect(woken).toBe(1);
    expect(await agent.prepare(bound)).toMatchObject({ env: { STRATUS_IP: '10.9.0.10' } });
    expect(dp.calls).toContain('attach web 10.9.0.10');
  });

  it('after a restart re-attaches what runs here before cleaning up, and waits while it cannot', async () => {
    agent = make();
    await agent.start();
    const running = instance('web', { node: 'n1', ip: '10.9.0.10', phase: 'Running' });
    await agent.synced([running, instance('gone', { node: 'n1', phase: 'Succeeded' })]);
    expect(dp.calls).not.toContain('cleanup'); // its network is unknown yet: keep everything
    api.put('networks', network([{ node: 'n1', address: '10.9.0.250' }]));
    api.put('instances', running);
    await new Promise((r) => setTimeout(r, 2300));
    expect(dp.calls).toEqual(['ensure 77', 'attach web 10.9.0.10', 'cleanup']);
  });
});

describe('NetworkSync: services', () => {
  const cond = (type: string, status: 'True' | 'False') => ({ type, status });
  const replica = (name: string, ip: string, conditions: { type: string; status: 'True' | 'False' }[], extra: Partial<Instance['spec']> = {}, svcName = 'web', phase: 'Running' | 'Starting' = 'Running') =>
    instance(name, { node: 'n2', ip, phase, conditions }, extra, { [SERVICE_LABEL]: svcName });
  function service(name: string, spec: Partial<Service['spec']> = {}, address: string | null = '10.9.0.100'): Service {
    const template = { spec: { driver: 'process' as const, command: ['x'], resources: { cpu: 1, memory: 1, disk: 0 }, priority: 0, restartPolicy: 'always' as const, gracePeriod: 1 } };
    return { kind: 'service', metadata: meta(name), spec: { replicas: 3, template, ports: [{ port: 80, targetPort: 8080, publish: 18081 }, { port: 53, protocol: 'udp' }], ...spec }, status: { phase: 'Available', ...(address ? { address } : {}) } };
  }

  beforeEach(async () => {
    agent = make();
    await agent.start();
    api.put('networks', network([{ node: 'n1', address: '10.9.0.250' }, { node: 'n2', address: '10.9.0.251' }]));
  });

  it('balances the services of the networks present here over their Ready replicas, draining the Draining ones', async () => {
    const health = { http: { port: 8080, path: '/healthz' }, interval: 2, timeout: 1 };
    api.put('instances', replica('web-a', '10.9.0.11', [cond('Ready', 'True')], { health }));
    api.put('instances', replica('web-b', '10.9.0.12', [cond('Ready', 'True'), cond('Draining', 'True')], { health }));
    api.put('instances', replica('web-c', '10.9.0.13', [cond('Ready', 'False')], { health })); // not ready: not a backend
    api.put('instances', replica('web-d', '10.9.0.14', [cond('Ready', 'True')], { health }, 'web', 'Starting'));
    api.put('instances', replica('web-e', '10.9.0.15', [cond('Ready', 'True')], { health, network: 'back' })); // another network
    api.put('instances', replica('api-a', '10.9.0.16', [cond('Ready', 'True')], { health }, 'api'));
    api.put('instances', replica('web-old', '10.9.0.17', [cond('Ready', 'True')], { health: { tcp: { port: 7000 } } })); // an earlier version: its own probe
    const web = service('web', { loadBalancer: { algorithm: 'least-connections' } });
    web.spec.template.spec.health = health;
    api.put('services', web);
    api.put('services', service('nowhere', { template: { spec: { ...web.spec.template.spec, network: 'back' } } }, '10.8.0.100')); // network not here
    api.put('services', service('pending', {}, null)); // no address yet
    await settle();
    expect(dp.services).toEqual([]); // nothing of the network runs here yet
    await agent.prepare(instance('client', { node: 'n1', ip: '10.9.0.10' }));
    expect(dp.services).toEqual([{
      key: 'p/web', vni: 77, vip: '10.9.0.100', algorithm: 'least-connections',
      ports: [{ port: 80, targetPort: 8080, protocol: 'tcp', publish: 18081 }, { port: 53, targetPort: 53, protocol: 'udp' }],
      backends: [{ ip: '10.9.0.11' }, { ip: '10.9.0.12', draining: true }, { ip: '10.9.0.17', probe: { probe: { type: 'tcp' }, port: 7000 } }],
      health: { probe: { type: 'http', path: '/healthz' }, port: 8080, intervalMs: 2000, timeoutMs: 1000 },
    }]);
    expect(dp.records.get(77)).toMatchObject({ web: '10.9.0.100', client: '10.9.0.10', 'web-a': '10.9.0.11' });
    expect(dp.records.get(77)).not.toHaveProperty('nowhere');
    // a replica becomes ready: it joins; the service is deleted: it goes, with its name
    api.put('instances', replica('web-c', '10.9.0.13', [cond('Ready', 'True')], { health }));
    await settle();
    expect(dp.services[0]!.backends.map((b) => b.ip)).toEqual(['10.9.0.11', '10.9.0.12', '10.9.0.13', '10.9.0.17']);
    api.remove('services', web);
    await settle();
    expect(dp.services).toEqual([]);
    expect(dp.records.get(77)).not.toHaveProperty('web');
  });

  it('probes replicas without an http or tcp check with a TCP connect to the first TCP target port; round-robin by default', async () => {
    api.put('services', service('web'));
    const udp = service('dns', { ports: [{ port: 53, protocol: 'udp' }] }, '10.9.0.101');
    api.put('services', udp);
    await agent.prepare(instance('client', { node: 'n1', ip: '10.9.0.10' }));
    const byKey = new Map(dp.services.map((d) => [d.key, d]));
    expect(byKey.get('p/web')).toMatchObject({ algorithm: 'round-robin', backends: [], health: { probe: { type: 'tcp' }, port: 8080, intervalMs: 10_000, timeoutMs: 2000 } });
    expect(byKey.get('p/dns')).not.toHaveProperty('health');
    expect(dp.records.get(77)).toMatchObject({ web: '10.9.0.100', dns: '10.9.0.101' });
  });
});

describe('findUnderlay', () => {
  it('takes the route to the server, else the default route, else none', async () => {
    const answers = (table: Record<string, unknown>) => new RecordingRunner((argv) => {
      const hit = Object.entries(table).find(([k]) => argv.join(' ').includes(k));
      return hit ? { stdout: JSON.stringify(hit[1]) } : { code: 1 };
    });
    expect(await findUnderlay(answers({ 'route get 198.18.0.254': [{ dev: 'eth1', prefsrc: '198.18.0.3' }] }), 'http://198.18.0.254:7070')).toEqual({ ip: '198.18.0.3', dev: 'eth1' });
    const viaDefault = answers({ 'route get': [{ dev: 'lo', prefsrc: '127.0.0.1' }], 'route show default': [{ dev: 'ens3' }], 'dev ens3': [{ ifname: 'ens3', addr_info: [{ family: 'inet', local: '192.0.2.7' }] }] });
    expect(await findUnderlay(viaDefault, 'http://127.0.0.1:7070')).toEqual({ ip: '192.0.2.7', dev: 'ens3' });
    expect(await findUnderlay(answers({}), 'http://127.0.0.1:7070')).toBeUndefined();
  });
});
