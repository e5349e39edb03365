/**
 * Live streams over WebSocket: `stratus exec` / `cp` (a command's stdio) and `port-forward` (a TCP
 * connection's bytes), used on all three legs:
 *
 *   CLI ──ws──▶ API server (authorize, audit) ──ws, signed──▶ agent of the instance's node
 *
 * exec messages are binary, their first byte the channel (Kubernetes' channel protocol, in spirit):
 *
 *   client → agent   0 stdin bytes   4 resize {"cols","rows"}   5 end of stdin
 *   agent → client   1 stdout bytes  2 stderr bytes  3 status {"exitCode","signal"} or {"error"} (last)
 *
 * port-forward messages are the connection's bytes (binary), and the text message "eof" when the
 * sender's side will write no more. Errors after the upgrade close with a code 4000 + the HTTP
 * status they would have had, the message as the reason.
 */
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';

export const Channel = { stdin: 0, stdout: 1, stderr: 2, status: 3, resize: 4, stdinEnd: 5 } as const;

/** The last message of an exec stream. */
export interface ExecStatus {
  exitCode: number | null;
  signal?: string | null;
  error?: { code: string; message: string };
}

/** The text message of a port-forward stream whose sender has half-closed its side. */
export const EOF_MESSAGE = 'eof';

/** Largest message accepted on any leg; the senders cut their data smaller. */
export const MAX_MESSAGE = 1024 * 1024;
/** A sender pauses its source while more than this is queued on the socket. */
export const HIGH_WATER = 1024 * 1024;

export function frame(channel: number, data: Buffer | string = Buffer.alloc(0)): Buffer {
  const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return Buffer.concat([Buffer.of(channel), payload]);
}

/** The channel and payload of an exec message, or undefined for an empty or text message. */
export function unframe(data: WebSocket.RawData, isBinary: boolean): { channel: number; payload: Buffer } | undefined {
  if (!isBinary) return undefined;
  const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  if (buf.length === 0) return undefined;
  return { channel: buf[0]!, payload: buf.subarray(1) };
}

/** The close code for an error that would have been answered with HTTP `status`. */
export function closeCode(status: number): number {
  return 4000 + Math.min(Math.max(status, 400), 599);
}

/** A close reason fits in 123 bytes. */
export function closeReason(message: string): string {
  let s = message.slice(0, 123);
  while (Buffer.byteLength(s) > 123) s = s.slice(0, -1);
  return s;
}

/**
 * Sends `data` on `ws`; while the socket has more than HIGH_WATER queued, `source` is paused and
 * resumed once it drained. Dropped silently when the socket is no longer open.
 */
export function sendPaced(ws: WebSocket, data: Buffer | string, source: { pause(): unknown; resume(): unknown }): void {
  if (ws.readyState !== WebSocket.OPEN) return;
  ws.send(data, { binary: typeof data !== 'string' }, () => {
    if (ws.bufferedAmount < HIGH_WATER) source.resume();
  });
  if (ws.bufferedAmount >= HIGH_WATER) source.pause();
}

/**
 * Writes `data` from `ws` to `out`; when `out` is full, stops reading `ws` until it drained, ended
 * or closed ('drain' alone never comes for a stream that was ended meanwhile, and a paused socket
 * would not even read its close handshake).
 */
export function writeFrom(ws: WebSocket, out: NodeJS.WritableStream & { writableEnded?: boolean; destroyed?: boolean }, data: Buffer): void {
  if (out.writableEnded || out.destroyed || out.write(data) || out.destroyed) return;
  ws.pause();
  const go = () => {
    for (const e of ['drain', 'finish', 'close', 'error']) out.removeListener(e, go);
    ws.resume();
  };
  for (const e of ['drain', 'finish', 'close', 'error']) out.once(e, go);
}

/**
 * Pings every `intervalMs`; a peer that did not answer the previous ping is gone: terminate.
 * Stops by itself when the socket closes.
 */
export function keepAlive(ws: WebSocket, intervalMs = 30_000): void {
  let alive = true;
  ws.on('pong', () => (alive = true));
  const timer = setInterval(() => {
    if (!alive) return ws.terminate();
    alive = false;
    ws.ping();
  }, intervalMs);
  timer.unref();
  ws.once('close', () => clearInterval(timer));
}

/**
 * Relays every message between two open sockets, both ways, with backpressure; when one closes,
 * the other is closed with the same code and reason. `allow` filters what `a` may send to `b`.
 */
export function relay(a: WebSocket, b: WebSocket, allow: (data: WebSocket.RawData, isBinary: boolean) => boolean = () => true): void {
  const pipe = (from: WebSocket, to: WebSocket, filter: typeof allow) => {
    onMessage(from, (data, isBinary) => {
      if (!filter(data, isBinary)) return;
      sendPaced(to, isBinary ? toBuffer(data) : toBuffer(data).toString('utf8'), from);
    });
    from.once('close', (code, reason) => {
      to.resume(); // it may be paused for `from`'s sake: it must read its close handshake
      if (to.readyState === WebSocket.OPEN || to.readyState === WebSocket.CONNECTING) {
        if (code === 1005 || code === 1006) to.close(1000);
        else to.close(code, reason);
      }
    });
    from.on('error', () => to.terminate());
  };
  pipe(a, b, allow);
  pipe(b, a, () => true);
}

export function toBuffer(data: WebSocket.RawData): Buffer {
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
}

/** Why a socket could not be opened: the HTTP answer instead of the upgrade, or a network failure (with its code). */
export class SocketOpenError extends Error {
  constructor(message: string, readonly status?: number, readonly body?: string, readonly code?: string) {
    super(message);
    this.name = 'SocketOpenError';
  }
}

/**
 * Opens a WebSocket to `url` (http(s): or ws(s):) and resolves once it is open, with every
 * message received before the caller listens kept for it: listen with `onMessage`, which replays
 * them. Rejects with SocketOpenError.
 */
export function openSocket(url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<WebSocket> {
  const target = url.replace(/^http/, 'ws');
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(target, { headers, perMessageDeflate: false, maxPayload: MAX_MESSAGE, handshakeTimeout: 30_000 });
    const onAbort = () => ws.terminate();
    signal?.addEventListener('abort', onAbort, { once: true });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d.slice(0, 64 * 1024 - body.length)));
      res.on('end', () => reject(new SocketOpenError(`HTTP ${res.statusCode}`, res.statusCode, body)));
      res.on('error', () => reject(new SocketOpenError(`HTTP ${res.statusCode}`, res.statusCode, body)));
    });
    ws.once('error', (e: NodeJS.ErrnoException) => reject(new SocketOpenError(e.code === 'ECONNREFUSED' ? 'connection refused' : e.message, undefined, undefined, e.code)));
    ws.once('open', () => {
      signal?.removeEventListener('abort', onAbort);
      const held: [WebSocket.RawData, boolean][] = [];
      const hold = (data: WebSocket.RawData, isBinary: boolean) => held.push([data, isBinary]);
      ws.on('message', hold);
      HELD.set(ws, { held, hold });
      resolve(ws);
    });
  });
}

const HELD = new WeakMap<WebSocket, { held: [WebSocket.RawData, boolean][]; hold: (data: WebSocket.RawData, isBinary: boolean) => void }>();

/** Listens to the messages of `ws`, starting with those that came before anyone listened (sockets from openSocket). */
export function onMessage(ws: WebSocket, listener: (data: WebSocket.RawData, isBinary: boolean) => void): void {
  const h = HELD.get(ws);
  ws.on('message', listener);
  if (!h) return;
  HELD.delete(ws);
  ws.off('message', h.hold);
  for (const [data, isBinary] of h.held) listener(data, isBinary);
}

/**
 * Relays bytes between a TCP connection (or another duplex stream: a VM's console) and a
 * port-forward stream until both are done; a half-close travels as EOF_MESSAGE. The socket
 * should allow half-open connections.
 */
export function bridge(ws: WebSocket, sock: Duplex): Promise<void> {
  return new Promise((resolve) => {
    sock.on('data', (d: Buffer) => sendPaced(ws, d, sock));
    sock.once('end', () => {
      if (ws.readyState === WebSocket.OPEN) ws.send(EOF_MESSAGE);
    });
    sock.once('close', () => {
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      resolve();
    });
    sock.on('error', () => sock.destroy());
    onMessage(ws, (data, isBinary) => {
      if (!isBinary) {
        if (toBuffer(data).toString('utf8') === EOF_MESSAGE) sock.end();
        return;
      }
      writeFrom(ws, sock, toBuffer(data));
    });
    ws.once('close', () => sock.end(() => sock.destroy()));
  });
}
