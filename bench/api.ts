/**
 * API benchmark (issue: control plane foundation).
 *
 * Throughput and p50/p99 latency of instance create, get and list on SQLite with 10,000 existing
 * instances, against a bare Fastify route doing the same JSON parse, schema validation and SQLite
 * write, in the same run (alternating, so drift on this shared machine hits both). Then the
 * watch latency: write → event at a subscriber.
 *
 *   npx tsx bench/api.ts [--seconds 5] [--connections 16] [--rounds 2] [--sync full|normal]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startChild, load, percentile, fmt, BIN, ROOT, BENCH_TOKEN as TOKEN, type Child, type LoadResult } from './lib/util.js';
import { readEvents } from '../src/client/index.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '16' }, rounds: { type: 'string', default: '2' }, sync: { type: 'string', default: 'full' }, existing: { type: 'string', default: '10000' } } });
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const ROUNDS = Number(values.rounds);
const EXISTING = Number(values.existing);
const AUTH = { authorization: `Bearer ${TOKEN}` };

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

type Phase = 'create' | 'get' | 'list';

async function measure(server: Child, phase: Phase, known: string[]): Promise<LoadResult> {
  const base = `${server.url}/v1/projects/bench/instances`;
  if (phase === 'create') return load({ url: base, method: 'POST', headers: AUTH, body, seconds: SECONDS, connections: CONNECTIONS });
  if (phase === 'get') {
    let i = 0;
    const path = new URL(base).pathname;
    return load({ url: base, headers: AUTH, seconds: SECONDS, connections: CONNECTIONS, path: () => `${path}/${known[(i = (i * 7919 + 13) % known.length)]}` });
  }
  return load({ url: `${base}?limit=100`, headers: AUTH, seconds: SECONDS, connections: CONNECTIONS });
}

async function watchLatency(url: string, samples: number): Promise<{ p50: number; p99: number; max: number; ackP50: number; ackP99: number }> {
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
  return { p50: percentile(delays, 50), p99: percentile(delays, 99), max: delays.at(-1)!, ackP50: percentile(acks, 50), ackP99: percentile(acks, 99) };
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
    console.log(`preloaded ${EXISTING} instances: stratus ${fmt(preOurs, 0)}/s, bare ${fmt(preBare, 0)}/s (sequential-ish, 16 in flight)`);
    const knownOurs = await names(ours.url);
    const knownBare = await names(bare.url);
    const results: Record<string, Record<Phase, LoadResult[]>> = { stratus: { create: [], get: [], list: [] }, bare: { create: [], get: [], list: [] } };
    for (let round = 0; round < ROUNDS; round++) {
      for (const phase of ['create', 'get', 'list'] as Phase[]) {
        const order: [string, Child, string[]][] = round % 2 === 0 ? [['stratus', ours, knownOurs], ['bare', bare, knownBare]] : [['bare', bare, knownBare], ['stratus', ours, knownOurs]];
        for (const [name, server, known] of order) results[name]![phase].push(await measure(server, phase, known));
      }
    }
    // The watch is measured on its own: the load phases' writes (and what controllers do about
    // them) settle first, so that this is the path write → subscriber, not a queue behind them.
    await new Promise((r) => setTimeout(r, 3000));
    const watch = await watchLatency(ours.url, 500);
    report(results, watch);
  } finally {
    await ours.stop();
    await bare.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function mean(rs: LoadResult[], f: (r: LoadResult) => number): number {
  return rs.reduce((a, r) => a + f(r), 0) / rs.length;
}

function report(results: Record<string, Record<Phase, LoadResult[]>>, watch: { p50: number; p99: number; max: number; ackP50: number; ackP99: number }): void {
  console.log(`\nsqlite sync=${values.sync}, ${CONNECTIONS} connections, ${SECONDS}s x ${ROUNDS} rounds per phase, ${EXISTING}+ existing instances\n`);
  console.log('| operation | stratus req/s | bare req/s | ratio | stratus p50 / p99 ms | bare p50 / p99 ms |');
  console.log('|---|---|---|---|---|---|');
  for (const phase of ['create', 'get', 'list'] as Phase[]) {
    const o = results.stratus![phase];
    const b = results.bare![phase];
    const errs = o.reduce((a, r) => a + r.errors + r.non2xx, 0) + b.reduce((a, r) => a + r.errors + r.non2xx, 0);
    const ratio = mean(o, (r) => r.rps) / mean(b, (r) => r.rps);
    console.log(`| ${phase}${phase === 'list' ? ' (100/page)' : ''} | ${fmt(mean(o, (r) => r.rps), 0)} | ${fmt(mean(b, (r) => r.rps), 0)} | ${fmt(ratio * 100, 0)} % | ${fmt(mean(o, (r) => r.p50))} / ${fmt(mean(o, (r) => r.p99))} | ${fmt(mean(b, (r) => r.p50))} / ${fmt(mean(b, (r) => r.p99))} |${errs ? ` (${errs} errors!)` : ''}`);
  }
  console.log(`\nwatch: write sent → event received, 500 sequential writes: p50 ${fmt(watch.p50, 2)} ms, p99 ${fmt(watch.p99, 2)} ms, max ${fmt(watch.max, 2)} ms (target p99 ≤ 10 ms); the write's own response (fsync included): p50 ${fmt(watch.ackP50, 2)} ms, p99 ${fmt(watch.ackP99, 2)} ms`);
}

await main();
