/** The typed client against a real API (in process, memory store): every verb of a kind, and the routes beside them. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../server/main.js';
import { instanceKind, nodeKind, projectKind, userKind } from '../model/kinds/index.js';
import { ApiClient, ApiError } from './index.js';
import { createToken, listMembers, setMember, whoami } from './routes.js';
import type { ObjectWatchMessage } from './resources.js';
import type { Instance } from '../model/kinds/instance.js';

const TOKEN = 'client-test-token-0123456789';
let server: RunningServer;
let dir: string;
let api: ApiClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-client-'));
  server = await startServer({ dataDir: dir, port: 0, listen: '127.0.0.1', store: 'memory:', bootstrapToken: TOKEN });
  api = new ApiClient(server.url, TOKEN);
  await api.resources(projectKind).create({ metadata: { name: 'shop' }, spec: {} });
});

afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const spec = { driver: 'process', command: ['sleep', '60'], resources: { cpu: '100m', memory: '64Mi' } };

describe('the typed client of a kind', () => {
  it('creates, reads, lists, replaces, patches, writes status and deletes', async () => {
    const instances = api.resources(instanceKind, 'shop');
    const created: Instance = await instances.create({ metadata: { name: 'web', labels: { app: 'web' } }, spec });
    expect(created.status?.phase).toBe('Pending');
    expect((await instances.get('web')).spec.resources.cpu).toBe(100);
    expect(await instances.find('nope')).toBeUndefined();
    await instances.create({ metadata: { name: 'db', labels: { app: 'db' } }, spec });
    expect((await instances.list({ selector: 'app=web' })).items.map((i) => i.metadata.name)).toEqual(['web']);
    const first = await instances.page({ limit: 1 });
    expect([first.items.length, typeof first.continue]).toEqual([1, 'string']);
    expect((await api.resources(instanceKind).list()).items).toHaveLength(2);

    const dry = await instances.patch('web', { spec: { priority: 5 } }, { dryRun: true });
    expect(dry.spec.priority).toBe(5);
    expect((await instances.get('web')).spec.priority).toBe(0);
    const patched = await instances.patch('web', { spec: { priority: 5 } });
    const replaced = await instances.replace('web', { metadata: { name: 'web', labels: { app: 'web', v: '2' }, revision: patched.metadata.revision }, spec: { ...spec, priority: 5 } });
    expect(replaced.metadata.labels).toEqual({ app: 'web', v: '2' });

    const failed = await instances.writeStatus('web', { phase: 'Failed', reason: 'Test' }, { revision: replaced.metadata.revision });
    expect(failed.status?.phase).toBe('Failed');
    await expect(instances.writeStatus('web', { phase: 'Running' }, { revision: replaced.metadata.revision })).rejects.toMatchObject({ code: 'STRATUS_ERR_CONFLICT' });

    expect((await instances.delete('db')).metadata.name).toBe('db');
    await expect(instances.get('db')).rejects.toBeInstanceOf(ApiError);
  });

  it('watches from a revision, with typed objects', async () => {
    const nodes = api.resources(nodeKind);
    const { revision } = await nodes.list();
    const seen: ObjectWatchMessage<{ metadata: { name: string } }>[] = [];
    const stop = new AbortController();
    const done = nodes.watch(revision, (m) => {
      seen.push(m);
      if (m.type === 'put') stop.abort();
    }, stop.signal);
    await nodes.create({ metadata: { name: 'n1' }, spec: {} });
    await done;
    expect(seen.map((m) => [m.type, m.object?.metadata.name])).toEqual([['put', 'n1']]);
  });

  it('refuses an item of a project kind without a project, before any request', async () => {
    expect(() => api.resources(instanceKind).get('web')).toThrow('no project given');
  });
});

describe('the routes beside the kinds', () => {
  it('say who the caller is, make tokens and manage members', async () => {
    expect(await whoami(api)).toMatchObject({ clusterAdmin: true });
    await api.resources(userKind).create({ metadata: { name: 'alice' }, spec: {} });
    expect(await setMember(api, 'shop', 'alice', 'viewer')).toEqual({ user: 'alice', role: 'viewer' });
    expect(await listMembers(api, 'shop')).toEqual([{ user: 'alice', role: 'viewer' }]);
    const issued = await createToken(api, { user: 'alice', expiresIn: '1h' });
    const alice = new ApiClient(server.url, issued.secret);
    expect((await whoami(alice)).roles).toEqual([{ project: 'shop', role: 'viewer' }]);
    await expect(alice.resources(instanceKind, 'shop').create({ metadata: { name: 'x' }, spec })).rejects.toMatchObject({ status: 403, code: 'STRATUS_ERR_FORBIDDEN' });
  });
});
