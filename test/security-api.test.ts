/**
 * The API's half of tenant isolation, against a real server: what a node credential reads and
 * writes, tokens that cannot mint more than they hold (and the audit log naming the token), no
 * enumeration of users, tokens and projects, published port ranges, reserved env names.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, client, instance, type TestServer } from './helpers/server.js';
import { cliRunner } from './helpers/cli.js';
import { readEvents, type WatchMessage } from '../src/client/index.js';

type Call = ReturnType<typeof client>;
interface Obj { metadata: { name: string; project?: string; annotations?: Record<string, string> }; spec: { env?: Record<string, string> }; status?: { node?: string } }

let server: TestServer;
let admin: Call;
let dir: string;

beforeAll(async () => {
  // No scheduler: the tests bind instances to nodes themselves. Joined nodes never heartbeat here.
  server = await startTestServer({ args: ['--no-scheduler', '--node-timeout', '1h', '--node-port-range', '30000-30100'] });
  admin = client(server.url, server.token);
  dir = mkdtempSync(join(tmpdir(), 'stratus-security-'));
  for (const name of ['team-a', 'team-b', 'team-c']) expect((await admin('POST', '/v1/projects', { metadata: { name }, spec: {} })).status).toBe(201);
});

afterAll(async () => {
  await server.stop();
  server.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function robot(project: string, role: string): Promise<Call> {
  const res = await admin('POST', '/v1/tokens', { roles: [{ project, role }] });
  expect(res.status).toBe(201);
  return client(server.url, res.body.secret as string);
}

const names = (items: Obj[]) => items.map((o) => `${o.metadata.project ? `${o.metadata.project}/` : ''}${o.metadata.name}`).sort();

describe('node credentials', () => {
  let n1: Call;
  let n1Secret: string;

  async function join(name: string): Promise<string> {
    const jt = await admin('POST', '/v1/join-tokens', {});
    const res = await client(server.url, jt.body.secret)('POST', '/v1/nodes/join', { name });
    expect(res.status).toBe(201);
    return res.body.secret as string;
  }

  /** A status write; the network controller may be writing an address meanwhile (409: again). */
  async function writeStatus(as: Call, project: string, name: string, status: Record<string, unknown>): Promise<number> {
    let res;
    do res = await as('PUT', `/v1/projects/${project}/instances/${name}/status`, status);
    while (res.status === 409);
    return res.status;
  }

  /** Binds as the scheduler would. */
  async function bind(project: string, name: string, node: string): Promise<void> {
    expect(await writeStatus(admin, project, name, { phase: 'Scheduled', node })).toBe(200);
  }

  beforeAll(async () => {
    n1Secret = await join('n1');
    n1 = client(server.url, n1Secret);
    await join('n2');
    const created = [
      ['team-a', instance('a-web', { env: { A_TOKEN: 'a-web-secret' } }), 'n1'],
      ['team-a', instance('a-db', { env: { DB_PASSWORD: 'hunter2' }, ports: [{ port: 5432 }] }), 'n2'],
      ['team-b', instance('b-api', { env: { B_SECRET: 'team-b-secret' } }), 'n2'],
      ['team-c', instance('c-job', { env: { C_SECRET: 'team-c-secret' } }), undefined],
    ] as const;
    for (const [project, body, node] of created) {
      expect((await admin('POST', `/v1/projects/${project}/instances`, body)).status).toBe(201);
      if (node) await bind(project, body.metadata.name, node);
    }
  });

  it('lists its own instances whole, peers of its projects redacted, and nothing of other projects', async () => {
    const res = await n1('GET', '/v1/instances');
    expect(res.status).toBe(200);
    const items = res.body.items as Obj[];
    expect(names(items)).toEqual(['team-a/a-db', 'team-a/a-web']);
    expect(items.find((i) => i.metadata.name === 'a-web')!.spec.env).toEqual({ A_TOKEN: 'a-web-secret' });
    const peer = items.find((i) => i.metadata.name === 'a-db')!;
    expect(peer.spec.env).toBeUndefined();
    expect(peer.metadata.annotations).toEqual({ 'stratus.io/redacted': 'true' });
    expect(JSON.stringify(res.body)).not.toMatch(/hunter2|team-b-secret|team-c-secret/);
  });

  it('reads single objects the same way, and only its own node, its projects\' networks and no users, tokens or projects', async () => {
    const peer = await n1('GET', '/v1/projects/team-a/instances/a-db');
    expect(peer.status).toBe(200);
    expect(JSON.stringify(peer.body)).not.toContain('hunter2');
    expect((await n1('GET', '/v1/projects/team-b/instances/b-api')).status).toBe(403);
    expect((await n1('GET', '/v1/projects/team-c/instances/c-job')).status).toBe(403);
    expect(names((await n1('GET', '/v1/nodes')).body.items)).toEqual(['n1']);
    expect((await n1('GET', '/v1/nodes/n2')).status).toBe(403);
    const networks = (await n1('GET', '/v1/networks')).body.items as Obj[];
    expect(networks.every((n) => n.metadata.project === 'team-a')).toBe(true);
    for (const path of ['/v1/users', '/v1/tokens', '/v1/projects', '/v1/projects/team-a/events', '/v1/audit', '/v1/projects/team-a/members']) {
      expect((await n1('GET', path)).status, path).toBeGreaterThanOrEqual(403);
    }
    expect((await n1('GET', '/v1/projects/team-a/instances/a-web/logs')).status).toBe(403);
  });

  it('writes only the status of its own node and of the instances bound to it, keeping them bound', async () => {
    expect(await writeStatus(n1, 'team-a', 'a-web', { phase: 'Running', node: 'n1', pid: 7 })).toBe(200);
    // It may release one (after a drain: placed again), then no longer writes it.
    expect((await admin('POST', '/v1/projects/team-a/instances', instance('a-tmp'))).status).toBe(201);
    await bind('team-a', 'a-tmp', 'n1');
    expect(await writeStatus(n1, 'team-a', 'a-tmp', { phase: 'Pending', reason: 'Drained' })).toBe(200);
    expect(await writeStatus(n1, 'team-a', 'a-tmp', { phase: 'Running', node: 'n1' })).toBe(403);
    expect((await admin('DELETE', '/v1/projects/team-a/instances/a-tmp')).status).toBe(200);
    expect((await n1('PUT', '/v1/nodes/n1/status', { phase: 'Ready' })).status).toBe(200);
    const refused = [
      ['PUT', '/v1/projects/team-b/instances/b-api/status', { phase: 'Failed', node: 'n2' }], // another tenant's, on another node
      ['PUT', '/v1/projects/team-a/instances/a-db/status', { phase: 'Failed', node: 'n2' }], // its project, another node
      ['PUT', '/v1/projects/team-c/instances/c-job/status', { phase: 'Running', node: 'n1' }], // claiming an unbound one
      ['PUT', '/v1/projects/team-a/instances/a-web/status', { phase: 'Running', node: 'n2' }], // handing its own away
      ['PUT', '/v1/nodes/n2/status', { phase: 'Down' }],
      ['PUT', '/v1/projects/team-a/instances/a-web', instance('a-web')],
      ['PATCH', '/v1/projects/team-a/instances/a-web', { metadata: { labels: { x: 'y' } } }],
      ['DELETE', '/v1/projects/team-b/instances/b-api', undefined],
      ['POST', '/v1/projects/team-a/instances', instance('planted')],
      ['PUT', '/v1/projects/team-a/images/web/content', 'tar'],
      ['PUT', '/v1/projects/team-a/members/alice', { role: 'admin' }],
      ['POST', '/v1/tokens', { roles: [{ project: 'team-a', role: 'viewer' }] }],
      ['POST', '/v1/join-tokens', {}],
    ] as const;
    for (const [method, path, body] of refused) {
      const res = await n1(method, path, body, typeof body === 'string' ? { 'content-type': 'application/x-tar' } : {});
      expect([403, 404], `${method} ${path}: ${res.status}`).toContain(res.status);
    }
    expect((await admin('GET', '/v1/projects/team-b/instances/b-api')).body.status.phase).toBe('Scheduled');
  });

  it('audits refused node writes, not its routine status writes', async () => {
    const { items } = (await admin('GET', '/v1/audit?actor=node:n1&limit=1000')).body as { items: { status: number; path: string }[] };
    expect(items.some((e) => e.path === '/v1/projects/team-b/instances/b-api/status' && e.status === 403)).toBe(true);
    expect(items.filter((e) => e.status < 400)).toEqual([]);
  });

  /** Reads a watch of n1 until `done` says so. */
  function follow(path: string, done: (msgs: WatchMessage[]) => boolean): { got: WatchMessage[]; finished: Promise<void>; stop(): void } {
    const controller = new AbortController();
    const got: WatchMessage[] = [];
    const finished = (async () => {
      const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${n1Secret}` }, signal: controller.signal });
      for await (const msg of readEvents(res.body!)) {
        got.push(msg);
        if (msg.type === 'resync' || done(got)) break;
      }
    })();
    return { got, finished, stop: () => controller.abort() };
  }

  const named = (msgs: WatchMessage[]) => msgs.filter((m) => m.type === 'put').map((m) => (m.object as unknown as Obj).metadata).map((o) => `${o.project}/${o.name}`);

  it('watches only what it may read, and is sent what it may read once it hosts another project', async () => {
    expect((await admin('POST', '/v1/projects/team-c/instances', instance('c-peer', { env: { C_PEER: 'c-peer-secret' } }))).status).toBe(201);
    await bind('team-c', 'c-peer', 'n2');
    const { revision } = (await n1('GET', '/v1/instances')).body as { revision: number };
    const label = (project: string, name: string, value: string) => admin('PATCH', `/v1/projects/${project}/instances/${name}`, { metadata: { labels: { seen: value } } }, { 'content-type': 'application/merge-patch+json' });
    const lastSeen = (msgs: WatchMessage[]) => msgs.some((m) => (m.object as unknown as Obj | undefined)?.metadata.name === 'c-peer' && JSON.stringify(m.object).includes('"seen":"after"'));
    const instances = follow(`/v1/instances?watch=true&revision=${revision}`, lastSeen);
    const networks = follow(`/v1/networks?watch=true&revision=${revision}`, (msgs) => named(msgs).includes('team-c/default'));
    await label('team-b', 'b-api', 'before');
    await label('team-a', 'a-db', 'before');
    await bind('team-c', 'c-job', 'n1'); // n1 hosts team-c now
    await networks.finished;
    await label('team-c', 'c-peer', 'after'); // live again after what became readable
    await instances.finished;
    instances.stop();
    networks.stop();
    const seen = named(instances.got);
    expect(seen).toEqual(expect.arrayContaining(['team-a/a-db', 'team-c/c-job', 'team-c/c-peer']));
    expect(seen).not.toContain('team-b/b-api');
    expect([...instances.got, ...networks.got].map((m) => m.type)).not.toContain('resync');
    const text = JSON.stringify(instances.got);
    expect(text).not.toMatch(/hunter2|team-b-secret|c-peer-secret/); // c-peer runs elsewhere: redacted
    expect(text).toContain('team-c-secret'); // c-job is bound to n1 now: it gets its spec
    const peerPuts = instances.got.filter((m) => (m.object as unknown as Obj | undefined)?.metadata.name === 'c-peer').map((m) => JSON.stringify(m.object));
    expect(peerPuts[0]).not.toContain('"seen":"after"'); // sent as it was, before it changed
    // A watch resumed from before the binding would miss team-c's unchanged objects: list again.
    const resumed = follow(`/v1/networks?watch=true&revision=${revision}`, () => false);
    await resumed.finished;
    expect(resumed.got.map((m) => m.type)).toEqual(['resync']);
    expect(names((await n1('GET', '/v1/instances')).body.items)).toEqual(['team-a/a-db', 'team-a/a-web', 'team-c/c-job', 'team-c/c-peer']);
  });
});

describe('token narrowing', () => {
  let alice: Call;
  let aliceViewer: Call;
  let viewerSecret: string;

  beforeAll(async () => {
    expect((await admin('POST', '/v1/users', { metadata: { name: 'alice' }, spec: { roles: [{ project: 'team-a', role: 'admin' }] } })).status).toBe(201);
    alice = client(server.url, (await admin('POST', '/v1/tokens', { user: 'alice', name: 'alice-laptop' })).body.secret);
    const narrowed = await alice('POST', '/v1/tokens', { name: 'alice-view', user: 'alice', roles: [{ project: 'team-a', role: 'viewer' }], expiresIn: '1h' });
    expect(narrowed.status).toBe(201);
    viewerSecret = narrowed.body.secret;
    aliceViewer = client(server.url, viewerSecret);
  });

  it('makes a viewer-narrowed token\'s {} child a viewer too, expiring with it', async () => {
    const child = await aliceViewer('POST', '/v1/tokens', {});
    expect(child.status).toBe(201);
    expect(child.body.token.spec).toMatchObject({ user: 'alice', roles: [{ project: 'team-a', role: 'viewer' }] });
    const parent = (await admin('GET', '/v1/tokens/alice-view')).body;
    expect(child.body.token.spec.expiresAt).toBe(parent.spec.expiresAt);
    const c = client(server.url, child.body.secret);
    expect((await c('GET', '/v1/whoami')).body).toMatchObject({ clusterAdmin: false, roles: [{ project: 'team-a', role: 'viewer' }] });
    expect((await c('POST', '/v1/projects/team-a/instances', instance('from-child'))).status).toBe(403);
  });

  it('does not give a cluster admin\'s narrowed token\'s children cluster admin rights', async () => {
    const narrowed = await admin('POST', '/v1/tokens', { user: 'admin', roles: [{ project: 'team-a', role: 'viewer' }] });
    const child = await client(server.url, narrowed.body.secret)('POST', '/v1/tokens', {});
    expect(child.status).toBe(201);
    expect((await client(server.url, child.body.secret)('GET', '/v1/whoami')).body.clusterAdmin).toBe(false);
  });

  it('refuses wider roles, cluster admin, robots and a longer life, naming why', async () => {
    const wider = await aliceViewer('POST', '/v1/tokens', { user: 'alice', roles: [{ project: 'team-a', role: 'member' }] });
    expect(wider.status).toBe(403);
    expect(wider.body.error.message).toMatch(/roles\[0\]: user:alice cannot grant member in project "team-a" \(you are viewer\)/);
    expect((await aliceViewer('POST', '/v1/tokens', { clusterAdmin: true })).status).toBe(403);
    expect((await aliceViewer('POST', '/v1/tokens', { roles: [{ project: 'team-a', role: 'viewer' }] })).body.error.message).toMatch(/robot tokens need admin/);
    const longer = await aliceViewer('POST', '/v1/tokens', { expiresIn: '2h' });
    expect(longer.status).toBe(403);
    expect(longer.body.error.message).toMatch(/^expiresIn: 2h would outlive the token that asks \(alice-view/);
  });

  it('lets a narrowed token revoke only what is within it, and hides tokens it cannot see', async () => {
    const refused = await aliceViewer('DELETE', '/v1/tokens/alice-laptop');
    expect(refused.status).toBe(403);
    const hidden = await aliceViewer('DELETE', '/v1/tokens/admin');
    const missing = await aliceViewer('DELETE', '/v1/tokens/no-such-token');
    expect([hidden.status, missing.status]).toEqual([404, 404]);
    expect(hidden.body.error.message).toBe('token "admin" not found');
    expect((await alice('GET', '/v1/whoami')).status).toBe(200);
  });

  it('records which token acted, in the API and in `stratus audit`', async () => {
    expect((await alice('POST', '/v1/projects/team-a/instances', instance('by-laptop'))).status).toBe(201);
    expect((await aliceViewer('POST', '/v1/projects/team-a/instances', instance('by-viewer'))).status).toBe(403);
    const { items } = (await admin('GET', '/v1/audit?actor=user:alice&limit=100')).body as { items: { name?: string; token?: string; tokenUid?: string; status: number }[] };
    expect(items.find((e) => e.name === 'by-laptop')).toMatchObject({ token: 'alice-laptop', status: 201, tokenUid: expect.any(String) });
    expect(items.find((e) => e.name === 'by-viewer')).toMatchObject({ token: 'alice-view', status: 403 });
    const run = cliRunner(join(dir, 'config.json'));
    const login = await run(['--server', server.url, '--token', server.token, 'login']);
    expect(login.stderr).toBe('');
    const audit = await run(['audit', '--token-name', 'alice-view']);
    expect(audit.code).toBe(0);
    expect(audit.stdout).toMatch(/^TIME\s+ACTOR\s+TOKEN\s+ACTION/);
    expect(audit.stdout).toMatch(/user:alice\s+alice-view\s+create\s+instance\/team-a\/by-viewer\s+403/);
    expect(audit.stdout).not.toMatch(/user:alice\s+alice-laptop\s/); // only the rows of the token asked for
  });
});

describe('no enumeration of users, tokens and projects', () => {
  it('answers 404 alike for objects a caller may not see and objects that do not exist', async () => {
    const member = await robot('team-a', 'member');
    const pairs = [
      ['GET', '/v1/users/admin', '/v1/users/nobody'],
      ['PUT', '/v1/users/admin', '/v1/users/nobody'],
      ['PATCH', '/v1/users/admin', '/v1/users/nobody'],
      ['DELETE', '/v1/users/admin', '/v1/users/nobody'],
      ['GET', '/v1/tokens/admin', '/v1/tokens/nobody'],
      ['DELETE', '/v1/tokens/admin', '/v1/tokens/nobody'],
      ['GET', '/v1/projects/team-b', '/v1/projects/nowhere'],
      ['PUT', '/v1/projects/team-b', '/v1/projects/nowhere'],
      ['PATCH', '/v1/projects/team-b', '/v1/projects/nowhere'],
      ['DELETE', '/v1/projects/team-b', '/v1/projects/nowhere'],
      ['GET', '/v1/projects/team-b/members', '/v1/projects/nowhere/members'],
      ['PUT', '/v1/projects/team-b/members/admin', '/v1/projects/nowhere/members/admin'],
      ['DELETE', '/v1/projects/team-b/members/admin', '/v1/projects/nowhere/members/admin'],
    ] as const;
    const bodyFor = (path: string) => (path.includes('/members/') ? { role: 'viewer' } : path.startsWith('/v1/users') ? { metadata: { name: path.split('/')[3] }, spec: {} } : { metadata: { name: path.split('/')[3] }, spec: {} });
    for (const [method, hidden, missing] of pairs) {
      const a = await member(method, hidden, method === 'GET' || method === 'DELETE' ? undefined : bodyFor(hidden));
      const b = await member(method, missing, method === 'GET' || method === 'DELETE' ? undefined : bodyFor(missing));
      expect([a.status, b.status], `${method} ${hidden} / ${missing}`).toEqual([404, 404]);
      expect(a.body.error.code).toBe(b.body.error.code);
    }
    // what the caller can see but not change is still refused as such
    expect((await member('PATCH', '/v1/projects/team-a', { spec: { hostPorts: '22' } })).status).toBe(403);
    expect((await member('PUT', '/v1/projects/team-a/members/admin', { role: 'viewer' })).status).toBe(403);
  });
});

describe('published ports and platform env', () => {
  it('takes host ports in the --node-port-range and refuses others, naming the field and the range', async () => {
    const m = await robot('team-b', 'member');
    expect((await m('POST', '/v1/projects/team-b/instances', instance('p-ok', { ports: [{ port: 80, publish: 30080 }] }))).status).toBe(201);
    const ssh = await m('POST', '/v1/projects/team-b/instances', instance('p-ssh', { ports: [{ port: 22, publish: 22 }] }));
    expect(ssh.status).toBe(403);
    expect(ssh.body.error.message).toMatch(/^spec\.ports\[0\]\.publish: host port 22 is outside the published port range 30000-30100;/);
    const svc = { kind: 'service', metadata: { name: 's-out' }, spec: { replicas: 1, ports: [{ port: 80, publish: 31000 }], template: { spec: instance('x').spec } } };
    expect((await m('POST', '/v1/projects/team-b/services', svc)).body.error.message).toMatch(/^spec\.ports\[0\]\.publish: host port 31000/);
  });

  it('takes the ports a cluster admin allowed the project', async () => {
    expect((await admin('PATCH', '/v1/projects/team-b', { spec: { hostPorts: '22,8000-8100' } }, { 'content-type': 'application/merge-patch+json' })).status).toBe(200);
    const m = await robot('team-b', 'member');
    expect((await m('POST', '/v1/projects/team-b/instances', instance('p-ssh-ok', { ports: [{ port: 22, publish: 22 }] }))).status).toBe(201);
    expect((await m('POST', '/v1/projects/team-b/instances', instance('p-80', { ports: [{ port: 80, publish: 80 }] }))).status).toBe(403);
  });

  it('refuses user env named STRATUS_*, in instances and service templates', async () => {
    const m = await robot('team-b', 'member');
    const inst = await m('POST', '/v1/projects/team-b/instances', instance('env-1', { env: { STRATUS_NODE: 'n9' } }));
    expect(inst.status).toBe(400);
    expect(inst.body.error.message).toBe('spec.env.STRATUS_NODE: names starting with STRATUS_ are reserved for the platform; choose another name');
    const svc = { kind: 'service', metadata: { name: 'env-svc' }, spec: { replicas: 1, template: { spec: instance('x', { env: { STRATUS_IP: '1.2.3.4' } }).spec } } };
    expect((await m('POST', '/v1/projects/team-b/services', svc)).body.error.message).toMatch(/^spec\.template\.spec\.env\.STRATUS_IP: names starting with STRATUS_/);
  });
});
