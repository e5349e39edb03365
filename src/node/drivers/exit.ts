/** Turns what a driver observed at the end of a task into an ExitResult. Pure. */
import type { ExitResult } from './driver.js';
import type { OomCounters } from './cgroups.js';
import { decodeShellStatus } from './proc.js';

export interface ExitObservation {
  /** The shell status the supervisor recorded (`$?`), or undefined when nobody recorded one. */
  status: number | undefined;
  /** The task cgroup's memory counters at exit, when it had a cgroup. */
  oom?: OomCounters;
  stopRequested: boolean;
  memoryMiB?: number;
  finishedAt: string;
}

/**
 * - oomKilled: the kernel counted an OOM kill in the task's cgroup; on kernels that do not count
 *   them, the limit was hit and the main process died from SIGKILL that stop() did not send.
 * - reason: OOMKilled (an OOM kill and the main process failed) > Unknown > Stopped > Signaled > Completed | Error.
 */
export function classifyExit(o: ExitObservation): ExitResult {
  const { code, signal } = o.status === undefined ? { code: null, signal: null } : decodeShellStatus(o.status);
  const oomKilled =
    o.oom === undefined
      ? false
      : o.oom.oomKills !== undefined
        ? o.oom.oomKills > 0
        : o.oom.limitHits > 0 && signal === 'SIGKILL' && !o.stopRequested;
  const failed = signal !== null || (code !== null && code !== 0);
  const limit = o.memoryMiB !== undefined ? ` (limit ${o.memoryMiB} MiB)` : '';
  const how = signal ? `killed by ${signal}` : code !== null ? `exited with code ${code}` : 'ended';
  let reason: ExitResult['reason'];
  let message: string;
  if (oomKilled && (failed || o.status === undefined)) {
    reason = 'OOMKilled';
    message = `${how}: out of memory${limit}`;
  } else if (o.status === undefined) {
    reason = 'Unknown';
    message = 'ended while unobserved: its supervisor was gone, so the exit status is unknown';
  } else if (o.stopRequested) {
    reason = 'Stopped';
    message = `stopped: ${how}`;
  } else if (signal) {
    reason = 'Signaled';
    message = how;
  } else {
    reason = code === 0 ? 'Completed' : 'Error';
    message = how;
  }
  if (oomKilled && reason !== 'OOMKilled') message += `; a process of the task was killed for exceeding its memory limit${limit}`;
  return { code, signal, oomKilled, reason, message, finishedAt: o.finishedAt };
}
