/**
 * Chaos: the leader cut off from etcd (a partition), while instances keep arriving.
 *
 * The etcd members listen on a second loopback address too; the first server reaches etcd only
 * there, and nftables drops every packet to that address (a table of this test's own, removed at
 * the end). That server leads when the cut happens. It must stop acting as leader before its lease
 * can expire (so before anyone else can lead), another server takes over, and when the cut heals
 * the old leader comes back as a follower. Throughout, a watch checks every instance event: no
 * instance is ever bound to two nodes, no node ever holds more than its capacity.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, parseServers, type WatchMessage } from '../../src/client/index.js';
import { etcdMissing, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { startHa, type Ha } from '../helpers/ha.js';
import { client } from '../helpers/server.js';
import { hasCommand } from '../helpers/tenants.js';
import { agentForgotAll, sleep, startAgentProcess, until, type AgentProcess } from '../helpers/processes.js';
import { report } from './report.js';

const root = process.getuid?.() === 0;
const skip = etcdMissing() ?? (!root || !hasCommand('nft') ? 'needs root and nft' : undefined);
const ALIAS = '127.0.1.1';
const TABLE = `stratus_chaos_split_${process.pid}`;
const NODE_CPU = 2000;
const CPU = '500m';
const CUT_MS = 8_000;

let etcd: EtcdCluster;
let ha: Ha;
let dir: string;
const agents: AgentProcess[] = [];

const nft = (...args: string[]) => execFileSync('nft', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const heal = () => {
  try {
    nft('delete', 'table', 'ip', TABLE);
  } catch {
    // not there
  }
};

beforeAll(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'stratus-split-'));
  etcd = await startEtcd({ members: 3, alias: ALIAS });
  // s0 starts first (and leads): it reaches etcd only through the alias address
  ha = await startHa({ store: (i) => (i === 0 ? etcd.aliasEndpoints! : etcd.endpoints), servers: 3 });
  const join1 = (await client(ha.servers[1]!.url, ha.token)('POST', '/v1/join-tokens', {})).body.secret as string;
  const urls = [1, 2, 0].map((i) => ha.servers[i]!.url).join(',');
  for (const name of ['na', 'nb']) agents.push(await startAgentProcess(urls, join1, join(dir, name), name, ['--capacity', `cpu=${NODE_CPU / 1000},memory=4Gi`, '--heartbeat', '1s']));
}, 120_000);

afterAll(async () => {
  heal();
  if (ha) {
    const api = new ApiClient(parseServers(ha.urls), ha.token);
    const { items } = await api.listAll<{ metadata: { name: string } }>('/v1/projects/default/instances').catch(() => ({ items: [] }));
    await Promise.all(items.map((i) => api.request('DELETE', `/v1/projects/default/instances/${i.metadata.name}`).catch(() => undefined)));
    await Promise.all(['na', 'nb'].map((n) => agentForgotAll(join(dir, n)).catch(() => undefined)));
  }
  await Promise.all(agents.map((a) => a.stop()));
  await ha?.stop();
  await etcd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

interface Inst { metadata: { name: string }; spec: { resources: { cpu: number } }; status?: { phase?: string; node?: string } }

describe.skipIf(Boolean(skip))('the leader cut off from etcd', () => {
  it('steps down before anyone else can lead; never two bindings of one instance, never a node over capacity', async () => {
    const victim = await ha.waitLeader();
    expect(victim.name).toBe('s0');
    // clients of the two servers that stay connected
    const urls = [ha.servers[1]!.url, ha.servers[2]!.url];
    const api = new ApiClient(urls, ha.token);
    const body = (name: string) => ({ kind: 'instance', metadata: { name, labels: { chaos: 'split' } }, spec: { driver: 'process', command: ['sleep', '3600'], resources: { cpu: CPU, memory: '32Mi' }, restartPolicy: 'always' } });

    // the watch: every instance's nodes, and every node's bound CPU after each event
    const state = new Map<string, Inst>();
    const nodesOf = new Map<string, Set<string>>();
    const overcommits: string[] = [];
    const stop = new AbortController();
    const start = (await api.request<{ revision: number }>('GET', '/v1/projects/default/instances')).revision;
    const watching = new ApiClient(urls, ha.token, { watchIdleMs: 5_000 }).watch('/v1/projects/default/instances', start, {}, (m: WatchMessage) => {
      if (m.type !== 'put' && m.type !== 'delete') return;
      const inst = m.object as unknown as Inst;
      if (m.type === 'delete') state.delete(inst.metadata.name);
      else state.set(inst.metadata.name, inst);
      const node = inst.status?.node;
      if (m.type === 'put' && node) nodesOf.set(inst.metadata.name, (nodesOf.get(inst.metadata.name) ?? new Set()).add(node));
      const load = new Map<string, number>();
      for (const i of state.values()) {
        if (i.status?.node && !['Succeeded', 'Failed'].includes(i.status.phase ?? '')) load.set(i.status.node, (load.get(i.status.node) ?? 0) + i.spec.resources.cpu);
      }
      for (const [n, cpu] of load) if (cpu > NODE_CPU) overcommits.push(`${n}: ${cpu}m at revision ${m.revision}`);
    }, stop.signal);

    for (let i = 0; i < 6; i++) await api.request('POST', '/v1/projects/default/instances', { body: body(`before-${i}`) });
    await until('6 instances bound', async () => [...state.values()].filter((i) => i.status?.node).length, (n) => n >= 6, 60_000);

    // the cut
    // when each happens, from the servers' own logs (the API of a server cut off from etcd would
    // keep a poll waiting for its store's deadline)
    const count = (text: string, what: RegExp) => (text.match(what) ?? []).length;
    const others = ha.servers.filter((s) => s !== victim);
    const stepDownsBefore = count(victim.output(), /stops leading/g);
    const leadsBefore = others.map((s) => count(s.output(), /leads controllers/g));
    nft('add', 'table', 'ip', TABLE);
    nft('add', 'chain', 'ip', TABLE, 'out', '{ type filter hook output priority 0; policy accept; }');
    nft('add', 'rule', 'ip', TABLE, 'out', 'ip', 'daddr', ALIAS, 'drop');
    const cutAt = Date.now();
    let steppedDownAt = 0;
    let newLeaderAt = 0;
    const observe = (async () => {
      while (Date.now() - cutAt < CUT_MS) {
        if (!steppedDownAt && count(victim.output(), /stops leading/g) > stepDownsBefore) steppedDownAt = Date.now();
        if (!newLeaderAt && others.some((s, i) => count(s.output(), /leads controllers/g) > leadsBefore[i]!)) newLeaderAt = Date.now();
        await sleep(10);
      }
    })();
    // work keeps arriving through the connected servers: new instances, two old ones deleted
    for (let i = 0; i < 6; i++) await api.request('POST', '/v1/projects/default/instances', { body: body(`during-${i}`) });
    for (const n of ['before-0', 'before-1']) await api.request('DELETE', `/v1/projects/default/instances/${n}`);
    await observe;
    heal();
    const healedAt = Date.now();

    // 10 instances of 500m on 2 nodes of 2 cores: 8 bound, 2 pending
    await until('8 instances bound', async () => [...state.values()].filter((i) => i.status?.node).length, (n) => n >= 8, 60_000);
    await until('the old leader back as a follower', async () => (await client(victim.url, ha.token)('GET', '/v1/servers').catch(() => undefined))?.body?.items as { name: string; status: { leader: boolean } }[] | undefined,
      (items) => Boolean(items?.some((s) => s.status.leader && s.name !== victim.name)), 30_000);
    await sleep(3_000); // anything the old leader had in flight would show by now
    stop.abort();
    await watching;

    const twice = [...nodesOf].filter(([, nodes]) => nodes.size > 1).map(([n, nodes]) => `${n}: ${[...nodes].join(', ')}`);
    const bound = [...state.values()].filter((i) => i.status?.node).length;
    report({
      scenario: 'leader cut off from etcd (nftables)', fault: `the leader's etcd traffic dropped for ${CUT_MS / 1000} s, then healed`,
      operations: state.size, lost: 0, duplicated: twice.length + overcommits.length, recoverMs: [newLeaderAt - cutAt],
      notes: `old leader stepped down ${steppedDownAt - cutAt} ms after the cut, the new one led at ${newLeaderAt - cutAt} ms; ${bound} bound, none twice, no node over capacity; back as follower ${Date.now() - healedAt - 3000} ms after healing`,
    });
    expect(steppedDownAt).toBeGreaterThan(0);
    expect(newLeaderAt).toBeGreaterThan(0);
    expect(steppedDownAt).toBeLessThan(newLeaderAt);
    expect(twice).toEqual([]);
    expect(overcommits).toEqual([]);
    expect(bound).toBe(8);
  }, 240_000);
});
