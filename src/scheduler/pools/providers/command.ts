/**
 * The `command` provider: the operator's `create` and `delete` executables, run with argument
 * arrays (no shell), a request as JSON on stdin, an answer as JSON on stdout:
 *
 *   create  stdin {action: "create", pool, node, joinToken, servers, shape}
 *           stdout {"node": NAME, "id"?: ID}          exit 0
 *   delete  stdin {action: "delete", pool, node, id?}
 *           stdout anything (or nothing)              exit 0
 *   either  stdout {"error": "why"} or a non-zero exit: failed (the message is stderr's last line)
 *
 * Each run is bounded in time (killed with its process group past the timeout) and in output
 * (64 KiB of stdout, 16 KiB of stderr kept; more stdout is a failure). Its environment is the
 * pool's `env` and PATH only: nothing of the server's leaks to it.
 */
import { spawn } from 'node:child_process';
import type { CommandProviderSpec } from '../../../model/kinds/node-pool.js';
import { parseDuration } from '../../../model/format.js';
import { dnsLabelProblem } from '../../../model/labels.js';
import type { CreatedMachine, CreateRequest, DeleteRequest, MachineProvider } from './provider.js';

export const MAX_STDOUT = 64 * 1024;
const MAX_STDERR = 16 * 1024;

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** Why the run was cut short, if it was. */
  cut?: 'timeout' | 'output';
}

/** Runs argv with `input` on stdin, bounded in time and output. Never throws for the program's own failure. */
export function runBounded(argv: readonly string[], input: string, env: Record<string, string>, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let cut: RunResult['cut'];
    const kill = (why: RunResult['cut']) => {
      cut ??= why;
      try {
        process.kill(-child.pid!, 'SIGKILL'); // its whole process group: a script's children too
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => kill('timeout'), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.length > MAX_STDOUT) kill('output');
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-MAX_STDERR);
    });
    child.stdin!.on('error', () => undefined); // a program that does not read its stdin
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: stdout.slice(0, MAX_STDOUT), stderr, ...(cut ? { cut } : {}) });
    });
    child.stdin!.end(input);
  });
}

/** The failure of a run as one line, or undefined when it succeeded. */
function failure(what: string, timeoutMs: number, r: RunResult): string | undefined {
  if (r.cut === 'timeout') return `${what} did not finish within ${timeoutMs / 1000} s (killed)`;
  if (r.cut === 'output') return `${what} wrote more than ${MAX_STDOUT} bytes to stdout (killed)`;
  const said = answer(r.stdout);
  const error = said && typeof said.error === 'string' ? said.error : undefined;
  if (r.code === 0 && error === undefined) return undefined;
  const last = error ?? r.stderr.trim().split('\n').pop() ?? '';
  const how = r.code === null ? `was killed by ${r.signal}` : r.code === 0 ? 'failed' : `exited with ${r.code}`;
  return `${what} ${how}${last ? `: ${last.slice(0, 500)}` : ''}`;
}

/** The JSON object a program wrote on stdout, if it wrote one. */
function answer(stdout: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(stdout);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export class CommandProvider implements MachineProvider {
  readonly type = 'command';
  private readonly timeoutMs: number;

  constructor(private readonly spec: CommandProviderSpec) {
    this.timeoutMs = parseDuration(spec.timeout ?? '2m') ?? 120_000;
  }

  private env(): Record<string, string> {
    return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...this.spec.env };
  }

  private async run(what: string, argv: readonly string[], request: object): Promise<RunResult> {
    const r = await runBounded(argv, JSON.stringify(request), this.env(), this.timeoutMs).catch((e: Error) => {
      throw new Error(`${what} (${argv[0]}) could not run: ${e.message}`);
    });
    const why = failure(`${what} (${argv[0]})`, this.timeoutMs, r);
    if (why) throw new Error(why);
    return r;
  }

  async create(req: CreateRequest): Promise<CreatedMachine> {
    const r = await this.run('create', this.spec.create, { action: 'create', ...req });
    const said = answer(r.stdout);
    if (!said) throw new Error(`create (${this.spec.create[0]}) wrote no JSON object on stdout (expected {"node": "${req.node}"}): ${JSON.stringify(r.stdout.slice(0, 200))}`);
    const node = said.node;
    if (typeof node !== 'string' || dnsLabelProblem(node)) throw new Error(`create (${this.spec.create[0]}) answered node ${JSON.stringify(node)}: not a node name (a DNS label)`);
    const id = said.id;
    return { node, ...(typeof id === 'string' || typeof id === 'number' ? { id: String(id).slice(0, 256) } : {}) };
  }

  async delete(req: DeleteRequest): Promise<void> {
    await this.run('delete', this.spec.delete, { action: 'delete', ...req });
  }
}
