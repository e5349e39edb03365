/**
 * Stacks planned and applied by the server (POST .../plan, .../apply), on a real server without
 * controllers (the test writes a service's status, so that what a wave waits for becomes healthy
 * when the test says): the plan is a field-by-field diff that writes nothing, secrets' values never leave,
 * apply writes in dependsOn waves and stops where a dependency is not healthy yet, prune, dry run,
 * bad files named by file, line and field, and a stack can do nothing its caller could not.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/server/main.js';

const TOKEN = 'stack-api-test-token-0123456789';
let server: RunningServer;
let dir: string;
let member: string;
let viewer: string;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read field by field as the assertions need
type Answer = { status: number; body: any; text: string };

async function call(method: string, path: string, body?: unknown, token = TOKEN): Promise<Answer> {
  const res = await fetch(server.url + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, text };
}

const files = (text: string, name = 'shop.yaml') => ({ files: [{ name, text }] });

/** What the service controller would write once a service's replicas are all available. */
async function markAvailable(project: string, name: string): Promise<void> {
  const svc = (await call('GET', `/v1/projects/${project}/services/${name}`)).body;
  const status = { phase: 'Available', observedGeneration: svc.metadata.generation, revision: 1, replicas: 0, ready: 0, available: 0 };
  expect((await call('PUT', `/v1/projects/${project}/services/${name}/status`, status)).status).toBe(200);
}

async function tokenFor(user: string, role: string, project: string): Promise<string> {
  expect((await call('POST', '/v1/users', { metadata: { name: user }, spec: { roles: [{ project, role }] } })).status).toBe(201);
  return (await call('POST', '/v1/tokens', { user, name: `${user}-token` })).body.secret as string;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-stack-api-'));
  server = await startServer({ dataDir: dir, port: 0, listen: '127.0.0.1', store: 'memory:', bootstrapToken: TOKEN });
  for (const name of ['team-a', 'team-b']) expect((await call('POST', '/v1/projects', { metadata: { name }, spec: {} })).status).toBe(201);
  member = await tokenFor('mia', 'member', 'team-a');
  viewer = await tokenFor('vic', 'viewer', 'team-a');
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const shop = (replicas: number, password = 'first-password-value') => `
name: shop
services:
  web: {replicas: ${replicas}, template: {driver: process, command: [sleep, "60"]}}
secrets:
  db: {data: {password: ${password}}}
`;

describe('plan', () => {
  it('shows the diff field by field and writes nothing', async () => {
    const first = await call('POST', '/v1/projects/team-a/plan', files(shop(0)));
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ stack: 'shop', changed: true, prune: [] });
    expect(first.body.items.map((i: { kind: string; name: string; action: string }) => `${i.action} ${i.kind}/${i.name}`)).toEqual(['create service/web', 'create secret/db']);
    expect((await call('GET', '/v1/projects/team-a/services/web')).status).toBe(404);
    expect((await call('GET', '/v1/projects/team-a/stacks/shop')).status).toBe(404);

    expect((await call('POST', '/v1/projects/team-a/apply', files(shop(0)))).status).toBe(200);
    const web = (await call('GET', '/v1/projects/team-a/services/web')).body;
    const again = await call('POST', '/v1/projects/team-a/stacks/shop/plan', files(shop(0)));
    expect([again.body.changed, again.body.items.map((i: { action: string }) => i.action)]).toEqual([false, ['unchanged', 'unchanged']]);
    const changed = await call('POST', '/v1/projects/team-a/stacks/shop/plan', files(shop(2, 'second-password-value')));
    const item = changed.body.items.find((i: { kind: string }) => i.kind === 'service');
    expect([item.action, item.changes]).toEqual(['update', [{ path: 'spec.replicas', op: '~', from: 0, to: 2 }]]);
    expect((await call('GET', '/v1/projects/team-a/services/web')).body.metadata.revision).toBe(web.metadata.revision);
  });

  it('never answers with a secret\'s values, in a plan or an apply', async () => {
    const plan = await call('POST', '/v1/projects/team-a/plan', files(shop(0, 'second-password-value')));
    const applied = await call('POST', '/v1/projects/team-a/apply', files(shop(0, 'second-password-value')));
    for (const a of [plan, applied]) {
      expect(a.status).toBe(200);
      expect(a.text).not.toMatch(/first-password-value|second-password-value/);
    }
    expect(plan.body.items.find((i: { kind: string }) => i.kind === 'secret').action).toBe('update');
    expect((await call('GET', '/v1/projects/team-a/stacks/shop')).text).not.toMatch(/password-value/);
  });
});

describe('apply', () => {
  const layered = (gate: string) => `
name: layers
services:
  base: {replicas: 0, template: {driver: process, command: [sleep, "${gate}"]}}
  top: {replicas: 0, dependsOn: [base], template: {driver: process, command: [sleep, "60"]}}
instances:
  job: {driver: process, command: ["true"], restartPolicy: never}
`;

  it('writes wave by wave: stops before a wave whose dependency is not healthy yet, and the same request continues it', async () => {
    const first = await call('POST', '/v1/projects/team-a/apply', files(layered('60')));
    expect(first.status).toBe(200);
    expect(first.body.applied.map((a: { kind: string; name: string; action: string }) => `${a.kind}/${a.name} ${a.action}`)).toEqual(['service/base created', 'instance/job created']);
    expect(first.body.complete).toBe(false);
    expect(first.body.waiting).toEqual({ for: [{ kind: 'service', name: 'base', project: 'team-a', state: 'pending', health: 'waiting for the service controller' }], remaining: [{ kind: 'service', name: 'top', project: 'team-a' }] });
    expect((await call('GET', '/v1/projects/team-a/services/top')).status).toBe(404);
    expect((await call('POST', '/v1/projects/team-a/apply', files(layered('60')))).body.waiting.for[0].state).toBe('pending'); // still
    await markAvailable('team-a', 'base');
    const second = await call('POST', '/v1/projects/team-a/apply', files(layered('60')));
    expect(second.body.applied.map((a: { name: string; action: string }) => `${a.name} ${a.action}`)).toEqual(['base unchanged', 'job unchanged', 'top created']);
    expect([second.body.complete, second.body.waiting]).toEqual([true, undefined]);
    expect((await call('GET', '/v1/projects/team-a/stacks/layers')).body.spec.objects).toHaveLength(3);
  });

  it('with waitForDependencies: false writes every wave at once, in order', async () => {
    const res = await call('POST', '/v1/projects/team-a/apply', { ...files(layered('61').replaceAll('base', 'low').replaceAll('top', 'high').replace('name: layers', 'name: eager')), waitForDependencies: false });
    expect(res.body.complete).toBe(true);
    expect(res.body.applied.map((a: { name: string }) => a.name)).toEqual(['low', 'job', 'high']);
  });

  it('reads a volumes: section (the volume kind\'s stack descriptor) and writes volumes in the first wave, before the instances that name them', async () => {
    const text = 'name: storage\ninstances:\n  pg: {driver: process, command: [sleep, "60"], volumes: [{volume: pgdata, path: /var/lib/pg}]}\nvolumes:\n  pgdata: {size: 1Gi}\n';
    const plan = await call('POST', '/v1/projects/team-a/plan', files(text, 'storage.yaml'));
    expect(plan.status, plan.text).toBe(200);
    expect(plan.body.items.map((i: { kind: string; name: string; action: string; wave: number }) => `${i.action} ${i.kind}/${i.name} wave ${i.wave}`)).toEqual(['create instance/pg wave 1', 'create volume/pgdata wave 0']);
    expect((await call('GET', '/v1/projects/team-a/volumes/pgdata')).status).toBe(404);
    const applied = await call('POST', '/v1/projects/team-a/apply', files(text, 'storage.yaml'));
    expect(applied.status, applied.text).toBe(200);
    expect(applied.body.applied.map((a: { kind: string; name: string; action: string }) => `${a.kind}/${a.name} ${a.action}`)).toEqual(['volume/pgdata created', 'instance/pg created']);
    expect(applied.body.complete).toBe(true);
    expect((await call('GET', '/v1/projects/team-a/volumes/pgdata')).body.spec).toEqual({ size: 1024, type: 'filesystem' });
    expect((await call('GET', '/v1/projects/team-a/instances/pg')).body.spec.volumes).toEqual([expect.objectContaining({ volume: 'pgdata', path: '/var/lib/pg' })]);
    expect((await call('GET', '/v1/projects/team-a/stacks/storage')).body.spec.objects).toEqual(expect.arrayContaining([{ kind: 'volume', name: 'pgdata' }, { kind: 'instance', name: 'pg' }]));
  });

  it('prunes what left the stack\'s files, and only with prune', async () => {
    const two = 'name: trim\ninstances:\n  keep: {driver: process, command: ["true"]}\n  drop: {driver: process, command: ["true"]}\n';
    const one = 'name: trim\ninstances:\n  keep: {driver: process, command: ["true"]}\n';
    expect((await call('POST', '/v1/projects/team-a/apply', files(two))).status).toBe(200);
    expect((await call('POST', '/v1/projects/team-a/apply', files(one))).body.changed).toBe(false);
    expect((await call('GET', '/v1/projects/team-a/instances/drop')).status).toBe(200);
    expect((await call('POST', '/v1/projects/team-a/plan', { ...files(one), prune: true })).body.prune).toEqual([{ kind: 'instance', name: 'drop', project: 'team-a' }]);
    const pruned = await call('POST', '/v1/projects/team-a/apply', { ...files(one), prune: true });
    expect(pruned.body.pruned).toEqual([{ kind: 'instance', name: 'drop', project: 'team-a', action: 'deleted (pruned)' }]);
    expect((await call('GET', '/v1/projects/team-a/instances/drop')).status).toBe(404);
    expect((await call('GET', '/v1/projects/team-a/instances/keep')).status).toBe(200);
  });

  it('with dryRun says what it would do and writes nothing', async () => {
    const before = (await call('GET', '/v1/projects/team-a/instances')).body.revision;
    const res = await call('POST', '/v1/projects/team-a/apply?dryRun=true', files('name: dry\ninstances:\n  wet: {driver: process, command: ["true"]}\n'));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ dryRun: true, changed: true, complete: true, applied: [{ kind: 'instance', name: 'wet', action: 'created' }] });
    expect((await call('GET', '/v1/projects/team-a/instances/wet')).status).toBe(404);
    expect((await call('GET', '/v1/projects/team-a/stacks/dry')).status).toBe(404);
    expect((await call('GET', '/v1/projects/team-a/instances')).body.revision).toBe(before);
  });
});

describe('refusals', () => {
  it('a bad file is a 400 naming the file, the line and the field, and nothing is written', async () => {
    const bad = 'name: broken\nservices:\n  web:\n    replicas: -1\n    template: {driver: process, command: [x], resources: {memory: 12Qi}}\ninstances:\n  fresh: {driver: process, command: [x]}\n';
    const res = await call('POST', '/v1/projects/team-a/apply', files(bad, 'broken.yaml'));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('STRATUS_ERR_STACK_INVALID');
    expect(res.body.error.message).toBe('the file has 2 problems; nothing was applied:\n  broken.yaml:4: services.web.replicas: -1 is less than the minimum 0\n  broken.yaml:5: services.web.template.resources.memory: "12Qi" is not a size (use e.g. "512Mi" or "2Gi"; a plain number is MiB)');
    expect((await call('GET', '/v1/projects/team-a/instances/fresh')).status).toBe(404);
    expect((await call('GET', '/v1/projects/team-a/stacks/broken')).status).toBe(404);
    const syntax = await call('POST', '/v1/projects/team-a/plan', files('services:\n  a: {template: [\n', 'syntax.yaml'));
    expect([syntax.status, syntax.body.error.message]).toEqual([400, expect.stringMatching(/^syntax\.yaml:\d+:\d+: YAML syntax error/)]);
    const cycle = await call('POST', '/v1/projects/team-a/plan', files('services:\n  a: {template: {}, dependsOn: [b]}\n  b: {template: {}, dependsOn: [a]}\n'));
    expect(cycle.body.error.message).toBe('dependsOn cycle: a → b → a');
    const param = await call('POST', '/v1/projects/team-a/plan', { ...files('parameters: {n: 1}\ninstances:\n  p: {driver: process, command: [x]}\n', 'p.yaml'), set: { colour: 'red' } });
    expect([param.status, param.body.error.message, param.body.error.details.unknownParameters]).toEqual([400, 'set colour: p.yaml declares no such parameter (declared: n)', ['colour']]);
    const body = await call('POST', '/v1/projects/team-a/plan', { files: [] });
    expect([body.status, body.body.error.code]).toEqual([400, 'STRATUS_ERR_VALIDATION']);
  });

  it('a stack does nothing its caller could not do object by object', async () => {
    const res = await call('POST', '/v1/projects/team-a/apply', files('name: grab\ninstances:\n  mine: {driver: process, command: [x]}\n---\nkind: project\nmetadata: {name: stolen}\nspec: {}\n'), member);
    expect(res.status).toBe(400);
    expect(res.body.error.details.problems).toEqual([expect.objectContaining({ object: 'project/stolen', code: 'STRATUS_ERR_FORBIDDEN' })]);
    expect((await call('GET', '/v1/projects/stolen')).status).toBe(404);
    expect((await call('GET', '/v1/projects/team-a/instances/mine')).status).toBe(404);
    expect((await call('POST', '/v1/projects/team-b/apply', files('instances:\n  x: {driver: process, command: [x]}\n'), member)).status).toBe(404);
    expect((await call('POST', '/v1/projects/team-a/plan', files('instances:\n  x: {driver: process, command: [x]}\n'), viewer)).status).toBe(403);
    // The member's own objects are written as the member: the audit names its token.
    expect((await call('POST', '/v1/projects/team-a/apply', files('instances:\n  by-mia: {driver: process, command: [x]}\n'), member)).status).toBe(200);
    const audit = (await call('GET', '/v1/audit?limit=50')).body.items as { actor: string; action: string; name?: string; status: number }[];
    expect(audit.find((e) => e.name === 'by-mia' && e.action === 'create')).toMatchObject({ actor: 'user:mia', status: 201 });
  });
});

describe('the OpenAPI document', () => {
  it('has the plan and apply routes with their schemas', async () => {
    const doc = (await call('GET', '/openapi.json')).body;
    for (const path of ['/v1/projects/{project}/stacks/{name}/plan', '/v1/projects/{project}/stacks/{name}/apply', '/v1/projects/{project}/plan', '/v1/projects/{project}/apply']) {
      expect(doc.paths[path]?.post?.requestBody, path).toBeDefined();
    }
    expect(Object.keys(doc.paths['/v1/projects/{project}/plan'].post.requestBody.content['application/json'].schema.properties)).toEqual(['files', 'set', 'prune', 'waitForDependencies']);
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['StackPlan', 'StackApplyResult']));
    expect(JSON.stringify(doc.paths['/v1/projects/{project}/stacks/{name}/apply'].post.responses['200'])).toContain('StackApplyResult');
  });
});
