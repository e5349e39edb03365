/** Running host commands: always argument arrays, never a shell string. */
import { spawn } from 'node:child_process';
import { accessSync, constants as fsc, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { DriverError, type ExecOptions, type ExecResult } from './driver.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Spawns argv (no shell), collects bounded output, kills it at the timeout. */
export function runCollect(argv: string[], spawnOpts: { cwd?: string; env?: Record<string, string> }, o: ExecOptions): Promise<ExecResult> {
  const max = o.maxOutputBytes ?? 1024 * 1024;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { ...spawnOpts, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = { stdout: [] as Buffer[], stderr: [] as Buffer[], n: { stdout: 0, stderr: 0 } };
    for (const s of ['stdout', 'stderr'] as const) {
      child[s].on('data', (d: Buffer) => {
        if (out.n[s] < max) out[s].push(d.subarray(0, max - out.n[s]));
        out.n[s] += d.length;
      });
    }
    const timer = o.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), o.timeoutMs) : undefined;
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new DriverError('START_FAILED', `exec ${argv[0]}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({
        code,
        signal: signal ?? null,
        stdout: Buffer.concat(out.stdout).toString('utf8'),
        stderr: Buffer.concat(out.stderr).toString('utf8'),
      });
    });
  });
}

/** Resolves a command like execvp does: a path when it holds a slash, else the first executable file in PATH. */
export async function findExecutable(cmd: string, path: string, cwd: string): Promise<string | undefined> {
  return findExecutableSync(cmd, path, cwd);
}

/** Synchronous findExecutable: a few stat calls, cheaper than their thread-pool round trips on a start path. */
export function findExecutableSync(cmd: string, path: string, cwd: string): string | undefined {
  const candidates = cmd.includes('/') ? [resolve(cwd, cmd)] : path.split(delimiter).filter(Boolean).map((d) => join(resolve(cwd, d), cmd));
  for (const c of candidates) {
    try {
      if (!statSync(c).isFile()) continue;
      accessSync(c, fsc.X_OK);
      return c;
    } catch {
      // not here
    }
  }
  return undefined;
}
