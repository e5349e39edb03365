/**
 * Per-project networking end to end: a real `stratus server` and three real `stratus agent`
 * processes, each agent inside its own network namespace acting as a separate host (joined to
 * the others and to the server by an underlay bridge, 198.18.212.0/24; the server listens on
 * .254 in this machine's namespace). Real instances (process driver, busybox httpd):
 *
 *   alpha  a1 (host 1)  a2 (host 2, publishes 30080 → 80)  a3 (host 3)  open (host 1, :80 and :81)
 *   beta   b1 (host 1)  b2 (host 3)
 *
 * Needs root; skipped with the reason otherwise. Waits are bounded polls, no timing thresholds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { client, TestServer } from './helpers/server.js';
import { cliRunner } from './helpers/cli.js';
import { AgentHosts } from './helpers/agent-hosts.js';
import { networkTestSkipReason, type SimCluster } from '../src/node/network/testing.js';
import { hostRunner } from '../src/node/network/exec.js';

const skip = networkTestSkipReason();
if (skip) console.warn(`network end-to-end tests skipped: ${skip}`);

const RUN = String(process.pid % 100000);
const NODES = [1, 2, 3].map((n) => `ne${n}-${RUN}`);
const hosts = new AgentHosts('ne', 212, 3);
const prefixOf = (n: number) => hosts.prefixOf(n);
const underlayOf = (n: number) => hosts.underlayOf(n);
const until = <T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms?: number) => hosts.until(what, get, ok, ms);
/** Each agent serves logs on its host's underlay address, where the server can reach it. */
const startAgent = (node: string, host: number) => hosts.startAgent(node, host, ['--agent-listen', `${hosts.underlayOf(host)}:0`]);
const stopAgent = (node: string, signal: NodeJS.Signals) => hosts.stopAgent(node, signal);

type Inst = { metadata: { name: string; uid: string }; status?: { phase: string; node?: string; ip?: string; pid?: number; message?: string } };

let cluster: SimCluster;
let server: TestServer;
let api: ReturnType<typeof client>;
let work: string;

const get = async (project: string, name: string) => (await api('GET', `/v1/projects/${project}/instances/${name}`)).body as Inst;

/** A process instance on node `host` serving its name over HTTP on `ports` (busybox httpd). */
async function web(project: string, name: string, host: number, opts: { ports?: number[]; publish?: number; labels?: Record<string, string>; before?: string } = {}): Promise<void> {
  const ports = opts.ports ?? [80];
  const serve = ports.map((p, i) => `${i === ports.length - 1 ? 'exec ' : ''}/bin/busybox httpd ${i === ports.length - 1 ? '-f ' : ''}-p ${p} -h www`).join(' && ');
  const script = `mkdir -p www && echo ${name} > www/index.html; ${opts.before ?? ''} ${serve}`;
  const res = await api('POST', `/v1/projects/${project}/instances`, {
    kind: 'instance', metadata: { name, labels: opts.labels ?? {} },
    spec: {
      driver: 'process', command: ['/bin/sh', '-c', script], resources: { cpu: '50m', memory: '32Mi' }, gracePeriod: 1,
      placement: { node: NODES[host - 1] }, ...(opts.publish ? { ports: [{ port: 80, publish: opts.publish }] } : {}),
    },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

const running = (project: string, name: string) => until(`${project}/${name} runs`, () => get(project, name), (i) => i.status?.phase === 'Running' && i.status.ip !== undefined, 45_000);
/** The namespace the agent made for an instance (its uid, hashed, after the host's prefix). */
const nsOf = (i: Inst) => hosts.nsOf(i);
const GET = async (from: Inst, url: string, timeoutMs = 3000) => (await cluster.httpGets(nsOf(from), url, 1, 0, timeoutMs))[0]!;
/** 'ok', 'refused' or 'timeout'; a dropped connection costs `timeoutMs`. */
const connect = (from: Inst, to: Inst, port: number, timeoutMs = 1500) => cluster.tcpConnect(nsOf(from), to.status!.ip!, port, timeoutMs);

/** What of ours is on host n: instance namespaces, links besides lo/eth0, nftables tables, resolv.conf dirs. */
async function inventory(n: number): Promise<{ netns: string[]; links: string[]; tables: string[]; etc: string[] }> {
  const ns = cluster.hosts[n - 1]!.ns;
  const netns = (await hostRunner.run(['ip', 'netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((x) => x.startsWith(prefixOf(n)));
  const links = (await cluster.exec(ns, ['ip', '-o', 'link', 'show'])).stdout.split('\n').filter(Boolean).map((l) => l.split(': ')[1]!.split('@')[0]!).filter((l) => l !== 'lo' && l !== 'eth0');
  const tables = (await cluster.exec(ns, ['nft', 'list', 'tables'])).stdout.split('\n').filter((l) => l.includes('stratus'));
  const etc = existsSync('/etc/netns') ? readdirSync('/etc/netns').filter((d) => d.startsWith(prefixOf(n))) : [];
  return { netns, links, tables, etc };
}

const insts: Record<string, Inst> = {};

beforeAll(async () => {
  if (skip) return;
  await hosts.start('stratus-net-e2e-');
  ({ cluster, server, api, work } = hosts);
  for (let n = 1; n <= 3; n++) await startAgent(NODES[n - 1]!, n);
  for (const p of ['alpha', 'beta']) expect((await api('POST', '/v1/projects', { metadata: { name: p }, spec: {} })).status).toBe(201);
  await web('alpha', 'a1', 1);
  await web('alpha', 'a2', 2, { publish: 30080 });
  await web('alpha', 'a3', 3, { before: '(until /bin/busybox nslookup a1 "$STRATUS_DNS" > lookup.tmp 2>&1; do sleep 0.3; done; cat lookup.tmp) &' });
  await web('alpha', 'open', 1, { ports: [81, 80], labels: { app: 'open' } });
  await web('beta', 'b1', 1);
  await web('beta', 'b2', 3);
  for (const [p, n] of [['alpha', 'a1'], ['alpha', 'a2'], ['alpha', 'a3'], ['alpha', 'open'], ['beta', 'b1'], ['beta', 'b2']] as const) insts[n] = await running(p, n);
}, 180_000);

afterAll(async () => {
  if (skip) return;
  await hosts.stop(async () => {
    for (const [p, n] of [['alpha', 'a1'], ['alpha', 'a2'], ['alpha', 'a3'], ['alpha', 'open'], ['beta', 'b1'], ['beta', 'b2']]) {
      await api('DELETE', `/v1/projects/${p}/instances/${n}`).catch(() => undefined);
    }
  });
}, 90_000);

describe.skipIf(skip !== undefined)('networking end to end', () => {
  it('agents report overlay networking with their underlay address, and describe node says so', async () => {
    for (let n = 1; n <= 3; n++) {
      const node = (await api('GET', `/v1/nodes/${NODES[n - 1]}`)).body as { status: { conditions: { type: string; reason: string; message: string }[]; addresses: { type: string; address: string }[] } };
      expect(node.status.conditions.find((c) => c.type === 'Networking')).toMatchObject({ reason: 'overlay', message: expect.stringContaining(`underlay ${underlayOf(n)} (eth0)`) });
      expect(node.status.addresses).toContainEqual({ type: 'underlay', address: underlayOf(n) });
    }
    // a second agent in host 1's namespace cannot take over its networking: host networking, and why
    const extra = `ne4-${RUN}`;
    await startAgent(extra, 1);
    const run = cliRunner(join(work, 'cli.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token });
    const described = await until('describe node', () => run(['describe', 'node', extra]), (r) => /host networking/.test(r.stdout));
    expect(described.stdout).toMatch(new RegExp(`host networking: the agent of node ${NODES[0]} \\(pid \\d+\\) already manages this machine's network namespace`));
    await stopAgent(extra, 'SIGTERM');
  });

  it('addresses every instance from its project\'s network, never twice', async () => {
    const nets = Object.fromEntries(await Promise.all(['alpha', 'beta'].map(async (p) => [p, (await api('GET', `/v1/projects/${p}/networks/default`)).body as { status: { phase: string; cidr: string; nodes: { node: string }[] } }])));
    expect(nets.alpha.status.phase).toBe('Ready');
    expect(nets.alpha.status.cidr).not.toBe(nets.beta.status.cidr);
    expect(nets.alpha.status.nodes.map((n: { node: string }) => n.node).sort()).toEqual([...NODES].sort());
    const ips = Object.values(insts).map((i) => i.status!.ip);
    expect(new Set(ips).size).toBe(ips.length);
  });

  it('instances of one project on different hosts reach each other by address and by name', async () => {
    const { a1, a2, a3 } = insts;
    expect(await GET(a1!, `http://${a2!.status!.ip}/`)).toBe('a2');
    expect(await GET(a2!, `http://${a3!.status!.ip}/`)).toBe('a3');
    // names: the resolver of the instance's namespace asks the gateway
    expect(await GET(a1!, 'http://a3/')).toBe('a3');
    expect(await GET(a3!, 'http://a2.alpha.stratus/')).toBe('a2');
    // and from inside an instance, with the nameserver the agent gave it
    // The sandboxed instance prints its lookup: its output is the only file of it the test may read.
    const lookup = await until('a3 resolves a1', async () => String((await api('GET', '/v1/projects/alpha/instances/a3/logs')).body ?? ''), (t) => t.includes('Address'));
    expect(lookup).toContain(a1!.status!.ip!);
  });

  it('two projects cannot reach each other, on one host or across hosts, nor resolve each other\'s names', async () => {
    const { a1, a2, b1, b2 } = insts;
    expect(await GET(b1!, 'http://b2/')).toBe('b2'); // beta's own, across hosts
    expect(await connect(b1!, a1!, 80)).toBe('timeout'); // same host
    expect(await connect(b1!, a2!, 80)).toBe('timeout'); // another host
    expect(await connect(a1!, b2!, 80)).toBe('timeout');
    expect(await GET(b1!, 'http://a1/', 5000)).toMatch(/^ERR /); // beta's resolver does not know alpha's names
  });

  it('a security group opens exactly one port', async () => {
    const { a1, b1, open } = insts;
    expect(await connect(b1!, open!, 81)).toBe('timeout');
    const sg = { kind: 'security-group', metadata: { name: 'open-81' }, spec: { selector: 'app=open', ingress: [{ protocol: 'tcp', ports: '81' }] } };
    expect((await api('POST', '/v1/projects/alpha/security-groups', sg)).status).toBe(201);
    await until('port 81 opens', () => connect(b1!, open!, 81), (r) => r === 'ok');
    expect(await GET(b1!, `http://${open!.status!.ip}:81/`)).toBe('open');
    expect(await connect(b1!, open!, 80)).toBe('timeout');
    // the group is all the instance accepts now, from its own project too
    expect(await connect(a1!, open!, 81, 3000)).toBe('ok');
    expect(await connect(a1!, open!, 80)).toBe('timeout');
    expect(await connect(b1!, a1!, 80)).toBe('timeout'); // other instances are untouched
  });

  it('a published port is reachable from the host, from other hosts and from outside', async () => {
    const url = `http://${underlayOf(2)}:30080/`;
    expect(await (await fetch(url)).text()).toBe('a2\n'); // this machine: outside the hosts
    for (const n of [2, 1]) expect(await cluster.httpGets(cluster.hosts[n - 1]!.ns, url, 1, 0, 3000)).toEqual(['a2']); // the host itself, another host
  });

  it('an agent killed with SIGKILL cleans up what it no longer knows when it comes back, and keeps what runs', async () => {
    const b2Pid = (await get('beta', 'b2')).status!.pid;
    const a3 = insts.a3!;
    await stopAgent(NODES[2]!, 'SIGKILL');
    expect((await api('DELETE', '/v1/projects/alpha/instances/a3')).status).toBe(200);
    // leftovers a crash could leave: a namespace and a veth of ours nothing refers to
    const host3 = cluster.hosts[2]!.ns;
    await hostRunner.run(['ip', 'netns', 'add', `${prefixOf(3)}0123456789ab`]);
    await cluster.exec(host3, ['ip', 'link', 'add', 'name', 'stv0123456789ab', 'type', 'dummy']);
    expect((await inventory(3)).netns).toContain(nsOf(a3));
    await startAgent(NODES[2]!, 3);
    const left = await until('host 3 cleaned', () => inventory(3), (inv) => !inv.netns.includes(nsOf(a3)) && !inv.netns.includes(`${prefixOf(3)}0123456789ab`) && !inv.links.includes('stv0123456789ab'));
    expect(left.netns).toEqual([nsOf(insts.b2!)]);
    const rules = (await cluster.exec(host3, ['nft', 'list', 'ruleset'])).stdout;
    expect(rules).not.toContain(a3.status!.ip!);
    expect(rules).toContain(insts.b2!.status!.ip!);
    // b2 kept running, undisturbed, and is still reachable across hosts
    expect((await get('beta', 'b2')).status).toMatchObject({ phase: 'Running', pid: b2Pid });
    expect(await GET(insts.b1!, 'http://b2/')).toBe('b2');
  });

  it('deleting everything leaves no namespaces, links or rules of ours on any host', async () => {
    expect((await api('DELETE', '/v1/projects/alpha/networks/default')).status).toBe(422); // still in use
    for (const [p, n] of [['alpha', 'a1'], ['alpha', 'a2'], ['alpha', 'open'], ['beta', 'b1'], ['beta', 'b2']]) {
      expect((await api('DELETE', `/v1/projects/${p}/instances/${n}`)).status).toBe(200);
    }
    expect((await api('DELETE', '/v1/projects/alpha/security-groups/open-81')).status).toBe(200);
    for (let n = 1; n <= 3; n++) {
      await until(`host ${n} is clean`, () => inventory(n), (inv) => inv.netns.length === 0 && inv.links.length === 0 && inv.tables.length === 0 && inv.etc.length === 0);
    }
    for (const p of ['alpha', 'beta']) expect((await api('DELETE', `/v1/projects/${p}/networks/default`)).status).toBe(200);
  });
});
