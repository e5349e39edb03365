/**
 * `stratus exec [-i] [-t] INSTANCE -- COMMAND [ARG...]`: runs a command inside an instance (its
 * sandbox or container, as the workload's user), through the API server and the agent of its
 * node; exits with the command's exit code. `runRemote` is the stream itself (cp uses it too).
 */
import type { Command } from 'commander';
import type { Readable, Writable } from 'node:stream';
import { Cli } from '../context.js';
import { CliError } from '../errors.js';
import type { ExecStatus } from '../../client/streams.js';
import { openExec } from '../../client/routes.js';

export interface RemoteIo {
  /** Sent to the command's stdin, then its end; without it the command reads /dev/null. */
  stdin?: Readable;
  stdout: Writable;
  stderr: Writable;
  /** Run on a terminal of this size; `onResize` registers for later sizes. */
  tty?: { cols: number; rows: number; term: string; onResize(listener: (size: { cols: number; rows: number }) => void): void };
}

/** Runs argv in the instance; resolves with its status (exit code, or the error that ended it). */
export async function runRemote(cli: Cli, instance: string, argv: string[], io: RemoteIo): Promise<ExecStatus> {
  const streams = await import('../../client/streams.js');
  const { Channel, frame, onMessage, sendPaced, unframe, writeFrom } = streams;
  const ws = await openExec(cli.client, cli.project, instance, {
    command: argv, stdin: io.stdin !== undefined, tty: io.tty !== undefined,
    ...(io.tty ? { cols: io.tty.cols, rows: io.tty.rows, term: io.tty.term } : {}),
  });
  return new Promise((resolve) => {
    let status: ExecStatus | undefined;
    onMessage(ws, (data, isBinary) => {
      const msg = unframe(data, isBinary);
      if (msg?.channel === Channel.stdout) writeFrom(ws, io.stdout, msg.payload);
      else if (msg?.channel === Channel.stderr) writeFrom(ws, io.stderr, msg.payload);
      else if (msg?.channel === Channel.status) status = JSON.parse(msg.payload.toString('utf8')) as ExecStatus;
    });
    if (io.stdin) {
      const stdin = io.stdin;
      stdin.on('data', (d: Buffer) => sendPaced(ws, frame(Channel.stdin, d), stdin));
      stdin.once('end', () => sendPaced(ws, frame(Channel.stdinEnd), stdin));
    }
    io.tty?.onResize((size) => {
      if (ws.readyState === ws.OPEN) ws.send(frame(Channel.resize, JSON.stringify(size)));
    });
    ws.once('close', (code: number, reason: Buffer) => {
      io.stdin?.pause();
      resolve(status ?? endedEarly(code, reason.toString('utf8')));
    });
    ws.on('error', () => undefined); // 'close' follows and says how it ended
  });
}

function endedEarly(code: number, reason: string): ExecStatus {
  const why = reason || (code === 1006 ? 'the connection was lost' : `closed with code ${code}`);
  return { exitCode: null, error: { code: 'STRATUS_ERR_UNAVAILABLE', message: `the stream ended before the command did: ${why}` } };
}

/** The process exit code for a finished command: its own, or 128 + the signal's number. */
export function exitCodeOf(status: ExecStatus): number {
  if (status.exitCode !== null) return status.exitCode;
  const signals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGPIPE: 13, SIGTERM: 15 };
  return 128 + (status.signal ? signals[status.signal] ?? 0 : 0);
}

export function registerExec(program: Command): void {
  program
    .command('exec <instance> [command...]')
    .description('Run a command in an instance (as its workload runs: same sandbox, user, environment): stratus exec -it web-1 -- sh')
    .option('-i, --stdin', 'pass stdin to the command')
    .option('-t, --tty', 'run the command on a terminal (with -i for an interactive shell)')
    .action(async (instance: string, argv: string[], o: { stdin?: boolean; tty?: boolean }, cmd: Command) => {
      const cli = Cli.of(cmd);
      if (argv.length === 0) throw new CliError('exec needs a command after the instance: stratus exec INSTANCE -- COMMAND [ARG...]', 2);
      let tty = o.tty === true;
      if (tty && !process.stdin.isTTY) {
        process.stderr.write('Unable to use a TTY: input is not a terminal\n');
        tty = false;
      }
      const restore = tty && o.stdin ? rawStdin() : () => undefined;
      try {
        const status = await runRemote(cli, instance, argv, {
          ...(o.stdin ? { stdin: process.stdin } : {}),
          stdout: process.stdout,
          stderr: process.stderr,
          ...(tty ? { tty: terminalOf(process.stdout) } : {}),
        });
        if (status.error) throw new CliError(status.error.message);
        process.exitCode = exitCodeOf(status);
      } finally {
        restore();
      }
    });
}

/** Raw mode for the local terminal while the remote one runs; returns the restore function. */
function rawStdin(): () => void {
  process.stdin.setRawMode(true);
  return () => {
    process.stdin.setRawMode(false);
    process.stdin.pause();
  };
}

function terminalOf(out: NodeJS.WriteStream): NonNullable<RemoteIo['tty']> {
  const size = () => ({ cols: out.columns || 80, rows: out.rows || 24 });
  const term = /^[A-Za-z0-9._+-]{1,64}$/.test(process.env.TERM ?? '') ? process.env.TERM! : 'xterm';
  return { ...size(), term, onResize: (listener) => out.on('resize', () => listener(size())) };
}
