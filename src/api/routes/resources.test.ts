import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../server/main.js';
import { instanceKind, projectKind, tokenKind } from '../../model/kinds/index.js';
import type { Kind, StoredObject } from '../../model/kind.js';
import { parseSelector } from '../../model/labels.js';

/**
 * Reads by people and robots send the stored text as it is (no decode and encode): what they get
 * must be exactly what the decoded object would have been, filtered as before.
 */
const TOKEN = 'resources-test-token-0123456789';
let server: RunningServer;
let dir: string;
let viewer: string;

async function call(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; text: string; type: string | null }> {
  const res = await fetch(server.url + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') };
}

/** The list response as the decoding path wrote it, from the repository. */
async function decodedList(kind: Kind, options: { project?: string; selector?: string; limit?: number; continue?: string; visible?: (o: StoredObject) => boolean }): Promise<string> {
  const { visible, selector, ...rest } = options;
  const list = await server.repo.list(kind, { ...rest, ...(selector ? { selector: parseSelector(selector) } : {}), ...(visible ? { filter: visible } : {}) });
  return JSON.stringify(list);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-resources-'));
  server = await startServer({ dataDir: dir, port: 0, listen: '127.0.0.1', store: 'memory:', bootstrapToken: TOKEN });
  for (const name of ['team-a', 'team-b']) expect((await call(TOKEN, 'POST', '/v1/projects', { metadata: { name }, spec: {} })).status).toBe(201);
  for (let i = 0; i < 7; i++) {
    for (const project of ['team-a', 'team-b']) {
      const body = {
        kind: 'instance',
        // Annotations may hold any text, also text that looks like the JSON around it.
        metadata: { name: `i${i}`, labels: { app: i % 2 ? 'web' : 'db' }, annotations: { note: `"revision":${i}} ] \\" é \u2028` } },
        spec: { driver: 'process', command: ['sleep', '1'] },
      };
      expect((await call(TOKEN, 'POST', `/v1/projects/${project}/instances`, body)).status).toBe(201);
    }
  }
  expect((await call(TOKEN, 'POST', '/v1/users', { metadata: { name: 'vic' }, spec: { roles: [{ project: 'team-a', role: 'viewer' }] } })).status).toBe(201);
  viewer = JSON.parse((await call(TOKEN, 'POST', '/v1/tokens', { user: 'vic', name: 'vic-laptop' })).text).secret as string;
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('reads that send the stored text', () => {
  it('answer a get with exactly the decoded object, as JSON', async () => {
    const res = await call(TOKEN, 'GET', '/v1/projects/team-a/instances/i3');
    expect(res.status).toBe(200);
    expect(res.type).toBe('application/json; charset=utf-8');
    expect(res.text).toBe(JSON.stringify(await server.repo.get(instanceKind, 'i3', 'team-a')));
    expect(JSON.parse(res.text).metadata.revision).toBeGreaterThan(0);
  });

  it('answer lists, pages and selectors with exactly the decoded objects', async () => {
    const cases = [
      { path: '/v1/projects/team-a/instances', options: { project: 'team-a' } },
      { path: '/v1/instances?selector=app%3Dweb', options: { selector: 'app=web' } },
      { path: '/v1/instances?limit=3', options: { limit: 3 } },
    ];
    for (const c of cases) {
      const res = await call(TOKEN, 'GET', c.path);
      expect(res.status).toBe(200);
      expect(res.text, c.path).toBe(await decodedList(instanceKind, c.options));
    }
    const first = JSON.parse((await call(TOKEN, 'GET', '/v1/instances?limit=4&selector=app%3Ddb')).text) as { continue: string };
    const second = await call(TOKEN, 'GET', `/v1/instances?limit=4&selector=app%3Ddb&continue=${first.continue}`);
    expect(second.text).toBe(await decodedList(instanceKind, { limit: 4, selector: 'app=db', continue: first.continue }));
    expect(JSON.parse(second.text).items.map((o: StoredObject) => `${o.metadata.project}/${o.metadata.name}`)).toEqual(['team-b/i0', 'team-b/i2', 'team-b/i4', 'team-b/i6']);
  });

  it('still show a viewer only what it may read: its project\'s objects, itself and its own tokens', async () => {
    const inProject = (o: StoredObject) => o.metadata.project === 'team-a';
    expect((await call(viewer, 'GET', '/v1/instances?limit=5')).text).toBe(await decodedList(instanceKind, { limit: 5, visible: inProject }));
    expect((await call(viewer, 'GET', '/v1/projects/team-a/instances/i1')).text).toBe(JSON.stringify(await server.repo.get(instanceKind, 'i1', 'team-a')));
    expect((await call(viewer, 'GET', '/v1/projects/team-b/instances/i1')).status).toBe(403);
    expect((await call(viewer, 'GET', '/v1/projects')).text).toBe(await decodedList(projectKind, { visible: (o) => o.metadata.name === 'team-a' }));
    expect((await call(viewer, 'GET', '/v1/projects/team-b')).status).toBe(404);
    // Tokens are visible by their spec (whose they are): the whole object is read for that.
    const tokens = JSON.parse((await call(viewer, 'GET', '/v1/tokens')).text) as { items: StoredObject<{ user?: string }>[] };
    expect(tokens.items.map((t) => t.metadata.name)).toEqual(['vic-laptop']);
    expect(JSON.stringify(tokens)).toBe(await decodedList(tokenKind, { visible: (o) => (o.spec as { user?: string }).user === 'vic' }));
  });
});
