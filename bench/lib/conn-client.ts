/**
 * A load client that opens a new TCP connection for every request and times the whole of it:
 * connect, request, response, until the server closes (HTTP/1.1, Connection: close). What wrk's
 * latency leaves out (its clock starts after the connect) is inside here, on every path alike:
 * a balancer's handshake, its DNAT, HAProxy's own connect to the backend.
 *
 *   node --import tsx bench/lib/conn-client.ts --seconds 5 --connections 32 --threads 2 HOST:PORT [HOST:PORT...]
 *
 * Each of `connections` loops (spread over `threads` processes) connects, sends one request,
 * reads the response to its end, and starts over; with several targets, each request goes to the
 * next (the client spreads its connections itself). Prints one JSON line: requests, errors,
 * requests per second, and every latency in ms (sorted) for the caller's percentiles.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { parseArgs } from 'node:util';

interface Job {
  targets: { host: string; port: number }[];
  loops: number;
  seconds: number;
}

interface Result {
  latencies: number[];
  errors: number;
  /** How long this process's loops ran (from its own start: process start-up is not counted). */
  seconds: number;
}

export interface ConnResult {
  requests: number;
  errors: number;
  /** Requests per second: the sum of each process's own rate. */
  rps: number;
  /** Milliseconds per request, ascending. */
  latencies: number[];
}

const REQUEST = 'GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n';

/** One request on a new connection: ms from connect() to the server's close, or undefined on an error or a non-200. */
function once(target: { host: string; port: number }): Promise<number | undefined> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let head = '';
    const s = connect({ host: target.host, port: target.port, noDelay: true });
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
    s.once('connect', () => s.end(REQUEST));
    s.on('data', (d: Buffer) => {
      if (head.length < 16) head += d.toString('latin1');
    });
    s.once('error', () => resolve(undefined));
    s.once('close', (hadError) => resolve(!hadError && head.startsWith('HTTP/1.1 200') ? performance.now() - t0 : undefined));
  });
}

async function loop(job: Job, offset: number, until: number, out: Result): Promise<void> {
  let n = offset;
  while (performance.now() < until) {
    const ms = await once(job.targets[n++ % job.targets.length]!);
    if (ms === undefined) out.errors++;
    else out.latencies.push(ms);
  }
}

async function work(job: Job, first: number): Promise<Result> {
  const out: Result = { latencies: [], errors: 0, seconds: 0 };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: job.loops }, (_, i) => loop(job, first + i, t0 + job.seconds * 1000, out)));
  out.seconds = (performance.now() - t0) / 1000;
  return out;
}

/** A share of the loops in a process of its own (worker threads would not load TypeScript here). */
function child(job: Job, first: number): Promise<Result> {
  const argv = [...process.execArgv, process.argv[1]!, '--job', JSON.stringify({ job, first })];
  const c = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  c.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    c.once('error', reject);
    c.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Result) : reject(new Error(`conn-client child exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '32' }, threads: { type: 'string', default: '2' }, job: { type: 'string' } } });
  if (values.job) {
    const { job, first } = JSON.parse(values.job) as { job: Job; first: number };
    process.stdout.write(JSON.stringify(await work(job, first)));
    return;
  }
  const targets = positionals.map((t) => {
    const [host, port] = t.split(':');
    return { host: host!, port: Number(port ?? 80) };
  });
  const threads = Number(values.threads);
  const connections = Number(values.connections);
  const seconds = Number(values.seconds);
  const results = await Promise.all(Array.from({ length: threads }, (_, t) => {
    const loops = Math.floor(connections / threads) + (t < connections % threads ? 1 : 0);
    return threads === 1 ? work({ targets, loops, seconds }, 0) : child({ targets, loops, seconds }, t * loops);
  }));
  const latencies = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const rps = results.reduce((a, r) => a + r.latencies.length / r.seconds, 0);
  const out: ConnResult = { requests: latencies.length, errors: results.reduce((a, r) => a + r.errors, 0), rps, latencies };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

await main();
