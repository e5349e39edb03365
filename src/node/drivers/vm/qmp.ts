/**
 * A small typed client of QEMU's machine protocol (QMP): JSON objects, one per line, over the
 * UNIX socket QEMU listens on (`-mon chardev=…,mode=control`).
 *
 *   connect ─▶ greeting {"QMP": {version, capabilities}} ─▶ qmp_capabilities ─▶ ready
 *   execute(cmd, args) ─▶ {"execute", "arguments", "id"} … {"return" | "error", "id"}
 *   asynchronous {"event", "data", "timestamp"} ─▶ 'event' listeners
 *
 * QEMU serves one QMP client per socket at a time, so the driver connects per operation and
 * closes again (see vm.ts); nothing here keeps state a restarted agent would miss.
 */
import { EventEmitter } from 'node:events';
import { createConnection, type Socket } from 'node:net';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

/** An error QEMU answered (`class` is QMP's error class, e.g. "CommandNotFound", "GenericError"). */
export class QmpError extends Error {
  constructor(
    readonly errorClass: string,
    message: string,
  ) {
    super(message);
    this.name = 'QmpError';
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/** Largest line accepted from QEMU; a longer one closes the connection (QEMU never sends one). */
const MAX_LINE = 4 * 1024 * 1024;

export class QmpClient extends EventEmitter<{ event: [QmpEvent]; close: [] }> {
  /** QEMU's version from the greeting, e.g. "7.2.22". */
  version = '';
  private buffer = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private greeted: Pending | undefined;
  private closedError: Error | undefined;

  private constructor(private readonly socket: Socket) {
    super();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (e) => this.shutdown(e));
    socket.on('close', () => this.shutdown(new Error('QMP connection closed')));
  }

  /**
   * Connects to the socket at `path`, reads the greeting and negotiates capabilities. Rejects
   * (and closes) when that does not finish within `timeoutMs`.
   */
  static async connect(path: string, timeoutMs = 5000): Promise<QmpClient> {
    const client = new QmpClient(createConnection(path));
    const timer = setTimeout(() => client.shutdown(new Error(`no QMP greeting on ${path} within ${timeoutMs} ms`)), timeoutMs);
    try {
      await new Promise((resolve, reject) => {
        client.greeted = { resolve, reject };
      });
      await client.execute('qmp_capabilities');
      return client;
    } catch (e) {
      client.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs one command; resolves with its `return` value, rejects with QmpError or a connection error. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = `s${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
    });
  }

  /** Resolves with the next event named `name` (or rejects when the connection closes first). */
  nextEvent(name: string): Promise<QmpEvent> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const onEvent = (e: QmpEvent) => {
        if (e.event !== name) return;
        this.off('close', onClose);
        this.off('event', onEvent);
        resolve(e);
      };
      const onClose = () => {
        this.off('event', onEvent);
        reject(this.closedError ?? new Error('QMP connection closed'));
      };
      this.on('event', onEvent);
      this.once('close', onClose);
    });
  }

  /** Closes the connection; pending commands reject. Idempotent. */
  close(): void {
    this.shutdown(new Error('QMP connection closed by the client'));
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.onMessage(line);
    }
    if (this.buffer.length > MAX_LINE) this.shutdown(new Error(`QMP line longer than ${MAX_LINE} bytes`));
  }

  private onMessage(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return this.shutdown(new Error(`QMP sent something that is not JSON: ${line.slice(0, 80)}`));
    }
    if (msg.QMP && this.greeted) {
      const v = (msg.QMP as { version?: { qemu?: { major: number; minor: number; micro: number } } }).version?.qemu;
      if (v) this.version = `${v.major}.${v.minor}.${v.micro}`;
      const g = this.greeted;
      this.greeted = undefined;
      return g.resolve(undefined);
    }
    if (typeof msg.event === 'string') {
      this.emit('event', msg as unknown as QmpEvent);
      return;
    }
    const p = typeof msg.id === 'string' ? this.pending.get(msg.id) : undefined;
    if (!p) return;
    this.pending.delete(msg.id as string);
    if (msg.error) {
      const err = msg.error as { class?: string; desc?: string };
      p.reject(new QmpError(err.class ?? 'GenericError', err.desc ?? 'QMP error'));
    } else p.resolve(msg.return);
  }

  private shutdown(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    this.socket.destroy();
    this.greeted?.reject(err);
    this.greeted = undefined;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.emit('close');
  }
}

/** Connects, runs one command, closes. */
export async function qmpExecute<T = unknown>(path: string, command: string, args?: Record<string, unknown>, timeoutMs = 5000): Promise<T> {
  const client = await QmpClient.connect(path, timeoutMs);
  try {
    return await client.execute<T>(command, args);
  } finally {
    client.close();
  }
}
