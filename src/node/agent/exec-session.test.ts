import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import WebSocket, { WebSocketServer } from 'ws';
import { parseExecRequest, ptyWrapper, runExec, shQuote, type ExecRequest } from './exec-session.js';
import { Channel, frame, unframe, type ExecStatus } from '../../client/streams.js';
import type { ExecCommand } from '../drivers/index.js';

const servers: WebSocketServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

const request = (over: Partial<ExecRequest> = {}): ExecRequest => ({ argv: ['x'], tty: false, stdin: false, cols: 80, rows: 24, term: 'xterm', ...over });

/** Runs `cmd` through runExec over a real socket pair; `drive` talks to it; resolves with what came back. */
async function session(cmd: ExecCommand, req: ExecRequest, drive: (ws: WebSocket, output: () => string) => Promise<void> = async () => undefined) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  servers.push(wss);
  wss.on('connection', (ws) => void runExec(ws, cmd, req));
  await new Promise((r) => wss.once('listening', r));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
  let stdout = '';
  let stderr = '';
  let status: ExecStatus | undefined;
  client.on('message', (data, isBinary) => {
    const m = unframe(data, isBinary);
    if (m?.channel === Channel.stdout) stdout += m.payload.toString();
    if (m?.channel === Channel.stderr) stderr += m.payload.toString();
    if (m?.channel === Channel.status) status = JSON.parse(m.payload.toString()) as ExecStatus;
  });
  const closed = new Promise((r) => client.once('close', r));
  await new Promise((r) => client.once('open', r));
  await drive(client, () => stdout);
  await closed;
  return { stdout, stderr, status };
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!ok()) throw new Error(`never: ${what}`);
}

describe('parseExecRequest', () => {
  it('reads argv in order and the terminal settings', () => {
    const q = new URLSearchParams([['command', 'sh'], ['command', '-c'], ['command', 'echo "a b"'], ['tty', 'true'], ['stdin', 'true'], ['cols', '120'], ['rows', '40'], ['term', 'xterm-256color']]);
    expect(parseExecRequest(q)).toEqual({ argv: ['sh', '-c', 'echo "a b"'], tty: true, stdin: true, cols: 120, rows: 40, term: 'xterm-256color' });
  });

  it.each([
    [[], /command: at least one/],
    [[['command', 'x'], ['cols', '0']], /cols: "0" is not a number from 1 to 10000/],
    [[['command', 'x'], ['rows', '1e3']], /rows: "1e3"/],
    [[['command', 'x'], ['term', 'xterm; rm -rf /']], /term: .* is not a terminal type/],
  ])('refuses %j', (params, why) => {
    expect(() => parseExecRequest(new URLSearchParams(params as [string, string][]))).toThrow(why);
  });
});

describe('shQuote and ptyWrapper', () => {
  it('quotes every byte literally for sh', () => {
    const words = ["it's", '$(id)', '`x`', 'a\nb', '"q"', '\\', ''];
    const out = execFileSync('sh', ['-c', `printf '%s\\0' ${words.map(shQuote).join(' ')}`]).toString();
    expect(out.split('\0').slice(0, -1)).toEqual(words);
  });

  it('sizes the terminal, makes it raw only when the command relays one, and execs the command', () => {
    const cmd = { argv: ['runc', 'exec', '--tty', 'id', "it's"], relaysTerminal: true };
    expect(ptyWrapper(cmd, request({ cols: 100, rows: 30 }))).toBe(`stty rows 30 cols 100 raw -echo 2>/dev/null; printf '\\001stratus-pty %s\\n' "$(tty)"; exec 'runc' 'exec' '--tty' 'id' 'it'\\''s'`);
    expect(ptyWrapper({ ...cmd, relaysTerminal: false }, request())).toMatch(/^stty rows 24 cols 80 2>/);
  });
});

describe('runExec', () => {
  it('relays stdin to the command and its stdout and stderr apart, then its exit code', async () => {
    const cmd = { argv: ['sh', '-c', 'cat; echo oops >&2; exit 3'], relaysTerminal: false };
    const r = await session(cmd, request({ stdin: true }), async (ws) => {
      ws.send(frame(Channel.stdin, 'line one\n'));
      ws.send(frame(Channel.stdinEnd));
    });
    expect(r).toEqual({ stdout: 'line one\n', stderr: 'oops\n', status: { exitCode: 3, signal: null } });
  });

  // Without care the agent's socket stays paused for a stdin that will never drain (the command
  // exited without reading it all, as tar does after the end of its archive): its close handshake
  // then waits for the ws library's 30 s close timeout.
  it('ends promptly when the command exits without reading all of its input', async () => {
    const cmd = { argv: ['sh', '-c', 'echo reading-soon; sleep 0.3; head -c 10 >/dev/null; echo read'], relaysTerminal: false };
    const r = await session(cmd, request({ stdin: true }), async (ws, output) => {
      await until('the command to start', () => output().includes('reading-soon'));
      for (let i = 0; i < 8; i++) ws.send(frame(Channel.stdin, Buffer.alloc(64 * 1024, 'x')));
    });
    expect(r.stdout).toBe('reading-soon\nread\n');
    expect(r.status).toEqual({ exitCode: 0, signal: null });
  }, 15_000);

  it('gives a command without stdin /dev/null', async () => {
    const r = await session({ argv: ['sh', '-c', 'cat; echo done'], relaysTerminal: false }, request());
    expect(r.stdout).toBe('done\n');
  });

  it('reports a command that cannot start', async () => {
    const r = await session({ argv: ['/nonexistent/program'], relaysTerminal: false }, request());
    expect(r.status?.error?.message).toMatch(/cannot run \/nonexistent\/program: .*ENOENT/);
  });

  it.skipIf(!existsSync('/usr/bin/script'))('runs on a terminal of the asked size and resizes it', async () => {
    const wait = 'i=0; while [ "$(stty size)" = "33 91" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done';
    const cmd = { argv: ['sh', '-c', `stty size; tty; ${wait}; stty size; read line; echo "got $line"; exit 5`], relaysTerminal: false };
    const r = await session(cmd, request({ tty: true, stdin: true, cols: 91, rows: 33 }), async (ws, output) => {
      await until('the first size', () => output().includes('33 91'));
      ws.send(frame(Channel.resize, JSON.stringify({ cols: 100, rows: 44 })));
      await until('the new size', () => output().includes('44 100'));
      ws.send(frame(Channel.stdin, 'hello\r'));
    });
    expect(r.stdout).toMatch(/^33 91\r\n\/dev\/pts\/\d+\r\n44 100\r\n/);
    expect(r.stdout).toContain('got hello');
    expect(r.stdout).not.toContain('stratus-pty'); // the wrapper's report is not output
    expect(r.status).toEqual({ exitCode: 5, signal: null });
  });

  it('stops the command when the client goes away first', async () => {
    let pid = 0;
    await session({ argv: ['sh', '-c', 'echo $$; exec sleep 1000'], relaysTerminal: false }, request(), async (ws, output) => {
      await until('the pid', () => /^\d+\n/.test(output()));
      pid = Number(output().trim());
      ws.close();
    });
    await until(`pid ${pid} to end`, () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  });
});
