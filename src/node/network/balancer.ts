/**
 * The userspace TCP load balancer: listens on a service address and splices each connection to a
 * backend picked round-robin or by least connections. Used for `least-connections` services
 * (nftables can only count, not pick, by connections; this kernel has no IPVS) and for nodes in
 * host-networking mode. Round-robin services normally use DNAT in the kernel (firewall.ts),
 * which is faster; see README "Choosing the mechanism".
 *
 * - setBackends() replaces the backends that take new connections. A backend left out drains:
 *   its open connections continue until they end; `drained()` tells when none is left.
 * - A backend that refuses a connection is skipped for `failureHoldMs` and the connection is
 *   retried on another one, so clients see no error between a crash and the next health check.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export type Algorithm = 'round-robin' | 'least-connections';

export interface ProxyBackend {
  host: string;
  port: number;
}

export interface BalancerOptions {
  host: string;
  port: number;
  algorithm: Algorithm;
  /** Per connection attempt to a backend. Default 1000. */
  connectTimeoutMs?: number;
  /** How long a backend that refused a connection is passed over. Default 1000. */
  failureHoldMs?: number;
  now?: () => number;
}

interface BackendState extends ProxyBackend {
  key: string;
  active: number;
  ready: boolean;
  failedUntil: number;
}

const keyOf = (b: ProxyBackend) => `${b.host}:${b.port}`;

export class TcpBalancer {
  private server: Server | undefined;
  private readonly backends = new Map<string, BackendState>();
  private order: BackendState[] = [];
  private next = 0;
  private readonly waiters = new Set<() => void>();
  private readonly sockets = new Set<Socket>();
  private readonly now: () => number;
  /** Connections served and refused since start. */
  readonly counters = { accepted: 0, failed: 0, retried: 0 };

  constructor(private readonly options: BalancerOptions) {
    this.now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer({ noDelay: true, pauseOnConnect: true, allowHalfOpen: true }, (client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.options.host, port: this.options.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  /** Closes the listener and every connection. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get address(): { host: string; port: number } {
    const a = this.server?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : { host: this.options.host, port: this.options.port };
  }

  /** The backends that take new connections, in order; the others drain. */
  setBackends(list: readonly ProxyBackend[]): void {
    const want = new Set(list.map(keyOf));
    for (const b of this.backends.values()) b.ready = want.has(b.key);
    for (const b of list) {
      const k = keyOf(b);
      if (!this.backends.has(k)) this.backends.set(k, { ...b, key: k, active: 0, ready: true, failedUntil: 0 });
    }
    this.order = list.map((b) => this.backends.get(keyOf(b))!);
    this.forgetIdle();
  }

  /** Open connections, to one backend or in total. */
  active(backend?: ProxyBackend): number {
    if (backend) return this.backends.get(keyOf(backend))?.active ?? 0;
    let n = 0;
    for (const b of this.backends.values()) n += b.active;
    return n;
  }

  /** Resolves true once `backend` has no open connection, false after `timeoutMs`. */
  drained(backend: ProxyBackend, timeoutMs: number): Promise<boolean> {
    if (this.active(backend) === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (this.active(backend) > 0) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(false);
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /** Picks a backend for a new connection, skipping `tried` and recently failed ones. */
  pick(tried: ReadonlySet<string> = new Set()): BackendState | undefined {
    const now = this.now();
    const candidates = this.order.filter((b) => b.ready && !tried.has(b.key));
    const usable = candidates.filter((b) => b.failedUntil <= now);
    const pool = usable.length > 0 ? usable : candidates;
    if (pool.length === 0) return undefined;
    if (this.options.algorithm === 'round-robin') return pool[this.next++ % pool.length];
    // least connections; ties go round-robin so that equal backends share the load
    let best: BackendState | undefined;
    const start = this.next++;
    for (let i = 0; i < pool.length; i++) {
      const b = pool[(start + i) % pool.length]!;
      if (!best || b.active < best.active) best = b;
    }
    return best;
  }

  private accept(client: Socket): void {
    this.counters.accepted++;
    this.track(client);
    client.on('error', () => client.destroy());
    this.dial(client, new Set());
  }

  private dial(client: Socket, tried: Set<string>): void {
    const b = this.pick(tried);
    if (!b || client.destroyed) {
      this.counters.failed++;
      client.destroy();
      return;
    }
    tried.add(b.key);
    b.active++;
    const upstream = connect({ host: b.host, port: b.port, noDelay: true, allowHalfOpen: true });
    this.track(upstream);
    let connected = false;
    const timer = setTimeout(() => upstream.destroy(new Error('connect timeout')), this.options.connectTimeoutMs ?? 1000);
    const dropUpstream = () => upstream.destroy();
    upstream.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      client.pipe(upstream); // ends (half-closes) upstream when the client has sent everything
      upstream.pipe(client);
      client.resume();
    });
    upstream.on('error', () => undefined); // 'close' follows and decides
    upstream.once('close', (hadError) => {
      clearTimeout(timer);
      this.release(b);
      if (connected) {
        if (hadError) client.destroy();
        return;
      }
      client.off('close', dropUpstream);
      b.failedUntil = this.now() + (this.options.failureHoldMs ?? 1000);
      this.counters.retried++;
      this.dial(client, tried);
    });
    client.once('close', dropUpstream);
  }

  private release(b: BackendState): void {
    b.active--;
    if (b.active === 0) {
      for (const w of [...this.waiters]) w();
      this.forgetIdle();
    }
  }

  /** Drained backends that are no longer listed are forgotten. */
  private forgetIdle(): void {
    for (const [k, b] of this.backends) if (!b.ready && b.active === 0) this.backends.delete(k);
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }
}
