/**
 * Connection limits of the API server, so that idle or stalled clients cannot hold it open:
 *
 *   headers      a request's headers must arrive within headersTimeoutMs (slow-header attacks)
 *   request      the whole request, body included, within requestTimeoutMs (408 and close)
 *   keep-alive   an idle keep-alive connection waits keepAliveTimeoutMs for its next request
 *   idle         a connection without traffic for idleTimeoutMs is closed; watch streams and
 *                log follows are long-lived by design and exempt once authenticated
 *   per address  at most maxUnauthenticatedPerAddress connections from one remote address that
 *                have not yet made an authenticated request; more are answered 429 and closed
 *
 * Node's own timers enforce the first three (requestTimeout and headersTimeout are checked every
 * `connectionsCheckingInterval`, 30 s by default: shortened here so that they mean what they say).
 * A watch or a log follow is a GET without a body: Node's request timeout stops counting once
 * the request is received, so only the idle timeout needs lifting for them.
 */
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';

export interface HttpLimits {
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  idleTimeoutMs: number;
  maxUnauthenticatedPerAddress: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  requestTimeoutMs: 300_000,
  headersTimeoutMs: 20_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 60_000,
  maxUnauthenticatedPerAddress: 64,
};

interface ConnectionState {
  address: string;
  authenticated: boolean;
}

/**
 * The limits for one API server: `onAuthenticated` goes to buildApi (it is called for each
 * request whose principal is known), `attach` applies the rest to the server before it listens.
 */
export function httpLimits(limits: HttpLimits, tls: boolean): { onAuthenticated(req: FastifyRequest): void; attach(app: FastifyInstance): void } {
  const tracker = new UnauthenticatedConnections(limits.maxUnauthenticatedPerAddress, tls);
  return {
    onAuthenticated: (req) => {
      tracker.authenticated(req.raw.socket);
      if (isStream(req)) req.raw.socket.setTimeout(0);
    },
    attach: (app) => {
      const server = app.server as FastifyInstance['server'] & { connectionsCheckingInterval?: number };
      server.requestTimeout = limits.requestTimeoutMs;
      // Node refuses a headers timeout longer than the request timeout.
      server.headersTimeout = limits.requestTimeoutMs > 0 ? Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) : limits.headersTimeoutMs;
      server.keepAliveTimeout = limits.keepAliveTimeoutMs;
      server.setTimeout(limits.idleTimeoutMs);
      const shortest = Math.min(...[limits.requestTimeoutMs, limits.headersTimeoutMs].filter((ms) => ms > 0));
      server.connectionsCheckingInterval = Math.max(100, Math.min(1000, Math.floor(shortest / 4)));
      server.prependListener('connection', (socket: Socket) => tracker.accept(socket));
    },
  };
}

/** A watch (SSE) or a log follow: responses that last as long as the client wants. */
function isStream(req: FastifyRequest): boolean {
  const q = req.query as Record<string, unknown> | undefined;
  return req.method === 'GET' && (String(q?.watch) === 'true' || String(q?.follow) === 'true');
}

/** Counts, per remote address, the connections that have not made an authenticated request. */
class UnauthenticatedConnections {
  private readonly perAddress = new Map<string, number>();
  private readonly byConnection = new Map<string, ConnectionState>();

  constructor(private readonly max: number, private readonly tls: boolean) {}

  accept(socket: Socket): void {
    const address = socket.remoteAddress ?? '';
    const n = this.perAddress.get(address) ?? 0;
    if (n >= this.max) return this.refuse(socket);
    const key = connectionKey(socket);
    const state: ConnectionState = { address, authenticated: false };
    this.perAddress.set(address, n + 1);
    this.byConnection.set(key, state);
    socket.once('close', () => {
      this.byConnection.delete(key);
      this.release(state);
    });
  }

  /** The connection made an authenticated request: it no longer counts. */
  authenticated(socket: Socket): void {
    const state = this.byConnection.get(connectionKey(socket));
    if (state) this.release(state);
  }

  private release(state: ConnectionState): void {
    if (state.authenticated) return;
    state.authenticated = true;
    const left = (this.perAddress.get(state.address) ?? 1) - 1;
    if (left > 0) this.perAddress.set(state.address, left);
    else this.perAddress.delete(state.address);
  }

  private refuse(socket: Socket): void {
    if (this.tls) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify({ error: { code: 'STRATUS_ERR_RATE_LIMITED', message: `too many unauthenticated connections from ${socket.remoteAddress} (at most ${this.max}); authenticate, or close idle connections` } });
    socket.write(`HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`, () => socket.destroy());
  }
}

/** A TCP connection's identity, the same for its TLS socket: the remote address and port. */
function connectionKey(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}
