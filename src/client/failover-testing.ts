/**
 * Small local HTTP servers that fail the ways a control-plane server does, for the failover tests
 * of the client (failover-client.test.ts) and of the CLI (test/server-failover.test.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { STORE_UNAVAILABLE } from './failover.js';

export type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

export interface FakeServer {
  url: string;
  /** "METHOD /path?query" of every request that reached it, in order. */
  hits: string[];
  /** The bodies of those requests. */
  bodies: string[];
  close(): Promise<void>;
}

/** A server on 127.0.0.1 that reads each request's body, records it, then calls `handler`. */
export async function fakeServer(handler: Handler): Promise<FakeServer> {
  const hits: string[] = [];
  const bodies: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      hits.push(`${req.method} ${req.url}`);
      bodies.push(body);
      handler(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    bodies,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** The URL of a port nothing listens on: connections are refused. */
export async function refusingUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return `http://127.0.0.1:${port}`;
}

/** Answers JSON `body` with `status`. */
export function answer(status: number, body: unknown): Handler {
  return (_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** Got the whole request, then resets the connection without answering: the request may have been applied. */
export const resetMidRequest: Handler = (req) => req.socket.resetAndDestroy();

/** Answers 200 and part of a JSON body, then resets the connection. */
export const resetMidBody: Handler = (req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
  res.write('{"items": [', () => req.socket.resetAndDestroy());
};

/** The 503 of a server cut off from the store. */
export const storeUnavailable: Handler = answer(503, { error: { code: STORE_UNAVAILABLE, message: 'the store cannot answer now' } });

/** Never answers. */
export const silent: Handler = () => undefined;
