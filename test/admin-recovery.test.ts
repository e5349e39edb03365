/**
 * A cluster cannot lock out its last admin, and a lost admin is recovered from the data dir:
 * `stratus server --reset-admin-token` with the server stopped. Audit retention applies on restart.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, client, type TestServer } from './helpers/server.js';
import { cliRunner, type CliResult } from './helpers/cli.js';

let server: TestServer;
let admin: ReturnType<typeof client>;
let dir: string;
let run: ReturnType<typeof cliRunner>;

beforeAll(async () => {
  server = await startTestServer();
  admin = client(server.url, server.token);
  dir = mkdtempSync(join(tmpdir(), 'stratus-recovery-'));
  run = cliRunner(join(dir, 'config.json'));
  expect((await run(['--server', server.url, '--token', server.token, 'login'])).code).toBe(0);
});

afterAll(async () => {
  await server.stop();
  server.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function oneLineError(r: CliResult, message: RegExp): void {
  expect(r.code).not.toBe(0);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(message);
}

const merge = { 'content-type': 'application/merge-patch+json' };

describe('the last cluster admin', () => {
  it('cannot be deleted, disabled or demoted', async () => {
    for (const [method, body, what] of [
      ['DELETE', undefined, 'delete'],
      ['PATCH', { spec: { disabled: true } }, 'disable'],
      ['PATCH', { spec: { clusterAdmin: false } }, 'demote'],
    ] as const) {
      const res = await admin(method, '/v1/users/admin', body, body ? merge : {});
      expect(res.status, what).toBe(409);
      expect(res.body.error).toMatchObject({ code: 'STRATUS_ERR_LAST_ADMIN', message: expect.stringMatching(new RegExp(`^cannot ${what} user "admin": it is the last enabled cluster admin`)) });
    }
    oneLineError(await run(['delete', 'user', 'admin']), /cannot delete user "admin": it is the last enabled cluster admin/);
    expect((await admin('GET', '/v1/whoami')).body.clusterAdmin).toBe(true);
  });

  it('can step down once another user is a cluster admin', async () => {
    expect((await admin('POST', '/v1/users', { metadata: { name: 'root2' }, spec: { clusterAdmin: true } })).status).toBe(201);
    expect((await admin('PATCH', '/v1/users/root2', { spec: { clusterAdmin: false } }, merge)).status).toBe(200); // admin is still one
    expect((await admin('PATCH', '/v1/users/root2', { spec: { clusterAdmin: true } }, merge)).status).toBe(200);
    const token = await admin('POST', '/v1/tokens', { user: 'root2' });
    const root2 = client(server.url, token.body.secret);
    expect((await root2('PATCH', '/v1/users/admin', { spec: { disabled: true } }, merge)).status).toBe(200);
    expect((await root2('PATCH', '/v1/users/root2', { spec: { clusterAdmin: false } }, merge)).body.error.code).toBe('STRATUS_ERR_LAST_ADMIN');
    expect((await root2('PATCH', '/v1/users/admin', { spec: { disabled: false } }, merge)).status).toBe(200);
    expect((await root2('DELETE', '/v1/users/root2')).status).toBe(200);
  });
});

describe('stratus server --reset-admin-token', () => {
  const reset = (dataDir: string) => run(['server', '--reset-admin-token', '--data-dir', dataDir]);

  it('refuses while a server holds the data dir, and on a dir with no cluster', async () => {
    oneLineError(await reset(server.dataDir), /^error: cannot reset the admin token: the store .*stratus\.db is in use by another process/);
    oneLineError(await reset(join(dir, 'nothing-here')), /^error: cannot reset the admin token: there is no Stratus store at /);
  });

  it('prints a new admin token once the server is stopped, and records it in the audit log', async () => {
    // Lock ourselves out: the only admin token goes.
    expect((await admin('DELETE', '/v1/tokens/admin')).status).toBe(200);
    expect((await admin('GET', '/v1/whoami')).status).toBe(401);
    await server.stop();
    const out = await reset(server.dataDir);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const m = /New admin token for user "admin" \(token (admin-reset-[a-z0-9]+);.*\n\s+(stratus_\S+)/.exec(out.stdout);
    expect(m, out.stdout).not.toBeNull();
    // The next start keeps two audit entries: the retention applies at start, the newest stay.
    server = await startTestServer({ dataDir: server.dataDir, args: ['--audit-max-entries', '2'] });
    const recovered = client(server.url, m![2]!);
    expect((await recovered('GET', '/v1/whoami')).body).toMatchObject({ user: 'admin', clusterAdmin: true });
    let items: { actor: string; action: string; name?: string }[] = [];
    for (let i = 0; i < 100; i++) {
      items = (await recovered('GET', '/v1/audit?limit=100')).body.items;
      if (items.length <= 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(items.length).toBeLessThanOrEqual(2);
    expect(items[0]).toMatchObject({ actor: 'system:reset-admin-token', action: 'reset-admin-token', name: m![1] });
  });
});
