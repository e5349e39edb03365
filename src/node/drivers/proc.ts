/**
 * /proc helpers: process identity that survives pid reuse (pid + start time), liveness of processes
 * that are not our children, and signals to process groups.
 */
import { readFile, readdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';

export interface ProcStat {
  pid: number;
  comm: string;
  /** R, S, D, Z (zombie), T, X, ... */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** CPU time in clock ticks (USER_HZ, 100 on Linux). */
  utime: number;
  stime: number;
  /** Start time in clock ticks since boot: with the pid, names one process for its whole life. */
  starttime: number;
  /** Resident set, pages. */
  rss: number;
}

/** Parses /proc/<pid>/stat. The command name may hold spaces and parentheses, so fields are read after the last ')'. */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const f = text.slice(close + 2).trim().split(/\s+/);
  const n = (i: number) => Number(f[i]);
  if (f.length < 22) return undefined;
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: f[0] ?? '?',
    ppid: n(1),
    pgrp: n(2),
    session: n(3),
    utime: n(11),
    stime: n(12),
    starttime: n(19),
    rss: n(21),
  };
}

export function readProcStatSync(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * True while the process `pid` that started at `starttime` exists and is not a zombie.
 * A different start time means the pid was reused by another process: the one we knew is gone.
 */
export async function isAlive(pid: number, starttime?: number): Promise<boolean> {
  const st = await readProcStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return starttime === undefined || st.starttime === starttime;
}

/** All processes (pid, pgrp, session), read from /proc. Processes that vanish meanwhile are skipped. */
export async function listProcesses(): Promise<ProcStat[]> {
  const names = await readdir('/proc');
  const stats = await Promise.all(names.filter((n) => /^\d+$/.test(n)).map((n) => readProcStat(Number(n))));
  return stats.filter((s): s is ProcStat => s !== undefined);
}

/** Sends `signal` to `pid`; a process that is already gone is not an error. */
export function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
}

/** Signal number to name (9 → SIGKILL), or `SIG<n>` when unknown. */
export function signalName(n: number): string {
  for (const [name, num] of Object.entries(constants.signals)) if (num === n) return name;
  return `SIG${n}`;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Decodes a shell's `$?`: 0-128 are exit codes, 129-192 mean "killed by signal status-128".
 * (A program that itself exits with 129-192 is reported as signaled: the shell cannot tell them apart.)
 */
export function decodeShellStatus(status: number): { code: number | null; signal: string | null } {
  if (status > 128 && status <= 128 + 64) return { code: null, signal: signalName(status - 128) };
  return { code: status, signal: null };
}
