import { describe, it, expect, afterEach } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { probeOnce, Prober } from './probes.js';
import { resolveHealth } from '../../model/health.js';
import { instanceEndpoint } from '../../model/host-networking.js';

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
    expect(await probeOnce(http, { host: '127.0.0.1' })).toMatchObject({ ok: true, message: `GET http://127.0.0.1:${port}/healthz answered 200` });
    status = 503;
    expect(await probeOnce(http, { host: '127.0.0.1' })).toMatchObject({ ok: false, message: `GET http://127.0.0.1:${port}/healthz answered 503` });
    expect((await probeOnce(resolveHealth({ tcp: { port } }), { host: '127.0.0.1' })).ok).toBe(true);
    server!.close();
    server = undefined;
    expect(await probeOnce(resolveHealth({ tcp: { port } }), { host: '127.0.0.1' })).toEqual({ ok: false, message: `connect 127.0.0.1:${port}: connection refused` });
    expect(await probeOnce(http, { host: '127.0.0.1' })).toEqual({ ok: false, message: `GET http://127.0.0.1:${port}/healthz: connection refused` });
  });

  it('probes a declared port where it really listens: 127.0.0.1 at its host port in host networking', async () => {
    status = 200;
    const port = await listen();
    // status.ip is the node's address (here one no route leads to): the node's own prober uses 127.0.0.1
    const inst = { status: { phase: 'Running' as const, ip: '192.0.2.254', hostNetwork: { ports: [{ port: 8080, protocol: 'tcp' as const, hostPort: port }] } } };
    const target = { host: instanceEndpoint(inst, 0, true).host, portOf: (p: number) => instanceEndpoint(inst, p, true).port };
    expect(await probeOnce(resolveHealth({ http: { port: 8080, path: '/healthz' } }), target)).toMatchObject({ ok: true, message: `GET http://127.0.0.1:${port}/healthz answered 200` });
    expect(await probeOnce(resolveHealth({ tcp: { port: 8080 } }), target)).toMatchObject({ ok: true });
  });

  it('says how a command check ended, with the end of its output on one line', async () => {
    const check = resolveHealth({ command: ['sh', '-c', 'check'] });
    expect(await probeOnce(check, { host: 'x', exec: async () => ({ code: 0 }) })).toEqual({ ok: true, message: 'sh -c check exited 0' });
    expect(await probeOnce(check, { host: 'x', exec: async () => ({ code: 1, output: 'pg_isready:\n  no response\n' }) })).toEqual({ ok: false, message: 'sh -c check exited 1: pg_isready: no response' });
    const long = await probeOnce(check, { host: 'x', exec: async () => ({ code: 2, output: `${'x'.repeat(500)}END` }) });
    expect(long.message).toMatch(/^sh -c check exited 2: \.\.\.x+END$/);
    expect(long.message.length).toBeLessThan(250);
    expect((await probeOnce(check, { host: 'x', exec: async () => ({ code: null }) })).message).toBe('sh -c check did not finish within 2 s or was killed by a signal');
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

  it('reports why while not ready: the first failure and each new reason, not the same one again', async () => {
    const results = ['refused', 'refused', 'refused', 'answered 500', 'answered 500', 'ok'];
    const reports: [boolean, string][] = [];
    let i = 0;
    const check = { ...resolveHealth({ command: ['probe'], failureThreshold: 3 }), intervalMs: 1 };
    const p = new Prober(check, () => ({ host: 'x', exec: async () => {
      const r = results[Math.min(i++, results.length - 1)]!;
      return { code: r === 'ok' ? 0 : 1, output: r };
    } }), (ok, message) => reports.push([ok, message]));
    p.start();
    while (reports.length < 3) await new Promise((r) => setTimeout(r, 2));
    p.stop();
    expect(reports).toEqual([[false, 'probe exited 1: refused'], [false, 'probe exited 1: answered 500'], [true, 'probe exited 0: ok']]);
  });
});
