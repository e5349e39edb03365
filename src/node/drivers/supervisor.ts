/**
 * The supervisor: a tiny `sh` per task, in a session of its own, that runs the workload (or
 * `runc run`) in the foreground and writes its exit status into a file. It is what lets the
 * agent die and come back: the workload is never the agent's child, and its status is on disk.
 *
 *   agent ─spawn(detached)─▶ sh supervisor (own session; traps TERM/INT/HUP/QUIT; outside the task cgroup)
 *                               └─ workload (joins the cgroup, then execs)  ─▶ exit status ─▶ run/exit
 *
 * The supervisor survives signals sent to its process group (it traps them; traps are reset in
 * the child at exec) but not SIGKILL, so drivers kill the task through its cgroup, never the group.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile, rename } from 'node:fs/promises';
import { isAlive } from './proc.js';

/** argv: exit-file, command... — every value arrives as a positional parameter, never as script text. */
export const SUPERVISOR_SCRIPT = 'trap : HUP INT QUIT TERM USR1 USR2; f="$1"; shift; "$@"; s="$?"; echo "$s" > "$f"; exit "$s"';
export const SH = '/bin/sh';

export interface SpawnSupervisorOptions {
  exitFile: string;
  command: string[];
  /** A script of its own (argv: exit-file, then its arguments); default SUPERVISOR_SCRIPT. */
  script?: string;
  env: Record<string, string>;
  cwd: string;
  stdout: number;
  stderr: number;
  /** Give the command a pipe on fd 3 (for a wrapper's "pid <n>" report). */
  reportPipe?: boolean;
}

export function spawnSupervisor(o: SpawnSupervisorOptions): ChildProcess {
  return spawn(SH, ['-c', o.script ?? SUPERVISOR_SCRIPT, 'stratus-supervisor', o.exitFile, ...o.command], {
    detached: true, // setsid: survives the agent, gets no terminal signals
    cwd: o.cwd,
    env: o.env,
    stdio: ['ignore', o.stdout, o.stderr, ...(o.reportPipe ? (['pipe'] as const) : [])],
  });
}

/** The raw shell status the supervisor recorded, if it did. */
export async function readExitStatus(file: string): Promise<number | undefined> {
  try {
    const text = (await readFile(file, 'utf8')).trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

export interface ProcessRef {
  pid: number;
  starttime?: number;
}

/**
 * Resolves when every process in `refs` is gone. When `child` (our own child process) is given,
 * its exit event triggers the check; otherwise /proc is polled (a recovered task is not our child,
 * and Node has no pidfd). `cancel()` stops polling without resolving.
 */
export function watchExit(refs: ProcessRef[], pollMs: number, child?: ChildProcess): { done: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  const done = new Promise<void>((resolve) => {
    const check = async (): Promise<boolean> => {
      for (const r of refs) if (await isAlive(r.pid, r.starttime)) return false;
      return true;
    };
    const poll = () => {
      if (timer || cancelled) return;
      timer = setInterval(() => {
        void check().then((gone) => {
          if (gone && timer) {
            clearInterval(timer);
            timer = undefined;
            resolve();
          }
        });
      }, pollMs);
    };
    if (child && child.exitCode === null && child.signalCode === null) {
      child.once('exit', () => void check().then((gone) => (gone ? resolve() : poll())));
    } else {
      void check().then((gone) => (gone ? resolve() : poll()));
    }
  });
  return {
    done,
    cancel: () => {
      cancelled = true;
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}

/** Reads the first line a wrapper writes on fd 3 ("pid <n>" or "error <text>"), with a deadline. */
export function readReport(child: ChildProcess, timeoutMs: number): Promise<string> {
  const stream = child.stdio[3] as NodeJS.ReadableStream | null | undefined;
  return new Promise((resolve, reject) => {
    if (!stream) return reject(new Error('no report pipe'));
    let buf = '';
    const finish = (err: Error | undefined, line?: string) => {
      clearTimeout(timer);
      stream.removeAllListeners('data');
      (stream as unknown as { destroy(): void }).destroy();
      if (err) reject(err);
      else resolve(line ?? '');
    };
    const timer = setTimeout(() => finish(new Error(`no report within ${timeoutMs} ms`)), timeoutMs);
    stream.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) finish(undefined, buf.slice(0, nl));
    });
    stream.on('error', () => undefined);
    stream.on('end', () => finish(undefined, buf));
  });
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(value, null, 2));
  await rename(tmp, file);
}

export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
