/**
 * Usage end to end: a real server with its embedded agent runs a CPU-burning process under a CPU
 * limit; the agent's reports reach `stratus top` and the usage routes. Another project's member
 * sees none of it; a node credential reports only for itself and its own instances.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, client, type TestServer } from './helpers/server.js';
import { cliRunner } from './helpers/cli.js';
import { until } from './helpers/processes.js';
import { teardownTenants } from './helpers/tenants.js';

const root = process.getuid?.() === 0;
const node = `usage-${process.pid % 100000}`;
const LIMIT = 300; // millicores

let server: TestServer;
let dir: string;
let admin: ReturnType<typeof client>;
let mallory: ReturnType<typeof client>;
let asAdmin: ReturnType<typeof cliRunner>;
let asMallory: ReturnType<typeof cliRunner>;
let other: { name: string; api: ReturnType<typeof client> };
let uid: string;

type Usage = { cpu: number; memory: number; at: string; node?: string; cpuSeconds: number; memoryPeak?: number; throttledPeriods?: number };

beforeAll(async () => {
  if (!root) return;
  dir = mkdtempSync(join(tmpdir(), 'stratus-usage-'));
  server = await startTestServer({ agent: true, args: ['--node-name', node, '--network', 'host', '--usage-interval', '1s'] });
  admin = client(server.url, server.token);
  for (const p of ['burn', 'elsewhere']) expect((await admin('POST', '/v1/projects', { kind: 'project', metadata: { name: p }, spec: {} })).status).toBe(201);
  expect((await admin('POST', '/v1/users', { kind: 'user', metadata: { name: 'mallory' }, spec: { roles: [{ project: 'elsewhere', role: 'admin' }] } })).status).toBe(201);
  const tok = await admin('POST', '/v1/tokens', { user: 'mallory' });
  mallory = client(server.url, tok.body.secret);
  asMallory = cliRunner(join(dir, 'mallory.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: tok.body.secret, STRATUS_PROJECT: 'elsewhere' });
  asAdmin = cliRunner(join(dir, 'admin.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token, STRATUS_PROJECT: 'burn' });
  // a second node's credential (no agent behind it): what a compromised node could send
  const jt = await admin('POST', '/v1/join-tokens', {});
  const joined = await client(server.url, jt.body.secret)('POST', '/v1/nodes/join', { name: `${node}-b` });
  expect(joined.status).toBe(201);
  other = { name: `${node}-b`, api: client(server.url, joined.body.secret) };
  const created = await admin('POST', '/v1/projects/burn/instances', {
    kind: 'instance', metadata: { name: 'burner', labels: { app: 'burn' } },
    spec: { driver: 'process', command: ['sh', '-c', 'while :; do :; done'], resources: { cpu: `${LIMIT}m`, memory: '64Mi' } },
  });
  expect(created.status).toBe(201);
  uid = created.body.metadata.uid;
}, 120_000);

afterAll(async () => {
  if (root) await teardownTenants(server, admin, ['burn', 'elsewhere'], dir);
}, 60_000);

/** The instance's usage once its node has reported it with `ok` true. */
const usageOf = (ok: (latest: Usage) => boolean) =>
  until('the burner\'s usage', () => admin('GET', '/v1/projects/burn/instances/burner/usage').then((r) => r.body as { latest?: Usage; history: Usage[] }), (b) => b.latest !== undefined && ok(b.latest), 60_000);

describe.skipIf(!root)('usage and stratus top', () => {
  it('stratus top instances shows a CPU-bound instance near its CPU limit, and the route its history', async () => {
    // two reports of the running burner: the second averages a whole interval of burning
    const body = await usageOf((u) => u.cpuSeconds > 1);
    expect(body.latest!.node).toBe(node);
    expect(body.latest!.cpu).toBeGreaterThan(LIMIT * 0.6);
    expect(body.latest!.cpu).toBeLessThan(LIMIT * 1.15); // the CFS quota holds it at its limit
    expect(body.latest!.throttledPeriods).toBeGreaterThan(0);
    expect(body.latest!.memoryPeak).toBeGreaterThan(0);
    expect(body.history.length).toBeGreaterThanOrEqual(2);
    expect(body.history.at(-1)!.at >= body.history[0]!.at).toBe(true);
    expect(body.history[0]).not.toHaveProperty('uid'); // said once, beside the points
    const recent = await admin('GET', '/v1/projects/burn/instances/burner/usage?since=1ms');
    expect(recent.body.history.length).toBeLessThan(body.history.length);

    const top = await asAdmin(['top', 'instances', '-l', 'app=burn']);
    expect(top.code, top.stderr).toBe(0);
    const row = top.stdout.split('\n').find((l) => l.startsWith('burner'))!;
    expect(top.stdout.split('\n')[0]).toMatch(/^NAME\s+NODE\s+CPU\s+CPU LIMIT\s+CPU%\s+MEMORY/);
    const [, , used, limit] = row.split(/\s+/);
    expect(limit).toBe(`${LIMIT}m`);
    expect(Number(used!.replace(/m$/, ''))).toBeGreaterThan(LIMIT * 0.6);

    const json = await asAdmin(['top', 'instances', '-o', 'json']);
    expect(JSON.parse(json.stdout).items[0]).toMatchObject({ name: 'burner', node, requests: { cpu: LIMIT, memory: 64 }, usage: { uid } });

    const nodes = await asAdmin(['top', 'nodes']);
    expect(nodes.code).toBe(0);
    expect(nodes.stdout).toMatch(new RegExp(`^${node}\\s+Ready\\s+\\d+m\\s+${LIMIT}m/\\d+m`, 'm'));
    expect(nodes.stdout).toMatch(new RegExp(`^${node}-b\\s+NotReady\\s+-`, 'm'));
  });

  it('says so, in one line and a non-zero exit, for a bad selector, an unknown project or format', async () => {
    const bad = await asAdmin(['top', 'instances', '-l', 'app in (']);
    expect([bad.code, bad.stderr.trim().split('\n').length]).toEqual([2, 1]);
    expect(bad.stderr).toMatch(/^error: -l "app in \(":/);
    const unknown = await asAdmin(['top', 'instances', '-p', 'no-such-project']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('error: project "no-such-project" not found (STRATUS_ERR_NOT_FOUND)\n');
    expect((await asAdmin(['top', 'nodes', '-o', 'wide'])).stderr).toMatch(/^error: -o wide: unknown output format/);
    const doc = (await admin('GET', '/openapi.json')).body as { paths: Record<string, unknown> };
    for (const path of ['/v1/nodes/{node}/usage', '/v1/projects/{project}/instances/{name}/usage', '/v1/usage/instances', '/v1/usage/nodes']) expect(doc.paths[path], path).toBeDefined();
    const none = await asAdmin(['top', 'instances', '-l', 'app=nothing']);
    expect([none.code, none.stdout, none.stderr]).toEqual([0, '', 'No running instances found in project "burn" matching app=nothing.\n']);
  });

  it('shows another project\'s member nothing: 404 for the instance\'s usage, not in top', async () => {
    await usageOf(() => true);
    const res = await mallory('GET', '/v1/projects/burn/instances/burner/usage');
    expect([res.status, res.body.error.code]).toEqual([404, 'STRATUS_ERR_NOT_FOUND']);
    expect((await mallory('GET', '/v1/usage/instances?project=burn')).status).toBe(404);
    expect((await mallory('GET', '/v1/usage/instances')).body.items).toEqual([]);
    const top = await asMallory(['top', 'instances', '-A']);
    expect(top.stdout + top.stderr).not.toContain('burner');
    const theirs = await asMallory(['top', 'instances', '-p', 'burn']);
    expect([theirs.code, theirs.stderr]).toEqual([1, 'error: project "burn" not found (STRATUS_ERR_NOT_FOUND)\n']);
  });

  it('takes a node\'s report only for itself and the instances bound to it; bad bodies are named', async () => {
    const at = () => new Date(Date.now() + 60_000).toISOString(); // later than any real report
    const forged = { uid, project: 'burn', name: 'burner', cpu: 99_999, cpuSeconds: 1e6, memory: 1 };
    const forNode = (n: string, instances: unknown[] = []) => ({ node: n, at: at(), intervalMs: 1000, cpu: 0, memory: 0, instances, services: [] });

    const foreign = await other.api('PUT', `/v1/nodes/${node}/usage`, forNode(node, [forged]));
    expect([foreign.status, foreign.body.error.code]).toEqual([403, 'STRATUS_ERR_FORBIDDEN']);
    expect((await admin('PUT', `/v1/nodes/${node}/usage`, forNode(node, [forged]))).status).toBe(403); // not even an admin: only the node

    const own = await other.api('PUT', `/v1/nodes/${other.name}/usage`, forNode(other.name, [forged]));
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ accepted: 0, dropped: [{ uid, reason: expect.stringMatching(/is not bound to node/) }] });
    const latest = (await admin('GET', '/v1/projects/burn/instances/burner/usage')).body.latest as Usage;
    expect([latest.node, latest.cpu < 99_999]).toEqual([node, true]);

    const bad = await other.api('PUT', `/v1/nodes/${other.name}/usage`, { ...forNode(other.name, [{ ...forged, cpu: -1 }]) });
    expect([bad.status, bad.body.error.code]).toEqual([400, 'STRATUS_ERR_VALIDATION']);
    expect(bad.body.error.message).toContain('instances[0].cpu');
    const mismatch = await other.api('PUT', `/v1/nodes/${other.name}/usage`, forNode(node));
    expect([mismatch.status, mismatch.body.error.message]).toEqual([400, expect.stringContaining('node')]);
    const tooMany = await other.api('PUT', `/v1/nodes/${other.name}/usage`, { ...forNode(other.name), services: Array.from({ length: 10_001 }, () => ({ project: 'a', service: 'b', connections: 1 })) });
    expect([tooMany.status, tooMany.body.error.message]).toEqual([400, expect.stringContaining('services')]);
  });
});
