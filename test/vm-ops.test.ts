/**
 * `stratus instance stop|start|reboot` and `stratus console` on the one-machine cloud, without
 * booting a VM (test/vm.test.ts does): the power actions of a process instance, and every
 * refusal a person can meet (wrong state, a service's replica, reboot or console of a non-VM, a
 * viewer), each a 4xx with its code and a message naming what is wrong, one CLI line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { client, instance, startTestServer, type TestServer } from './helpers/server.js';
import { cliRunner, type CliResult } from './helpers/cli.js';
import { until } from './helpers/processes.js';
import { teardownTenants } from './helpers/tenants.js';
import { hashToken } from '../src/policy/auth.js';
import { SIGNATURE_HEADER, sign } from '../src/client/node-signing.js';
import { BEARER_PROTOCOL } from '../src/api/bearer.js';

let server: TestServer;
let dir: string;
let admin: ReturnType<typeof client>;
let alice: ReturnType<typeof client>;
let asAlice: (args: string[], input?: string) => Promise<CliResult>;
let asBob: (args: string[], input?: string) => Promise<CliResult>;
const node = `vmops-${process.pid}`;
const P = '/v1/projects/team-a/instances';

const phaseOf = (name: string) => admin('GET', `${P}/${name}`).then((r) => r.body?.status);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-vmops-'));
  server = await startTestServer({ agent: true, args: ['--node-name', node, '--netns-prefix', `vo${process.pid % 10000}-`] });
  admin = client(server.url, server.token);
  expect((await admin('POST', '/v1/projects', { kind: 'project', metadata: { name: 'team-a' }, spec: {} })).status).toBe(201);
  for (const [user, role] of [['alice', 'member'], ['bob', 'viewer']]) {
    expect((await admin('POST', '/v1/users', { kind: 'user', metadata: { name: user }, spec: { roles: [{ project: 'team-a', role }] } })).status).toBe(201);
  }
  const aliceToken = (await admin('POST', '/v1/tokens', { user: 'alice' })).body.secret;
  const bobToken = (await admin('POST', '/v1/tokens', { user: 'bob' })).body.secret;
  alice = client(server.url, aliceToken);
  asAlice = cliRunner(join(dir, 'alice.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: aliceToken, STRATUS_PROJECT: 'team-a' });
  asBob = cliRunner(join(dir, 'bob.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: bobToken, STRATUS_PROJECT: 'team-a' });
  expect((await alice('POST', P, instance('job'))).status).toBe(201);
  const svc = { kind: 'service', metadata: { name: 'site' }, spec: { replicas: 1, template: { spec: instance('x').spec } } };
  expect((await alice('POST', '/v1/projects/team-a/services', svc)).status).toBe(201);
  await until('job running', () => phaseOf('job'), (s) => s?.phase === 'Running', 60_000);
}, 120_000);

afterAll(async () => {
  await teardownTenants(server, admin, ['team-a', 'team-b'], dir);
}, 90_000);

describe('instance stop, start, reboot and console', () => {
  it('stop ends the run but keeps the instance on its node; start runs it again there', async () => {
    const before = await phaseOf('job');
    const stop = await asAlice(['instance', 'stop', 'job']);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout).toBe(`instance/job stopping (stopping on node ${node} (SIGTERM, then SIGKILL after 10 s))\n`);
    const off = await until('job stopped', () => phaseOf('job'), (s) => s?.reason === 'Stopped', 30_000);
    expect(off).toMatchObject({ phase: 'Off', node, message: `stopped on node ${node}; stratus instance start job runs it again` });
    expect(alive(before.pid)).toBe(false);
    const again = await asAlice(['instance', 'stop', 'job']);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toBe('error: instance "job" is stopped already (phase Off); stratus instance start job runs it again (STRATUS_ERR_INVALID_STATE)\n');
    const start = await asAlice(['instance', 'start', 'job']);
    expect(start).toEqual({ code: 0, stdout: `instance/job starting on node ${node}\n`, stderr: '' });
    const running = await until('job running again', () => phaseOf('job'), (s) => s?.phase === 'Running', 30_000);
    expect(running.pid).not.toBe(before.pid);
    expect(alive(running.pid)).toBe(true);
    const twice = await alice('POST', `${P}/job/start`);
    expect([twice.status, twice.body.error.code]).toEqual([409, 'STRATUS_ERR_INVALID_STATE']);
  });

  it('refuses reboot and console of an instance that is not a VM, naming the driver', async () => {
    const reboot = await asAlice(['instance', 'reboot', 'job']);
    expect(reboot.code).not.toBe(0);
    expect(reboot.stderr).toBe('error: spec.driver: reboot restarts a virtual machine\'s guest; "job" is a process instance (stop and start it instead) (STRATUS_ERR_VALIDATION)\n');
    const console = await asAlice(['console', 'job']);
    expect(console.code).not.toBe(0);
    expect(console.stderr).toMatch(/^error: node "vmops-\d+": the process driver has no console \(stratus console is for vm instances; try stratus exec -it\) \(STRATUS_ERR_BAD_REQUEST\)\n$/);
  });

  it('refuses stopping a service\'s replica, an instance that never ran, and a viewer', async () => {
    const replica = await until('a replica', () => alice('GET', `${P}?selector=stratus.io/service=site`).then((r) => r.body.items?.[0]), (i) => i?.status?.node !== undefined, 30_000);
    const r = await alice('POST', `${P}/${replica.metadata.name}/stop`);
    expect([r.status, r.body.error.code]).toEqual([409, 'STRATUS_ERR_INVALID_STATE']);
    expect(r.body.error.message).toContain('is a replica of service "site", which would replace it; scale the service instead');
    expect((await alice('POST', P, instance('huge', { resources: { cpu: '900', memory: '64Mi' } }))).status).toBe(201);
    const pending = await alice('POST', `${P}/huge/stop`);
    expect([pending.status, pending.body.error.message]).toEqual([409, 'instance "huge" is Pending, not running: nothing to stop']);
    const bob = await asBob(['instance', 'stop', 'job']);
    expect(bob.code).not.toBe(0);
    expect(bob.stderr).toContain('STRATUS_ERR_FORBIDDEN');
    expect((await phaseOf('job')).phase).toBe('Running');
    expect((await alice('POST', `${P}/nothing/reboot`)).status).toBe(404);
  });

  it('the agent\'s reboot endpoint takes only a signed POST, and each signature once', async () => {
    const agent = (await admin('GET', `/v1/nodes/${node}`)).body.status.addresses.find((x: { type: string }) => x.type === 'agent').address as string;
    const job = (await admin('GET', `${P}/job`)).body;
    const path = `/v1/reboot/team-a/job?uid=${job.metadata.uid}`;
    const post = (headers: Record<string, string>) => fetch(agent + path, { method: 'POST', headers }).then(async (r) => [r.status, (await r.json()).error.message]);
    expect(await post({})).toEqual([401, expect.any(String)]);
    const nodeToken = (JSON.parse(readFileSync(join(server.dataDir, 'agent', 'credential.json'), 'utf8')) as { token: string }).token;
    const signature = { [SIGNATURE_HEADER]: sign(hashToken(nodeToken), 'POST', path, Date.now()) };
    expect(await post(signature)).toEqual([400, 'the process driver cannot reboot its instances']);
    expect(await post(signature)).toEqual([401, 'this signature was used already']);
    const getSigned = { [SIGNATURE_HEADER]: sign(hashToken(nodeToken), 'GET', path, Date.now()) };
    expect(await post(getSigned)).toEqual([401, expect.stringMatching(/signature/)]);
  });

  it('refuses a member of another project every power action, the console and the volume operations on team-a\'s objects', async () => {
    expect((await admin('POST', '/v1/projects', { kind: 'project', metadata: { name: 'team-b' }, spec: {} })).status).toBe(201);
    expect((await admin('POST', '/v1/users', { kind: 'user', metadata: { name: 'mallory' }, spec: { roles: [{ project: 'team-b', role: 'admin' }] } })).status).toBe(201);
    const token = (await admin('POST', '/v1/tokens', { user: 'mallory' })).body.secret as string;
    const mallory = client(server.url, token);
    expect((await admin('POST', '/v1/projects/team-a/volumes', { kind: 'volume', metadata: { name: 'vault' }, spec: { size: '16Mi' } })).status).toBe(201);
    const before = await phaseOf('job');
    for (const action of ['stop', 'start', 'reboot']) expect((await mallory('POST', `${P}/job/${action}`)).status, action).toBe(403);
    const V = '/v1/projects/team-a/volumes/vault';
    for (const [op, body] of [['snapshots', { name: 's' }], ['restore', { snapshot: 's' }], ['clone', { name: 'mine' }], ['resize', { size: '32Mi' }]] as const) {
      expect((await mallory('POST', `${V}/${op}`, body)).status, op).toBe(403);
    }
    // the console, with the token as a browser sends it (a subprotocol) and as the CLI does (a header)
    const upgrade = (headers: Record<string, string>) => new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}${P}/job/console`, { agent: false, headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64'), ...headers } });
      req.on('response', (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('upgrade', (_res, socket) => { socket.destroy(); reject(new Error('upgraded')); });
      req.on('error', reject);
      req.end();
    });
    expect(await upgrade({ 'sec-websocket-protocol': `stratus.console, ${BEARER_PROTOCOL}${Buffer.from(token).toString('base64url')}` })).toBe(403);
    expect(await upgrade({ authorization: `Bearer ${token}` })).toBe(403);
    const after = await phaseOf('job');
    expect([after.phase, after.pid]).toEqual([before.phase, before.pid]); // untouched
    expect((await admin('GET', '/v1/projects/team-a/snapshots')).body.items).toEqual([]);
    expect((await admin('GET', '/v1/projects/team-a/volumes')).body.items.map((v: { metadata: { name: string } }) => v.metadata.name)).toEqual(['vault']);
  });

  it('documents the routes in the OpenAPI document', async () => {
    const doc = (await admin('GET', '/openapi.json')).body;
    for (const action of ['stop', 'start', 'reboot', 'console']) expect(Object.keys(doc.paths)).toContain(`/v1/projects/{project}/instances/{name}/${action}`);
  });
});
