/**
 * A project's cascade delete as a controller: the request marks the project Deleting (202) with
 * what it waits for, `stratus describe project` shows that, nothing new can be created in it, and
 * the project-delete controller (started when the test says, so the Deleting state can be seen)
 * empties it owners first and deletes it, each delete audited.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/server/main.js';
import { ProjectDeleteController } from '../src/controllers/project-delete.js';
import { cliRunner } from './helpers/cli.js';
import { until } from './helpers/processes.js';

const TOKEN = 'project-delete-test-token-0123456789';
let server: RunningServer;
let dir: string;
let cli: ReturnType<typeof cliRunner>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read field by field as the assertions need
async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(server.url + path, { method, headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const instance = (name: string) => ({ kind: 'instance', metadata: { name }, spec: { driver: 'process', command: ['sleep', '60'] } });
const service = (name: string) => ({ kind: 'service', metadata: { name }, spec: { replicas: 0, template: { spec: { driver: 'process', command: ['sleep', '60'] } } } });

/** A controller for the server's store, not started: the test starts it once it has seen the Deleting state. */
const controllerOf = (s: RunningServer) => new ProjectDeleteController(s.repo, { audit: s.audit, secrets: s.secrets, admission: s.admission }, { retryMs: 10, resyncMs: 60_000 });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-project-delete-'));
  // No components: no controller runs unless the test starts one.
  server = await startServer({ dataDir: dir, port: 0, listen: '127.0.0.1', store: 'memory:', bootstrapToken: TOKEN });
  cli = cliRunner(join(dir, 'cli.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: TOKEN });
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('a project cascade delete', () => {
  it('marks the project Deleting with what it waits for, which describe shows, and refuses anything new in it', async () => {
    expect((await call('POST', '/v1/projects', { metadata: { name: 'doomed' }, spec: {} })).status).toBe(201);
    for (const name of ['a', 'b', 'c']) expect((await call('POST', '/v1/projects/doomed/instances', instance(name))).status).toBe(201);
    expect((await call('POST', '/v1/projects/doomed/services', service('web'))).status).toBe(201);

    const marked = await call('DELETE', '/v1/projects/doomed?cascade=true');
    expect(marked.status).toBe(202);
    expect(marked.body.status.phase).toBe('Deleting');
    expect(marked.body.status.deletion.waitingFor).toEqual([{ kind: 'instance', count: 3, names: ['a', 'b', 'c'] }, { kind: 'service', count: 1, names: ['web'] }]);
    // Asked again: the same mark, not a second one.
    const again = await call('DELETE', '/v1/projects/doomed?cascade=true');
    expect([again.status, again.body.metadata.revision]).toEqual([202, marked.body.metadata.revision]);

    const described = await cli(['describe', 'project', 'doomed']);
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/\nPhase: +Deleting\n/);
    expect(described.stdout).toContain('\n  waiting for 3 instances (a, b, c)\n  waiting for 1 service (web)\n');

    const refused = await call('POST', '/v1/projects/doomed/instances', instance('late'));
    expect([refused.status, refused.body.error.code]).toEqual([409, 'STRATUS_ERR_PROJECT_DELETING']);
    expect(refused.body.error.message).toMatch(/project "doomed" is Deleting: nothing new can be created in it/);
    const viaCli = await cli(['-p', 'doomed', 'apply', '-f', '-'], 'instances:\n  late: {driver: process, command: [sleep, "1"]}\n');
    expect([viaCli.code, viaCli.stdout]).toEqual([1, '']);
    expect(viaCli.stderr).toContain('project "doomed" is Deleting: nothing new can be created in it');
  });

  it('the controller, started after the mark, empties the project owners first and then deletes it, each delete audited', async () => {
    const controller = controllerOf(server);
    await controller.start();
    try {
      await until('the project to go', async () => (await call('GET', '/v1/projects/doomed')).status, (s) => s === 404);
    } finally {
      await controller.stop();
    }
    expect((await call('GET', '/v1/instances')).body.items.filter((i: { metadata: { project: string } }) => i.metadata.project === 'doomed')).toEqual([]);
    const audit = (await call('GET', '/v1/audit?limit=100')).body.items as { actor: string; action: string; kind?: string; name?: string; status: number }[];
    const deletes = audit.filter((e) => e.actor === 'system:project-delete').reverse().map((e) => `${e.action} ${e.kind}/${e.name}`);
    expect(deletes).toEqual(['cascade-delete service/web', 'cascade-delete instance/a', 'cascade-delete instance/b', 'cascade-delete instance/c', 'delete project/doomed']);
    expect(audit.find((e) => e.action === 'delete' && e.kind === 'project' && e.actor !== 'system:project-delete')).toMatchObject({ status: 202 });
  });

  it('the OpenAPI document gives a project\'s delete both answers: 200 (deleted) and 202 (marked Deleting)', async () => {
    const doc = (await call('GET', '/openapi.json')).body;
    expect(Object.keys(doc.paths['/v1/projects/{project}'].delete.responses)).toEqual(expect.arrayContaining(['200', '202']));
    expect(doc.paths['/v1/projects/{project}/instances/{name}'].delete.responses['202']).toBeUndefined();
  });

  it('a project that holds nothing is deleted at once (200), as before', async () => {
    expect((await call('POST', '/v1/projects', { metadata: { name: 'empty' }, spec: {} })).status).toBe(201);
    const res = await call('DELETE', '/v1/projects/empty?cascade=true');
    expect([res.status, res.body.metadata.name]).toEqual([200, 'empty']);
    expect((await call('GET', '/v1/projects/empty')).status).toBe(404);
  });
});
