import { afterEach, describe, expect, it } from 'vitest';
import { createServer as createHttp, type Server } from 'node:http';
import { createServer as createTcp } from 'node:net';
import { HealthChecker, runProbe } from './health.js';

async function listen(server: Server | ReturnType<typeof createTcp>): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

describe('runProbe', () => {
  const servers: { close: (cb: () => void) => void }[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
  });

  it('tcp: connect or the reason it failed', async () => {
    const s = createTcp((c) => c.destroy());
    servers.push(s);
    const port = await listen(s);
    expect(await runProbe({ id: 'x', host: '127.0.0.1', port, probe: { type: 'tcp' } }, 500)).toBeUndefined();
    const gone = createTcp();
    const closed = await listen(gone);
    await new Promise<void>((r) => gone.close(() => r())); // nothing listens there any more
    expect(await runProbe({ id: 'x', host: '127.0.0.1', port: closed, probe: { type: 'tcp' } }, 500)).toMatch(/ECONNREFUSED|no TCP connection/);
  });

  it('http: 2xx and 3xx are healthy, others say what they answered', async () => {
    let status = 200;
    const s = createHttp((_req, res) => {
      res.statusCode = status;
      res.end();
    });
    servers.push(s);
    const port = await listen(s);
    const t = { id: 'x', host: '127.0.0.1', port, probe: { type: 'http' as const, path: '/healthz' } };
    expect(await runProbe(t, 500)).toBeUndefined();
    status = 302;
    expect(await runProbe(t, 500)).toBeUndefined();
    status = 503;
    expect(await runProbe(t, 500)).toBe(`GET /healthz on 127.0.0.1:${port} answered 503`);
  });

  it('http: a server that does not answer times out', async () => {
    const s = createHttp(() => undefined);
    servers.push({ close: (cb) => { s.closeAllConnections(); s.close(cb); } });
    const port = await listen(s);
    expect(await runProbe({ id: 'x', host: '127.0.0.1', port, probe: { type: 'http', path: '/' } }, 100)).toMatch(/no answer within 100 ms/);
  });
});

describe('HealthChecker', () => {
  it('probes twice per interval with a quarter-interval timeout, so a failure shows within one interval', () => {
    const c = new HealthChecker({ intervalMs: 1000 }, () => undefined);
    expect(c.periodMs).toBe(500);
    expect(c.probeTimeoutMs).toBe(250); // ½ + ¼ < 1
    expect(new HealthChecker({ intervalMs: 20_000, timeoutMs: 2000 }, () => undefined).probeTimeoutMs).toBe(2000);
  });

  it('starts targets unhealthy, reports each change once, forgets removed targets', async () => {
    const s = createTcp((c) => c.destroy());
    const port = await listen(s);
    const events: string[] = [];
    const c = new HealthChecker({ intervalMs: 100_000 }, (id, healthy) => events.push(`${id}:${healthy}`));
    c.setTargets([{ id: 'a', host: '127.0.0.1', port, probe: { type: 'tcp' } }]);
    expect(c.isHealthy('a')).toBe(false);
    await c.checkNow();
    await c.checkNow();
    expect(events).toEqual(['a:true']);
    await new Promise<void>((r) => s.close(() => r()));
    await c.checkNow();
    expect(events).toEqual(['a:true', 'a:false']);
    expect(c.status('a')?.reason).toMatch(/ECONNREFUSED/);
    c.setTargets([]);
    expect(c.healthy()).toEqual([]);
  });

  it('needs `rise` successes in a row to come back', async () => {
    const s = createTcp((c) => c.destroy());
    const port = await listen(s);
    const c = new HealthChecker({ intervalMs: 100_000, rise: 2 }, () => undefined);
    c.setTargets([{ id: 'a', host: '127.0.0.1', port, probe: { type: 'tcp' } }]);
    await c.checkNow();
    expect(c.isHealthy('a')).toBe(false);
    await c.checkNow();
    expect(c.isHealthy('a')).toBe(true);
    await new Promise<void>((r) => s.close(() => r()));
  });

  it('runs on its own once started', async () => {
    const s = createTcp((c) => c.destroy());
    const port = await listen(s);
    const flips: boolean[] = [];
    const c = new HealthChecker({ intervalMs: 40 }, (_id, h) => flips.push(h));
    c.start();
    c.setTargets([{ id: 'a', host: '127.0.0.1', port, probe: { type: 'tcp' } }]);
    for (let i = 0; i < 100 && flips.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise<void>((r) => s.close(() => r()));
    for (let i = 0; i < 100 && flips.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    c.stop();
    expect(flips).toEqual([true, false]);
  });
});
