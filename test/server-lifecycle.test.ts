/**
 * The server's own life: SIGTERM with open watches and a stalled client, a second signal, a first
 * start that fails (port in use), and a data directory nobody else can read.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, client, BIN, ADMIN_TOKEN, type TestServer } from './helpers/server.js';
import { exitOf, until } from './helpers/processes.js';
import { readEvents, type WatchMessage } from '../src/client/index.js';

/** Reads a watch stream in the background; `messages` fills as events come. */
function openWatch(server: TestServer, path: string) {
  const messages: WatchMessage[] = [];
  const done = fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${server.token}` } }).then(async (res) => {
    for await (const m of readEvents(res.body!)) messages.push(m);
  }).catch(() => undefined);
  return { messages, done };
}

/** A raw connection that sent half a request and then nothing. */
async function stalledRequest(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const sock = connect(Number(port), hostname);
  await new Promise((r) => sock.once('connect', r));
  sock.on('error', () => undefined);
  sock.write('GET /v1/projects HTTP/1.1\r\nHost: x\r\n');
  return sock;
}

describe('server lifecycle', () => {
  it('stops on SIGTERM with watches open and a stalled client, exit 0, and keeps its data', async () => {
    const server = await startTestServer();
    const api = client(server.url, server.token);
    expect((await api('POST', '/v1/projects', { metadata: { name: 'kept' }, spec: {} })).status).toBe(201);
    const watches = [openWatch(server, '/v1/projects?watch=true&revision=0'), openWatch(server, '/v1/nodes?watch=true')];
    await until('the watches replay', async () => watches[0]!.messages.length, (n) => n >= 3);
    const stalled = await stalledRequest(server.url);

    server.proc.kill('SIGTERM');
    // Generous: it tells "exits" from "hangs forever" (it hung past 60 s before).
    expect(await exitOf(server.proc, 20_000)).toEqual({ code: 0, signal: null });
    await Promise.all(watches.map((w) => w.done));
    const last = watches[0]!.messages.at(-1)!;
    // a bookmark, not a resync: the client resumes from there (here, or on another server of the store)
    expect(last).toMatchObject({ type: 'bookmark', reason: 'the server is shutting down' });
    expect(last.revision).toBeGreaterThan(0);
    stalled.destroy();

    const again = await startTestServer({ dataDir: server.dataDir });
    try {
      expect((await client(again.url, again.token)('GET', '/v1/projects/kept')).status).toBe(200);
    } finally {
      await again.stop();
      again.cleanup();
    }
  });

  it('exits at once on a second signal while the first stop waits', async () => {
    const server = await startTestServer();
    const stalled = await stalledRequest(server.url);
    server.proc.kill('SIGTERM');
    await until('the stop begins', async () => server.output(), (o) => o.includes('stopping Stratus'));
    server.proc.kill('SIGTERM');
    expect(await exitOf(server.proc, 20_000)).toEqual({ code: 1, signal: null });
    expect(server.output()).toContain('SIGTERM again: exiting now');
    stalled.destroy();
    await server.stop();
    server.cleanup();
  });

  it('creates the cluster only on a start that serves: after a port-in-use failure the next start shows a working admin token', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as { port: number }).port;
    const dataDir = mkdtempSync(join(tmpdir(), 'stratus-first-'));
    const env = { ...process.env, STRATUS_BOOTSTRAP_TOKEN: undefined };
    const failed = spawnSync(process.execPath, [BIN, 'server', '--data-dir', dataDir, '--port', String(port), '--no-agent'], { env, encoding: 'utf8', timeout: 60_000 });
    taken.close();
    expect(failed.status).toBe(1);
    expect(failed.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^error: the server did not start: .*(EADDRINUSE|in use)/)]);
    expect(failed.stdout).not.toContain('Admin token');

    const second = await startTestServer({ dataDir, env: { STRATUS_BOOTSTRAP_TOKEN: undefined as unknown as string } });
    try {
      const token = /Admin token[^\n]*\n\s+(stratus_\S+)/.exec(second.output())?.[1];
      expect(token, second.output()).toBeDefined();
      expect((await client(second.url, token)('GET', '/v1/projects')).status).toBe(200);
      expect((await client(second.url, ADMIN_TOKEN)('GET', '/v1/projects')).status).toBe(401);
    } finally {
      await second.stop();
    }
    // The cluster exists now: a third start shows no token.
    const third = await startTestServer({ dataDir, env: { STRATUS_BOOTSTRAP_TOKEN: undefined as unknown as string } });
    expect(third.output()).toContain('existing cluster');
    await third.stop();
    third.cleanup();
  });

  it('keeps its data directory to itself (0700, files 0600), also one an older version left readable', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'stratus-perm-')), 'data');
    mkdirSync(join(dataDir, 'blobs'), { recursive: true, mode: 0o755 });
    chmodSync(dataDir, 0o755);
    writeFileSync(join(dataDir, 'blobs', 'sha256-00'), 'an image from before', { mode: 0o644 });
    const first = await startTestServer({ dataDir });
    expect((await client(first.url, first.token)('POST', '/v1/projects', { metadata: { name: 'p' }, spec: {} })).status).toBe(201);
    const modes = () => Object.fromEntries(['.', 'stratus.db', 'stratus.db-wal', 'stratus.db-shm', 'stratus.db.lock', 'blobs', 'blobs/sha256-00']
      .map((f) => [f, (statSync(join(dataDir, f)).mode & 0o777).toString(8)]));
    const expected = { '.': '700', 'stratus.db': '600', 'stratus.db-wal': '600', 'stratus.db-shm': '600', 'stratus.db.lock': '600', blobs: '700', 'blobs/sha256-00': '600' };
    expect(modes()).toEqual(expected);
    if (process.getuid?.() === 0) {
      const asNobody = spawnSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', 'cat', join(dataDir, 'stratus.db')], { encoding: 'utf8' });
      expect(asNobody.status).not.toBe(0);
      expect(asNobody.stderr).toMatch(/Permission denied/);
    }
    await first.kill();

    // What an older version left: everything readable by all.
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, 'blobs'), 0o755);
    for (const f of readdirSync(dataDir)) if (f.startsWith('stratus.db')) chmodSync(join(dataDir, f), 0o644);
    chmodSync(join(dataDir, 'blobs', 'sha256-00'), 0o644);
    const second = await startTestServer({ dataDir });
    try {
      expect(modes()).toEqual(expected);
    } finally {
      await second.stop();
      rmSync(join(dataDir, '..'), { recursive: true, force: true });
    }
  });
});
