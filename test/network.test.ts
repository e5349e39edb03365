/**
 * Networking across simulated hosts: three network namespaces on an underlay bridge, each with
 * an agent-like process driving NodeNetworking (src/node/network/testing.ts), instances in their own
 * namespaces running busybox httpd or tiny Node servers. Two projects:
 *
 *   alpha  10.240.10.0/24  VNI 0x101  a1 (host1) a2 (host2) a3 (host3) web replicas; ac client (host1)
 *   beta   10.240.11.0/24  VNI 0x102  b1 (host1) web on :80 and :8080;   b2 client (host2)
 *
 * Needs root; skipped with the reason otherwise. No timing thresholds: waits are bounded polls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { SimCluster, networkTestSkipReason, sleep, type HostAgent } from '../src/node/network/testing.js';
import { PolicyResolver, type Endpoint } from '../src/node/network/policy.js';
import type { AttachedInstance, NetworkConfig } from '../src/node/network/dataplane.js';
import type { ServiceDefinition } from '../src/node/network/node.js';

const skip = networkTestSkipReason();
if (skip) console.warn(`network tests skipped: ${skip}`);

const ALPHA = { project: 'alpha', name: 'default', vni: 0x101, cidr: '10.240.10.0/24', gateway: '10.240.10.1', search: ['alpha.stratus'] };
const BETA = { project: 'beta', name: 'default', vni: 0x102, cidr: '10.240.11.0/24', gateway: '10.240.11.1', search: ['beta.stratus'] };
const NODE_ADDR = (net: typeof ALPHA, host: number) => net.cidr.replace(/0\/24$/, String(250 + host));

const INSTANCES = {
  a1: { host: 0, net: ALPHA, ip: '10.240.10.10', labels: { app: 'web' } },
  a2: { host: 1, net: ALPHA, ip: '10.240.10.11', labels: { app: 'web' } },
  a3: { host: 2, net: ALPHA, ip: '10.240.10.12', labels: { app: 'web' } },
  ac: { host: 0, net: ALPHA, ip: '10.240.10.20', labels: { app: 'client' } },
  b1: { host: 0, net: BETA, ip: '10.240.11.10', labels: { app: 'web' } },
  b2: { host: 1, net: BETA, ip: '10.240.11.11', labels: { app: 'client' } },
} as const;
type Name = keyof typeof INSTANCES;

const ECHO_SERVER = `const name = process.argv[1];
require('net').createServer((s) => { s.write(name + '\\n'); s.pipe(s); }).listen(9000, () => console.log('listening'));`;

const DRAIN_CLIENT = `const [host, port] = process.argv.slice(1);
const net = require('net');
const open = () => new Promise((resolve, reject) => {
  const s = net.connect(Number(port), host); let buf = '';
  const onData = (d) => { buf += d; if (buf.includes('\\n')) { s.off('data', onData); resolve({ s, name: buf.trim() }); } };
  s.on('data', onData); s.on('error', reject);
});
(async () => {
  const first = await open();
  console.log(JSON.stringify({ first: first.name }));
  await new Promise((r) => process.stdin.once('data', r));
  const names = [];
  for (let i = 0; i < 6; i++) { const c = await open(); names.push(c.name); c.s.destroy(); }
  const echoed = await new Promise((resolve) => { first.s.once('data', (d) => resolve(String(d).trim())); first.s.write('ping\\n'); setTimeout(() => resolve('TIMEOUT'), 3000); });
  console.log(JSON.stringify({ names, echoed }));
  await new Promise((r) => process.stdin.once('data', r));
  first.s.destroy();
  console.log(JSON.stringify({ closed: true }));
})();`;

const WHO_AM_I = `require('http').createServer((req, res) => res.end(req.socket.remoteAddress)).listen(7070, process.argv[1], () => console.log('up'));`;
const UDP_LISTENER = `const s = require('dgram').createSocket('udp4'); s.on('message', (m) => console.log(String(m))); s.bind(5000, () => console.log('up'));`;
const UDP_SEND = `const [src, dst, text] = process.argv.slice(1); const s = require('dgram').createSocket('udp4');
s.bind(0, src, () => s.send(text, 5000, dst, () => s.close()));`;

describe.skipIf(skip !== undefined)('networking across simulated hosts', () => {
  let cluster: SimCluster;
  const agents: HostAgent[] = [];
  const attached = {} as Record<Name, AttachedInstance>;
  const workloads = new Map<string, ChildProcess>();
  const ns = (n: Name) => attached[n].netnsName;
  const endpoints: Endpoint[] = Object.entries(INSTANCES).map(([name, i]) => ({ project: i.net.project, name, ip: i.ip, labels: { ...i.labels } }));

  function netConfig(net: typeof ALPHA, host: number, hosts: number[]): NetworkConfig {
    const peers = hosts.filter((h) => h !== host).map((h) => ({ underlay: cluster.hosts[h]!.underlayIp, address: NODE_ADDR(net, h) }));
    return { ...net, nodeAddress: NODE_ADDR(net, host), peers };
  }

  beforeAll(async () => {
    cluster = await SimCluster.create('nt', 3, 210);
    for (let h = 0; h < 3; h++) agents.push(await cluster.agent(h));
    for (let h = 0; h < 3; h++) await agents[h]!.call('ensureNetwork', netConfig(ALPHA, h, [0, 1, 2]));
    for (const h of [0, 1]) await agents[h]!.call('ensureNetwork', netConfig(BETA, h, [0, 1]));
    for (const [name, i] of Object.entries(INSTANCES) as [Name, (typeof INSTANCES)[Name]][]) {
      attached[name] = await agents[i.host]!.call<AttachedInstance>('attachInstance', { id: `uid-${name}`, project: i.net.project, name, vni: i.net.vni, ip: i.ip });
    }
    for (const n of ['a1', 'a2', 'a3', 'b1'] as const) workloads.set(`${n}:80`, await cluster.httpServer(ns(n), 80, n));
    workloads.set('b1:8080', await cluster.httpServer(ns('b1'), 8080, 'b1-8080'));
    for (const n of ['a1', 'a2', 'a3'] as const) {
      const p = cluster.run(ns(n), [process.execPath, '-e', ECHO_SERVER, n]);
      await new Promise((r) => p.stdout!.once('data', r));
      workloads.set(`${n}:9000`, p);
    }
  }, 120_000);

  afterAll(async () => {
    await cluster?.destroy();
  }, 60_000);

  it('reports the overlay mode', async () => {
    expect(await agents[0]!.call('probe')).toMatchObject({ mode: 'overlay', vxlan: true });
  });

  it('instances of one project on different hosts reach each other (VXLAN), and the node reaches them', async () => {
    expect(await cluster.httpGets(ns('ac'), 'http://10.240.10.11/', 1)).toEqual(['a2']); // host1 → host2
    expect(await cluster.httpGets(ns('ac'), 'http://10.240.10.12/', 1)).toEqual(['a3']); // host1 → host3
    expect(await cluster.httpGets(ns('a3'), 'http://10.240.10.10/', 1)).toEqual(['a1']); // host3 → host1
    expect(await cluster.tcpConnect(cluster.hosts[0]!.ns, '10.240.10.12', 80)).toBe('ok'); // node1 → instance on host3
    expect(await cluster.httpGets(ns('b2'), 'http://10.240.11.10/', 1)).toEqual(['b1']);
  });

  it('two projects cannot reach each other, on the same host or across hosts', async () => {
    const pairs: [Name, string][] = [['b1', INSTANCES.a1.ip], ['b2', INSTANCES.a2.ip], ['b2', INSTANCES.a1.ip], ['ac', INSTANCES.b1.ip], ['a2', INSTANCES.b1.ip]];
    const results = await Promise.all(pairs.map(([from, to]) => cluster.tcpConnect(ns(from), to, 80, 1500)));
    expect(results).toEqual(pairs.map(() => 'timeout'));
    // nor the other project's gateway, nor the node's own services from an instance
    expect(await cluster.tcpConnect(ns('b1'), ALPHA.gateway, 53, 1500)).not.toBe('ok');
  });

  it('a security group opens exactly one port', async () => {
    const groups = [{ project: 'beta', name: 'web', spec: { selector: 'app=web', ingress: [{ protocol: 'tcp' as const, ports: '8080', from: { cidr: ALPHA.cidr } }] } }];
    const policy = new PolicyResolver(endpoints, groups).ingressFor(endpoints.find((e) => e.name === 'b1')!);
    await agents[0]!.call('setIngress', [['uid-b1', policy]]);
    expect(await cluster.tcpConnect(ns('ac'), INSTANCES.b1.ip, 8080)).toBe('ok'); // alpha → beta:8080, opened
    expect(await cluster.httpGets(ns('ac'), 'http://10.240.11.10:8080/', 1)).toEqual(['b1-8080']);
    expect(await cluster.tcpConnect(ns('ac'), INSTANCES.b1.ip, 80, 1500)).toBe('timeout'); // the other port stays closed
    expect(await cluster.tcpConnect(ns('b2'), INSTANCES.b1.ip, 80, 1500)).toBe('timeout'); // and the group governs its own project too
    expect(await cluster.tcpConnect(ns('b2'), INSTANCES.b1.ip, 8080, 1500)).toBe('timeout'); // source not in the cidr
    // replies to b1's own connections still come back
    expect(await cluster.tcpConnect(ns('b1'), INSTANCES.b2.ip, 22, 1500)).toBe('refused');
    await agents[0]!.call('setIngress', [['uid-b1', null]]);
    expect(await cluster.tcpConnect(ns('b2'), INSTANCES.b1.ip, 80)).toBe('ok');
    expect(await cluster.tcpConnect(ns('ac'), INSTANCES.b1.ip, 8080, 1500)).toBe('timeout');
  });

  it('instances reach the outside through masquerade, with the node\'s address as source', async () => {
    const outside = cluster.hosts[1]!; // host2's own namespace plays "the internet" here
    const server = cluster.run(outside.ns, [process.execPath, '-e', WHO_AM_I, outside.underlayIp]);
    await new Promise((r) => server.stdout!.once('data', r));
    expect(await cluster.httpGets(ns('ac'), `http://${outside.underlayIp}:7070/`, 1)).toEqual([cluster.hosts[0]!.underlayIp]);
    server.kill('SIGKILL');
  });

  it('an instance cannot send from an address that is not its own', async () => {
    const listener = cluster.run(ns('a2'), [process.execPath, '-e', UDP_LISTENER]);
    await new Promise((r) => listener.stdout!.once('data', r));
    const got: string[] = [];
    listener.stdout!.on('data', (d: Buffer) => got.push(...d.toString().trim().split('\n')));
    // b2 (beta) pretends to be alpha's node address on host2, which security groups trust, and a same-network address
    await cluster.exec(ns('b2'), ['ip', 'addr', 'add', '10.240.10.251/32', 'dev', 'eth0']);
    await cluster.exec(ns('b2'), ['ip', 'addr', 'add', '10.240.10.77/32', 'dev', 'eth0']);
    await cluster.exec(ns('a3'), ['ip', 'addr', 'add', '10.240.10.78/32', 'dev', 'eth0']); // and an alpha instance an address not its own
    for (const [from, src] of [['b2', '10.240.10.251'], ['b2', '10.240.10.77'], ['a3', '10.240.10.78'], ['a3', INSTANCES.a3.ip]] as const) {
      await cluster.exec(ns(from), [process.execPath, '-e', UDP_SEND, src, INSTANCES.a2.ip, `from ${src}`]);
    }
    for (let i = 0; i < 20 && got.length === 0; i++) await sleep(50);
    await sleep(300);
    listener.kill('SIGKILL');
    expect(got).toEqual([`from ${INSTANCES.a3.ip}`]); // only the honest one arrived
  });

  const web = (algorithm: ServiceDefinition['algorithm'], vip: string, backends: Name[], extra: Partial<ServiceDefinition> = {}): ServiceDefinition => ({
    key: `alpha/web-${algorithm}`,
    vni: ALPHA.vni,
    vip,
    algorithm,
    ports: [{ port: 80, targetPort: 80, protocol: 'tcp' }, { port: 9000, targetPort: 9000, protocol: 'tcp' }],
    backends: backends.map((b) => ({ ip: INSTANCES[b].ip })),
    health: { probe: { type: 'http', path: '/' }, port: 80, intervalMs: 1000 },
    ...extra,
  });
  const RR = web('round-robin', '10.240.10.100', ['a1', 'a2', 'a3']);
  const LC = web('least-connections', '10.240.10.101', ['a1', 'a2', 'a3']);

  async function untilReady(agent: HostAgent, key: string, count: number): Promise<string[]> {
    for (let i = 0; i < 100; i++) {
      const ready = await agent.call<string[]>('ready', key);
      if (ready.length === count) return ready;
      await sleep(100);
    }
    throw new Error(`${key} never had ${count} ready backends`);
  }

  it('a 3-replica service answers from all three, round-robin (kernel) and least-connections (proxy)', async () => {
    for (const a of agents) await a.call('setServices', [RR, LC]);
    await untilReady(agents[0]!, RR.key, 3);
    await untilReady(agents[0]!, LC.key, 3);
    const rr = await cluster.httpGets(ns('ac'), `http://${RR.vip}/`, 9);
    expect(new Set(rr)).toEqual(new Set(['a1', 'a2', 'a3']));
    const lc = await cluster.httpGets(ns('ac'), `http://${LC.vip}/`, 9);
    expect(new Set(lc)).toEqual(new Set(['a1', 'a2', 'a3']));
    // from another host, and an instance reaching itself through the service address (hairpin)
    expect(new Set(await cluster.httpGets(ns('a3'), `http://${RR.vip}/`, 9))).toEqual(new Set(['a1', 'a2', 'a3']));
    // other projects cannot use alpha's service address
    expect(await cluster.tcpConnect(ns('b2'), RR.vip, 80, 1500)).not.toBe('ok');
  });

  it('names resolve between instances of the same project, and only there', async () => {
    const alpha = { web: RR.vip, 'web-lc': LC.vip, a1: INSTANCES.a1.ip, a2: INSTANCES.a2.ip, a3: INSTANCES.a3.ip, ac: INSTANCES.ac.ip };
    for (const h of [0, 1, 2]) await agents[h]!.call('setRecords', ALPHA.vni, alpha, ['alpha.stratus']);
    for (const h of [0, 1]) await agents[h]!.call('setRecords', BETA.vni, { b1: INSTANCES.b1.ip, b2: INSTANCES.b2.ip }, ['beta.stratus']);
    expect(new Set(await cluster.httpGets(ns('ac'), 'http://web/', 6))).toEqual(new Set(['a1', 'a2', 'a3'])); // curl http://web/
    expect(await cluster.httpGets(ns('a2'), 'http://a3.alpha.stratus/', 1)).toEqual(['a3']);
    expect(await cluster.httpGets(ns('b2'), 'http://b1/', 1)).toEqual(['b1']);
    const lookup = await cluster.exec(ns('b2'), ['/bin/busybox', 'nslookup', 'web', BETA.gateway]);
    expect(lookup.stdout + lookup.stderr).toMatch(/NXDOMAIN|can't find/);
  });

  it('a published port is reachable from the host (its addresses and 127.0.0.1) and from other hosts', async () => {
    const host1 = cluster.hosts[0]!.underlayIp;
    await agents[0]!.call('setPublished', [{ hostPort: 8080, protocol: 'tcp', ip: INSTANCES.a1.ip, port: 80 }]);
    await agents[0]!.call('setServices', [{ ...RR, ports: [{ ...RR.ports[0]!, publish: 8081 }, RR.ports[1]!] }, { ...LC, ports: [{ ...LC.ports[0]!, publish: 8082 }, LC.ports[1]!] }]);
    expect(await cluster.httpGets(cluster.hosts[0]!.ns, `http://${host1}:8080/`, 1)).toEqual(['a1']); // from the node itself
    expect(await cluster.httpGets(cluster.hosts[0]!.ns, 'http://127.0.0.1:8080/', 1)).toEqual(['a1']); // on its loopback too
    expect(new Set(await cluster.httpGets(cluster.hosts[0]!.ns, 'http://127.0.0.1:8081/', 9))).toEqual(new Set(['a1', 'a2', 'a3'])); // a published service, replicas elsewhere
    expect(new Set(await cluster.httpGets(cluster.hosts[0]!.ns, 'http://127.0.0.1:8082/', 9))).toEqual(new Set(['a1', 'a2', 'a3'])); // through the proxy
    expect(await cluster.httpGets(cluster.hosts[1]!.ns, `http://${host1}:8080/`, 1)).toEqual(['a1']); // from another machine
    expect(new Set(await cluster.httpGets(cluster.hosts[2]!.ns, `http://${host1}:8081/`, 9))).toEqual(new Set(['a1', 'a2', 'a3'])); // a published service
    expect(new Set(await cluster.httpGets(cluster.hosts[1]!.ns, `http://${host1}:8082/`, 9))).toEqual(new Set(['a1', 'a2', 'a3'])); // through the proxy
    expect(await cluster.httpGets(ns('b2'), `http://${host1}:8080/`, 1)).toEqual(['a1']); // published ports are public, to instances too
    await agents[0]!.call('setPublished', []);
    await agents[0]!.call('setServices', [RR, LC]);
    expect(await cluster.tcpConnect(cluster.hosts[1]!.ns, host1, 8080, 1500)).not.toBe('ok');
  });

  it('drains a backend: no new connections, the open one continues', async () => {
    const client = cluster.run(ns('ac'), [process.execPath, '-e', DRAIN_CLIENT, RR.vip, '9000'], { stdin: true });
    const lines = createInterface({ input: client.stdout! })[Symbol.asyncIterator]();
    const { first } = JSON.parse((await lines.next()).value as string) as { first: Name };
    const draining = RR.backends.map((b) => (b.ip === INSTANCES[first].ip ? { ...b, draining: true } : b));
    await agents[0]!.call('setServices', [{ ...RR, backends: draining }, LC]);
    expect(await agents[0]!.call('ready', RR.key)).not.toContain(INSTANCES[first].ip);
    client.stdin!.write('go\n');
    const { names, echoed } = JSON.parse((await lines.next()).value as string) as { names: string[]; echoed: string };
    expect(names).not.toContain(first);
    expect(echoed).toBe('ping');
    expect(await agents[0]!.call('drained', RR.key, INSTANCES[first].ip, 300)).toBe(false); // still open
    client.stdin!.write('close\n');
    await lines.next();
    expect(await agents[0]!.call('drained', RR.key, INSTANCES[first].ip, 10_000)).toBe(true);
    await agents[0]!.call('setServices', [RR, LC]);
    await untilReady(agents[0]!, RR.key, 3);
  });

  it('after a replica is killed, no new request fails once one health interval has passed', async () => {
    workloads.get('a2:80')!.kill('SIGKILL');
    await sleep(RR.health!.intervalMs);
    const rr = await cluster.httpGets(ns('ac'), `http://${RR.vip}/`, 30);
    expect(rr.filter((r) => r.startsWith('ERR'))).toEqual([]);
    expect(new Set(rr)).toEqual(new Set(['a1', 'a3']));
    expect(await agents[0]!.call('ready', RR.key)).toEqual([INSTANCES.a1.ip, INSTANCES.a3.ip]);
    // the proxy also retries a refused connection on another backend, so it never failed at all
    const lc = await cluster.httpGets(ns('ac'), `http://${LC.vip}/`, 30);
    expect(lc.filter((r) => r.startsWith('ERR'))).toEqual([]);
    // the replica comes back
    workloads.set('a2:80', await cluster.httpServer(ns('a2'), 80, 'a2'));
    await untilReady(agents[0]!, RR.key, 3);
  });

  it('a service without a ready backend refuses at once instead of hanging', async () => {
    await agents[0]!.call('setServices', [{ ...RR, backends: [] }, LC]);
    expect(await cluster.tcpConnect(ns('ac'), RR.vip, 80, 3000)).toBe('refused');
    await agents[0]!.call('setServices', [RR, LC]);
  });
});
