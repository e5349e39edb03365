/** NetworkSync with host networking: host ports, the node's address, service balancers, and the switch to overlay once it works. */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Instance } from '../../model/kinds/instance.js';
import { SERVICE_LABEL, type Service } from '../../model/kinds/service.js';
import { commandRunner } from '../network/exec.js';
import { probeNetworking } from '../network/capabilities.js';
import { lockNetworkNamespace, type NetworkSync } from './network.js';
import { FakeApi, FakeNodeNetworking, instance, meta, network, syncFor } from './network-testing.js';

let api: FakeApi;
let dp: FakeNodeNetworking;
let lockDir: string;
let agent: NetworkSync;
const servers: Server[] = [];
const HOST = { mode: 'host' as const, vxlan: false, summary: 'host networking (no root / no netns): `nft` (nftables) is not installed', details: [] };
const make = (opts: Parameters<typeof syncFor>[3] = {}, node = 'n1') => syncFor(api, dp, lockDir, opts, node);
const until = async (ok: () => boolean) => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
};

/** A TCP server on a free port of 127.0.0.1 that says `name` to each connection. */
async function named(name: string): Promise<number> {
  const s = createServer((c) => {
    c.on('error', () => undefined); // the balancer may reset it when it stops
    c.end(`${name}\n`);
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as { port: number }).port;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

function read(port: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const c = connect(port, '127.0.0.1');
    c.on('data', (d) => (got += d));
    c.on('close', () => resolve(got.trim()));
    c.on('error', () => resolve('ERR'));
  });
}

beforeEach(() => {
  api = new FakeApi();
  dp = new FakeNodeNetworking();
  lockDir = mkdtempSync(join(tmpdir(), 'stratus-netlock-'));
});

afterEach(async () => {
  await agent?.stop();
  for (const s of servers.splice(0)) s.close();
  rmSync(lockDir, { recursive: true, force: true });
});

function service(name: string, hostPorts: NonNullable<Service['status']>['hostPorts']): Service {
  const template = { spec: { driver: 'process' as const, command: ['x'], resources: { cpu: 1, memory: 1, disk: 0 }, priority: 0, restartPolicy: 'always' as const, gracePeriod: 1 } };
  return { kind: 'service', metadata: meta(name), spec: { replicas: 2, template, ports: [{ port: 80, targetPort: 8080 }] }, status: { phase: 'Available', address: '10.9.0.100', ...(hostPorts ? { hostPorts } : {}) } };
}

describe('NetworkSync in host mode', () => {
  it('says why, gives declared ports host ports, reports the node\'s address, names its project\'s services, and never touches the dataplane', async () => {
    agent = make({ probe: async () => HOST });
    await agent.start();
    expect(agent.status()).toEqual({ mode: 'host', message: HOST.summary, addresses: [{ type: 'host', address: '198.18.0.1' }] });
    api.put('services', service('my-db', [{ port: 80, protocol: 'tcp', hostPort: 32000 }]));
    api.put('services', service('other', [{ port: 80, protocol: 'tcp', hostPort: 32001 }]));
    api.put('services', { ...service('far', [{ port: 80, protocol: 'tcp', hostPort: 32002 }]), metadata: meta('far', 'q') });
    await new Promise((r) => setTimeout(r, 20));
    const web = instance('web', { node: 'n1', ip: '10.9.0.7' }, { ports: [{ port: 80, publish: 18080 }, { name: 'metrics-http', port: 9000 }], env: { OTHER_SERVICE_HOST: 'mine' } });
    const { env, status } = await agent.prepare(web);
    expect(env).toMatchObject({ PORT: '18080', PORT_80: '18080', MY_DB_SERVICE_HOST: '127.0.0.1', MY_DB_SERVICE_PORT: '32000', MY_DB_SERVICE_PORT_80: '32000', OTHER_SERVICE_PORT: '32001' });
    expect(env).not.toHaveProperty('OTHER_SERVICE_HOST'); // its own env wins
    expect(env).not.toHaveProperty('FAR_SERVICE_HOST'); // another project's
    const port9000 = Number(env!.PORT_9000);
    expect(env!.STRATUS_PORT_METRICS_HTTP).toBe(env!.PORT_9000);
    expect(port9000).toBeGreaterThanOrEqual(20000);
    expect(status).toEqual({ ip: '198.18.0.1', hostNetwork: { ports: [{ port: 80, protocol: 'tcp', hostPort: 18080 }, { port: 9000, protocol: 'tcp', hostPort: port9000 }] } });
    expect(await agent.prepare(instance('plain', { node: 'n1' }))).toEqual({ env: expect.any(Object), status: { ip: '198.18.0.1', hostNetwork: { ports: [] } } });
    // the next run (an agent restart: nothing held) takes the host ports it had again
    await agent.stop();
    agent = make({ probe: async () => HOST });
    await agent.start();
    expect((await agent.prepare({ ...web, status: { ...web.status!, ...status } })).env).toMatchObject({ PORT_9000: String(port9000) });
    await agent.synced([]);
    expect(dp.calls).toEqual([]);
  });

  it('is chosen by --network host, and by a second agent in one network namespace', async () => {
    agent = make({ mode: 'host' });
    await agent.start();
    expect(agent.status().message).toBe('host networking: chosen with --network host');
    await agent.stop();
    const first = make();
    await first.start();
    agent = make({}, 'n2');
    await agent.start();
    expect(agent.status()).toMatchObject({ mode: 'host' });
    expect(agent.status().message).toMatch(/^host networking: the agent of node n1 \(pid \d+\) already manages this machine's network namespace$/);
    await first.stop();
    expect(readdirSync(lockDir)).toEqual([]);
    expect(typeof lockNetworkNamespace(lockDir, 'n3')).toBe('function');
  });

  it('balances a service on its host port (127.0.0.1 too) over its Ready host-networked replicas, at their host ports (this node\'s on 127.0.0.1)', async () => {
    agent = make({ mode: 'host' });
    await agent.start();
    const hostPort = await freePort();
    const replica = (name: string, backend: number, ready: boolean, extra: Partial<NonNullable<Instance['status']>> = {}) => instance(name, {
      node: 'n1', phase: 'Running', ip: '192.0.2.254', hostNetwork: { ports: [{ port: 8080, protocol: 'tcp', hostPort: backend }] },
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }], ...extra,
    }, {}, { [SERVICE_LABEL]: 'web' });
    api.put('instances', replica('web-a', await named('web-a'), true));
    api.put('instances', replica('web-b', await named('web-b'), true));
    api.put('instances', replica('web-c', await named('web-c'), false)); // not ready
    const overlay = replica('web-d', await named('web-d'), true);
    delete overlay.status!.hostNetwork; // an overlay replica: not reachable from host networking
    api.put('instances', overlay);
    api.put('services', service('web', [{ port: 80, protocol: 'tcp', hostPort }]));
    await agent.prepare(instance('client', { node: 'n1' }));
    const seen = new Set<string>();
    for (let i = 0; i < 200 && seen.size < 2; i++) {
      const got = await read(hostPort);
      if (got === 'ERR') await new Promise((r) => setTimeout(r, 10)); // not listening yet
      else seen.add(got);
    }
    expect(seen).toEqual(new Set(['web-a', 'web-b']));
    api.remove('services', service('web', []));
    let last = '';
    for (let i = 0; i < 200 && last !== 'ERR'; i++) last = await read(hostPort);
    expect(last).toBe('ERR'); // the service is gone: so is its balancer
  });
});

describe('NetworkSync: networking mode re-detected', () => {
  it('switches to overlay networking once `nft` appears on its PATH, for new instances; those started before keep host networking', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'stratus-fakebin-'));
    const tool = (name: string) => {
      writeFileSync(join(bin, name), '#!/bin/sh\nexit 0\n');
      chmodSync(join(bin, name), 0o755);
    };
    tool('ip'); // iproute2 only: no nftables
    const runner = commandRunner(`${bin}:/nonexistent`);
    try {
      agent = make({ runner, probe: () => probeNetworking({ runner, uid: 0, probeName: 'stratus-test-probe' }), reprobeMs: 20 });
      await agent.start();
      expect(agent.status()).toMatchObject({ mode: 'host', message: 'host networking (no root / no netns): `nft` (nftables) is not installed' });
      const old = await agent.prepare(instance('old', { node: 'n1' }, { ports: [{ port: 8080 }] }));
      expect(old.status?.hostNetwork).toBeDefined();
      await new Promise((r) => setTimeout(r, 60));
      expect(agent.status().mode).toBe('host'); // looked again: still no nft
      tool('nft');
      await until(() => agent.status().mode === 'overlay');
      expect(agent.status().message).toMatch(/^overlay: bridge per network, VXLAN between nodes, nftables; underlay 198\.18\.0\.1; switched from host networking at \d{4}-\d\d-\d\dT[\d:.]+Z: instances started before keep it$/);
      // a new instance: overlay (it waits for its address); the old one, restarted: host networking as before
      expect((await agent.prepare(instance('new', { node: 'n1' }))).wait).toMatch(/status\.ip/);
      expect(await agent.prepare(instance('old', { node: 'n1', ...old.status }, { ports: [{ port: 8080 }] }))).toMatchObject({ status: old.status, env: { PORT_8080: String(old.status!.hostNetwork!.ports[0]!.hostPort) } });
      api.put('networks', network([{ node: 'n1', address: '10.9.0.250' }]));
      await agent.prepare(instance('new', { node: 'n1', ip: '10.9.0.10' }));
      expect(dp.calls).toContain('attach new 10.9.0.10');
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('never looks again when host networking was chosen, or for want of root', async () => {
    let probes = 0;
    agent = make({ probe: async () => (probes++, { ...HOST, fixed: true }), reprobeMs: 10 });
    await agent.start();
    await new Promise((r) => setTimeout(r, 50));
    expect(probes).toBe(1);
  });
});
