/**
 * Fires generated bad requests at a real server: every one must get a 4xx with a catalog code,
 * none a 5xx, and the server must stay healthy. Seeded, so a failure replays.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fc from 'fast-check';
import { connect } from 'node:net';
import { startTestServer, client, instance, type TestServer } from './helpers/server.js';

let server: TestServer;
const SEED = 20261122;

interface BadRequest {
  category: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

beforeAll(async () => {
  server = await startTestServer();
  const admin = client(server.url, server.token);
  expect((await admin('POST', '/v1/projects', { metadata: { name: 'fuzz' }, spec: {} })).status).toBe(201);
  expect((await admin('POST', '/v1/projects/fuzz/instances', instance('existing'))).status).toBe(201);
});

afterAll(async () => {
  await server.stop();
  server.cleanup();
});

const auth = () => ({ authorization: `Bearer ${server.token}` });
const json = () => ({ ...auth(), 'content-type': 'application/json' });
const writePaths = ['/v1/projects/fuzz/instances', '/v1/projects', '/v1/nodes', '/v1/users', '/v1/tokens'];
const itemPaths = ['/v1/projects/fuzz/instances/existing', '/v1/projects/fuzz'];

/** A valid instance with exactly one field made invalid. */
const brokenInstance = fc.oneof(
  fc.string().filter((s) => !['process', 'container', 'vm'].includes(s)).map((d) => ['spec.driver', d] as const),
  fc.string().filter((s) => !/^\d+(\.\d+)?m?$/.test(s)).map((v) => ['spec.resources.cpu', v] as const),
  fc.string({ minLength: 1 }).filter((s) => !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(s)).map((v) => ['metadata.name', v] as const),
  fc.oneof(fc.integer({ max: -1 }), fc.integer({ min: 1_000_001 })).map((v) => ['spec.priority', v] as const),
  fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 65536 })).map((p) => ['spec.ports', [{ port: p }]] as const),
  fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !['driver', 'image', 'command', 'args', 'env', 'workdir', 'resources', 'ports', 'placement', 'priority', 'restartPolicy', 'gracePeriod', '__proto__'].includes(k)).map((k) => [`spec.${k}`, 1] as const),
  fc.anything().filter((v) => !Array.isArray(v) || v.some((x) => typeof x !== 'string')).map((v) => ['spec.command', v ?? 1] as const),
  fc.constantFrom<unknown>(null, 5, 'text', [], true).map((v) => ['spec', v] as const),
);

function setPath(obj: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const parts = path.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) cur = (cur[p] ??= {}) as Record<string, unknown>;
  cur[parts.at(-1)!] = value;
  return obj;
}

function generators(): fc.Arbitrary<BadRequest>[] {
  const method = fc.constantFrom('POST', 'PUT');
  return [
    fc.tuple(fc.constantFrom(...writePaths), fc.string()).filter(([, b]) => { try { JSON.parse(b); return false; } catch { return b.length > 0; } })
      .map(([path, body]) => ({ category: 'malformed JSON', method: 'POST', path, headers: json(), body })),
    fc.tuple(fc.constantFrom(...writePaths), fc.jsonValue())
      // {} asks for a token for oneself, which is valid; every other shape here is not.
      .filter(([path, v]) => !(path === '/v1/tokens' && typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0))
      .map(([path, v]) => ({ category: 'wrong JSON shape', method: 'POST', path, headers: json(), body: JSON.stringify(v) })),
    fc.tuple(brokenInstance, method).map(([[path, value], m]) => ({
      category: 'one invalid field', method: m, path: m === 'POST' ? '/v1/projects/fuzz/instances' : '/v1/projects/fuzz/instances/existing', headers: json(),
      body: JSON.stringify(setPath(structuredClone(instance('existing')) as Record<string, unknown>, path, value)),
    })),
    fc.tuple(fc.constantFrom('text/plain', 'application/xml', 'multipart/form-data', 'application/x-www-form-urlencoded', 'image/png', 'foo/bar', 'application/javascript'), fc.constantFrom(...writePaths))
      .map(([ct, path]) => ({ category: 'wrong content type', method: 'POST', path, headers: { ...auth(), 'content-type': ct }, body: JSON.stringify(instance('x')) })),
    fc.tuple(fc.constantFrom(...writePaths), fc.integer({ min: 1_100_000, max: 1_500_000 }))
      .map(([path, n]) => ({ category: 'oversized body', method: 'POST', path, headers: json(), body: `{"metadata":{"name":"x"},"spec":{"pad":"${'a'.repeat(n)}"}}` })),
    fc.tuple(fc.string({ maxLength: 100 }), fc.constantFrom('/v1/whoami', '/v1/projects', '/v1/projects/fuzz/instances'), fc.constantFrom('GET', 'POST', 'DELETE'))
      .map(([tok, path, m]) => ({ category: 'bad token', method: m, path, headers: { authorization: `Bearer x${tok.replace(/[^\x21-\x7e]/g, '')}`, 'content-type': 'application/json' }, body: m === 'POST' ? '{}' : undefined })),
    fc.constantFrom('', 'Basic YWRtaW46YWRtaW4=', 'Bearer', 'bearer  ', 'Token abc')
      .map((h): BadRequest => ({ category: 'bad auth header', method: 'GET', path: '/v1/projects', headers: h ? { authorization: h } : {} })),
    fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'), fc.webPath())
      .map(([m, p]) => ({ category: 'unknown route', method: m, path: `/v1/zz${p.replace(/[^\x21-\x7e]/g, '')}`, headers: json(), body: m === 'GET' || m === 'DELETE' ? undefined : '{}' })),
    fc.tuple(fc.constantFrom('limit=-1', 'limit=abc', 'limit=99999999', 'watch=maybe', 'revision=-5', 'revision=1', 'selector=a%20in%20(', 'selector=%21%21', 'continue=bm9wZQ', 'bogus=1'), fc.constantFrom('/v1/projects/fuzz/instances', '/v1/nodes'))
      .map(([q, p]) => ({ category: 'bad query', method: 'GET', path: `${p}?${q}`, headers: auth() })),
    fc.tuple(fc.integer({ min: 65, max: 5000 }), fc.constantFrom('[', '{"a":'))
      .map(([n, open]) => ({ category: 'deep nesting', method: 'PATCH', path: itemPaths[0]!, headers: { ...auth(), 'content-type': 'application/merge-patch+json' }, body: open.repeat(n) + '1' + (open === '[' ? ']' : '}').repeat(n) })),
    fc.constantFrom('{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '{"metadata":{"name":"p","__proto__":{"admin":true}},"spec":{}}')
      .map((body) => ({ category: 'prototype pollution', method: 'POST', path: '/v1/projects/fuzz/instances', headers: json(), body })),
    fc.tuple(fc.string({ minLength: 1, maxLength: 300 }).map((s) => encodeURIComponent(s)).filter((s) => !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(s)), fc.constantFrom('GET', 'DELETE'))
      .map(([name, m]) => ({ category: 'bad name in URL', method: m, path: `/v1/projects/fuzz/instances/${name}`, headers: auth() })),
    fc.tuple(fc.jsonValue(), fc.constantFrom(itemPaths[0]!, itemPaths[1]!))
      .filter(([v]) => typeof v !== 'object' || v === null || Array.isArray(v))
      .map(([v, p]) => ({ category: 'patch with a non-object', method: 'PATCH', path: p, headers: { ...auth(), 'content-type': 'application/merge-patch+json' }, body: JSON.stringify(v) })),
    fc.constantFrom('status', 'spec.driver', 'spec.resources.memory').map((field) => ({
      category: 'forbidden patch', method: 'PATCH', path: itemPaths[0]!, headers: { ...auth(), 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify(setPath({}, field, field === 'status' ? { phase: 'Running' } : 'nonsense')),
    })),
    fc.string({ minLength: 1, maxLength: 200 }).map((y) => ({ category: 'YAML body', method: 'POST', path: '/v1/projects/fuzz/instances', headers: { ...auth(), 'content-type': 'application/yaml' }, body: `${y}\n:\n  - [` })),
  ];
}

async function send(r: BadRequest): Promise<number> {
  if (r.category === 'oversized body') return sendRaw(r);
  const res = await fetch(server.url + r.path, { method: r.method, headers: r.headers, body: r.body });
  const text = await res.text();
  if (res.status >= 400 && res.status < 500 && r.method !== 'HEAD') {
    const body = JSON.parse(text) as { error: { code: string } };
    if (!/^STRATUS_ERR_/.test(body.error.code)) throw new Error(`${r.category}: no catalog code in ${text.slice(0, 200)}`);
  }
  return res.status;
}

/**
 * Raw HTTP on a socket, keeping whatever the server answered even when it closes the
 * connection while we are still writing (as it does, rightly, for oversized bodies).
 */
function rawRequest(payload: string): Promise<string> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve) => {
    const sock = connect(Number(port), hostname, () => sock.end(payload));
    let data = '';
    const done = () => resolve(data.split('\r\n')[0] || 'no answer');
    sock.on('data', (d) => (data += d.toString()));
    sock.on('close', done);
    sock.on('error', done);
  });
}

/**
 * An oversized upload: the server answers 413 from the Content-Length alone and closes. Writing
 * the whole body would race that close (the RST can discard the answer before it is read), so
 * send the headers and a first slice, read the answer, then hang up.
 */
function sendRaw(r: BadRequest): Promise<number> {
  const { hostname, port } = new URL(server.url);
  const headers = Object.entries({ ...r.headers, host: 'localhost', 'content-length': String(Buffer.byteLength(r.body ?? '')), connection: 'close' })
    .map(([k, v]) => `${k}: ${v}`).join('\r\n');
  return new Promise((resolve) => {
    let data = '';
    const sock = connect(Number(port), hostname, () => sock.write(`${r.method} ${r.path} HTTP/1.1\r\n${headers}\r\n\r\n${(r.body ?? '').slice(0, 65536)}`));
    const done = () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0));
    sock.on('data', (d) => {
      data += d.toString();
      if (/^HTTP\/1\.1 \d{3}/.test(data)) sock.destroy();
    });
    sock.on('close', done);
    sock.on('error', done);
  });
}

describe('bad input', () => {
  it('answers at least 1,000 generated bad requests with a 4xx and stays healthy', async () => {
    const gens = generators();
    const requests = gens.flatMap((g, i) => fc.sample(g, { seed: SEED + i, numRuns: 80 }));
    expect(requests.length).toBeGreaterThanOrEqual(1000);
    const failures: string[] = [];
    const byCategory = new Map<string, number>();
    for (let i = 0; i < requests.length; i += 16) {
      const batch = requests.slice(i, i + 16);
      const statuses = await Promise.all(batch.map((r) => send(r).catch((e: Error) => { failures.push(e.message); return 0; })));
      statuses.forEach((s, j) => {
        const r = batch[j]!;
        byCategory.set(r.category, (byCategory.get(r.category) ?? 0) + 1);
        if (s < 400 || s >= 500) failures.push(`${r.category}: ${r.method} ${r.path.slice(0, 80)} body=${(r.body ?? '').slice(0, 80)} → ${s}`);
      });
    }
    expect(failures).toEqual([]);
    expect(byCategory.size).toBe(gens.length);

    for (const raw of ['GARBAGE\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', 'GET /v1/projects HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n', 'POST /v1/projects HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n']) {
      expect(await rawRequest(raw)).toMatch(/^HTTP\/1\.1 4\d\d/);
    }

    const admin = client(server.url, server.token);
    expect((await admin('GET', '/healthz')).status).toBe(200);
    expect((await admin('GET', '/readyz')).status).toBe(200);
    expect((await admin('POST', '/v1/projects/fuzz/instances', instance('after-fuzz'))).status).toBe(201);
    expect(server.proc.exitCode).toBeNull();
    expect(server.output()).not.toMatch(/internal error/);
  });
});
