/**
 * The volume kind, defined by one file (model/kinds/volume.ts) and its registry line, works
 * through everything generic: the API's routes, the CLI's get/describe/create/delete, the
 * project's volumes and storage quotas, the in-use check against instances that name it, and the
 * check that an instance names only volumes that exist. No agent runs here: instances stay Pending.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { client, instance, startTestServer, type TestServer } from './helpers/server.js';
import { cliRunner, type CliResult } from './helpers/cli.js';
import { until } from './helpers/processes.js';

let server: TestServer;
let dir: string;
let admin: ReturnType<typeof client>;
let run: (args: string[]) => Promise<CliResult>;
const P = '/v1/projects/vols';
const volume = (name: string, size: string, extra: Record<string, unknown> = {}) => ({ kind: 'volume', metadata: { name }, spec: { size, ...extra } });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-volumes-'));
  server = await startTestServer();
  admin = client(server.url, server.token);
  run = cliRunner(join(dir, 'config.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token, STRATUS_PROJECT: 'vols' });
  const created = await run(['project', 'create', 'vols', '--quota', 'volumes=2,storage=15Gi']);
  expect(created.code, created.stderr).toBe(0);
  expect((await admin('GET', '/v1/projects/vols')).body.spec.quotas).toEqual({ volumes: 2, storage: 15360 });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('volumes', () => {
  it('are created, listed, described and deleted through the CLI', async () => {
    writeFileSync(join(dir, 'data.yaml'), 'kind: volume\nmetadata:\n  name: data\nspec:\n  size: 10Gi\n');
    const created = await run(['apply', '-f', join(dir, 'data.yaml')]);
    expect([created.code, created.stdout]).toEqual([0, expect.stringMatching(/^volume\/data\s+created\n$/)]);

    const listed = await run(['get', 'volumes']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^NAME\s+TYPE\s+SIZE\s+NODE\s+PHASE\s+AGE\n/);
    expect(listed.stdout).toMatch(/\ndata\s+filesystem\s+10Gi\s+Pending\s+/);

    const described = await run(['describe', 'volume', 'data']);
    expect(described.code, described.stderr).toBe(0);
    expect(described.stdout).toMatch(/size: 10Gi/);
    expect(described.stdout).toMatch(/phase: Pending/);

    const got = await admin('GET', `${P}/volumes/data`);
    expect(got.body.spec).toEqual({ size: 10240, type: 'filesystem' });

    const deleted = await run(['delete', 'volume', 'data']);
    expect([deleted.code, deleted.stdout.trim()]).toEqual([0, 'volume/data deleted']);
    expect((await admin('GET', `${P}/volumes/data`)).status).toBe(404);
  });

  it('refuse a size that is not one, and a shrink', async () => {
    const bad = await admin('POST', `${P}/volumes`, volume('bad', '0'));
    expect([bad.status, bad.body.error.code]).toEqual([400, 'STRATUS_ERR_VALIDATION']);
    expect(bad.body.error.message).toMatch(/spec\.size/);

    expect((await admin('POST', `${P}/volumes`, volume('grow', '1Gi'))).status).toBe(201);
    const shrink = await admin('PUT', `${P}/volumes/grow`, volume('grow', '512Mi'));
    expect(shrink.status).toBe(422);
    expect(shrink.body.error.message).toMatch(/spec\.size: cannot shrink/);
    expect((await admin('PUT', `${P}/volumes/grow`, volume('grow', '2Gi'))).status).toBe(200);
    expect((await admin('DELETE', `${P}/volumes/grow`)).status).toBe(200);
  });

  it('cannot be deleted while an instance uses one; an instance names only volumes that exist', async () => {
    const missing = await admin('POST', `${P}/instances`, instance('uses-missing', { volumes: [{ volume: 'nope', path: '/data' }] }));
    expect([missing.status, missing.body.error.code]).toEqual([422, 'STRATUS_ERR_DEPENDENCY']);
    expect(missing.body.error.message).toMatch(/spec\.volumes\[0\]\.volume: volume "nope" not found in project "vols"/);

    expect((await admin('POST', `${P}/volumes`, volume('db', '1Gi'))).status).toBe(201);
    expect((await admin('POST', `${P}/instances`, instance('pg', { volumes: [{ volume: 'db', path: '/var/lib/pg' }] }))).status).toBe(201);

    const refused = await run(['delete', 'volume', 'db']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim()).toMatch(/^error: volume\/db: volume "db" of project "vols" is used by instance pg; delete them first \(STRATUS_ERR_DEPENDENCY\)$/);

    expect((await admin('DELETE', `${P}/instances/pg`)).status).toBe(200);
    await until('the instance gone', () => admin('GET', `${P}/instances/pg`).then((r) => r.status), (s) => s === 404, 10_000);
    expect((await admin('DELETE', `${P}/volumes/db`)).status).toBe(200);
  });

  it('count in the project\'s volumes and storage quotas, shown by describe project', async () => {
    expect((await admin('POST', `${P}/volumes`, volume('a', '10Gi'))).status).toBe(201);
    const tooBig = await admin('POST', `${P}/volumes`, volume('b', '6Gi'));
    expect([tooBig.status, tooBig.body.error.code]).toEqual([403, 'STRATUS_ERR_QUOTA_EXCEEDED']);
    expect(tooBig.body.error.details).toMatchObject({ quota: 'storage', used: 10240, asked: 6144, limit: 15360 });
    expect((await admin('POST', `${P}/volumes`, volume('b', '5Gi'))).status).toBe(201);
    const third = await admin('POST', `${P}/volumes`, volume('c', '1Mi'));
    expect(third.body.error).toMatchObject({ code: 'STRATUS_ERR_QUOTA_EXCEEDED', details: { quota: 'volumes', used: 2, asked: 1, limit: 2 } });

    const described = await until('usage counted', () => run(['describe', 'project', 'vols']), (r) => /storage\s+15Gi \/ 15Gi/.test(r.stdout), 10_000);
    expect(described.stdout).toMatch(/volumes\s+2 \/ 2/);
  });
});
