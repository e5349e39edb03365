import { afterEach, describe, expect, it } from 'vitest';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { TcpBalancer, type ProxyBackend } from './balancer.js';

/** A backend that greets with its name and then echoes. */
async function backend(name: string): Promise<{ server: Server; addr: ProxyBackend; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.write(`${name}\n`);
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, addr: { host: '127.0.0.1', port: (server.address() as { port: number }).port }, sockets };
}

/** Connects through the balancer and resolves with the greeting and the open socket. */
function open(port: number): Promise<{ name: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buf = '';
    socket.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolve({ name: buf.trim(), socket });
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed before a greeting (got ${JSON.stringify(buf)})`)));
  });
}

describe('TcpBalancer', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function setup(algorithm: 'round-robin' | 'least-connections', names = ['a', 'b', 'c']) {
    const backends = await Promise.all(names.map(backend));
    for (const b of backends) cleanup.push(() => { for (const s of b.sockets) s.destroy(); return new Promise<void>((r) => b.server.close(() => r())); });
    const lb = new TcpBalancer({ host: '127.0.0.1', port: 0, algorithm, failureHoldMs: 60_000 });
    await lb.start();
    cleanup.push(() => lb.stop());
    lb.setBackends(backends.map((b) => b.addr));
    return { lb, backends, port: lb.address.port };
  }

  it('round-robin spreads connections evenly', async () => {
    const { port } = await setup('round-robin');
    const names: string[] = [];
    for (let i = 0; i < 6; i++) {
      const c = await open(port);
      names.push(c.name);
      c.socket.destroy();
    }
    expect(names).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('least-connections sends new connections to the least busy backend', async () => {
    const { port, lb, backends } = await setup('least-connections');
    const held = [await open(port), await open(port), await open(port)]; // one each
    expect(new Set(held.map((h) => h.name))).toEqual(new Set(['a', 'b', 'c']));
    held.find((h) => h.name === 'b')!.socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(lb.active(backends[1]!.addr)).toBe(0);
    const next = await open(port);
    expect(next.name).toBe('b');
    for (const h of [...held, next]) h.socket.destroy();
  });

  it('proxies data both ways and passes half-closes', async () => {
    const { port } = await setup('round-robin', ['a']);
    const c = await open(port);
    const echoed = new Promise<string>((resolve) => {
      let buf = '';
      c.socket.on('data', (d) => (buf += d));
      c.socket.on('end', () => resolve(buf));
    });
    c.socket.end('hello'); // half-close: the echo still comes back, then the backend's end
    expect(await echoed).toBe('hello');
  });

  it('retries a refused connection on another backend, and then passes over the failed one', async () => {
    const { port, lb, backends } = await setup('round-robin');
    await new Promise<void>((r) => backends[0]!.server.close(() => r()));
    const names: string[] = [];
    for (let i = 0; i < 6; i++) {
      const c = await open(port);
      names.push(c.name);
      c.socket.destroy();
    }
    expect(names).not.toContain('a');
    expect(lb.counters.retried).toBe(1);
  });

  it('drains: a backend left out takes no new connections, keeps its open ones, and reports when they end', async () => {
    const { port, lb, backends } = await setup('round-robin');
    const first = await open(port); // a
    lb.setBackends([backends[1]!.addr, backends[2]!.addr]);
    for (let i = 0; i < 4; i++) {
      const c = await open(port);
      expect(c.name).not.toBe('a');
      c.socket.destroy();
    }
    const echo = new Promise<string>((r) => first.socket.once('data', (d) => r(String(d))));
    first.socket.write('still here');
    expect(await echo).toBe('still here');
    expect(await lb.drained(backends[0]!.addr, 50)).toBe(false);
    const drained = lb.drained(backends[0]!.addr, 5000);
    first.socket.destroy();
    expect(await drained).toBe(true);
  });

  it('closes the client when no backend is left', async () => {
    const { port, lb } = await setup('round-robin');
    lb.setBackends([]);
    await expect(open(port)).rejects.toThrow('closed before a greeting');
    expect(lb.counters.failed).toBe(1);
  });
});
