/**
 * One `stratus exec` (or `cp`) on this node: the driver's command inside the task, its stdio
 * relayed over a WebSocket (channels: client/streams.ts).
 *
 * Without a terminal the command gets pipes. With one (`-t`), the agent makes a pseudo-terminal
 * on the node with `script` (util-linux; no native addon) and starts the command on it:
 *
 *   agent ─pipes─▶ script -qec '<wrapper>' ─pty P─▶ wrapper: stty (size; raw -echo when the
 *                                                  command relays), prints the name of P, execs:
 *                  runc exec --tty  (sandbox, container: runc makes the task's own terminal inside
 *                                    its devpts and relays P ⇄ it; job control and ^C work inside)
 *                  or the unisolated command itself, with P as its terminal
 *
 * A resize runs `stty -F P rows R cols C`: the kernel signals SIGWINCH to runc, which resizes the
 * inner terminal. Input is held until the wrapper reported P (after that, P no longer echoes).
 * When the socket closes first, the command's process group gets SIGTERM (runc forwards it into
 * the task), then SIGKILL after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type WebSocket from 'ws';
import type { ExecCommand } from '../drivers/index.js';
import { findExecutableSync, DEFAULT_PATH } from '../drivers/commands.js';
import { Channel, frame, keepAlive, onMessage, sendPaced, unframe, writeFrom, type ExecStatus } from '../../client/streams.js';

export interface ExecRequest {
  argv: string[];
  tty: boolean;
  stdin: boolean;
  cols: number;
  rows: number;
  term: string;
}

/** Milliseconds between SIGTERM and SIGKILL when the client went away. */
const KILL_GRACE_MS = 5000;
// eslint-disable-next-line no-control-regex -- the wrapper's report starts with \x01, which no prompt does
const PTY_MARKER = /^\x01stratus-pty (\/dev\/pts\/\d+)\r?\n/;
const TERM_RE = /^[A-Za-z0-9._+-]{1,64}$/;

/** Reads an exec request from the agent's query (already signed by the API server); throws a message for a 400. */
export function parseExecRequest(q: URLSearchParams): ExecRequest {
  const argv = q.getAll('command');
  if (argv.length === 0) throw new Error('command: at least one argument is needed');
  const size = (name: string, dflt: number) => {
    const v = q.get(name);
    if (v === null) return dflt;
    if (!/^\d{1,5}$/.test(v) || Number(v) < 1 || Number(v) > 10000) throw new Error(`${name}: "${v}" is not a number from 1 to 10000`);
    return Number(v);
  };
  const term = q.get('term') ?? 'xterm';
  if (!TERM_RE.test(term)) throw new Error(`term: "${term.slice(0, 64)}" is not a terminal type`);
  return { argv, tty: q.get('tty') === 'true', stdin: q.get('stdin') === 'true', cols: size('cols', 80), rows: size('rows', 24), term };
}

/** Quotes one word for sh: every byte literal. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The command `script` runs on the pseudo-terminal: size it, report its name, then exec `cmd`. */
export function ptyWrapper(cmd: ExecCommand, req: ExecRequest): string {
  const mode = cmd.relaysTerminal ? ' raw -echo' : '';
  return `stty rows ${req.rows} cols ${req.cols}${mode} 2>/dev/null; printf '\\001stratus-pty %s\\n' "$(tty)"; exec ${cmd.argv.map(shQuote).join(' ')}`;
}

/** Runs `cmd` for `req`, relayed over `ws` (open), until it ends; the status message is the last one sent. */
export function runExec(ws: WebSocket, cmd: ExecCommand, req: ExecRequest): Promise<void> {
  return new Promise((resolve) => {
    const session = new ExecSession(ws, cmd, req, resolve);
    session.start();
  });
}

class ExecSession {
  private child: ChildProcess | undefined;
  private pty: string | undefined;
  /** tty: output before the wrapper's report, and input held until then. */
  private head = Buffer.alloc(0);
  private held: Buffer[] | undefined;
  private endHeld = false;
  private resizing = false;
  private nextSize: { cols: number; rows: number } | undefined;
  private done = false;

  constructor(private readonly ws: WebSocket, private readonly cmd: ExecCommand, private readonly req: ExecRequest, private readonly finished: () => void) {}

  start(): void {
    keepAlive(this.ws);
    const env = { PATH: DEFAULT_PATH, ...this.cmd.env };
    let child: ChildProcess;
    if (this.req.tty) {
      const script = findExecutableSync('script', env.PATH, '/');
      if (!script) return this.end({ exitCode: null, error: { code: 'STRATUS_ERR_UNAVAILABLE', message: 'a terminal (-t) needs the `script` command (util-linux) on the node' } });
      this.held = [];
      child = spawn(script, ['-q', '-e', '-c', ptyWrapper(this.cmd, this.req), '/dev/null'], { cwd: this.cmd.cwd ?? '/', env: { ...env, SHELL: '/bin/sh' }, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    } else {
      child = spawn(this.cmd.argv[0]!, this.cmd.argv.slice(1), { cwd: this.cmd.cwd ?? '/', env, stdio: [this.req.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], detached: true });
    }
    this.child = child;
    child.stdin?.on('error', () => undefined); // the command may exit without reading its input
    child.stdout!.on('data', (d: Buffer) => this.output(Channel.stdout, d));
    child.stderr!.on('data', (d: Buffer) => this.output(Channel.stderr, d));
    child.once('error', (e) => this.end({ exitCode: null, error: { code: 'STRATUS_ERR_UNAVAILABLE', message: `cannot run ${this.cmd.argv[0]}: ${e.message}` } }));
    child.once('close', (code, signal) => this.end({ exitCode: code, signal }));
    onMessage(this.ws, (data, isBinary) => this.input(data, isBinary));
    this.ws.once('close', () => this.abandon());
  }

  private output(channel: number, d: Buffer): void {
    if (channel === Channel.stdout && this.held) {
      this.head = Buffer.concat([this.head, d]);
      const m = PTY_MARKER.exec(this.head.toString('latin1'));
      if (!m && this.head.length < 256 && !this.head.includes(0x0a)) return;
      d = m ? this.head.subarray(m[0].length) : this.head;
      if (m) this.pty = m[1];
      const held = this.held;
      this.held = undefined;
      for (const b of held) this.child!.stdin!.write(b);
      if (this.endHeld) this.child!.stdin!.end();
      if (this.nextSize) this.resize(this.nextSize);
      if (d.length === 0) return;
    }
    sendPaced(this.ws, frame(channel, d), channel === Channel.stdout ? this.child!.stdout! : this.child!.stderr!);
  }

  private input(data: WebSocket.RawData, isBinary: boolean): void {
    const msg = unframe(data, isBinary);
    const stdin = this.child?.stdin;
    if (!msg || this.done) return;
    if (msg.channel === Channel.stdin && stdin && !stdin.writableEnded) {
      if (this.held) return void this.held.push(msg.payload);
      writeFrom(this.ws, stdin, msg.payload);
    } else if (msg.channel === Channel.stdinEnd && stdin) {
      if (this.held) this.endHeld = true;
      else stdin.end();
    } else if (msg.channel === Channel.resize) {
      const size = parseSize(msg.payload);
      if (size) this.resize(size);
    }
  }

  /** One stty at a time; the latest size wins. */
  private resize(size: { cols: number; rows: number }): void {
    if (!this.pty || this.resizing || this.done) {
      this.nextSize = size;
      return;
    }
    this.nextSize = undefined;
    this.resizing = true;
    const stty = spawn('stty', ['-F', this.pty, 'rows', String(size.rows), 'cols', String(size.cols)], { stdio: 'ignore', env: { PATH: DEFAULT_PATH } });
    const next = () => {
      this.resizing = false;
      if (this.nextSize) this.resize(this.nextSize);
    };
    stty.once('error', next);
    stty.once('close', next);
  }

  private end(status: ExecStatus): void {
    if (this.done) return;
    this.done = true;
    this.ws.resume(); // paused for a full stdin, it would not read the close handshake
    if (this.ws.readyState === this.ws.OPEN) {
      this.ws.send(frame(Channel.status, JSON.stringify(status)));
      this.ws.close(1000);
    }
    this.finished();
  }

  /** The client went away before the command ended: stop it. */
  private abandon(): void {
    const child = this.child;
    if (this.done || !child?.pid) return;
    const kill = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // gone
      }
    };
    kill('SIGTERM');
    const timer = setTimeout(() => kill('SIGKILL'), KILL_GRACE_MS);
    timer.unref();
    child.once('close', () => clearTimeout(timer));
  }
}

function parseSize(payload: Buffer): { cols: number; rows: number } | undefined {
  try {
    const v = JSON.parse(payload.toString('utf8')) as { cols?: unknown; rows?: unknown };
    const ok = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 10000;
    return ok(v.cols) && ok(v.rows) ? { cols: v.cols, rows: v.rows } : undefined;
  } catch {
    return undefined;
  }
}
