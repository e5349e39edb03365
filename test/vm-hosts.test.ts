/**
 * A VM across hosts: a real server and two real agents, each in its own network namespace acting
 * as a separate host (AgentHosts, underlay 198.18.217.0/24). The VM runs on host 1 (its tap on
 * host 1's bridge, VXLAN to host 2); a process instance of its project on host 2 reaches its
 * HTTP server by address and by name, one of another project does not; deleting the VM leaves no
 * tap on host 1. One TCG boot. Needs root and QEMU.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { client } from './helpers/server.js';
import { cliRunner } from './helpers/cli.js';
import { AgentHosts } from './helpers/agent-hosts.js';
import { builtVmImage, vmTestsUnavailable } from '../src/node/drivers/vm/testing.js';
import { networkTestSkipReason, type SimCluster } from '../src/node/network/testing.js';
import { shortHash } from '../src/node/network/names.js';

const skip = networkTestSkipReason() ?? vmTestsUnavailable();
if (skip) console.warn(`VM-across-hosts test skipped: ${skip}`);

const RUN = String(process.pid % 100000);
const NODES = [1, 2].map((n) => `vh${n}-${RUN}`);
const hosts = new AgentHosts('vh', 217, 2);

type Inst = { metadata: { name: string; uid: string }; status?: { phase: string; ip?: string } };
let cluster: SimCluster;
let api: ReturnType<typeof client>;

const get = async (project: string, name: string) => (await api('GET', `/v1/projects/${project}/instances/${name}`)).body as Inst;
const running = (project: string, name: string) => hosts.until(`${project}/${name} runs`, () => get(project, name), (i) => i.status?.phase === 'Running' && i.status.ip !== undefined, 90_000);
const sleeper = (name: string, node: string) => ({ kind: 'instance', metadata: { name }, spec: { driver: 'process', command: ['sleep', '3600'], resources: { cpu: '50m', memory: '32Mi' }, gracePeriod: 1, placement: { node } } });
const tapsOnHost1 = async () => (await cluster.exec(cluster.hosts[0]!.ns, ['ip', '-o', 'link', 'show'])).stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter((n) => /^stt[0-9a-f]{12}$/.test(n));

beforeAll(async () => {
  if (skip) return;
  const image = await builtVmImage();
  await hosts.start('stratus-vm-hosts-');
  ({ cluster, api } = hosts);
  for (let n = 1; n <= 2; n++) await hosts.startAgent(NODES[n - 1]!, n, ['--agent-listen', `${hosts.underlayOf(n)}:0`, '--drivers', 'process,vm']);
  for (const p of ['alpha', 'beta']) expect((await api('POST', '/v1/projects', { metadata: { name: p }, spec: {} })).status).toBe(201);
  const run = cliRunner(join(hosts.work, 'cli.json'), { STRATUS_SERVER: hosts.server.url, STRATUS_TOKEN: hosts.server.token, STRATUS_PROJECT: 'alpha' });
  const imported = await run(['image', 'import', 'debvm', image, '--type', 'disk']);
  expect(imported.code, imported.stderr).toBe(0);
  const vm = { kind: 'instance', metadata: { name: 'vm1' }, spec: { driver: 'vm', image: 'debvm', resources: { cpu: '500m', memory: '256Mi', disk: '1Gi' }, ports: [{ port: 80 }], gracePeriod: 0, placement: { node: NODES[0] } } };
  expect((await api('POST', '/v1/projects/alpha/instances', vm)).status).toBe(201);
  expect((await api('POST', '/v1/projects/alpha/instances', sleeper('a2', NODES[1]!))).status).toBe(201);
  expect((await api('POST', '/v1/projects/beta/instances', sleeper('b2', NODES[1]!))).status).toBe(201);
}, 300_000);

afterAll(async () => {
  if (skip) return;
  await hosts.stop(async () => {
    for (const [p, n] of [['alpha', 'vm1'], ['alpha', 'a2'], ['beta', 'b2']]) await api('DELETE', `/v1/projects/${p}/instances/${n}`).catch(() => undefined);
  });
}, 120_000);

describe.skipIf(skip !== undefined)('a VM across hosts', () => {
  it('a VM on host 1 answers its project on host 2 by address and by name, not another project; its tap goes with it', async () => {
    const [vm1, a2, b2] = [await running('alpha', 'vm1'), await running('alpha', 'a2'), await running('beta', 'b2')];
    const ns = (i: Inst) => `${hosts.prefixOf(i === b2 || i === a2 ? 2 : 1)}${shortHash(i.metadata.uid)}`;
    const page = await hosts.until('vm1\'s page from host 2', async () => (await cluster.httpGets(ns(a2), `http://${vm1.status!.ip}/`, 1, 0, 2000))[0]!, (p) => p.includes('stratus vm vm1'), 120_000);
    expect(page).toContain('<h1>stratus vm vm1</h1>');
    expect((await cluster.httpGets(ns(a2), 'http://vm1/', 1, 0, 3000))[0]).toContain('stratus vm vm1');
    expect(await cluster.tcpConnect(ns(b2), vm1.status!.ip!, 80, 1500)).toBe('timeout');
    expect(await tapsOnHost1()).toEqual([`stt${shortHash(vm1.metadata.uid)}`]);
    expect((await api('DELETE', '/v1/projects/alpha/instances/vm1')).status).toBe(200);
    await hosts.until('no tap left on host 1', tapsOnHost1, (t) => t.length === 0, 60_000);
  }, 300_000);
});
