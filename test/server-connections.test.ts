/**
 * The API server's connections: stalled, idle and unauthenticated clients are closed or refused;
 * watches stay open past every timeout and resume from the standard Last-Event-ID header.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect, type Socket } from 'node:net';
import { startTestServer, client, type TestServer } from './helpers/server.js';
import { sleep, until } from './helpers/processes.js';
import { readEvents, type WatchMessage } from '../src/client/index.js';

// The idle timeout is the longest, so that the request timeout is what ends a stalled body.
const SHORT = ['--headers-timeout', '1s', '--request-timeout', '2s', '--keep-alive-timeout', '1s', '--idle-timeout', '4s'];
/** Far longer than every timeout above: a connection still open by then was never going to close. */
const DEADLINE_MS = 15_000;

let server: TestServer;
let api: ReturnType<typeof client>;

beforeAll(async () => {
  server = await startTestServer({ args: SHORT });
  api = client(server.url, server.token);
  expect((await api('POST', '/v1/projects', { metadata: { name: 'conn' }, spec: {} })).status).toBe(201);
});

afterAll(async () => {
  await server?.stop();
  server?.cleanup();
});

interface Raw { sock: Socket; data: () => string; closed: Promise<boolean> }

/** A raw TCP connection; `closed` resolves true when the server closes it, false at DEADLINE_MS. */
async function raw(url = server.url): Promise<Raw> {
  const { hostname, port } = new URL(url);
  const sock = connect(Number(port), hostname);
  let data = '';
  sock.on('data', (d) => (data += d.toString()));
  sock.on('error', () => undefined);
  const closed = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), DEADLINE_MS);
    sock.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  await new Promise((r) => sock.once('connect', r));
  return { sock, data: () => data, closed };
}

const authed = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.token}\r\n${extra}\r\n`;

describe('connection limits', () => {
  it('closes a request whose headers stall', async () => {
    const c = await raw();
    c.sock.write('GET /v1/projects HTTP/1.1\r\nHost: x\r\n');
    expect(await c.closed).toBe(true);
  });

  it('closes a request whose body stalls, with 408', async () => {
    const c = await raw();
    c.sock.write(`PUT /v1/projects/conn HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"metadata":`);
    expect(await c.closed).toBe(true);
    expect(c.data()).toMatch(/^HTTP\/1\.1 408/);
  });

  it('closes a connection that sends nothing, and an idle keep-alive one', async () => {
    const silent = await raw();
    const kept = await raw();
    kept.sock.write(authed('/v1/projects/conn'));
    await until('the answer', async () => kept.data(), (d) => d.includes('"name":"conn"'));
    expect(await silent.closed).toBe(true);
    expect(await kept.closed).toBe(true);
  });

  it('refuses more unauthenticated connections from one address than allowed, until one authenticates', async () => {
    const limited = await startTestServer({ args: ['--max-unauthenticated-connections', '4'] });
    const raw4 = () => raw(limited.url);
    const held = await Promise.all([raw4(), raw4(), raw4(), raw4()]);
    const refused = await raw4();
    expect(await refused.closed).toBe(true);
    expect(refused.data()).toMatch(/^HTTP\/1\.1 429[^]*STRATUS_ERR_RATE_LIMITED[^]*too many unauthenticated connections/);

    held[0]!.sock.write(authed('/v1/projects/conn'));
    await until('the answer', async () => held[0]!.data(), (d) => d.startsWith('HTTP/1.1 404'));
    const admitted = await raw4();
    admitted.sock.write(authed('/v1/projects/conn'));
    await until('an answer on the new connection', async () => admitted.data(), (d) => d.startsWith('HTTP/1.1 404'));
    for (const c of [...held, admitted]) c.sock.destroy();
    await limited.stop();
    limited.cleanup();
  });

  it('keeps a watch open past every timeout', async () => {
    const messages: WatchMessage[] = [];
    const controller = new AbortController();
    const res = await fetch(`${server.url}/v1/projects/conn/instances?watch=true`, { headers: { authorization: `Bearer ${server.token}` }, signal: controller.signal });
    const reading = (async () => {
      for await (const m of readEvents(res.body!)) messages.push(m);
    })().catch(() => undefined);
    // Longer than the idle and request timeouts, shorter than a bookmark (15 s): nothing flows.
    await sleep(6_000);
    const created = await api('POST', '/v1/projects/conn/instances', { metadata: { name: 'late' }, spec: { driver: 'process', command: ['true'], resources: { cpu: '10m', memory: '8Mi' } } });
    expect(created.status).toBe(201);
    await until('the event on the old stream', async () => messages, (m) => m.some((x) => x.type === 'put'), 5_000);
    controller.abort();
    await reading;
  });
});

describe('Last-Event-ID', () => {
  it('resumes a watch after the revision the header names, over ?revision', async () => {
    const revs: number[] = [];
    for (const name of ['a', 'b', 'c']) {
      const r = await api('POST', '/v1/projects/conn/instances', { metadata: { name }, spec: { driver: 'process', command: ['true'], resources: { cpu: '10m', memory: '8Mi' } } });
      revs.push(r.body.metadata.revision);
    }
    const c = await raw();
    c.sock.write(authed('/v1/projects/conn/instances?watch=true&revision=0', `Last-Event-ID: ${revs[0]}\r\n`));
    const text = await until('the event of c', async () => c.data(), (d) => d.includes(`id: ${revs[2]}\n`));
    c.sock.destroy();
    // Every event names its revision, so that a reconnecting client can say where it was.
    const events = text.split('\n\n').filter((b) => /\nevent: (put|delete)\n/.test(`\n${b}\n`));
    const ids = events.map((b) => Number(/^id: (\d+)$/m.exec(b)?.[1]));
    expect(ids.every((id) => id > revs[0]!), ids.join(',')).toBe(true);
    expect(ids).toEqual(expect.arrayContaining([revs[1], revs[2]]));
  });

  it('refuses a Last-Event-ID that is not a revision', async () => {
    const res = await api('GET', '/v1/projects/conn/instances?watch=true', undefined, { 'last-event-id': 'yesterday' });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/^header\.last-event-id: "yesterday" is not a revision/);
  });
});
