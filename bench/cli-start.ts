/**
 * How long the `stratus` command takes to start and answer (issue 12: the CLI imports only what
 * a command needs; the server, agent and scheduler load only when those commands run).
 *
 *   stratus --version      against `node -e 0` (a Node process that does nothing)
 *   stratus get nodes      against the peer: a Node process that makes the same request with
 *                          fetch and prints the body (node -e 0 plus the request itself)
 *
 * Each round runs every command once, in an order that rotates; the table gives medians over the
 * rounds (wall time of the process, spawn to exit). Target: get nodes within 2x of the peer.
 *
 *   npx tsx bench/cli-start.ts [--rounds 20]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BIN, BENCH_TOKEN, fmt, onInterrupt, percentile, startChild } from './lib/util.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' } } });
const rounds = Number(values.rounds);
const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-cli-'));
const server = await startChild([BIN, 'server', '--data-dir', dir, '--port', '0', '--no-agent', '--no-scheduler'], { STRATUS_BOOTSTRAP_TOKEN: BENCH_TOKEN });
const stopInterrupt = onInterrupt(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const env = { ...process.env, STRATUS_SERVER: server.url, STRATUS_TOKEN: BENCH_TOKEN, STRATUS_CONFIG: join(dir, 'cli.json') };
const fetchNodes = `fetch(process.env.STRATUS_SERVER + '/v1/nodes', { headers: { authorization: 'Bearer ' + process.env.STRATUS_TOKEN } }).then((r) => r.text()).then((t) => process.stdout.write(t))`;
const commands: Record<string, string[]> = {
  'node -e 0': ['-e', '0'],
  'node + fetch /v1/nodes (peer)': ['-e', fetchNodes],
  'stratus --version': [BIN, '--version'],
  'stratus get nodes': [BIN, 'get', 'nodes'],
};

/** Wall milliseconds of one run; throws if it fails. */
function time(args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  return ms;
}

const names = Object.keys(commands);
const samples = new Map(names.map((n) => [n, [] as number[]]));
for (const n of names) time(commands[n]!); // warm the file cache once
for (let round = 0; round < rounds; round++) {
  for (let i = 0; i < names.length; i++) {
    const n = names[(i + round) % names.length]!;
    samples.get(n)!.push(time(commands[n]!));
  }
}

const median = (n: string) => percentile([...samples.get(n)!].sort((a, b) => a - b), 50);
console.log(`${rounds} rounds, wall time per process (median)`);
for (const n of names) console.log(`  ${n.padEnd(32)} ${fmt(median(n), 0).padStart(6)} ms`);
console.log(`stratus --version / node -e 0:              ${fmt(median('stratus --version') / median('node -e 0'), 2)}x`);
console.log(`stratus get nodes / node + fetch (target 2x): ${fmt(median('stratus get nodes') / median('node + fetch /v1/nodes (peer)'), 2)}x`);

stopInterrupt();
await server.stop();
rmSync(dir, { recursive: true, force: true });
