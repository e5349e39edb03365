/** Shared helpers for benchmarks: child servers, load runs, percentiles, report lines. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';

/** The repository, and the stratus command in it. */
export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/stratus.js');
/** The first admin token the benchmarks start their servers with (STRATUS_BOOTSTRAP_TOKEN). */
export const BENCH_TOKEN = 'bench-admin-token-0123456789';
export const ADMIN_HEADERS = { authorization: `Bearer ${BENCH_TOKEN}`, 'content-type': 'application/json' };

/** A JSON request as the benchmarks' admin: the parsed body; an error status other than those in `allow` throws. */
export async function adminJson(url: string, method: string, path: string, body?: unknown, allow: number[] = []): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(url + path, { method, headers: ADMIN_HEADERS, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok && !allow.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

export interface Child {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Starts a process that prints "ready at URL". */
export async function startChild(args: string[], env: Record<string, string> = {}): Promise<Child> {
  const proc = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /ready at (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  return { url, proc, stop: async () => { proc.kill('SIGTERM'); await exited; } };
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

/** Runs autocannon for `seconds` with `connections`; `body` makes a fresh body per request. */
export async function load(opts: { url: string; method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: () => string; path?: () => string; seconds: number; connections: number }): Promise<LoadResult> {
  const result = await autocannon({
    url: opts.url,
    method: opts.method ?? 'GET',
    headers: { 'content-type': 'application/json', ...opts.headers },
    connections: opts.connections,
    duration: opts.seconds,
    ...(opts.body || opts.path ? {
      requests: [{
        setupRequest: (req: autocannon.Request) => ({ ...req, ...(opts.body ? { body: opts.body() } : {}), ...(opts.path ? { path: opts.path() } : {}) }),
      }],
    } : {}),
  });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors, non2xx: result.non2xx };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function fmt(n: number, digits = 1): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** The median (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** "median (min–max)" of rounds, each formatted with `digits` and `unit`. */
export function spread(xs: readonly number[], digits = 0, unit = ''): string {
  return `${fmt(median(xs), digits)}${unit} (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`;
}

/**
 * Runs `cleanup` when the benchmark is interrupted (SIGINT, SIGTERM) and exits 130, so that an
 * interrupted run leaves nothing behind either. Returns the removal of the handlers.
 */
export function onInterrupt(cleanup: () => Promise<unknown>): () => void {
  const handler = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: cleaning up`);
    void cleanup().catch((e: Error) => console.error(`cleanup: ${e.message}`)).finally(() => process.exit(130));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
