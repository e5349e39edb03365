import { describe, it, expect, afterEach } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { probeOnce, Prober } from './probes.js';
import { resolveHealth } from '../model/health.js';

let server: Server | undefined;
let status = 200;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

async function listen(): Promise<number> {
  server = createServer((req, res) => res.writeHead(req.url === '/healthz' ? status : 404).end());
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return (server!.address() as AddressInfo).port;
}

describe('probeOnce', () => {
  it('passes on 2xx/3xx, fails on other answers and on refused connections', async () => {
    const port = await listen();
    const http = resolveHealth({ http: { port, path: '/healthz' }, timeout: 1 });
    expect(await probeOnce(http, { host: '127.0.0.1' })).toMatchObject({ ok: true, message: 'GET /healthz answered 200' });
    status = 503;
    expect(await probeOnce(http, { host: '127.0.0.1' })).toMatchObject({ ok: false, message: 'GET /healthz answered 503' });
    expect((await probeOnce(resolveHealth({ tcp: { port } }), { host: '127.0.0.1' })).ok).toBe(true);
    server!.close();
    server = undefined;
    const refused = await probeOnce(resolveHealth({ tcp: { port } }), { host: '127.0.0.1' });
    expect(refused.ok).toBe(false);
    expect(refused.message).toMatch(/ECONNREFUSED/);
    expect(await probeOnce(resolveHealth({ command: ['true'] }), { host: 'x', exec: async () => 0 })).toMatchObject({ ok: true });
    expect(await probeOnce(resolveHealth({ command: ['false'] }), { host: 'x', exec: async () => 1 })).toMatchObject({ ok: false, message: 'false exited 1' });
  });
});

describe('Prober', () => {
  it('becomes ready after the success threshold and unready after the failure threshold', async () => {
    status = 200;
    const port = await listen();
    const flips: boolean[] = [];
    const p = new Prober({ ...resolveHealth({ http: { port, path: '/healthz' }, successThreshold: 2, failureThreshold: 2 }), intervalMs: 10 }, () => ({ host: '127.0.0.1' }), (ok) => flips.push(ok));
    p.start();
    const until = async (n: number) => { while (flips.length < n) await new Promise((r) => setTimeout(r, 5)); };
    await until(1);
    expect(flips).toEqual([true]);
    status = 500;
    await until(2);
    expect(flips).toEqual([true, false]);
    p.stop();
  });
});
