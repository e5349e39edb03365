/**
 * API benchmark (issue: control plane foundation; issue 19: figures a skeptic accepts).
 *
 * Throughput and latency of instance create, get and list on SQLite with 10,000 existing
 * instances, against a bare Fastify route (bench/lib/bare-server.ts) doing the same JSON parse,
 * schema validation and SQLite write, in the same run. Every round measures each phase on both
 * servers one after the other (which goes first alternates), so drift on this shared machine hits
 * both; each ratio is Stratus's rate over the bare route's in the same round, reported as the
 * median of the rounds with their spread (min–max). Every measurement starts once Stratus's
 * controllers have finished reacting to earlier creates (its store revision stays still), so a
 * read phase is not measured against the write backlog of the create phase before it.
 * Then the watch latency: write → event at a subscriber, over `--watch-samples` sequential writes.
 *
 *   npx tsx bench/api.ts [--seconds 5] [--connections 16] [--rounds 5] [--sync full|normal]
 *                        [--existing 10000] [--watch-samples 1000]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startChild, load, percentile, fmt, spread, BIN, ROOT, BENCH_TOKEN as TOKEN, type Child, type LoadResult } from './lib/util.js';
import { readEvents } from '../src/client/index.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '16' }, rounds: { type: 'string', default: '5' },
    sync: { type: 'string', default: 'full' }, existing: { type: 'string', default: '10000' }, 'watch-samples': { type: 'string', default: '1000' },
  },
});
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const ROUNDS = Number(values.rounds);
const EXISTING = Number(values.existing);
const WATCH_SAMPLES = Number(values['watch-samples']);
const AUTH = { authorization: `Bearer ${TOKEN}` };
/** Fewer samples than this and a p99 is only the slowest few: the report then says so. */
const MIN_SAMPLES = 1000;

let seq = 0;
const body = () => JSON.stringify({
  kind: 'instance',
  metadata: { name: `b-${process.pid}-${++seq}`, labels: { app: 'bench', tier: 'web' } },
  spec: { driver: 'process', command: ['sleep', '3600'], resources: { cpu: '250m', memory: '128Mi' }, ports: [{ port: 8080 }] },
});

async function preload(base: string, n: number): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const res = await fetch(`${base}/v1/projects/bench/instances`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: body() });
      if (res.status !== 201) throw new Error(`preload: ${res.status} ${await res.text()}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return (n / (performance.now() - t0)) * 1000;
}

async function names(base: string): Promise<string[]> {
  const res = await fetch(`${base}/v1/projects/bench/instances?limit=2000`, { headers: AUTH });
  return ((await res.json()) as { items: { metadata: { name: string } }[] }).items.map((o) => o.metadata.name);
}

/**
 * Waits until Stratus's store revision has not moved for 0.6 s (its controllers are done with
 * what the last phase created), at most a minute; returns the seconds waited.
 */
async function settle(url: string): Promise<number> {
  const t0 = performance.now();
  let last = -1;
  for (let still = 0; still < 3 && performance.now() - t0 < 60_000;) {
    const res = await fetch(`${url}/v1/projects/bench/instances?limit=1`, { headers: AUTH });
    const { revision } = (await res.json()) as { revision: number };
    still = revision === last ? still + 1 : 0;
    last = revision;
    await new Promise((r) => setTimeout(r, 200));
  }
  return (performance.now() - t0) / 1000;
}

type Phase = 'create' | 'get' | 'list';
const PHASES: Phase[] = ['create', 'get', 'list'];
type Side = 'stratus' | 'bare';
/** A phase's load result, and the CPU time its server spent per request (µs). */
type Measured = LoadResult & { cpuPerRequest: number };
interface Round { load: number; settled: number; results: Record<Side, Record<Phase, Measured>> }

/** CPU seconds (user + system) process `pid` has used so far; NaN where /proc is not there. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

/** Runs one phase against `server`, with the server's own CPU time per request. */
async function measure(server: Child, phase: Phase, known: string[]): Promise<Measured> {
  const cpu0 = cpuSeconds(server.proc.pid);
  const result = await drive(server, phase, known);
  const cpu = cpuSeconds(server.proc.pid) - cpu0;
  return { ...result, cpuPerRequest: (cpu / (result.rps * SECONDS)) * 1e6 };
}

async function drive(server: Child, phase: Phase, known: string[]): Promise<LoadResult> {
  const base = `${server.url}/v1/projects/bench/instances`;
  if (phase === 'create') return load({ url: base, method: 'POST', headers: AUTH, body, seconds: SECONDS, connections: CONNECTIONS });
  if (phase === 'get') {
    let i = 0;
    const path = new URL(base).pathname;
    return load({ url: base, headers: AUTH, seconds: SECONDS, connections: CONNECTIONS, path: () => `${path}/${known[(i = (i * 7919 + 13) % known.length)]}` });
  }
  return load({ url: `${base}?limit=100`, headers: AUTH, seconds: SECONDS, connections: CONNECTIONS });
}

/** One round: each phase on both servers, in the order `first` then the other. */
async function round(n: number, servers: Record<Side, { child: Child; known: string[] }>): Promise<Round> {
  const order: Side[] = n % 2 === 0 ? ['stratus', 'bare'] : ['bare', 'stratus'];
  const results = { stratus: {}, bare: {} } as Round['results'];
  let settled = 0;
  for (const phase of PHASES) {
    for (const side of order) {
      settled += await settle(servers.stratus.child.url);
      results[side][phase] = await measure(servers[side].child, phase, servers[side].known);
    }
  }
  return { load: loadavg()[0]!, settled, results };
}

interface WatchResult { p50: number; p99: number; max: number; ackP50: number; ackP99: number; ackMax: number }

async function watchLatency(url: string, samples: number): Promise<WatchResult> {
  const controller = new AbortController();
  const res = await fetch(`${url}/v1/projects/bench/instances?watch=true&selector=app%3Dwatch`, { headers: AUTH, signal: controller.signal });
  const sentAt = new Map<string, number>();
  const delays: number[] = [];
  const acks: number[] = [];
  const reader = (async () => {
    for await (const msg of readEvents(res.body!)) {
      const name = (msg.object as { metadata?: { name: string } } | undefined)?.metadata?.name;
      const t = name ? sentAt.get(name) : undefined;
      if (t !== undefined) delays.push(performance.now() - t);
      if (delays.length >= samples) return;
    }
  })();
  for (let i = 0; i < samples; i++) {
    const name = `w-${i}`;
    const payload = JSON.stringify({ kind: 'instance', metadata: { name, labels: { app: 'watch' } }, spec: { driver: 'process', command: ['true'] } });
    const t0 = performance.now();
    sentAt.set(name, t0);
    const r = await fetch(`${url}/v1/projects/bench/instances`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: payload });
    await r.arrayBuffer();
    acks.push(performance.now() - t0);
  }
  await reader;
  controller.abort();
  delays.sort((a, b) => a - b);
  acks.sort((a, b) => a - b);
  return { p50: percentile(delays, 50), p99: percentile(delays, 99), max: delays.at(-1)!, ackP50: percentile(acks, 50), ackP99: percentile(acks, 99), ackMax: acks.at(-1)! };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-'));
  // The API is measured, like its bare peer: no agent runs the instances, no scheduler places them.
  const ours = await startChild([BIN, 'server', '--data-dir', join(dir, 'stratus'), '--port', '0', '--store-sync', values.sync!, '--no-agent', '--no-scheduler'], { STRATUS_BOOTSTRAP_TOKEN: TOKEN });
  const bare = await startChild(['--import', 'tsx', join(ROOT, 'bench/lib/bare-server.ts'), join(dir, 'bare.db'), values.sync!]);
  try {
    await fetch(`${ours.url}/v1/projects`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { name: 'bench' }, spec: {} }) });
    const preOurs = await preload(ours.url, EXISTING);
    const preBare = await preload(bare.url, EXISTING);
    console.log(`preloaded ${EXISTING} instances: stratus ${fmt(preOurs, 0)}/s, bare ${fmt(preBare, 0)}/s (16 in flight)`);
    const servers = { stratus: { child: ours, known: await names(ours.url) }, bare: { child: bare, known: await names(bare.url) } };
    const rounds: Round[] = [];
    for (let n = 0; n < ROUNDS; n++) {
      rounds.push(await round(n, servers));
      printRound(n, rounds.at(-1)!);
    }
    // The watch is measured on its own, once the load phases' writes (and what controllers do
    // about them) have settled: this is the path write → subscriber, not a queue behind them.
    await settle(ours.url);
    const watch = await watchLatency(ours.url, WATCH_SAMPLES);
    report(rounds, watch);
  } finally {
    await ours.stop();
    await bare.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function printRound(n: number, r: Round): void {
  const parts = PHASES.map((p) => {
    const [o, b] = [r.results.stratus[p], r.results.bare[p]];
    return `${p} ${fmt(o.rps, 0)}/${fmt(b.rps, 0)} = ${fmt((o.rps / b.rps) * 100, 0)} % (${fmt(o.cpuPerRequest, 0)}/${fmt(b.cpuPerRequest, 0)} µs)`;
  });
  console.log(`round ${n + 1} (${n % 2 === 0 ? 'stratus' : 'bare'} first, load ${fmt(r.load, 2)}, waited ${fmt(r.settled, 1)} s for the controllers): ${parts.join(', ')} (stratus/bare req/s, and server CPU per request)`);
}

/** "p50 / p99" medians over rounds; p99 only where every round had enough samples for it. */
function latency(rs: Measured[]): string {
  const samples = Math.min(...rs.map((r) => r.rps * SECONDS));
  const p99 = samples >= MIN_SAMPLES ? spread(rs.map((r) => r.p99)) : `n/a (${fmt(samples, 0)} samples)`;
  return `${spread(rs.map((r) => r.p50))} / ${p99}`;
}

function report(rounds: Round[], watch: WatchResult): void {
  const loads = rounds.map((r) => r.load);
  console.log(`\nsqlite sync=${values.sync}, ${CONNECTIONS} connections, ${SECONDS}s per phase and server, ${ROUNDS} rounds, ${EXISTING}+ existing instances, load average ${fmt(Math.min(...loads), 2)}–${fmt(Math.max(...loads), 2)}`);
  console.log('medians over the rounds, (min–max) across rounds; latencies in ms from autocannon (1 ms resolution), each from every request of a phase\n');
  console.log('| operation | stratus req/s | bare req/s | ratio | rounds ≥ 50 % | stratus p50 / p99 ms | bare p50 / p99 ms | requests per phase | server CPU µs per request: stratus / bare |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const phase of PHASES) {
    const o = rounds.map((r) => r.results.stratus[phase]);
    const b = rounds.map((r) => r.results.bare[phase]);
    const errs = [...o, ...b].reduce((a, r) => a + r.errors + r.non2xx, 0);
    const ratios = rounds.map((r) => (r.results.stratus[phase].rps / r.results.bare[phase].rps) * 100);
    const held = ratios.filter((x) => x >= 50).length;
    const samples = Math.min(...[...o, ...b].map((r) => r.rps * SECONDS));
    console.log(`| ${phase}${phase === 'list' ? ' (100/page)' : ''} | ${spread(o.map((r) => r.rps))} | ${spread(b.map((r) => r.rps))} | **${spread(ratios, 0, ' %')}** | ${held}/${rounds.length} | ${latency(o)} | ${latency(b)} | ≥ ${fmt(samples, 0)} | ${spread(o.map((r) => r.cpuPerRequest))} / ${spread(b.map((r) => r.cpuPerRequest))} |${errs ? ` (${errs} errors!)` : ''}`);
  }
  const p99 = (v: number) => (WATCH_SAMPLES >= MIN_SAMPLES ? `p99 ${fmt(v, 2)} ms` : 'p99 n/a');
  console.log(`\nwatch: write sent → event received, ${WATCH_SAMPLES} sequential writes: p50 ${fmt(watch.p50, 2)} ms, ${p99(watch.p99)}, max ${fmt(watch.max, 2)} ms (target p99 ≤ 10 ms); the write's own response (its commit${values.sync === 'full' ? ', fsync included' : ''}): p50 ${fmt(watch.ackP50, 2)} ms, ${p99(watch.ackP99)}, max ${fmt(watch.ackMax, 2)} ms; load ${fmt(loadavg()[0]!, 2)}`);
}

await main();
