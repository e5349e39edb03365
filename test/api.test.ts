import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startTestServer, client, instance, type TestServer } from './helpers/server.js';
import { readEvents, type WatchMessage } from '../src/client/index.js';

/**
 * Watch messages that change what a user wrote (create, labels, spec, delete); status-only
 * updates by controllers (an address, a scheduling explanation) are left out.
 */
async function* userChanges(body: ReadableStream<Uint8Array>): AsyncGenerator<WatchMessage> {
  const last = new Map<string, string>();
  for await (const msg of readEvents(body)) {
    const o = msg.object as { metadata: { name: string; labels?: unknown }; spec: unknown } | undefined;
    if (!o) continue;
    const key = JSON.stringify([o.metadata.labels, o.spec]);
    if (msg.type === 'put' && last.get(o.metadata.name) === key) continue;
    last.set(o.metadata.name, msg.type === 'delete' ? '' : key);
    yield msg;
  }
}

let server: TestServer;
let admin: ReturnType<typeof client>;

beforeAll(async () => {
  // The API itself is under test: no scheduler writing status into the watch streams.
  server = await startTestServer({ args: ['--no-scheduler'] });
  admin = client(server.url, server.token);
  for (const name of ['team-a', 'team-b']) expect((await admin('POST', '/v1/projects', { metadata: { name }, spec: {} })).status).toBe(201);
});

afterAll(async () => {
  await server.stop();
  server.cleanup();
});

async function robot(project: string, role: string) {
  const res = await admin('POST', '/v1/tokens', { roles: [{ project, role }] });
  expect(res.status).toBe(201);
  return client(server.url, res.body.secret as string);
}

describe('resources', () => {
  it('creates, reads, patches, replaces and deletes an instance', async () => {
    const created = await admin('POST', '/v1/projects/team-a/instances', instance('crud-1', {}, { app: 'crud' }));
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/v1/projects/team-a/instances/crud-1');
    expect(created.body.spec.resources).toEqual({ cpu: 100, memory: 64, disk: 0 });
    expect(created.body.status.phase).toBe('Pending');
    const rev = created.body.metadata.revision as number;

    const got = await admin('GET', '/v1/projects/team-a/instances/crud-1');
    // Controllers may have written status (an address) since: the object is the same, its revision may not be.
    expect(got.body.metadata.uid).toBe(created.body.metadata.uid);
    expect(got.body.metadata.revision).toBeGreaterThanOrEqual(rev);

    const patched = await admin('PATCH', '/v1/projects/team-a/instances/crud-1', { metadata: { labels: { tier: 'front' } } }, { 'content-type': 'application/merge-patch+json' });
    expect(patched.status).toBe(200);
    expect(patched.body.metadata.labels).toEqual({ app: 'crud', tier: 'front' });
    expect(patched.body.metadata.revision).toBeGreaterThan(rev);

    const stale = await admin('PUT', '/v1/projects/team-a/instances/crud-1', { ...instance('crud-1'), metadata: { name: 'crud-1', revision: rev - 1 } });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('STRATUS_ERR_CONFLICT');

    const immutable = await admin('PUT', '/v1/projects/team-a/instances/crud-1', instance('crud-1', { command: ['sleep', '1'] }));
    expect(immutable.status).toBe(422);
    expect(immutable.body.error.code).toBe('STRATUS_ERR_IMMUTABLE_FIELD');
    expect(immutable.body.error.message).toMatch(/^spec\.command: cannot be changed/);

    const del = await admin('DELETE', `/v1/projects/team-a/instances/crud-1?revision=${rev - 1}`);
    expect(del.status).toBe(409);
    expect((await admin('DELETE', '/v1/projects/team-a/instances/crud-1')).status).toBe(200);
    expect((await admin('GET', '/v1/projects/team-a/instances/crud-1')).body.error.code).toBe('STRATUS_ERR_NOT_FOUND');
  });

  it('reports every invalid field with its path, value and rule', async () => {
    const res = await admin('POST', '/v1/projects/team-a/instances', {
      kind: 'instance',
      metadata: { name: 'Bad_Name', labels: { 'bad key!': 'x' } },
      spec: { driver: 'process', command: ['x'], resources: { memory: '12Qi' }, color: 'blue' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('STRATUS_ERR_VALIDATION');
    const problems = res.body.error.details.problems as { path: string; message: string }[];
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p.message]));
    expect(byPath['metadata.name']).toMatch(/"Bad_Name" is not a DNS label/);
    expect(byPath['spec.resources.memory']).toMatch(/"12Qi" is not a size/);
    expect(byPath['spec.color']).toMatch(/unknown field/);
    const driver = await admin('POST', '/v1/projects/team-a/instances', { ...instance('x'), spec: { driver: 'lambda' } });
    expect(driver.body.error.message).toBe('spec.driver: "lambda" is not one of: process, container, vm');
    const missing = await admin('POST', '/v1/projects/team-a/instances', { kind: 'instance', metadata: { name: 'img' }, spec: { driver: 'container' } });
    expect(missing.body.error.message).toBe('spec.image: is required for the container driver');
    const nope = await admin('POST', '/v1/projects/nope/instances', instance('x'));
    expect(nope.status).toBe(404);
    expect(nope.body.error.message).toMatch(/project "nope" not found/);
  });

  it('paginates lists and filters them by label selector', async () => {
    for (let i = 0; i < 12; i++) {
      const res = await admin('POST', '/v1/projects/team-b/instances', instance(`page-${String(i).padStart(2, '0')}`, {}, { parity: i % 2 ? 'odd' : 'even', set: 'paging' }));
      expect(res.status).toBe(201);
    }
    const seen: string[] = [];
    let cont: string | undefined;
    do {
      const page = await admin('GET', `/v1/projects/team-b/instances?limit=5&selector=set%3Dpaging${cont ? `&continue=${cont}` : ''}`);
      expect(page.body.items.length).toBeLessThanOrEqual(5);
      seen.push(...page.body.items.map((o: { metadata: { name: string } }) => o.metadata.name));
      cont = page.body.continue;
    } while (cont);
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => `page-${String(i).padStart(2, '0')}`));
    const odd = await admin('GET', '/v1/projects/team-b/instances?selector=parity%3Dodd,set%20in%20(paging)');
    expect(odd.body.items).toHaveLength(6);
    const bad = await admin('GET', '/v1/projects/team-b/instances?selector=a%20in%20(b');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^query\.selector: unbalanced/);
    const badLimit = await admin('GET', '/v1/projects/team-b/instances?limit=0');
    expect(badLimit.body.error.message).toMatch(/^query\.limit: 0 is less than the minimum 1/);
  });
});

describe('tenancy', () => {
  it('keeps a member of one project out of another project', async () => {
    const a = await robot('team-a', 'member');
    expect((await a('POST', '/v1/projects/team-a/instances', instance('mine'))).status).toBe(201);
    expect((await admin('POST', '/v1/projects/team-b/instances', instance('theirs'))).status).toBe(201);

    for (const [method, path, body] of [
      ['GET', '/v1/projects/team-b/instances', undefined],
      ['GET', '/v1/projects/team-b/instances/theirs', undefined],
      ['POST', '/v1/projects/team-b/instances', instance('intruder')],
      ['PUT', '/v1/projects/team-b/instances/theirs', instance('theirs')],
      ['PATCH', '/v1/projects/team-b/instances/theirs', { metadata: { labels: { x: 'y' } } }],
      ['DELETE', '/v1/projects/team-b/instances/theirs', undefined],
      ['GET', '/v1/projects/team-b/events', undefined],
    ] as const) {
      const res = await a(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.error.code).toBe('STRATUS_ERR_FORBIDDEN');
    }
    const all = await a('GET', '/v1/instances');
    expect(all.body.items.every((o: { metadata: { project: string } }) => o.metadata.project === 'team-a')).toBe(true);
    const projects = await a('GET', '/v1/projects');
    expect(projects.body.items.map((p: { metadata: { name: string } }) => p.metadata.name)).toEqual(['team-a']);
    // projects (like users and tokens) a caller may not see answer as if they did not exist
    expect((await a('GET', '/v1/projects/team-b')).status).toBe(404);
    expect((await admin('GET', '/v1/projects/team-b/instances/theirs')).status).toBe(200);
  });

  it('lets viewers read but not write, and only the platform write status', async () => {
    const v = await robot('team-a', 'viewer');
    expect((await v('GET', '/v1/projects/team-a/instances')).status).toBe(200);
    expect((await v('POST', '/v1/projects/team-a/instances', instance('v1'))).status).toBe(403);
    const m = await robot('team-a', 'member');
    expect((await m('PUT', '/v1/projects/team-a/instances/mine/status', { phase: 'Running' })).status).toBe(403);
    expect((await m('POST', '/v1/projects', { metadata: { name: 'mine' }, spec: {} })).status).toBe(403);
    const st = await admin('PUT', '/v1/projects/team-a/instances/mine/status', { phase: 'Running', pid: 42 });
    expect(st.status).toBe(200);
    expect(st.body.status.pid).toBe(42);
  });

  it('refuses tokens that grant more than their creator has, and revokes at once', async () => {
    const projAdmin = await robot('team-a', 'admin');
    const ok = await projAdmin('POST', '/v1/tokens', { roles: [{ project: 'team-a', role: 'viewer' }] });
    expect(ok.status).toBe(201);
    expect(ok.body.secret).toMatch(/^stratus_/);
    expect((await projAdmin('POST', '/v1/tokens', { roles: [{ project: 'team-b', role: 'viewer' }] })).status).toBe(403);
    expect((await projAdmin('POST', '/v1/tokens', { clusterAdmin: true })).status).toBe(403);
    const member = await robot('team-a', 'member');
    expect((await member('POST', '/v1/tokens', { roles: [{ project: 'team-a', role: 'member' }] })).status).toBe(403);

    const viewer = client(server.url, ok.body.secret);
    expect((await viewer('GET', '/v1/whoami')).status).toBe(200);
    expect((await projAdmin('DELETE', `/v1/tokens/${ok.body.token.metadata.name}`)).status).toBe(200);
    const after = await viewer('GET', '/v1/whoami');
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('STRATUS_ERR_UNAUTHENTICATED');
  });

  it('refuses expired tokens with their own code', async () => {
    const res = await admin('POST', '/v1/tokens', { roles: [{ project: 'team-a', role: 'viewer' }], expiresIn: '1s' });
    const t = client(server.url, res.body.secret);
    await new Promise((r) => setTimeout(r, 1100));
    const out = await t('GET', '/v1/whoami');
    expect(out.status).toBe(401);
    expect(out.body.error.code).toBe('STRATUS_ERR_TOKEN_EXPIRED');
  });

  it('manages project members through project admins', async () => {
    expect((await admin('POST', '/v1/users', { metadata: { name: 'alice' }, spec: {} })).status).toBe(201);
    const pa = await robot('team-a', 'admin');
    expect((await pa('PUT', '/v1/projects/team-a/members/alice', { role: 'member' })).status).toBe(200);
    expect((await pa('PUT', '/v1/projects/team-b/members/alice', { role: 'member' })).status).toBe(404); // a project it cannot see
    const tok = await admin('POST', '/v1/tokens', { user: 'alice' });
    const alice = client(server.url, tok.body.secret);
    expect((await alice('GET', '/v1/whoami')).body.roles).toEqual([{ project: 'team-a', role: 'member' }]);
    expect((await pa('GET', '/v1/projects/team-a/members')).body.items).toEqual([{ user: 'alice', role: 'member' }]);
    expect((await pa('DELETE', '/v1/projects/team-a/members/alice')).status).toBe(200);
    expect((await alice('GET', '/v1/projects/team-a/instances')).status).toBe(403);
  });
});

describe('dry run', () => {
  it('validates and admits without storing, and holds no quota', async () => {
    expect((await admin('POST', '/v1/projects', { metadata: { name: 'dry' }, spec: { quotas: { instances: 1 } } })).status).toBe(201);
    const dry = await admin('POST', '/v1/projects/dry/instances?dryRun=true', instance('d1', { resources: { memory: '1Gi' } }));
    expect(dry.status).toBe(200);
    expect(dry.headers.get('x-stratus-dry-run')).toBe('true');
    expect(dry.body.spec.resources.memory).toBe(1024);
    expect((await admin('GET', '/v1/projects/dry/instances/d1')).status).toBe(404);
    expect((await admin('POST', '/v1/projects/dry/instances?dryRun=true', instance('bad', { resources: { memory: '12Qi' } }))).status).toBe(400);
    expect((await admin('POST', '/v1/projects/dry/instances', instance('real'))).status).toBe(201);
    const replaced = await admin('PUT', '/v1/projects/dry/instances/real?dryRun=true', { ...instance('real'), metadata: { name: 'real', labels: { x: 'y' } } });
    expect(replaced.body.metadata.labels).toEqual({ x: 'y' });
    expect((await admin('GET', '/v1/projects/dry/instances/real')).body.metadata.labels).toBeUndefined();
  });
});

describe('quotas', () => {
  it('refuses a create over quota with which quota, what is used and what was asked', async () => {
    expect((await admin('POST', '/v1/projects', { metadata: { name: 'small' }, spec: { quotas: { memory: '1Gi', instances: 2 } } })).status).toBe(201);
    expect((await admin('POST', '/v1/projects/small/instances', instance('q1', { resources: { memory: '768Mi' } }))).status).toBe(201);
    const over = await admin('POST', '/v1/projects/small/instances', instance('q2', { resources: { memory: '512Mi' } }));
    expect(over.status).toBe(403);
    expect(over.body.error).toMatchObject({ code: 'STRATUS_ERR_QUOTA_EXCEEDED', details: { quota: 'memory', used: 768, asked: 512, limit: 1024 } });
    expect(over.body.error.message).toBe('project "small" would exceed its memory quota: 768Mi used + 512Mi asked > 1Gi allowed');
    expect((await admin('POST', '/v1/projects/small/instances', instance('q3', { resources: { memory: '256Mi' } }))).status).toBe(201);
    expect((await admin('POST', '/v1/projects/small/instances', instance('q4', { resources: { memory: '0' } }))).body.error.details.quota).toBe('instances');
  });
});

describe('audit', () => {
  it('records successful and refused mutations, readable by admins only', async () => {
    const m = await robot('team-a', 'member');
    await m('POST', '/v1/projects/team-a/instances', instance('audited'));
    await m('POST', '/v1/projects/team-b/instances', instance('refused'));
    const res = await admin('GET', '/v1/audit?limit=50');
    expect(res.status).toBe(200);
    const entries = res.body.items as { action: string; name?: string; project?: string; status: number; code?: string; actor: string }[];
    const ok = entries.find((e) => e.name === 'audited');
    expect(ok).toMatchObject({ action: 'create', project: 'team-a', status: 201 });
    expect(ok!.actor).toMatch(/^token:/);
    const refused = entries.find((e) => e.project === 'team-b' && e.status === 403);
    expect(refused).toMatchObject({ code: 'STRATUS_ERR_FORBIDDEN' });
    expect((await m('GET', '/v1/audit')).status).toBe(403);
  });
});

describe('watch', () => {
  it('streams history from a revision, then live changes, in order', async () => {
    const first = await admin('POST', '/v1/projects/team-a/instances', instance('w-1', {}, { watch: 'yes' }));
    const from = first.body.metadata.revision as number;
    await admin('DELETE', '/v1/projects/team-a/instances/w-1');
    const controller = new AbortController();
    const res = await fetch(`${server.url}/v1/projects/team-a/instances?watch=true&revision=${from - 1}&selector=watch%3Dyes`, {
      headers: { authorization: `Bearer ${server.token}` },
      signal: controller.signal,
    });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const got: WatchMessage[] = [];
    const reading = (async () => {
      for await (const msg of userChanges(res.body!)) {
        got.push(msg);
        if (got.length === 3) break;
      }
    })();
    await admin('POST', '/v1/projects/team-a/instances', instance('w-2', {}, { watch: 'yes' }));
    await admin('POST', '/v1/projects/team-a/instances', instance('w-3', {}, { watch: 'no' }));
    await reading;
    controller.abort();
    expect(got.map((g) => [g.type, (g.object as { metadata: { name: string } }).metadata.name])).toEqual([['put', 'w-1'], ['delete', 'w-1'], ['put', 'w-2']]);
    expect(got.map((g) => g.revision)).toEqual([...got.map((g) => g.revision)].sort((a, b) => a! - b!));
  });
});

describe('watch selection', () => {
  it('reports an object that stops matching the selector as deleted for that watcher', async () => {
    const created = await admin('POST', '/v1/projects/team-a/instances', instance('sel-1', {}, { tier: 'gold' }));
    const controller = new AbortController();
    const res = await fetch(`${server.url}/v1/projects/team-a/instances?watch=true&revision=${created.body.metadata.revision - 1}&selector=tier%3Dgold`, {
      headers: { authorization: `Bearer ${server.token}` }, signal: controller.signal,
    });
    const got: WatchMessage[] = [];
    const reading = (async () => {
      for await (const msg of userChanges(res.body!)) {
        got.push(msg);
        if (got.length === 3) break;
      }
    })();
    const patch = (tier: string) => admin('PATCH', '/v1/projects/team-a/instances/sel-1', { metadata: { labels: { tier } } }, { 'content-type': 'application/merge-patch+json' });
    await patch('silver');
    await patch('bronze');
    await patch('gold');
    await reading;
    controller.abort();
    expect(got.map((g) => [g.type, (g.object as { metadata: { labels: { tier: string } } }).metadata.labels.tier])).toEqual([['put', 'gold'], ['delete', 'silver'], ['put', 'gold']]);
  });
});

describe('system routes', () => {
  it('serves health, readiness, version, OpenAPI and docs without a token', async () => {
    const anon = client(server.url);
    expect((await anon('GET', '/healthz')).body).toEqual({ status: 'ok' });
    expect((await anon('GET', '/readyz')).status).toBe(200);
    expect((await anon('GET', '/v1/version')).body.store).toBe('sqlite');
    const spec = await anon('GET', '/openapi.json');
    expect(spec.body.openapi).toBe('3.1.0');
    expect(Object.keys(spec.body.paths)).toEqual(expect.arrayContaining(['/v1/projects/{project}/instances', '/v1/nodes/{name}', '/v1/tokens', '/v1/audit']));
    expect(spec.body.components.schemas.Instance.properties.spec.properties.resources).toBeDefined();
    expect((await anon('GET', '/docs/')).status).toBe(200);
    expect((await anon('GET', '/v1/whoami')).status).toBe(401);
  });
});
