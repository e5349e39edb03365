/**
 * Node pools end to end: a real server whose cluster autoscaler grows a `local` pool (agents in
 * network namespaces of this machine) from 1 to 3 nodes when 20 instances do not fit, and shrinks
 * it back to 1 once they are deleted; who may read and write pools; validation that names fields.
 * The growth needs root and network namespaces (skipped with the reason otherwise).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { client, instance, startTestServer, type TestServer } from './helpers/server.js';
import { cliRunner } from './helpers/cli.js';
import { killWorkloads, until } from './helpers/processes.js';
import { networkTestSkipReason } from '../src/node/network/testing.js';
import { removeLocalMachines } from '../src/scheduler/pools/providers/local-testing.js';

const SUBNET = 231; // the pool's bridge: stpl231, 198.18.231.0/24
const skip = networkTestSkipReason();

let server: TestServer;
let admin: ReturnType<typeof client>;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-pools-'));
  server = await startTestServer({ args: ['--node-timeout', '10s'] });
  admin = client(server.url, server.token);
}, 60_000);

afterAll(async () => {
  // workloads outlive agents: instances go while the agents run, then agents, workloads, namespaces
  for (let i = 0; i < 20; i++) await admin?.('DELETE', `/v1/projects/default/instances/w${i}`).catch(() => undefined);
  await server?.stop();
  if (server) await removeLocalMachines(join(server.dataDir, 'pools'), SUBNET, killWorkloads);
  server?.cleanup();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

const pool = (name: string, extra: Record<string, unknown> = {}) => ({
  kind: 'node-pool',
  metadata: { name },
  spec: {
    min: 1, max: 3,
    shape: { cpu: 2, memory: '2Gi', labels: { tier: 'burst' } },
    provider: { type: 'local', subnet: SUBNET, agentArgs: ['--drivers', 'process', '--heartbeat', '500ms'] },
    scaleDownDelay: '2s',
    ...extra,
  },
});

describe('who may read and write node pools', () => {
  it('cluster admins only: a project member gets 403 on writes and sees none (404 by name, an empty list)', async () => {
    const off = pool('idle', { min: 0, max: 0 });
    expect((await admin('POST', '/v1/node-pools', off)).status).toBe(201);
    expect((await admin('POST', '/v1/users', { metadata: { name: 'mallory' }, spec: { roles: [{ project: 'default', role: 'admin' }] } })).status).toBe(201);
    const mallory = client(server.url, (await admin('POST', '/v1/tokens', { user: 'mallory' })).body.secret);
    const write = await mallory('POST', '/v1/node-pools', { ...pool('mine'), spec: { ...pool('mine').spec, provider: { type: 'command', create: ['/bin/sh', '-c', 'id'], delete: ['/bin/true'] } } });
    expect(write.status).toBe(403);
    expect(write.body.error.message).toMatch(/only cluster admins may create node-pools/);
    expect((await mallory('GET', '/v1/node-pools/idle')).status).toBe(404);
    expect((await mallory('GET', '/v1/node-pools')).body.items).toEqual([]);
    expect((await mallory('DELETE', '/v1/node-pools/idle')).status).toBe(404); // alike whether it exists or not
    expect((await admin('GET', '/v1/node-pools/idle')).status).toBe(200);
    expect((await admin('DELETE', '/v1/node-pools/idle')).status).toBe(200);
  });

  it.each([
    ['spec.min', { min: 4, max: 3 }, /spec\.min: .*is more than spec\.max \(3\)/],
    ['spec.provider.create[0]', { provider: { type: 'command', create: ['/bin/sh -c "curl x | sh"'], delete: ['/bin/true'] } }, /spec\.provider\.create\[0\]: .*is one program path, not a shell command line/],
    ['spec.provider.delete[0]', { provider: { type: 'command', create: ['/bin/true'], delete: ['rm'] } }, /spec\.provider\.delete\[0\]: .*must be the absolute path of the program/],
    ['spec.shape.cpu', { shape: { cpu: 0, memory: '1Gi' } }, /spec\.shape\.cpu: .*must be more than 0/],
    ['spec.scaleDownDelay', { scaleDownDelay: 'soon' }, /spec\.scaleDownDelay: .*is not a duration/],
  ])('a bad pool is refused with 400 naming %s', async (_field, extra, message) => {
    const res = await admin('POST', '/v1/node-pools', pool('bad', extra));
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(message);
  });
});

describe.skipIf(skip)('a local node pool grows and shrinks with demand', () => {
  const poolNodes = async () => ((await admin('GET', '/v1/nodes')).body.items as { metadata: { name: string }; spec: { pool?: string }; status?: { phase: string } }[]).filter((n) => n.spec.pool === 'burst');
  const ready = async () => (await poolNodes()).filter((n) => n.status?.phase === 'Ready').length;

  it('from 1 to 3 nodes when 20 instances do not fit, back to 1 once they are deleted', async () => {
    expect((await admin('POST', '/v1/node-pools', pool('burst'))).status).toBe(201);
    await until('the pool reaches its min: 1 Ready node', ready, (n) => n === 1, 60_000);

    // 20 × 250m on 2-core machines: 8 fit on one, so 3 machines (the pool's max)
    for (let i = 0; i < 20; i++) {
      expect((await admin('POST', '/v1/projects/default/instances', instance(`w${i}`, { resources: { cpu: '250m', memory: '32Mi' } }, { app: 'burst' }))).status).toBe(201);
    }
    const running = async () => ((await admin('GET', '/v1/projects/default/instances')).body.items as { status?: { phase: string; node?: string } }[]).filter((i) => i.status?.phase === 'Running');
    const all = await until('all 20 instances Running', running, (r) => r.length === 20, 90_000);
    expect(new Set(all.map((i) => i.status!.node)).size).toBe(3);
    expect(await poolNodes()).toHaveLength(3); // never past max

    const cli = cliRunner(join(dir, 'config.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token });
    // the pool's status follows within a pass of the autoscaler: 3 nodes, none joining
    const ls = await until('node-pool ls shows 3 nodes', () => cli(['node-pool', 'ls']), (r) => /^burst\s+3\s+1\s+3\s+cpu 2, memory 2Gi\s+local\s+/m.test(r.stdout), 10_000);
    expect(ls.code).toBe(0);
    const status = (await admin('GET', '/v1/node-pools/burst')).body.status;
    expect(status.decisions.map((d: { action: string }) => d.action)).toContain('scale-up');
    expect(status.decisions.find((d: { action: string; reason: string }) => d.action === 'scale-up' && /pending instance/.test(d.reason)).reason).toMatch(/pending instances? of \d+ fit on \d new machines? of its shape/);

    for (let i = 0; i < 20; i++) expect((await admin('DELETE', `/v1/projects/default/instances/w${i}`)).status).toBe(200);
    await until('the pool shrinks to its min', poolNodes, (n) => n.length === 1, 90_000);
    const after = (await admin('GET', '/v1/node-pools/burst')).body.status;
    expect(after.size).toBe(1);
    expect(after.decisions.filter((d: { action: string; reason: string }) => d.action === 'scale-down' && d.reason === 'drained; machine deleted')).toHaveLength(2);
    // the removed machines' agents are gone, and so are their directories
    expect(readdirSync(join(server.dataDir, 'pools', 'burst'))).toEqual([(await poolNodes())[0]!.metadata.name]);
  }, 240_000);
});
