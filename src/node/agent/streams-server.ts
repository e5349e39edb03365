/**
 * The agent's WebSocket endpoints, beside its logs (logs-server.ts), called only by the API
 * server, which has authorized and audited the request:
 *
 *   GET /v1/exec/:project/:name?uid=&command=…&stdin=&tty=&cols=&rows=&term=     exec-session.ts
 *   GET /v1/portforward/:project/:name?uid=&port=                                 port-forward.ts
 *   GET /v1/console/:project/:name?uid=          the driver's console (ConsoleCapable: a VM's serial port)
 *
 * Each is signed like the logs (client/node-signing.ts, over the path and query, so the command
 * is covered) and a signature is accepted once: a captured request cannot be replayed. Refusals
 * are plain HTTP answers before the upgrade, so the API server passes on their status and message.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { MAX_SKEW_MS, SIGNATURE_HEADER, verify } from '../../client/node-signing.js';
import { bridge, keepAlive, MAX_MESSAGE } from '../../client/streams.js';
import { isConsoleCapable, isStreamExecCapable, type Driver, type TaskHandle } from '../drivers/index.js';
import type { Instance } from '../../model/kinds/instance.js';
import { parseExecRequest, runExec } from './exec-session.js';
import { connectTarget, forwardTarget, StreamRefused } from './port-forward.js';

/** What runs here now, for exec and port-forward. */
export interface RunningSource {
  running(project: string, name: string, uid: string | undefined): { driver: Driver; handle: TaskHandle; instance: Instance } | undefined;
}

/** At most this many exec sessions and forwarded connections at once on one node. */
export const MAX_STREAMS = 256;

export class StreamsServer {
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_MESSAGE });
  private readonly used = new Map<string, number>();
  private active = 0;

  constructor(private readonly key: string, private readonly source: RunningSource, private readonly now: () => number) {}

  /** Handles an HTTP upgrade request of the agent's server. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    void this.route(req, socket, head).catch((e: Error) => refuse(socket, e instanceof StreamRefused ? e.status : 500, e.message));
  }

  close(): void {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }

  private async route(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    const m = /^\/v1\/(exec|portforward|console)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (req.method !== 'GET' || !m) throw new StreamRefused(404, 'no such route');
    this.checkSignature(req);
    if (this.active >= MAX_STREAMS) throw new StreamRefused(429, `this node already relays ${MAX_STREAMS} exec sessions and forwarded connections; try again later`);
    const [project, name] = [decodeURIComponent(m[2]!), decodeURIComponent(m[3]!)];
    const run = this.source.running(project, name, url.searchParams.get('uid') ?? undefined);
    if (!run) throw new StreamRefused(409, `instance ${project}/${name} is not running on this node`);
    if (m[1] === 'exec') return this.exec(req, socket, head, url, run);
    if (m[1] === 'console') return this.console(req, socket, head, run);
    return this.portForward(req, socket, head, url, run);
  }

  /** Raw bytes between the WebSocket and the console (as port-forward's); closing it detaches, the task keeps running. */
  private async console(req: IncomingMessage, socket: Duplex, head: Buffer, run: { driver: Driver; handle: TaskHandle }): Promise<void> {
    if (!isConsoleCapable(run.driver)) throw new StreamRefused(400, `the ${run.driver.name} driver has no console (stratus console is for vm instances; try stratus exec -it)`);
    let conn: Duplex;
    try {
      conn = await run.driver.console(run.handle);
    } catch (e) {
      throw new StreamRefused(409, (e as Error).message);
    }
    await this.bridged(req, socket, head, conn);
  }

  /** Accepts the upgrade and relays raw bytes between it and `conn` (port-forward, console) until both ends are done. */
  private async bridged(req: IncomingMessage, socket: Duplex, head: Buffer, conn: Duplex): Promise<void> {
    let ws: WebSocket;
    try {
      ws = await this.accept(req, socket, head);
    } catch (e) {
      conn.destroy();
      throw e;
    }
    keepAlive(ws);
    await this.counted(() => bridge(ws, conn));
  }

  private async exec(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, run: { driver: Driver; handle: TaskHandle }): Promise<void> {
    let request;
    try {
      request = parseExecRequest(url.searchParams);
    } catch (e) {
      throw new StreamRefused(400, (e as Error).message);
    }
    if (!isStreamExecCapable(run.driver)) throw new StreamRefused(400, `the ${run.driver.name} driver cannot run commands in its instances`);
    let cmd;
    try {
      cmd = await run.driver.execCommand(run.handle, request.argv, { tty: request.tty, ...(request.tty ? { env: { TERM: request.term } } : {}) });
    } catch (e) {
      throw new StreamRefused(409, (e as Error).message);
    }
    const ws = await this.accept(req, socket, head);
    await this.counted(() => runExec(ws, cmd, request));
  }

  private async portForward(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, run: { handle: TaskHandle; instance: Instance }): Promise<void> {
    const raw = url.searchParams.get('port') ?? '';
    const port = Number(raw);
    if (!/^\d{1,5}$/.test(raw) || port < 1 || port > 65535) throw new StreamRefused(400, `port: "${raw.slice(0, 16)}" is not a port number (1-65535)`);
    const target = await forwardTarget(run.handle, run.instance, port);
    const conn = await connectTarget(target, `instance ${run.instance.metadata.project}/${run.instance.metadata.name}`);
    await this.bridged(req, socket, head, conn);
  }

  private async counted(run: () => Promise<void>): Promise<void> {
    this.active++;
    try {
      await run();
    } finally {
      this.active--;
    }
  }

  private accept(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<WebSocket> {
    return new Promise((resolve) => this.wss.handleUpgrade(req, socket, head, resolve));
  }

  /** A good signature, seen for the first time (each is remembered while it could still pass); else StreamRefused 401. Also for the agent's POSTs (reboot). */
  checkSignature(req: IncomingMessage, method: 'GET' | 'POST' = 'GET'): void {
    const header = req.headers[SIGNATURE_HEADER] as string | undefined;
    const problem = verify(this.key, method, req.url ?? '', header, this.now());
    if (problem) throw new StreamRefused(401, problem);
    const now = this.now();
    for (const [sig, until] of this.used) if (until < now) this.used.delete(sig);
    if (this.used.has(header!)) throw new StreamRefused(401, 'this signature was used already');
    this.used.set(header!, now + 2 * MAX_SKEW_MS);
  }
}

/** Answers an upgrade request with an HTTP error (the JSON shape of the API's errors) and closes. */
function refuse(socket: Duplex, status: number, message: string): void {
  const code = status === 401 ? 'STRATUS_ERR_UNAUTHENTICATED' : status === 404 ? 'STRATUS_ERR_NOT_FOUND' : status === 409 ? 'STRATUS_ERR_NOT_RUNNING'
    : status === 400 ? 'STRATUS_ERR_BAD_REQUEST' : status === 403 ? 'STRATUS_ERR_FORBIDDEN' : status === 429 ? 'STRATUS_ERR_RATE_LIMITED' : 'STRATUS_ERR_UNAVAILABLE';
  const body = JSON.stringify({ error: { code, status, message } });
  if (!socket.writable) return void socket.destroy();
  socket.end(`HTTP/1.1 ${status} ${status < 500 ? 'Refused' : 'Unavailable'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
