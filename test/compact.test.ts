/**
 * `stratus node compact` end to end: a real server and four real agents (host networking,
 * process driver, 2 cores each), a service of 4 one-core replicas spread one per node (each node
 * half full). `--plan` lists two drains whose replicas go to the two nodes that stay;
 * `--apply` empties and cordons those two while the service never has fewer than 3 of its 4
 * replicas Ready (its disruption budget: maxUnavailable 0 → at most one unavailable).
 * Bad input: one readable line and a non-zero exit. Needs root (agents run real processes).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { client, startTestServer, type TestServer } from './helpers/server.js';
import { cliRunner } from './helpers/cli.js';
import { agentForgotAll, startAgentProcess, until, type AgentProcess } from './helpers/processes.js';

const root = process.getuid?.() === 0;
const RUN = String(process.pid % 100000);
const NODES = ['c1', 'c2', 'c3', 'c4'].map((n) => `${n}-${RUN}`);

let server: TestServer;
let api: ReturnType<typeof client>;
let work: string;
const agents: AgentProcess[] = [];

interface Inst { metadata: { name: string }; status?: { phase: string; node?: string; conditions?: { type: string; status: string }[] } }
const replicas = async (): Promise<Inst[]> => (await api('GET', '/v1/projects/default/instances?selector=stratus.io%2Fservice%3Dweb')).body.items as Inst[];
const ready = (i: Inst) => i.status?.phase === 'Running' && i.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

beforeAll(async () => {
  if (!root) return;
  work = mkdtempSync(join(tmpdir(), 'stratus-compact-'));
  server = await startTestServer({ args: ['--node-timeout', '10s'] });
  api = client(server.url, server.token);
  const joinToken = (await api('POST', '/v1/join-tokens', {})).body.secret as string;
  for (const n of NODES) agents.push(await startAgentProcess(server.url, joinToken, join(work, n), n, ['--heartbeat', '500ms', '--restart-backoff', '200ms']));
  const svc = await api('POST', '/v1/projects/default/services', {
    kind: 'service', metadata: { name: 'web' },
    spec: { replicas: 4, template: { spec: { driver: 'process', command: ['sleep', '3600'], resources: { cpu: '1', memory: '256Mi' }, gracePeriod: 1, placement: { policy: 'spread' } } } },
  });
  expect(svc.status).toBe(201);
  await until('4 replicas Ready, one per node', replicas, (l) => l.filter(ready).length === 4 && new Set(l.map((i) => i.status?.node)).size === 4, 60_000);
}, 120_000);

afterAll(async () => {
  if (!root) return;
  await api('DELETE', '/v1/projects/default/services/web').catch(() => undefined);
  for (const n of NODES) await agentForgotAll(join(work, n)).catch(() => undefined);
  for (const a of agents) await a.kill();
  await server.stop();
  server.cleanup();
  rmSync(work, { recursive: true, force: true });
}, 120_000);

describe.skipIf(!root)('stratus node compact', () => {
  const cli = () => cliRunner(join(work, 'cli.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token });

  it('--plan lists two drains whose replicas go to the two nodes that stay', async () => {
    const res = await cli()(['node', 'compact', '--plan', '--json']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const plan = JSON.parse(res.stdout) as { drains: { node: string; moves: { key: string; to: string }[] }[]; kept: { node: string }[]; before: number; after: number };
    expect(plan).toMatchObject({ before: 4, after: 2 });
    expect(plan.drains).toHaveLength(2);
    const drained = plan.drains.map((d) => d.node);
    const stays = NODES.filter((n) => !drained.includes(n));
    expect(plan.kept.map((k) => k.node).sort()).toEqual(stays.sort());
    for (const d of plan.drains) {
      expect(d.moves).toHaveLength(1);
      expect(stays).toContain(d.moves[0]!.to);
    }
    const text = await cli()(['node', 'compact']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('4 nodes in use; after the drains: 2.');
    expect(text.stdout).toMatch(new RegExp(`1\\. drain ${drained[0]} \\(1 instance\\)\\n {5}default/web-\\S+ → (${stays.join('|')})`));
  });

  it('--apply empties and cordons two nodes, the service keeping 3 of 4 replicas Ready throughout', async () => {
    let minReady = 4;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        minReady = Math.min(minReady, (await replicas()).filter(ready).length);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const res = await cli()(['node', 'compact', '--apply', '--timeout', '90s']);
    watching = false;
    await watcher;
    expect(res.stderr.split('\n').filter((l) => l.startsWith('error'))).toEqual([]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/compacted: 2 nodes emptied and cordoned/);
    const l = await replicas();
    expect(l.filter(ready)).toHaveLength(4);
    const used = new Set(l.filter(ready).map((i) => i.status!.node!));
    expect(used.size).toBe(2);
    const nodes = (await api('GET', '/v1/nodes')).body.items as { metadata: { name: string }; spec: { unschedulable?: boolean } }[];
    const cordoned = nodes.filter((n) => NODES.includes(n.metadata.name) && n.spec.unschedulable).map((n) => n.metadata.name);
    expect(cordoned).toHaveLength(2);
    for (const n of cordoned) expect(used.has(n)).toBe(false);
    // The final line names the nodes actually drained (each round re-plans), not the first plan's.
    const named = /compacted: 2 nodes emptied and cordoned \((\S+), (\S+)\)/.exec(res.stdout);
    expect(named && [named[1], named[2]].sort()).toEqual([...cordoned].sort());
    expect(minReady).toBeGreaterThanOrEqual(3);
    // Nothing left to compact: the two in use are full.
    expect((await cli()(['node', 'compact'])).stdout).toContain('Nothing to drain');
  }, 240_000);

  it.each([
    [['node', 'compact', '--max', 'lots'], /^error: --max lots: not a whole number\n$/],
    [['node', 'compact', '--plan', '--apply'], /^error: --plan and --apply: give one\n$/],
    [['node', 'compact', '--timeout', 'soon'], /^error: --timeout soon: not a duration/],
  ])('bad input %j is one line and a non-zero exit', async (args, message) => {
    const res = await cli()(args);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(message);
  });

  it('the route plans only, for cluster admins', async () => {
    const apply = await api('POST', '/v1/nodes/compact');
    expect(apply.status).toBe(400);
    expect(apply.body.error.message).toMatch(/dryRun: must be "true"/);
    expect((await api('POST', '/v1/nodes/compact?dryRun=true&maxDrains=x')).status).toBe(400);
    expect((await api('POST', '/v1/users', { metadata: { name: 'dev' }, spec: { roles: [{ project: 'default', role: 'admin' }] } })).status).toBe(201);
    const dev = client(server.url, (await api('POST', '/v1/tokens', { user: 'dev' })).body.secret);
    expect((await dev('POST', '/v1/nodes/compact?dryRun=true')).status).toBe(403);
  });
});
