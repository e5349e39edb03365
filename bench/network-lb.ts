/**
 * Service load balancer benchmark: requests per second and latency of a service address against
 * its peers, in one run, interleaved round by round so that drift on this shared machine hits all:
 *
 *   direct           the client talks to one replica (the limit)
 *   direct ×3        the client spreads its connections over the three replicas itself (no balancer)
 *   stratus dnat     the service address, round-robin DNAT by nftables (the default mechanism)
 *   stratus proxy    the service address, least-connections userspace proxy (balancer.ts)
 *   haproxy rr       HAProxy (Debian's package, mode tcp, balance roundrobin) for the same three replicas
 *   haproxy lc       HAProxy, balance leastconn
 *
 * One simulated node (a network namespace) runs the dataplane; the replicas are HAProxy processes
 * answering a fixed HTTP response (fast, so the balancer is what is measured), each in its own
 * instance namespace; the load runs in a client instance of the same network. Two load shapes:
 *
 *   keep-alive                   wrk -t3 -c<connections>: connections opened once, then reused
 *   new connection per request   bench/lib/conn-client.ts: each request connects, sends, reads to
 *                                the server's close; its time covers all of that (wrk's clock
 *                                would start after the connect and leave a balancer's handshake out)
 *
 * Each round measures every series once per shape; the report gives, per series, the median over
 * the rounds and their spread (min–max), latency percentiles of each round's own samples (p99
 * only from ≥ 1,000 samples, else the maximum), and the added latency against direct ×3 in the
 * same round.
 *
 *   npx tsx bench/network-lb.ts [--seconds 5] [--rounds 3] [--connections 32]
 *
 * --rounds 0 sets everything up, checks that every series answers, and tears it down (a smoke
 * test of the setup and the cleanup: test/bench-cleanup.test.ts).
 *
 * Needs root, nftables, haproxy and wrk (scripts/install-deps.sh --bench).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Dataplane, type ServiceConfig } from '../src/node/network/dataplane.js';
import { TcpBalancer } from '../src/node/network/balancer.js';
import { hostRunner } from '../src/node/network/exec.js';
import { fmt, onInterrupt, percentile } from './lib/util.js';
import type { ConnResult } from './lib/conn-client.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, connections: { type: 'string', default: '32' }, inside: { type: 'string' } } });
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const CONNECTIONS = Number(values.connections);

const NET = { project: 'bench', name: 'default', vni: 0xbe, cidr: '10.240.250.0/24', gateway: '10.240.250.1', nodeAddress: '10.240.250.254' };
const BACKENDS = ['10.240.250.11', '10.240.250.12', '10.240.250.13'];
const CLIENT = '10.240.250.20';
const VIP = { dnat: '10.240.250.200', proxy: '10.240.250.202', haproxy: '10.240.250.201' };
/** Each series: its name and where its requests go (host:port; several: the client spreads them). */
const SERIES = [
  ['direct', [`${BACKENDS[0]}:80`]],
  ['direct ×3', BACKENDS.map((b) => `${b}:80`)],
  ['stratus dnat', [`${VIP.dnat}:80`]],
  ['stratus proxy', [`${VIP.proxy}:80`]],
  ['haproxy rr', [`${VIP.haproxy}:80`]],
  ['haproxy lc', [`${VIP.haproxy}:81`]],
] as const;
type Series = (typeof SERIES)[number][0];
const THREADS = 3;
const SPREAD = join(tmpdir(), `stratus-bench-lb-spread-${process.pid}.lua`);
const SHAPES = ['keep-alive', 'new connection per request', 'new connection per request, light load'] as const;
/** Connections of the light-load shape: few enough that no path saturates the CPUs, so its latency is the path's own. */
const LIGHT = 4;
type Shape = (typeof SHAPES)[number];
const CLIENT_SCRIPT = join(import.meta.dirname, 'lib', 'conn-client.ts');

/** One series measured once: throughput, latency percentiles of its own samples (p99 only from ≥ 1,000), errors. */
interface Sample {
  rps: number;
  p50: number;
  /** p99, or the maximum when there were fewer than 1,000 samples. */
  tail: number;
  samples: number;
  errors: number;
}

if (values.inside) await inside(values.inside);
else await outside();

/** Creates the node's namespace and runs the measurement inside it (same mount namespace: `nsenter --net`). */
async function outside(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces, nftables)');
  for (const tool of ['nft', 'haproxy', 'wrk', 'nsenter']) {
    if (spawnSync(tool, ['-v'], { stdio: 'ignore' }).error) throw new Error(`needs ${tool}: run scripts/install-deps.sh`);
  }
  const host = `stratus-bench-${process.pid}`;
  await hostRunner.run(['ip', 'netns', 'add', host]);
  let child: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(0);
  const cleanup = async () => {
    // interrupted: the measuring side cleans up its namespaces, links and processes first
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await hostRunner.run(['ip', 'netns', 'del', host], { allowFailure: true });
  };
  const off = onInterrupt(cleanup);
  try {
    await hostRunner.run(['ip', '-n', host, 'link', 'set', 'dev', 'lo', 'up']);
    child = spawn('nsenter', [`--net=/run/netns/${host}`, '--', process.execPath, '--import', 'tsx', import.meta.filename, '--inside', host, '--seconds', String(SECONDS), '--rounds', String(ROUNDS), '--connections', String(CONNECTIONS)], { stdio: 'inherit' });
    exited = new Promise<number | null>((r) => child!.once('exit', r));
    if ((await exited) !== 0) process.exitCode = 1;
  } finally {
    off();
    await cleanup();
  }
}

async function inside(host: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-lb-'));
  const dp = new Dataplane({ node: host, netnsPrefix: `${host}-`, etcNetnsDir: null });
  const children: ChildProcess[] = [];
  let proxy: TcpBalancer | undefined;
  const cleanup = async () => {
    await proxy?.stop();
    for (const c of children) c.kill('SIGKILL');
    await dp.teardown().catch((e: Error) => console.error(`teardown: ${e.message}`));
    rmSync(dir, { recursive: true, force: true });
    rmSync(SPREAD, { force: true });
  };
  const off = onInterrupt(cleanup);
  try {
    await dp.ensureNetwork(NET);
    const ns: string[] = [];
    for (const [i, ip] of [...BACKENDS, CLIENT].entries()) ns.push((await dp.attachInstance({ id: `bench-${i}`, project: 'bench', name: `i${i}`, vni: NET.vni, ip })).netnsName);
    const clientNs = ns[3]!;
    for (const [k, v] of [['net.ipv4.tcp_tw_reuse', '1'], ['net.ipv4.ip_local_port_range', '1024 65000']]) await hostRunner.run(['ip', 'netns', 'exec', clientNs, 'sysctl', '-q', '-w', `${k}=${v}`]);
    for (const [i, ip] of BACKENDS.entries()) children.push(await haproxy(dir, `b${i}`, ns[i]!, backendConfig(`b${i}`)) ?? fail(`backend at ${ip}`));
    const svc = (key: string, vip: string, algorithm: ServiceConfig['algorithm'], ports = [80]): ServiceConfig => ({ key, vni: NET.vni, vip, algorithm, ports: ports.map((p) => ({ port: p, targetPort: 80, protocol: 'tcp' as const })), backends: BACKENDS });
    // the haproxy "service" is declared userspace so that the node accepts its port; HAProxy, not Stratus, listens there
    await dp.setServices([svc('bench/dnat', VIP.dnat, 'round-robin'), svc('bench/proxy', VIP.proxy, 'least-connections'), svc('bench/haproxy', VIP.haproxy, 'least-connections', [80, 81])]);
    proxy = new TcpBalancer({ host: VIP.proxy, port: 80, algorithm: 'least-connections' });
    await proxy.start();
    proxy.setBackends(BACKENDS.map((b) => ({ host: b, port: 80 })));
    children.push(await haproxy(dir, 'peer', undefined, peerConfig()) ?? fail('haproxy peer'));
    writeFileSync(SPREAD, spreadScript());
    for (const [name, targets] of SERIES) {
      const r = await newConnections(clientNs, targets, 0.3, 1);
      if (r.errors > 0 || r.rps === 0) fail(`${name} does not answer (${targets.join(', ')})`);
    }
    const results = new Map<string, Sample[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const shape of SHAPES) {
        const order = [...SERIES.slice(round % SERIES.length), ...SERIES.slice(0, round % SERIES.length)];
        for (const [name, targets] of order) {
          const key = `${shape}|${name}`;
          results.set(key, [...(results.get(key) ?? []), await measure(shape, clientNs, targets, SECONDS, shape.endsWith('light load') ? LIGHT : CONNECTIONS)]);
        }
      }
    }
    if (ROUNDS > 0) report(results);
    else console.log('every series answers (--rounds 0: nothing measured)');
  } finally {
    off();
    await cleanup();
  }
}

/** wrk script: each thread connects to another replica (the client-side spread of "direct ×3"). */
function spreadScript(): string {
  return `local addrs = { ${BACKENDS.map((b) => `"${b}"`).join(', ')} }\nlocal n = 0\nfunction setup(thread)\n  n = n + 1\n  thread.addr = wrk.lookup(addrs[((n - 1) % #addrs) + 1], "80")[1]\nend\n`;
}

function fail(what: string): never {
  throw new Error(`${what} did not start`);
}

function backendConfig(name: string): string {
  return `global\n  nbthread 1\n  maxconn 4000\ndefaults\n  mode http\n  timeout client 30s\n  timeout server 30s\n  timeout connect 5s\nfrontend web\n  bind :80\n  http-request return status 200 content-type text/plain string "${name}\\n"\n`;
}

/** The peer: Debian's HAProxy, layer 4 like ours, default threads (one per CPU). */
function peerConfig(): string {
  const servers = BACKENDS.map((b, i) => `  server b${i} ${b}:80`).join('\n');
  return `global\n  maxconn 4000\ndefaults\n  mode tcp\n  timeout client 30s\n  timeout server 30s\n  timeout connect 5s\n` +
    `frontend rr\n  bind ${VIP.haproxy}:80\n  default_backend rr\nbackend rr\n  balance roundrobin\n${servers}\n` +
    `frontend lc\n  bind ${VIP.haproxy}:81\n  default_backend lc\nbackend lc\n  balance leastconn\n${servers}\n`;
}

/** Starts HAProxy in the foreground (in `ns` if given); resolves once it runs. */
async function haproxy(dir: string, name: string, ns: string | undefined, config: string): Promise<ChildProcess | undefined> {
  const file = join(dir, `${name}.cfg`);
  writeFileSync(file, config);
  const argv = ['haproxy', '-db', '-f', file];
  const child = ns ? spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] }) : spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise((r) => setTimeout(r, 300));
  if (child.exitCode !== null) {
    console.error(err);
    return undefined;
  }
  return child;
}

function measure(shape: Shape, ns: string, targets: readonly string[], seconds: number, connections: number): Promise<Sample> {
  if (shape === 'keep-alive') return wrk(ns, `http://${targets[0]}/`, seconds, connections, targets.length > 1 ? ['-s', SPREAD] : []);
  return newConnections(ns, targets, seconds, connections);
}

async function wrk(ns: string, url: string, seconds: number, connections: number, extra: string[]): Promise<Sample> {
  const r = await hostRunner.run(['ip', 'netns', 'exec', ns, 'wrk', `-t${THREADS}`, `-c${connections}`, `-d${seconds}s`, '--latency', ...extra, url], { timeoutMs: (seconds + 30) * 1000 });
  const out = r.stdout;
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  const errors = [/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out), /Non-2xx or 3xx responses: (\d+)/.exec(out)]
    .flatMap((m) => (m ? m.slice(1).map(Number) : []))
    .reduce((a, b) => a + b, 0);
  const samples = num(/(\d+) requests in/);
  return { rps: num(/Requests\/sec:\s+([\d.]+)/), p50: latencyMs(out, '50%'), tail: samples >= 1000 ? latencyMs(out, '99%') : latencyMs(out, 'Max'), samples, errors };
}

/** The new-connection client (conn-client.ts) in the client's namespace. */
async function newConnections(ns: string, targets: readonly string[], seconds: number, connections: number): Promise<Sample> {
  // two processes where one could not keep up; one (no start-up of another) for a light load
  const threads = connections > LIGHT ? 2 : 1;
  const argv = ['ip', 'netns', 'exec', ns, process.execPath, '--import', 'tsx', CLIENT_SCRIPT, '--seconds', String(seconds), '--connections', String(connections), '--threads', String(threads), ...targets];
  const r = JSON.parse((await hostRunner.run(argv, { timeoutMs: (seconds + 30) * 1000 })).stdout) as ConnResult;
  const xs = r.latencies;
  return { rps: r.rps, p50: percentile(xs, 50), tail: xs.length >= 1000 ? percentile(xs, 99) : xs.at(-1) ?? NaN, samples: xs.length, errors: r.errors };
}

function latencyMs(out: string, pct: string): number {
  const m = pct === 'Max'
    ? /^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/m.exec(out)
    : new RegExp(`^\\s+${pct}\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

/** Median and spread (min–max) of one figure over the rounds. */
function stat(xs: number[]): { median: number; min: number; max: number } {
  const sorted = [...xs].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]!, max: sorted.at(-1)! };
}

function report(results: Map<string, Sample[]>): void {
  const spread = (xs: number[], digits: number, sign = false) => {
    const s = stat(xs);
    const f = (n: number) => `${sign ? (n >= 0 ? '+' : '−') : ''}${fmt(sign ? Math.abs(n) : n, digits)}`;
    return ROUNDS > 1 ? `${f(s.median)} (${f(s.min)} to ${f(s.max)})` : f(s.median);
  };
  console.log(`\nservice load balancer, ${ROUNDS} rounds × ${SECONDS} s per series and shape, interleaved; median of the rounds (min to max); ${cpus().length} CPUs, kernel ${release()}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  for (const shape of SHAPES) {
    const rounds = (s: Series) => results.get(`${shape}|${s}`)!;
    const perRound = (s: Series, f: (x: Sample, base: Sample, i: number) => number) => rounds(s).map((x, i) => f(x, rounds('direct ×3')[i]!, i));
    const tail = rounds('direct').every((x) => x.samples >= 1000) ? 'p99' : 'max';
    const how = shape === 'keep-alive' ? `wrk -t${THREADS} -c${CONNECTIONS}` : `conn-client, ${shape.endsWith('light load') ? LIGHT : CONNECTIONS} connections: connect + request + response, each timed whole`;
    console.log(`### ${shape} (${how})\n`);
    console.log(`| series | req/s | p50 ms | ${tail} ms | added p50 ms (vs direct ×3, same round) | samples per round | errors |`);
    console.log('|---|---|---|---|---|---|---|');
    for (const [s] of SERIES) {
      const xs = rounds(s);
      const added = s.startsWith('direct') ? '' : spread(perRound(s, (x, b) => x.p50 - b.p50), 3, true);
      console.log(`| ${s} | ${spread(xs.map((x) => x.rps), 0)} | ${spread(xs.map((x) => x.p50), 3)} | ${spread(xs.map((x) => x.tail), 3)} | ${added} | ${fmt(stat(xs.map((x) => x.samples)).median, 0)} | ${xs.reduce((a, x) => a + x.errors, 0)} |`);
    }
    const ratio = (a: Series, b: Series) => spread(perRound(a, (x, _b, i) => x.rps / rounds(b)[i]!.rps), 2);
    const added = (a: Series) => spread(perRound(a, (x, b) => x.p50 - b.p50), 3, true);
    console.log(`\n- stratus dnat / haproxy rr: ×${ratio('stratus dnat', 'haproxy rr')} req/s (target ≥ ×0.80); added p50 ${added('stratus dnat')} ms (target ≤ 1 ms)`);
    console.log(`- stratus proxy / haproxy lc: ×${ratio('stratus proxy', 'haproxy lc')} req/s; added p50 ${added('stratus proxy')} ms`);
    console.log(`- haproxy rr: added p50 ${added('haproxy rr')} ms; stratus dnat / direct ×3: ×${ratio('stratus dnat', 'direct ×3')} req/s\n`);
  }
}
