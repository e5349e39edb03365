import { describe, it, expect, afterEach } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../server/main.js';
import { readEvents, type WatchMessage } from '../../client/index.js';

const TOKEN = 'watch-test-token-0123456789';
let server: RunningServer | undefined;
let dir: string | undefined;

afterEach(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('watch streams', () => {
  it('answer a watch from below the compacted revision with one resync, and end', async () => {
    dir = mkdtempSync(join(tmpdir(), 'stratus-watch-'));
    server = await startServer({ dataDir: dir, port: 0, listen: '127.0.0.1', store: 'memory:', bootstrapToken: TOKEN });
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    for (const name of ['a', 'b', 'c']) await fetch(`${server.url}/v1/projects`, { method: 'POST', headers, body: JSON.stringify({ metadata: { name }, spec: {} }) });
    await server.backend.compact((await server.backend.revision()) - 1);
    const res = await fetch(`${server.url}/v1/projects?watch=true&revision=1`, { headers });
    const got: WatchMessage[] = [];
    for await (const msg of readEvents(res.body!)) got.push(msg); // ends: the stream closes
    expect(got.map((m) => m.type)).toEqual(['resync']);
    expect(got[0]!.reason).toMatch(/revision 1 was compacted/);
  });
});
