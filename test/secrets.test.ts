/**
 * Secrets end to end on a one-machine cloud (server, embedded agent, sandboxed process driver):
 * values encrypted at rest, never in reads, audit, events or logs; revealed to members only;
 * out of reach of other projects and of node credentials; given to workloads as env and files;
 * and a new value rolls the services that use it. Workloads print a hash of what they see, never
 * the value, and the test compares it with the hash of what it set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { client, startTestServer, type TestServer } from './helpers/server.js';
import { cliRunner, type CliResult } from './helpers/cli.js';
import { until } from './helpers/processes.js';

const root = process.getuid?.() === 0;
const hasRunc = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v runc']);
    return true;
  } catch {
    return false;
  }
})();
const why = !root ? 'not root' : !hasRunc ? 'runc is not installed' : '';
if (why) console.warn(`secrets suite skipped: ${why}`);

const V1 = 'pw-v1-8c1f0e2a-do-not-echo';
const V2 = 'pw-v2-5d77b3c9-do-not-echo';
const hash = (v: string) => createHash('sha256').update(v).digest('hex').slice(0, 16);
/** Prints the hashes of what the workload sees in its env and in its file, then stays up. */
const SHOW = 'echo "env=$(printf %s "$DB_PASSWORD" | sha256sum | cut -c1-16)"; echo "file=$(sha256sum < /run/secrets/db/password | cut -c1-16)"; exec sleep 3600';

let server: TestServer;
let dir: string;
let admin: ReturnType<typeof client>;
let member: ReturnType<typeof client>;
let viewer: ReturnType<typeof client>;
let outsider: ReturnType<typeof client>;
let asAdmin: (args: string[]) => Promise<CliResult>;
let asMember: (args: string[]) => Promise<CliResult>;
const node = `sec-${process.pid}`;
const P = '/v1/projects/team-a';

async function tokenFor(user: string, project: string, role: string): Promise<string> {
  expect((await admin('POST', '/v1/users', { kind: 'user', metadata: { name: user }, spec: { roles: [{ project, role }] } })).status).toBe(201);
  const tok = await admin('POST', '/v1/tokens', { user });
  expect(tok.status).toBe(201);
  return tok.body.secret as string;
}

const process_ = (extra: Record<string, unknown> = {}) => ({
  driver: 'process', command: ['sh', '-c', SHOW], resources: { cpu: '50m', memory: '32Mi' },
  env: { DB_PASSWORD: { valueFrom: { secret: 'db', key: 'password' } } }, secrets: [{ secret: 'db' }], ...extra,
});

const logsOf = async (name: string) => (await asMember(['logs', name])).stdout;

beforeAll(async () => {
  if (why) return;
  dir = mkdtempSync(join(tmpdir(), 'stratus-secrets-'));
  server = await startTestServer({ agent: true, args: ['--node-name', node, '--network', 'host', '--restart-backoff', '200ms'] });
  admin = client(server.url, server.token);
  for (const p of ['team-a', 'team-b']) expect((await admin('POST', '/v1/projects', { kind: 'project', metadata: { name: p }, spec: {} })).status).toBe(201);
  const memberToken = await tokenFor('alice', 'team-a', 'member');
  member = client(server.url, memberToken);
  viewer = client(server.url, await tokenFor('victor', 'team-a', 'viewer'));
  outsider = client(server.url, await tokenFor('mallory', 'team-b', 'member'));
  asAdmin = cliRunner(join(dir, 'admin.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token, STRATUS_PROJECT: 'team-a' });
  asMember = cliRunner(join(dir, 'alice.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: memberToken, STRATUS_PROJECT: 'team-a' });
  await until('the node', () => admin('GET', `/v1/nodes/${node}`).then((r) => r.body), (n) => n?.status?.phase === 'Ready', 60_000);
}, 120_000);

afterAll(async () => {
  if (why) return;
  for (const p of ['team-a', 'team-b']) await admin('DELETE', `/v1/projects/${p}?cascade=true`).catch(() => undefined);
  await until('every instance destroyed', () => admin('GET', '/v1/instances').then((r) => r.body.items.length), (n) => n === 0, 30_000).catch(() => undefined);
  await server.stop();
  server.cleanup();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe.skipIf(why !== '')('secrets', () => {
  it('are created from literals and files, and read back as key names only', async () => {
    const pw = join(dir, 'pw.txt');
    writeFileSync(pw, V1);
    const created = await asMember(['secret', 'create', 'db', '--from-file', `password=${pw}`, '--from-literal', 'user=app']);
    expect(created.code, created.stderr).toBe(0);
    const get = await asMember(['get', 'secrets']);
    expect(get.stdout).toMatch(/^db\s+password,user\s+/m);
    const describe_ = await asMember(['describe', 'secret', 'db']);
    expect(describe_.stdout).toMatch(/keys:\n\s+password: 1\n\s+user: 1/);
    for (const r of [get, describe_, await asMember(['get', 'secret', 'db', '-o', 'json'])]) expect(r.stdout).not.toContain(V1);
    const list = await member('GET', `${P}/secrets`);
    expect(JSON.stringify(list.body)).not.toContain(V1);
    expect((await asMember(['secret', 'get', 'db'])).code).toBe(2); // no --reveal, no values
  });

  it('reveal their values to members, not to viewers, and the reveal is audited without the value', async () => {
    const shown = await asMember(['secret', 'get', 'db', '--reveal', '--key', 'password']);
    expect([shown.code, shown.stdout], shown.stderr).toEqual([0, V1]);
    const refused = await viewer('GET', `${P}/secrets/db?reveal=true`);
    expect([refused.status, refused.body.error.code]).toEqual([403, 'STRATUS_ERR_FORBIDDEN']);
    expect(JSON.stringify(refused.body)).not.toContain(V1);
    expect((await viewer('GET', `${P}/secrets/db`)).status).toBe(200);
    const audit = await admin('GET', '/v1/audit?kind=secret&limit=100');
    const reveals = (actor: string) => audit.body.items.filter((e: { action: string; actor: string }) => e.action === 'reveal' && e.actor === actor).map((e: { status: number }) => e.status);
    expect(reveals('user:alice')).toEqual([200]);
    expect(reveals('user:victor')).toEqual([403]);
  });

  it('are out of reach of another project\'s member: no read, no reveal, no reference', async () => {
    for (const path of [`${P}/secrets/db`, `${P}/secrets/db?reveal=true`]) expect((await outsider('GET', path)).status).toBeGreaterThanOrEqual(403);
    expect((await outsider('GET', '/v1/secrets')).body.items).toEqual([]);
    const crossRef = await outsider('POST', '/v1/projects/team-b/instances', { kind: 'instance', metadata: { name: 'steal' }, spec: process_({ env: { X: { valueFrom: { secret: 'team-a/db', key: 'password' } } }, secrets: [] }) });
    expect(crossRef.status).toBe(400);
    expect(crossRef.body.error.message).toMatch(/^spec\.env\.X\.valueFrom\.secret: "team-a\/db" is not a DNS label/);
    const missing = await outsider('POST', '/v1/projects/team-b/instances', { kind: 'instance', metadata: { name: 'steal' }, spec: process_() });
    expect([missing.status, missing.body.error.code]).toEqual([422, 'STRATUS_ERR_DEPENDENCY']);
    expect(missing.body.error.message).toMatch(/^spec\.env\.DB_PASSWORD\.valueFrom\.secret: secret "db" not found in project "team-b"/);
  });

  it('reach a workload as an env variable and a file (the agent resolves them; the driver writes the file)', async () => {
    const r = await member('POST', `${P}/instances`, { kind: 'instance', metadata: { name: 'app' }, spec: process_() });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const log = await until('the workload\'s output', () => logsOf('app'), (l) => l.includes('file='), 60_000);
    expect(log).toContain(`env=${hash(V1)}`);
    expect(log).toContain(`file=${hash(V1)}`);
    // The stored instance holds the reference, never the value.
    expect(JSON.stringify((await admin('GET', `${P}/instances/app`)).body)).not.toContain(V1);
  });

  it('are out of reach of node credentials, except for instances bound to the node', async () => {
    const cred = JSON.parse(readFileSync(join(server.dataDir, 'agent', 'credential.json'), 'utf8')) as { token: string };
    const asNode = client(server.url, cred.token);
    expect((await asNode('GET', `${P}/secrets/db?reveal=true`)).status).toBe(403);
    expect((await asNode('GET', `${P}/secrets/db`)).status).toBe(403);
    expect((await asNode('GET', `${P}/secrets`)).body.items ?? []).toEqual([]);
    const bound = await asNode('GET', `${P}/instances/app/secrets`);
    expect(bound.status).toBe(200);
    expect(bound.body.items.map((s: { name: string }) => s.name)).toEqual(['db']);
    // An instance bound to no node (it waits for one that does not exist): refused.
    await member('POST', `${P}/instances`, { kind: 'instance', metadata: { name: 'elsewhere' }, spec: process_({ placement: { node: 'no-such-node' } }) });
    expect((await asNode('GET', `${P}/instances/elsewhere/secrets`)).status).toBe(403);
    expect((await member('GET', `${P}/instances/app/secrets`)).status).toBe(403);
    await member('DELETE', `${P}/instances/elsewhere`);
  });

  it('cannot be deleted, nor a referenced key removed, while something uses them', async () => {
    const del = await member('DELETE', `${P}/secrets/db`);
    expect([del.status, del.body.error.message]).toEqual([422, 'secret "db" is used by instance app; change or delete them first']);
    const unset = await asMember(['secret', 'set', 'db', '--remove', 'password']);
    expect(unset.code).toBe(1);
    expect(unset.stderr).toMatch(/key "password" of secret "db" is used by instance app/);
  });

  it('roll the services that use them when a value changes; new replicas see the new value', async () => {
    const svc = { kind: 'service', metadata: { name: 'web' }, spec: { replicas: 2, template: { spec: process_() }, update: { maxSurge: 1, maxUnavailable: 0 } } };
    expect((await member('POST', `${P}/services`, svc)).status).toBe(201);
    const rev1 = await until('revision 1 available', () => member('GET', `${P}/services/web`).then((r) => r.body), (s) => s?.status?.phase === 'Available' && s.status.revision === 1, 60_000);
    expect(rev1.status.revision).toBe(1);
    const set = await asMember(['secret', 'set', 'db', `password=${V2}`]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).not.toContain(V2);
    await until('revision 2 available', () => member('GET', `${P}/services/web`).then((r) => r.body), (s) => s?.status?.phase === 'Available' && s.status.revision === 2 && s.status.updated === 2 && s.status.replicas === 2, 90_000);
    const replicas = (await member('GET', `${P}/instances?selector=stratus.io%2Fservice%3Dweb`)).body.items as { metadata: { name: string; labels: Record<string, string> } }[];
    expect(replicas.map((i) => i.metadata.labels['stratus.io/revision'])).toEqual(['2', '2']);
    for (const i of replicas) {
      const log = await until(`${i.metadata.name}'s output`, () => logsOf(i.metadata.name), (l) => l.includes('file='), 60_000);
      expect(log).toContain(`env=${hash(V2)}`);
      expect(log).toContain(`file=${hash(V2)}`);
    }
    // A change of labels only is not a new version.
    expect((await member('PATCH', `${P}/secrets/db`, { metadata: { labels: { tier: 'db' } } }, { 'content-type': 'application/merge-patch+json' })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await member('GET', `${P}/services/web`)).body.status.revision).toBe(2);
  }, 150_000);

  it('rotate the encryption key: every value is sealed again and still reads back', async () => {
    const before = JSON.parse(readFileSync(join(server.dataDir, 'secret-keys.json'), 'utf8')) as { active: string };
    const rotated = await asAdmin(['admin', 'rotate-secret-key']);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(new RegExp(`retired: ${before.active}`));
    const after = JSON.parse(readFileSync(join(server.dataDir, 'secret-keys.json'), 'utf8')) as { active: string; keys: Record<string, string> };
    expect(Object.keys(after.keys)).toEqual([after.active]);
    expect((await asMember(['secret', 'get', 'db', '--reveal', '--key', 'password'])).stdout).toBe(V2);
    expect((await member('POST', '/v1/secret-keys/rotate')).status).toBe(403);
  });

  it('never appear in the store\'s files, audit, events, server log or error messages', async () => {
    const bodies: [string, string, unknown][] = [
      ['PUT', 'db', { kind: 'secret', metadata: { name: 'db' }, spec: { data: { password: { nested: V2 } } } }],
      ['PUT', 'db', { kind: 'secret', metadata: { name: 'db' }, spec: V2 }],
      ['PUT', 'db', { kind: 'secret', metadata: { name: 'db' }, spec: { binaryData: { k: V2 } } }],
      ['PUT', 'db', { kind: 'secret', metadata: { name: 'db' }, spec: { data: { 'a/b': V2 }, extra: V2 } }],
      ['POST', '', { kind: 'secret', metadata: { name: 'Bad Name' }, spec: { data: { k: V2 } } }],
      ['POST', '', [V2]],
      ['POST', '', `{"metadata": {"name": "x"}, "spec": {"data": {"k": ${V2}}}}`],
      ['PATCH', 'db', { spec: { data: { password: [V2] } } }],
      ['PATCH', 'db', V2],
      ['PATCH', 'db', { spec: { keys: { password: V2 }, other: V2 } }],
    ];
    for (const [method, name, body] of bodies) {
      const headers: Record<string, string> = method === 'PATCH' ? { 'content-type': 'application/merge-patch+json' } : {};
      const r = await member(method, `${P}/secrets${name ? `/${name}` : ''}`, body, headers);
      expect(r.status, `${method} ${JSON.stringify(body)}`).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect(JSON.stringify(r.body)).not.toContain(V2);
    }
    const everything = [
      JSON.stringify((await admin('GET', '/v1/audit?limit=10000')).body),
      JSON.stringify((await admin('GET', '/v1/events')).body),
      JSON.stringify((await admin('GET', '/v1/instances')).body),
      JSON.stringify((await admin('GET', '/v1/services')).body),
      server.output(),
    ].join('\n');
    for (const v of [V1, V2]) expect(everything).not.toContain(v);
    const files = readdirSync(server.dataDir).filter((f) => f.startsWith('stratus.db'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const bytes = readFileSync(join(server.dataDir, f));
      for (const v of [V1, V2]) expect(bytes.includes(Buffer.from(v)), `${f} holds a value`).toBe(false);
    }
    expect(existsSync(join(server.dataDir, 'secret-keys.json'))).toBe(true);
  });
});
