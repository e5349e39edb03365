/**
 * Running host commands (ip, bridge, nft, conntrack, sysctl) with argument arrays — never a
 * shell string. The `Runner` interface is what the dataplane depends on, so unit tests can
 * record commands instead of running them.
 */
import { spawn } from 'node:child_process';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the command's stdin (e.g. an nft ruleset for `nft -f -`). */
  input?: string;
  /** Resolve with the result instead of throwing when the exit code is not 0. */
  allowFailure?: boolean;
  timeoutMs?: number;
}

export interface Runner {
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
}

export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
    readonly input?: string,
  ) {
    const detail = result.stderr.trim() || result.stdout.trim() || `exit code ${result.code}`;
    super(`${argv.join(' ')} failed: ${detail.split('\n').slice(0, 6).join(' | ')}`);
    this.name = 'CommandError';
  }
}

const MAX_OUTPUT = 16 * 1024 * 1024;

/** Runs commands on this machine, found on `path` (default: this process's PATH). */
export function commandRunner(path?: string): Runner {
  return {
    run: (argv, options = {}) => run(argv, options, path),
  };
}

/** Runs commands on this machine, found on this process's PATH. */
export const hostRunner: Runner = commandRunner();

function run(argv: readonly string[], options: RunOptions, path: string | undefined): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...(path !== undefined ? { PATH: path } : {}), LC_ALL: 'C' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    const collect = (into: Buffer[]) => (d: Buffer) => {
      size += d.length;
      if (size <= MAX_OUTPUT) into.push(d);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new CommandError(argv, { code: 127, stdout: '', stderr: e.message }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code: code ?? 128, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() + (signal ? ` (killed by ${signal})` : '') };
      if (result.code !== 0 && !options.allowFailure) reject(new CommandError(argv, result, options.input));
      else resolve(result);
    });
    child.stdin.on('error', () => {}); // the command may exit before reading its input
    child.stdin.end(options.input ?? '');
  });
}

/** A Runner that records commands and answers from a table; for unit tests. */
export class RecordingRunner implements Runner {
  readonly calls: { argv: string[]; input?: string }[] = [];
  constructor(private readonly answer: (argv: readonly string[]) => Partial<RunResult> | undefined = () => undefined) {}

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.calls.push({ argv: [...argv], ...(options.input !== undefined ? { input: options.input } : {}) });
    const result = { code: 0, stdout: '', stderr: '', ...this.answer(argv) };
    if (result.code !== 0 && !options.allowFailure) throw new CommandError(argv, result, options.input);
    return result;
  }
}
