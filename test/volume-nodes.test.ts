/**
 * Volume placement on a two-node cloud (a server and two agents on this machine, host
 * networking): a volume lives on the node of the first instance that used it; the scheduler
 * places its next instances there even where the policy would pick the other node; an instance
 * pinned elsewhere is refused; with its node gone, an instance that uses it stays Pending and
 * says why. Needs root (loop mounts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, client, startTestServer, type TestServer } from './helpers/server.js';
import { until } from './helpers/processes.js';

const root = process.getuid?.() === 0;
if (!root) console.warn('volume placement suite skipped: not root (loop mounts)');

const RUN = String(process.pid % 100000);
const NODES = [`vn1-${RUN}`, `vn2-${RUN}`];
const P = '/v1/projects/default';
let server: TestServer;
let api: ReturnType<typeof client>;
let work: string;
const agents = new Map<string, ChildProcess>();

async function startAgent(name: string, joinToken: string): Promise<void> {
  const proc = spawn(process.execPath, [BIN, '--server', server.url, 'agent', '--join-token', joinToken, '--data-dir', join(work, name), '--node-name', name,
    '--capacity', 'cpu=2,memory=4Gi', '--heartbeat', '500ms', '--network', 'host'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  agents.set(name, proc);
  await until(`agent ${name}`, async () => out.includes('agent running'), (ok) => ok, 20_000);
}

async function stopAgent(name: string): Promise<void> {
  const p = agents.get(name)!;
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
}

const instance = (name: string, spec: Record<string, unknown>) => ({ kind: 'instance', metadata: { name }, spec: { driver: 'process', resources: { cpu: '100m', memory: '32Mi' }, ...spec } });
const uses = (script: string) => ({ command: ['sh', '-c', script], restartPolicy: 'never', volumes: [{ volume: 'data', path: '/data' }] });
const statusOf = (name: string) => api('GET', `${P}/instances/${name}`).then((r) => r.body?.status);

beforeAll(async () => {
  if (!root) return;
  work = mkdtempSync(join(tmpdir(), 'stratus-volnodes-'));
  server = await startTestServer({ args: ['--node-timeout', '3s'] });
  api = client(server.url, server.token);
  const jt = await api('POST', '/v1/join-tokens', {});
  for (const n of NODES) await startAgent(n, jt.body.secret);
  expect((await api('POST', `${P}/volumes`, { kind: 'volume', metadata: { name: 'data' }, spec: { size: '32Mi' } })).status).toBe(201);
}, 90_000);

afterAll(async () => {
  if (!root) return;
  // An agent a test stopped left its runs' state behind (by design: agents leave their work alone on
  // the way out); running it again lets it destroy them once their instances are deleted.
  for (const [n, p] of agents) if (p.exitCode !== null || p.signalCode !== null) await startAgent(n, (await api('POST', '/v1/join-tokens', {})).body.secret).catch(() => undefined);
  for (const i of (await api('GET', `${P}/instances`)).body.items ?? []) await api('DELETE', `${P}/instances/${i.metadata.name}`).catch(() => undefined);
  await until('instances gone', () => api('GET', `${P}/instances`).then((r) => r.body.items.length), (n) => n === 0, 20_000).catch(() => undefined);
  // and their runs destroyed by the agents (runc state included) before the agents stop
  const ours = () => spawnSync('runc', ['--root', '/run/stratus/runc', 'list', '-q'], { encoding: 'utf8' }).stdout.split('\n').filter((id) => NODES.some((n) => id.endsWith(`.${n}`)));
  await until('runs destroyed', async () => ours(), (ids) => ids.length === 0, 20_000).catch(() => undefined);
  for (const n of agents.keys()) await stopAgent(n);
  await server.stop();
  server.cleanup();
  rmSync(work, { recursive: true, force: true });
}, 60_000);

describe.skipIf(!root)('volume placement', () => {
  let home = '';
  let other = '';

  it('keeps a volume on the node of its first instance and places the next ones there', async () => {
    expect((await api('POST', `${P}/instances`, instance('first', uses('echo kept > /data/f')))).status).toBe(201);
    const first = await until('first finished', () => statusOf('first'), (s) => s?.phase === 'Succeeded', 30_000);
    home = first.node;
    other = NODES.find((n) => n !== home)!;
    await until('the volume placed', () => api('GET', `${P}/volumes/data`).then((r) => r.body.status), (s) => s?.node === home, 10_000);
    // fill the other node: bin packing alone would now pick it
    expect((await api('POST', `${P}/instances`, instance('filler', { command: ['sleep', '600'], resources: { cpu: '1', memory: '1Gi' }, placement: { node: other } }))).status).toBe(201);
    await until('the filler running', () => statusOf('filler'), (s) => s?.phase === 'Running', 30_000);
    expect((await api('POST', `${P}/instances`, instance('second', uses('cat /data/f')))).status).toBe(201);
    const second = await until('second finished', () => statusOf('second'), (s) => s?.phase === 'Succeeded', 30_000);
    expect(second.node).toBe(home);
    const probe = await api('POST', `${P}/instances`, instance('probe', { command: ['true'], restartPolicy: 'never' }));
    expect(probe.status).toBe(201);
    expect((await until('probe placed', () => statusOf('probe'), (s) => !!s?.node, 30_000)).node).toBe(other); // what the policy prefers without a volume
  });

  it('refuses an instance pinned to another node than its volume\'s', async () => {
    const pinned = await api('POST', `${P}/instances`, instance('pinned', { ...uses('true'), placement: { node: other } }));
    expect([pinned.status, pinned.body.error.message]).toEqual([400, `spec.volumes[0].volume: volume "data" lives on node ${home}, but spec.placement.node pins the instance to ${other}; pin it to ${home} or leave the node out`]);
  });

  it('leaves an instance Pending, saying why, while the volume\'s node is gone', async () => {
    await stopAgent(home);
    await until('the node down', () => api('GET', `/v1/nodes/${home}`).then((r) => r.body.status?.phase), (p) => p === 'Down', 30_000);
    expect((await api('POST', `${P}/instances`, instance('waiting', uses('true')))).status).toBe(201);
    const s = await until('the explanation', () => statusOf('waiting'), (st) => /volume "data"/.test(st?.message ?? ''), 20_000);
    expect(s.phase).toBe('Pending');
    expect(s.message).toContain(`volume "data" is on node ${home}`);
  });
});
