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
 * instance namespace; wrk runs in a client instance of the same network. Two load shapes:
 * keep-alive connections, and a new connection per request (Connection: close).
 *
 *   npx tsx bench/network-lb.ts [--seconds 5] [--rounds 3] [--connections 32]
 *
 * Needs root, nftables, haproxy and wrk (scripts/install-deps.sh).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NodeNetwork, type ServiceConfig } from '../src/network/dataplane.js';
import { TcpBalancer } from '../src/network/balancer.js';
import { hostRunner } from '../src/network/exec.js';
import { fmt } from './lib/util.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, connections: { type: 'string', default: '32' }, inside: { type: 'string' } } });
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const CONNECTIONS = Number(values.connections);

const NET = { project: 'bench', name: 'default', vni: 0xbe, cidr: '10.240.250.0/24', gateway: '10.240.250.1', nodeAddress: '10.240.250.254' };
const BACKENDS = ['10.240.250.11', '10.240.250.12', '10.240.250.13'];
const CLIENT = '10.240.250.20';
const VIP = { dnat: '10.240.250.200', proxy: '10.240.250.202', haproxy: '10.240.250.201' };
const SERIES = [
  ['direct', `http://${BACKENDS[0]}/`],
  ['direct ×3', `http://${BACKENDS[0]}/`],
  ['stratus dnat', `http://${VIP.dnat}/`],
  ['stratus proxy', `http://${VIP.proxy}/`],
  ['haproxy rr', `http://${VIP.haproxy}/`],
  ['haproxy lc', `http://${VIP.haproxy}:81/`],
] as const;
type Series = (typeof SERIES)[number][0];
const THREADS = 3;
const SPREAD = join(tmpdir(), `stratus-bench-lb-spread-${process.pid}.lua`);
const SHAPES = [['keep-alive', []], ['new connection per request', ['-H', 'Connection: close']]] as const;

interface Sample {
  rps: number;
  p50: number;
  p99: number;
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
  try {
    await hostRunner.run(['ip', '-n', host, 'link', 'set', 'dev', 'lo', 'up']);
    const child = spawn('nsenter', [`--net=/run/netns/${host}`, '--', process.execPath, '--import', 'tsx', import.meta.filename, '--inside', host, '--seconds', String(SECONDS), '--rounds', String(ROUNDS), '--connections', String(CONNECTIONS)], { stdio: 'inherit' });
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    if (code !== 0) process.exitCode = 1;
  } finally {
    await hostRunner.run(['ip', 'netns', 'del', host], { allowFailure: true });
  }
}

async function inside(host: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-lb-'));
  const dp = new NodeNetwork({ node: host, netnsPrefix: `${host}-`, etcNetnsDir: null });
  const children: ChildProcess[] = [];
  let proxy: TcpBalancer | undefined;
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
    for (const [name, url] of SERIES) {
      const r = await wrk(clientNs, url, 1, 4, name === 'direct ×3' ? ['-s', SPREAD] : []);
      if (r.errors > 0 || r.rps === 0) fail(`${name} does not answer (${url})`);
    }
    const results = new Map<string, Sample[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const [shape, extra] of SHAPES) {
        const order = [...SERIES.slice(round % SERIES.length), ...SERIES.slice(0, round % SERIES.length)];
        for (const [name, url] of order) {
          const key = `${shape}|${name}`;
          const script = name === 'direct ×3' ? ['-s', SPREAD] : [];
          results.set(key, [...(results.get(key) ?? []), await wrk(clientNs, url, SECONDS, CONNECTIONS, [...extra, ...script])]);
        }
      }
    }
    report(results);
  } finally {
    await proxy?.stop();
    for (const c of children) c.kill('SIGKILL');
    await dp.teardown().catch((e: Error) => console.error(`teardown: ${e.message}`));
    rmSync(dir, { recursive: true, force: true });
    rmSync(SPREAD, { force: true });
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

async function wrk(ns: string, url: string, seconds: number, connections: number, extra: string[]): Promise<Sample> {
  const r = await hostRunner.run(['ip', 'netns', 'exec', ns, 'wrk', `-t${THREADS}`, `-c${connections}`, `-d${seconds}s`, '--latency', ...extra, url], { timeoutMs: (seconds + 30) * 1000 });
  const out = r.stdout;
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  const errors = [/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out), /Non-2xx or 3xx responses: (\d+)/.exec(out)]
    .flatMap((m) => (m ? m.slice(1).map(Number) : []))
    .reduce((a, b) => a + b, 0);
  return { rps: num(/Requests\/sec:\s+([\d.]+)/), p50: latencyMs(out, '50%'), p99: latencyMs(out, '99%'), errors };
}

function latencyMs(out: string, pct: string): number {
  const m = new RegExp(`^\\s+${pct}\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

function report(results: Map<string, Sample[]>): void {
  console.log(`\nservice load balancer, ${ROUNDS} rounds × ${SECONDS} s per series, interleaved; wrk -t${THREADS} -c${CONNECTIONS}; medians of the rounds; ${cpus().length} CPUs, kernel ${release()}\n`);
  for (const [shape] of SHAPES) {
    const get = (s: Series) => {
      const xs = results.get(`${shape}|${s}`)!;
      return { rps: median(xs.map((x) => x.rps)), p50: median(xs.map((x) => x.p50)), p99: median(xs.map((x) => x.p99)), errors: xs.reduce((a, x) => a + x.errors, 0) };
    };
    const direct = get('direct ×3'); // added latency: against the same three replicas without a balancer
    console.log(`### ${shape}\n`);
    console.log('| series | req/s | p50 ms | p99 ms | added p50 ms (vs direct ×3) | added p99 ms | errors |');
    console.log('|---|---|---|---|---|---|---|');
    for (const [s] of SERIES) {
      const r = get(s);
      const added = (v: number, base: number) => (s.startsWith('direct') ? '' : `${v - base >= 0 ? '+' : '−'}${fmt(Math.abs(v - base), 3)}`);
      console.log(`| ${s} | ${fmt(r.rps, 0)} | ${fmt(r.p50, 3)} | ${fmt(r.p99, 3)} | ${added(r.p50, direct.p50)} | ${added(r.p99, direct.p99)} | ${r.errors} |`);
    }
    const ratio = (a: Series, b: Series) => get(a).rps / get(b).rps;
    console.log(`\n- stratus dnat / haproxy rr: ×${fmt(ratio('stratus dnat', 'haproxy rr'), 2)} req/s (target ≥ ×0.80); added p50 ${fmt(get('stratus dnat').p50 - direct.p50, 3)} ms (target ≤ 1 ms)`);
    console.log(`- stratus proxy / haproxy lc: ×${fmt(ratio('stratus proxy', 'haproxy lc'), 2)} req/s; added p50 ${fmt(get('stratus proxy').p50 - direct.p50, 3)} ms`);
    console.log(`- stratus dnat / direct (one replica): ×${fmt(ratio('stratus dnat', 'direct'), 2)} req/s; / direct ×3: ×${fmt(ratio('stratus dnat', 'direct ×3'), 2)}\n`);
  }
}
