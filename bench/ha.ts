/**
 * High availability benchmark (issue 15), in one run on one three-member etcd cluster (real etcd
 * processes on loopback, test/helpers/etcd.ts):
 *
 * 1. Failover (bench/lib/ha-failover.ts): three `stratus server`s on the etcd and one real agent;
 *    SIGKILL the leading server → a survivor names another leader, and → an instance created right
 *    after the kill is bound by the new leader. Peers in the same run: etcd's own election on the
 *    same members (SIGKILL the leading member → a survivor names another leader), interleaved
 *    round by round, and Kubernetes' default leader-election lease (a constant).
 * 2. API throughput (bench/lib/ha-api.ts): the same create workload against Stratus on etcd,
 *    Stratus on SQLite and a bare Fastify route writing into the same etcd with the same client
 *    (bench/lib/ha-bare-etcd.ts), interleaved round by round; ratios per round.
 * 3. Watch latency: write → event through the API on etcd, and through a raw etcd3 watch.
 *
 *   npm run bench -- ha [-- --rounds 10 --api-rounds 3 --seconds 5 --connections 16 --existing 300
 *                          --watch-samples 1000 --pause 1000 --leader-ttl 3]
 *
 * Needs etcd (Debian's etcd-server, scripts/install-deps.sh), root (the agent) and `npm run build`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fmt, median, onInterrupt, percentile, spread } from './lib/util.js';
import { failoverRounds, type FailoverRound } from './lib/ha-failover.js';
import { apiRound, preload, startApiTargets, watchLatency, TARGETS, type ApiRound, type ApiTargets, type Latency, type WatchResult } from './lib/ha-api.js';
import { etcdBinary, startEtcd, type EtcdCluster } from '../test/helpers/etcd.js';
import { startHa, type Ha } from '../test/helpers/ha.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' }, 'api-rounds': { type: 'string', default: '3' }, seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' }, existing: { type: 'string', default: '300' }, 'watch-samples': { type: 'string', default: '1000' }, pause: { type: 'string', default: '1000' },
    'leader-ttl': { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds);
const API_ROUNDS = Number(values['api-rounds']);
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const EXISTING = Number(values.existing);
const WATCH_SAMPLES = Number(values['watch-samples']);
const PAUSE_MS = Number(values.pause);
/**
 * Kubernetes' default leader-election lease: kube-controller-manager's and kube-scheduler's
 * --leader-elect-lease-duration=15s (renew deadline 10 s, retry period 2 s). A candidate takes a
 * dead leader's lease only once it has expired: a constant, not measured here.
 */
const K8S_LEASE_MS = 15_000;
const TARGET_FAILOVER_MS = 5_000;
/** The test helper's etcd timing (test/helpers/etcd.ts); etcd's defaults are 100 / 1000 ms. */
const ETCD_TIMING = 'heartbeat 50 ms, election timeout 500 ms';

/** `etcd --version`'s version number. */
function etcdVersion(): string {
  return /etcd Version: (\S+)/.exec(execFileSync(etcdBinary()!, ['--version'], { encoding: 'utf8' }))?.[1] ?? '(unknown version)';
}

function printFailover(n: number, r: FailoverRound): void {
  console.log(`kill ${n + 1}/${ROUNDS} (${n % 2 ? 'etcd' : 'stratus'} first, load ${fmt(r.load, 2)}): new leader ${fmt(r.leaderMs, 0)} ms, first binding ${fmt(r.boundMs, 0)} ms; etcd election ${fmt(r.etcdMs, 0)} ms`);
}

function printApiRound(n: number, r: ApiRound): void {
  const parts = TARGETS.map((t) => `${t} ${fmt(r.results[t].rps, 0)}/s`);
  console.log(`api round ${n + 1}/${API_ROUNDS} (${TARGETS[n % 3]} first, load ${fmt(r.load, 2)}): ${parts.join(', ')}; etcd ÷ bare ${fmt(ratio(r, 'bare'), 0)} %, etcd ÷ sqlite ${fmt(ratio(r, 'sqlite'), 0)} %`);
}

const ratio = (r: ApiRound, peer: 'bare' | 'sqlite') => (r.results.etcd.rps / r.results[peer].rps) * 100;
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const sec = (ms: number) => `${fmt(ms / 1000, 2)} s`;

function reportFailover(rs: FailoverRound[]): void {
  console.log(`\nFailover, ${rs.length} kills of each (etcd members: ${ETCD_TIMING}; Stratus --leader-ttl ${values['leader-ttl'] ?? '3 (the default on etcd)'}); p99 of ${rs.length} is the slowest\n`);
  console.log('| from SIGKILL to | p50 | p99 | min | target / peer |');
  console.log('|---|---|---|---|---|');
  const row = (what: string, xs: number[], note: string) => {
    const s = sorted(xs);
    console.log(`| ${what} | **${sec(percentile(s, 50))}** | **${sec(percentile(s, 99))}** | ${sec(s[0]!)} | ${note} |`);
  };
  const bound = sorted(rs.map((r) => r.boundMs));
  row('Stratus: another server leads (GET /v1/servers)', rs.map((r) => r.leaderMs), '');
  row('Stratus: first instance bound by the new leader', bound, `target ≤ 5 s: ${bound.filter((x) => x <= TARGET_FAILOVER_MS).length}/${rs.length} kills`);
  row('etcd: another member leads (same members, same run)', rs.map((r) => r.etcdMs), 'peer');
  console.log(`| Kubernetes: the default lease expires (constant) | 15 s | 15 s | | peer: --leader-elect-lease-duration=15s |`);
  const etcdP50 = percentile(sorted(rs.map((r) => r.etcdMs)), 50);
  console.log(`\nratios: Stratus first binding p50 ÷ Kubernetes' 15 s lease = ${fmt((percentile(bound, 50) / K8S_LEASE_MS) * 100, 0)} % (p99 ${fmt((percentile(bound, 99) / K8S_LEASE_MS) * 100, 0)} %); ÷ etcd's own election p50 = ${fmt(percentile(bound, 50) / etcdP50, 1)}×`);
}

function reportApi(rs: ApiRound[]): void {
  const loads = rs.map((r) => r.load);
  console.log(`\nAPI creates: ${CONNECTIONS} connections, ${SECONDS} s per target, ${rs.length} rounds (order rotating), load ${fmt(Math.min(...loads), 2)}–${fmt(Math.max(...loads), 2)}; median (min–max) over the rounds\n`);
  console.log('| target | creates/s | p50 / p99 ms | CPU µs per create: its process / the 3 etcd members | etcd requests per create | errors |');
  console.log('|---|---|---|---|---|---|');
  const names = { etcd: 'Stratus on etcd', sqlite: 'Stratus on SQLite', bare: 'bare Fastify route → etcd' };
  for (const t of TARGETS) {
    const xs = rs.map((r) => r.results[t]);
    const errs = xs.reduce((a, r) => a + r.errors + r.non2xx, 0);
    const [etcdCpu, calls] = t === 'sqlite' ? ['–', '–'] : [spread(xs.map((r) => r.etcdCpuUs)), fmt(median(xs.map((r) => r.etcdCalls)), 1)];
    console.log(`| ${names[t]} | ${spread(xs.map((r) => r.rps))} | ${fmt(median(xs.map((r) => r.p50)), 0)} / ${fmt(median(xs.map((r) => r.p99)), 0)} | ${spread(xs.map((r) => r.serverCpuUs))} / ${etcdCpu} | ${calls} | ${errs} |`);
  }
  const held = rs.filter((r) => ratio(r, 'bare') >= 50).length;
  console.log(`\nratios (per round): Stratus on etcd ÷ bare etcd route **${spread(rs.map((r) => ratio(r, 'bare')), 0, ' %')}** (target ≥ 50 %: ${held}/${rs.length} rounds); Stratus on etcd ÷ Stratus on SQLite **${spread(rs.map((r) => ratio(r, 'sqlite')), 0, ' %')}**`);
}

function reportWatch(w: WatchResult): void {
  console.log(`\nWatch, write sent → event received, ${w.samples} sequential writes each, alternating (ms)\n`);
  console.log('| path | p50 | p99 | max | the write\'s own answer p50 / p99 |');
  console.log('|---|---|---|---|---|');
  const row = (what: string, l: Latency) => console.log(`| ${what} | ${fmt(l.p50, 2)} | **${fmt(l.p99, 2)}** | ${fmt(l.max, 1)} | ${fmt(l.ackP50, 2)} / ${fmt(l.ackP99, 2)} |`);
  row('Stratus API on etcd (POST, watch stream)', w.api);
  row('raw etcd3 (create Txn, etcd watch): the floor', w.raw);
  console.log(`\nAPI p99 − floor p99 = ${fmt(w.api.p99 - w.raw.p99, 2)} ms; load ${fmt(loadavg()[0]!, 2)}`);
}

/** The failover rounds on three servers over `etcd` (stopped afterwards); `track` keeps them for an interrupt's cleanup. */
async function failoverPhase(etcd: EtcdCluster, work: string, track: (ha: Ha | undefined) => void): Promise<void> {
  const ha = await startHa({ store: etcd.endpoints, servers: 3, args: values['leader-ttl'] ? ['--leader-ttl', values['leader-ttl']] : [] });
  track(ha);
  try {
    reportFailover(await failoverRounds(ha, etcd, work, ROUNDS, PAUSE_MS, printFailover));
  } finally {
    await ha.stop();
    track(undefined);
  }
}

/** The API rounds and the watch latency on the three targets over `etcd`. */
async function apiPhase(etcd: EtcdCluster, api: ApiTargets): Promise<void> {
  const members = { pids: () => etcd.members.map((m) => m.pid), urls: etcd.members.map((m) => m.clientUrl) };
  if (API_ROUNDS > 0) {
    const pre = await preload(api, members, EXISTING);
    console.log(`\npreloaded ${EXISTING} instances each (16 in flight); the first ${pre.measured}, each given an address: Stratus on etcd ${fmt(pre.rate.etcd, 0)}/s with ${fmt(pre.etcdCalls, 1)} etcd requests per create, on SQLite ${fmt(pre.rate.sqlite, 0)}/s; later creates find the /24 full (a NetworkFull event each)`);
    const rounds: ApiRound[] = [];
    for (let n = 0; n < API_ROUNDS; n++) {
      rounds.push(await apiRound(n, api, members, SECONDS, CONNECTIONS));
      printApiRound(n, rounds.at(-1)!);
    }
    reportApi(rounds);
  }
  if (WATCH_SAMPLES > 0) reportWatch(await watchLatency(api.children.etcd, etcd.endpoints, WATCH_SAMPLES));
}

/** Runs the phases asked for (`--rounds 0`, `--api-rounds 0`, `--watch-samples 0` skip theirs); cleans up on the way out. */
async function main(): Promise<void> {
  if (!etcdBinary()) throw new Error('etcd is not installed (scripts/install-deps.sh installs etcd-server)');
  if (ROUNDS > 0 && process.getuid?.() !== 0) throw new Error('the failover rounds run a real agent, which needs root (or skip them: --rounds 0)');
  if (!existsSync(join(import.meta.dirname, '..', 'dist'))) throw new Error('run `npm run build` first');
  const work = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'stratus-bench-ha-'));
  let etcd: EtcdCluster | undefined;
  let ha: Ha | undefined;
  let api: ApiTargets | undefined;
  const cleanup = async () => {
    await ha?.stop();
    await api?.stop();
    await etcd?.stop();
    rmSync(work, { recursive: true, force: true });
  };
  const off = onInterrupt(cleanup);
  try {
    console.log(`npm run bench -- ha -- --rounds ${ROUNDS} --api-rounds ${API_ROUNDS} --seconds ${SECONDS} --connections ${CONNECTIONS} --existing ${EXISTING} --watch-samples ${WATCH_SAMPLES} --pause ${PAUSE_MS}${values['leader-ttl'] ? ` --leader-ttl ${values['leader-ttl']}` : ''}`);
    etcd = await startEtcd({ members: 3 });
    console.log(`etcd ${etcdVersion()}: 3 members on loopback (${ETCD_TIMING}), data on ${work.startsWith('/dev/shm') ? 'tmpfs' : 'disk'}; load ${fmt(loadavg()[0]!, 2)}`);
    if (ROUNDS > 0) await failoverPhase(etcd, work, (h) => (ha = h));
    if (API_ROUNDS > 0 || WATCH_SAMPLES > 0) {
      api = await startApiTargets(etcd.endpoints, work);
      await apiPhase(etcd, api);
    }
  } finally {
    off();
    await cleanup();
  }
}

await main();
