/**
 * `stratus server`'s connection flags and its life until a signal:
 *
 *   first SIGINT/SIGTERM   stop cleanly: watch streams end (resync), controllers and the agent
 *                          stop, in-flight requests get a few seconds, the store flushes; exit 0
 *   second signal          exit at once (1)
 *   stop past the deadline exit (1) with a message instead of hanging
 */
import { Option, InvalidArgumentError, type Command } from 'commander';
import type { RunningServer } from '../../server/main.js';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from '../../server/http-limits.js';
import { parseDuration } from '../../model/format.js';

/** How long a stop may take before the process exits anyway. */
const STOP_DEADLINE_MS = 15_000;

export function addHttpOptions(cmd: Command): Command {
  const d = DEFAULT_HTTP_LIMITS;
  return cmd
    .addOption(new Option('--request-timeout <duration>', 'a request (headers and body) must arrive within this (408); raise it, or 0 for none, for big image uploads over slow links').default(d.requestTimeoutMs, seconds(d.requestTimeoutMs)).argParser(durationOrZero))
    .addOption(new Option('--headers-timeout <duration>', 'a request\'s headers must arrive within this').default(d.headersTimeoutMs, seconds(d.headersTimeoutMs)).argParser(durationOrZero))
    .addOption(new Option('--keep-alive-timeout <duration>', 'an idle keep-alive connection is closed after this').default(d.keepAliveTimeoutMs, seconds(d.keepAliveTimeoutMs)).argParser(durationOrZero))
    .addOption(new Option('--idle-timeout <duration>', 'a connection without traffic is closed after this (authenticated watches and log follows excepted)').default(d.idleTimeoutMs, seconds(d.idleTimeoutMs)).argParser(durationOrZero))
    .addOption(new Option('--max-unauthenticated-connections <n>', 'connections one address may hold open before an authenticated request; more are refused (429)').default(d.maxUnauthenticatedPerAddress).argParser(count));
}

export function httpLimitsFrom(opts: Record<string, unknown>): HttpLimits {
  return {
    requestTimeoutMs: opts.requestTimeout as number,
    headersTimeoutMs: opts.headersTimeout as number,
    keepAliveTimeoutMs: opts.keepAliveTimeout as number,
    idleTimeoutMs: opts.idleTimeout as number,
    maxUnauthenticatedPerAddress: opts.maxUnauthenticatedConnections as number,
  };
}

/** Resolves once `server` has stopped after SIGINT or SIGTERM; exits the process on a second one. */
export function runUntilSignal(server: RunningServer): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write(`${signal} again: exiting now\n`);
        process.exit(1);
      }
      stopping = true;
      process.stderr.write(`\n${signal}: stopping Stratus (${signal} again to exit at once)...\n`);
      const deadline = setTimeout(() => {
        process.stderr.write(`error: still stopping after ${STOP_DEADLINE_MS / 1000} s; exiting\n`);
        process.exit(1);
      }, STOP_DEADLINE_MS);
      deadline.unref();
      void server.stop().then(() => {
        clearTimeout(deadline);
        process.stderr.write('stopped\n');
        resolve();
      }, (e: Error) => {
        clearTimeout(deadline);
        process.stderr.write(`error while stopping: ${e.message}\n`);
        process.exitCode = 1;
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

function seconds(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`;
}

function durationOrZero(v: string): number {
  if (v.trim() === '0') return 0;
  const ms = parseDuration(v);
  if (ms === undefined) throw new InvalidArgumentError(`"${v}" is not a duration (use e.g. 500ms, 10s, 5m; 0 for none)`);
  return ms;
}

function count(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`"${v}" is not a positive integer`);
  return n;
}
