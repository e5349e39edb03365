/** The client with several servers, against small local servers that refuse, reset, hang or answer STORE_UNAVAILABLE. */
import { describe, it, expect, afterEach } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { WebSocketServer } from 'ws';
import { ApiClient, ApiError, ConnectionError, type WatchMessage } from './index.js';
import { answer, fakeServer, refusingUrl, resetMidBody, resetMidRequest, silent, storeUnavailable, type FakeServer, type Handler } from './failover-testing.js';

const open: FakeServer[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function serve(handler: Handler): Promise<FakeServer> {
  const s = await fakeServer(handler);
  open.push(s);
  return s;
}

const ok = answer(200, { ok: true });

describe('a client with several servers', () => {
  it('moves on from a refusing server, for reads and writes, and then uses the one that worked', async () => {
    const dead = await refusingUrl();
    const live = await serve(ok);
    const api = new ApiClient([dead, live.url], 't');
    expect(await api.get('/v1/x')).toEqual({ ok: true });
    expect(api.server).toBe(live.url);
    expect(await api.request('POST', '/v1/x', { body: { a: 1 } })).toEqual({ ok: true });
    expect(live.hits).toEqual(['GET /v1/x', 'POST /v1/x']);
    expect(live.bodies[1]).toBe('{"a":1}');
  });

  it('starts with the server that last answered', async () => {
    const a = await serve(storeUnavailable);
    const b = await serve(ok);
    const api = new ApiClient([a.url, b.url], 't');
    await api.get('/v1/x');
    await api.get('/v1/y');
    expect(a.hits).toEqual(['GET /v1/x']);
    expect(b.hits).toEqual(['GET /v1/x', 'GET /v1/y']);
  });

  it('retries a read after a reset, before or in the middle of the answer', async () => {
    for (const broken of [resetMidRequest, resetMidBody]) {
      const a = await serve(broken);
      const b = await serve(ok);
      expect(await new ApiClient([a.url, b.url], 't').get('/v1/x')).toEqual({ ok: true });
      expect([a.hits, b.hits]).toEqual([['GET /v1/x'], ['GET /v1/x']]);
    }
  });

  it('never sends a write again after a reset: the ConnectionError names the server', async () => {
    for (const broken of [resetMidRequest, resetMidBody]) {
      const a = await serve(broken);
      const b = await serve(ok);
      const err = await new ApiClient([a.url, b.url], 't').request('POST', '/v1/x', { body: {} }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as Error).message).toMatch(new RegExp(`^cannot reach the server at ${a.url}: .*; not sent to another server: the request may have been applied$`));
      expect(b.hits).toEqual([]);
    }
  });

  it('moves on after a 503 STORE_UNAVAILABLE for reads only; other errors are answers', async () => {
    const a = await serve(storeUnavailable);
    const b = await serve(ok);
    expect(await new ApiClient([a.url, b.url], 't').get('/v1/x')).toEqual({ ok: true });
    const write = await new ApiClient([a.url, b.url], 't').request('PUT', '/v1/x', { body: {} }).catch((e: unknown) => e);
    expect(write).toMatchObject({ status: 503, code: 'STRATUS_ERR_STORE_UNAVAILABLE' });
    const c = await serve(answer(503, { error: { code: 'STRATUS_ERR_UNAVAILABLE', message: 'not ready' } }));
    const other = await new ApiClient([c.url, b.url], 't').get('/v1/x').catch((e: unknown) => e);
    expect(other).toBeInstanceOf(ApiError);
    expect(b.hits).toEqual(['GET /v1/x']);
  });

  it('gives up a read that gets no answer in time', async () => {
    const a = await serve(silent);
    const b = await serve(ok);
    expect(await new ApiClient([a.url, b.url], 't', { answerTimeoutMs: 200 }).get('/v1/x')).toEqual({ ok: true });
    expect(a.hits).toEqual(['GET /v1/x']);
  });

  it('names every server when none answers', async () => {
    const [a, b] = [await refusingUrl(), await refusingUrl()];
    const c = await serve(storeUnavailable);
    const err = await new ApiClient([a, b], 't').get('/v1/x').catch((e: unknown) => e);
    expect((err as Error).message).toBe(`cannot reach the servers at ${a} (connection refused), ${b} (connection refused) (is \`stratus server\` running?)`);
    // The last answer was STORE_UNAVAILABLE: that is the error.
    expect(await new ApiClient([a, c.url], 't').get('/v1/x').catch((e: unknown) => e)).toMatchObject({ code: 'STRATUS_ERR_STORE_UNAVAILABLE' });
  });

  it('uploads to the next server when the first refused, with the whole body', async () => {
    const dead = await refusingUrl();
    const live = await serve(ok);
    await new ApiClient([dead, live.url], 't').upload('/v1/x', Readable.from([Buffer.from('abc'), Buffer.from('def')]));
    expect(live.bodies).toEqual(['abcdef']);
  });

  it('opens a WebSocket on a live server, but not after a reset (what it opens may have started)', async () => {
    const dead = await refusingUrl();
    const reset = await serve(resetMidRequest);
    const wss = new WebSocketServer({ noServer: true });
    const server = createServer();
    let upgrades = 0;
    server.on('upgrade', (req, sock, head) => wss.handleUpgrade(req, sock, head, (ws) => (upgrades++, ws.close(1000))));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const ws = await new ApiClient([dead, url], 't').socket('/v1/x', {});
      ws.terminate();
      expect(upgrades).toBe(1);
      await expect(new ApiClient([reset.url, url], 't').socket('/v1/x', {})).rejects.toThrow(new RegExp(`^cannot reach the server at ${reset.url}: `));
      expect(upgrades).toBe(1);
    } finally {
      wss.close();
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('a watch with several servers', () => {
  /** Streams `events` as server-sent events from `from` on, then does `end`. */
  function events(revisions: number[], end: 'reset' | 'hang'): Handler {
    return (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const r of revisions) res.write(`id: ${r}\nevent: put\ndata: ${JSON.stringify({ type: 'put', object: { r } })}\n\n`);
      if (end === 'reset') setTimeout(() => req.socket.resetAndDestroy(), 50);
    };
  }

  it.each(['reset', 'hang'] as const)('resumes on the next server from its last revision when the stream breaks or goes silent (%s)', async (end) => {
    const a = await serve(events([5, 6], end));
    const b = await serve(events([7], 'hang'));
    const seen: WatchMessage[] = [];
    const stop = new AbortController();
    const api = new ApiClient([a.url, b.url], 't', { watchIdleMs: 300 });
    const done = api.watch('/v1/instances', 4, {}, (m) => {
      seen.push(m);
      if (m.revision === 7) stop.abort();
    }, stop.signal);
    await done;
    expect(seen.map((m) => m.revision)).toEqual([5, 6, 7]);
    expect(a.hits).toEqual(['GET /v1/instances?watch=true&revision=4']);
    expect(b.hits).toEqual(['GET /v1/instances?watch=true&revision=6']);
  });

  it('moves on when the first server answers STORE_UNAVAILABLE', async () => {
    const a = await serve(storeUnavailable);
    const b = await serve(events([3], 'hang'));
    const stop = new AbortController();
    await new ApiClient([a.url, b.url], 't').watch('/v1/nodes', 2, {}, () => stop.abort(), stop.signal);
    expect(b.hits).toEqual(['GET /v1/nodes?watch=true&revision=2']);
  });
});
