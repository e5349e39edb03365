/**
 * Agent benchmarks (issue: node agent and compute drivers).
 *
 *   start     Create → Running through the whole platform (API, scheduler, agent, driver, status
 *             write, watch), for process and container instances, against their raw starts,
 *             interleaved in one run: the sandboxed process's own bundle (laid out by the driver's
 *             code, untimed) run by `runc run -d`; spawning the command from Node (the floor of
 *             any process, without a sandbox); the busybox bundle run by `runc run -d`. Each start
 *             is followed by its teardown (agent and network included) before the next.
 *   failover  SIGKILL an agent with the default 10 s node timeout: time until every one of its
 *             restart-always instances runs on another node.
 *   footprint agent CPU and memory, idle and with 100 running instances.
 *
 *   npx tsx bench/agent.ts [start|failover|footprint|all] [--rounds 100] [--network host|auto|both] [--steps]
 *
 * --steps: the agent prints each network step's duration (STRATUS_NET_TIMING=1); the start
 * benchmark adds a table of them. The start benchmark runs in a network namespace of its own
 * (one overlay agent per namespace: another one in the machine's would push this one into host
 * networking) and stops if its agent is not in overlay mode when asked for namespaces.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startChild as startChildProcess, percentile, fmt, adminJson, onInterrupt, BIN, BENCH_TOKEN as TOKEN, ADMIN_HEADERS as H, type Child } from './lib/util.js';
import { viaRunc, viaSandboxBundle, viaSpawn, type SandboxPeer } from './lib/peers.js';
import { buildBusyboxRootfs, ImageStore } from '../src/node/drivers/index.js';
import { IdRanges } from '../src/node/drivers/identity.js';
import { sandboxOptions } from '../src/node/drivers/sandbox.js';
import { detectCgroups } from '../src/node/drivers/cgroups.js';
import { removeCgroupTree } from '../src/node/drivers/testing.js';
import { readEvents } from '../src/client/index.js';
import { TIMING_PREFIX } from '../src/node/network/timing.js';
import { hostRunner } from '../src/node/network/exec.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { rounds: { type: 'string', default: '100' }, network: { type: 'string', default: 'both' }, steps: { type: 'boolean', default: false }, inside: { type: 'boolean', default: false } } });
const MODE = positionals[0] ?? 'all';
const ROUNDS = Number(values.rounds);
const WARMUP = Math.min(5, ROUNDS);
/** Cgroup parent of the runc peers' containers; removed in every hierarchy at the end. */
const PEER_CGROUP = `stratus-bench-${process.pid}`;
const work = mkdtempSync(join(tmpdir(), 'stratus-bench-agent-'));
const pct = (xs: number[], p: number) => percentile([...xs].sort((a, b) => a - b), p);

/** A server child, stopped on an interrupt too. */
async function startChild(args: string[], env: Record<string, string>): Promise<Child> {
  const c = await startChildProcess(args, env);
  children.push(c);
  return c;
}

const api = (server: string, method: string, path: string, body?: unknown) => adminJson(server, method, path, body);

const instance = (name: string, spec: Record<string, unknown>) => ({ kind: 'instance', metadata: { name }, spec: { resources: { cpu: '10m', memory: '16Mi' }, ...spec } });

/** When an instance got its node, its address and its Running phase, ms after `t0` (set by the caller). */
interface Milestones {
  t0: number;
  bound?: number;
  ip?: number;
  running?: number;
}

/** Records milestones from a watch of the default project; `when(name)` resolves once the instance is Running. */
function statusWatch(server: string): { when(name: string, t0: number): Promise<Milestones>; close(): void } {
  const controller = new AbortController();
  const waiters = new Map<string, { m: Milestones; done: (m: Milestones) => void; fail: (e: Error) => void }>();
  void (async () => {
    const res = await fetch(`${server}/v1/projects/default/instances?watch=true`, { headers: H, signal: controller.signal });
    for await (const msg of readEvents(res.body!)) {
      const o = msg.object as { metadata: { name: string }; status?: { phase: string; node?: string; ip?: string } } | undefined;
      const w = o && waiters.get(o.metadata.name);
      if (!w) continue;
      const now = performance.now() - w.m.t0;
      if (o!.status?.node && w.m.bound === undefined) w.m.bound = now;
      if (o!.status?.ip && w.m.ip === undefined) w.m.ip = now;
      if (o!.status?.phase === 'Running') {
        w.m.running = now;
        waiters.delete(o!.metadata.name);
        w.done(w.m);
      } else if (o!.status?.phase === 'Failed') {
        waiters.delete(o!.metadata.name);
        w.fail(new Error(`instance ${o!.metadata.name} failed: ${(o!.status as { message?: string }).message ?? ''}`));
      }
    }
  })().catch(() => undefined);
  return {
    when: (name, t0) => new Promise((done, fail) => waiters.set(name, { m: { t0 }, done, fail })),
    close: () => controller.abort(),
  };
}

async function waitGone(pid: number | undefined): Promise<void> {
  for (let i = 0; pid && i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * One Create → Running. Then, like the peers (which kill and delete before their next start), the
 * instance is deleted with no grace period and the agent's teardown finishes before the next
 * measurement, so that no teardown competes with a start.
 */
async function measureStart(server: string, name: string, spec: Record<string, unknown>, watch: ReturnType<typeof statusWatch>, agentDir: string): Promise<Milestones> {
  const t0 = performance.now();
  const running = watch.when(name, t0);
  // The same limits as the runc peers' bundles (100m CPU, 128 MiB): under a small CPU quota the
  // start itself (runc init, tini) runs throttled inside the instance's cgroup.
  await api(server, 'POST', '/v1/projects/default/instances', instance(name, { ...spec, resources: { cpu: '100m', memory: '128Mi' }, gracePeriod: 0 }));
  const m = await running;
  const obj = await api(server, 'GET', `/v1/projects/default/instances/${name}`);
  await api(server, 'DELETE', `/v1/projects/default/instances/${name}`);
  await waitGone(obj.status?.pid);
  await drained(agentDir);
  return m;
}

/** The agent's network steps (STRATUS_NET_TIMING lines on the server's stderr), by step. */
function stepCollector(child: Child): { take(): Map<string, number[]> } {
  let steps = new Map<string, number[]>();
  let rest = '';
  child.proc.stderr!.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop()!;
    for (const l of lines) {
      const m = new RegExp(`^${TIMING_PREFIX} (.+) ([\\d.]+)$`).exec(l);
      if (m) steps.set(m[1]!, [...(steps.get(m[1]!) ?? []), Number(m[2])]);
    }
  });
  return { take: () => { const s = steps; steps = new Map(); return s; } };
}

type Series = 'process' | 'container' | 'spawn' | 'sandbox runc' | 'runc';

async function startBench(network: 'host' | 'auto'): Promise<void> {
  const dataDir = join(work, `start-${network}`);
  // Names with "bench" and this run's pid (node, namespaces): what it leaves is recognizable (test/bench-cleanup.test.ts).
  const server = await startChild([BIN, 'server', '--data-dir', dataDir, '--port', '0', '--node-name', `bench-${process.pid}`, '--netns-prefix', `stratus-bench-${process.pid}-`, '--capacity', 'cpu=64,memory=64Gi', '--network', network], { STRATUS_BOOTSTRAP_TOKEN: TOKEN, ...(values.steps ? { STRATUS_NET_TIMING: '1' } : {}) });
  const steps = stepCollector(server);
  const rootfs = join(work, 'rootfs');
  await buildBusyboxRootfs(rootfs);
  const store = new ImageStore(join(work, 'peer-images'));
  const peer: SandboxPeer = {
    runc: 'runc', runcRoot: join(work, 'runc'), imageDir: (await store.importImage('busybox', rootfs)).dir, parent: PEER_CGROUP, base: work,
    ids: new IdRanges(join(work, 'id-ranges.json')), sandbox: sandboxOptions(),
  };
  execFileSync(process.execPath, [BIN, '--server', server.url, '--token', TOKEN, 'image', 'import', 'busybox', rootfs]);
  await waitReady(server);
  const node = (await api(server.url, 'GET', '/v1/nodes')).items[0] as { status: { conditions: { type: string; reason: string; message: string }[] } };
  const networking = node.status.conditions.find((c) => c.type === 'Networking')!;
  if (network === 'auto' && networking.reason !== 'overlay') throw new Error(`the agent runs with host networking, not a namespace per instance: ${networking.message}`);
  const watch = statusWatch(server.url);
  const s = new Map<Series, number[]>();
  const phases = new Map<string, Milestones[]>();
  const stepsBy = new Map<string, Map<string, number[]>>();
  const keep = <K, V>(m: Map<K, V[]>, k: K, v: V) => m.set(k, [...(m.get(k) ?? []), v]);
  const agentDir = join(dataDir, 'agent');
  const start = async (series: 'process' | 'container', i: number, spec: Record<string, unknown>): Promise<number> => {
    steps.take();
    const m = await measureStart(server.url, `${series[0]}-${i}`, spec, watch, agentDir);
    const taken = steps.take(); // this start's network steps, and its teardown's
    if (i < WARMUP) return m.running!;
    keep(phases, series, m);
    const mine = stepsBy.get(series) ?? new Map<string, number[]>();
    for (const [k, xs] of taken) for (const x of xs) keep(mine, k, x);
    stepsBy.set(series, mine);
    return m.running!;
  };
  try {
    for (let i = 0; i < ROUNDS + WARMUP; i++) {
      const p = await start('process', i, { driver: 'process', command: ['sleep', '1000'] });
      const sp = await viaSpawn();
      const sb = await viaSandboxBundle(peer, i, { seccomp: true, init: peer.sandbox.init !== undefined });
      const c = await start('container', i, { driver: 'container', image: 'busybox', command: ['sleep', '1000'] });
      const r = await viaRunc(peer, i);
      if (i >= WARMUP) ([['process', p], ['spawn', sp], ['sandbox runc', sb], ['container', c], ['runc', r]] as const).forEach(([k, v]) => keep(s, k, v));
    }
  } finally {
    watch.close();
    await drained(agentDir);
    await server.stop();
  }
  report(network, s, phases);
  if ([...stepsBy.values()].some((m) => m.size > 0)) reportSteps(stepsBy);
}

function report(network: 'host' | 'auto', s: Map<Series, number[]>, phases: Map<string, Milestones[]>): void {
  const how = network === 'host' ? 'host networking (`--network host`: the same command, no network isolation)' : 'per-instance network namespace on the project network (the default: namespace, veth, address, DNS, firewall)';
  const tail = ROUNDS >= 1000 ? 'p99' : 'max';
  const top = (xs: number[]) => (ROUNDS >= 1000 ? pct(xs, 99) : Math.max(...xs));
  const get = (k: Series) => s.get(k) ?? [];
  console.log(`\n## Create → Running, ${how}; ${ROUNDS} instances per series (after ${WARMUP} warm-up), interleaved; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  console.log(`| series | p50 ms | ${tail} ms | raw start (peer) p50 / ${tail} ms | added p50 ms | added ${tail} ms |`);
  console.log('|---|---|---|---|---|---|');
  for (const [name, peer, label] of [['process', 'sandbox runc', 'runc run -d, same sandbox bundle'], ['process', 'spawn', 'node spawn (no sandbox)'], ['container', 'runc', 'runc run -d, busybox bundle']] as const) {
    const [a50, aT, b50, bT] = [pct(get(name), 50), top(get(name)), pct(get(peer), 50), top(get(peer))];
    const signed = (n: number) => `${n >= 0 ? '+' : '−'}${fmt(Math.abs(n), 1)}`;
    console.log(`| ${name} instance | ${fmt(a50, 1)} | ${fmt(aT, 1)} | ${label}: ${fmt(b50, 1)} / ${fmt(bT, 1)} | ${signed(a50 - b50)} | ${signed(aT - bT)} |`);
  }
  console.log('\ntarget: at most +50 ms at p50 over the raw start of the same workload (runc run -d of the same bundle)');
  console.log('\n| series | create → bound p50 ms | bound → address p50 ms | → Running p50 ms |\n|---|---|---|---|');
  for (const [name, ms] of phases) {
    const bound = pct(ms.map((m) => m.bound ?? NaN), 50);
    const addr = network === 'auto' ? pct(ms.map((m) => (m.ip ?? m.bound!) - m.bound!), 50) : NaN;
    const run = pct(ms.map((m) => m.running! - Math.max(m.bound!, m.ip ?? 0)), 50);
    console.log(`| ${name} | ${fmt(bound, 1)} | ${network === 'auto' ? fmt(addr, 1) : '—'} | ${fmt(run, 1)} |`);
  }
}

/** The agent's network steps per series: how often each ran per start (with its teardown), its p50, and its time per start. */
function reportSteps(stepsBy: Map<string, Map<string, number[]>>): void {
  const names = [...new Set([...stepsBy.values()].flatMap((m) => [...m.keys()]))].sort();
  const series = [...stepsBy.keys()];
  console.log(`\nagent network steps (STRATUS_NET_TIMING=1), per start and its teardown; steps nest (prepare ⊃ attach ⊃ cmd)\n`);
  console.log(`| step | ${series.map((x) => `${x}: runs per start | p50 ms | ms per start`).join(' | ')} |`);
  console.log(`|---|${series.map(() => '---|---|---|').join('')}`);
  for (const step of names) {
    const cells = series.map((x) => {
      const xs = stepsBy.get(x)!.get(step) ?? [];
      return xs.length ? `${fmt(xs.length / ROUNDS, 1)} | ${fmt(pct(xs, 50), 1)} | ${fmt(xs.reduce((a, b) => a + b, 0) / ROUNDS, 1)}` : '— | — | —';
    });
    console.log(`| ${step} | ${cells.join(' | ')} |`);
  }
}

/**
 * Waits until the agent has torn down every run, at most 30 s: no task directory left, and no
 * instance record (removed last, after the network's teardown).
 */
async function drained(agentDir: string): Promise<void> {
  const empty = (d: string) => !existsSync(d) || readdirSync(d).length === 0;
  for (let i = 0; i < 1500; i++) {
    if (empty(join(agentDir, 'tasks')) && empty(join(agentDir, 'instances'))) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function waitReady(server: Child, nodes = 1): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const list = await api(server.url, 'GET', '/v1/nodes');
    if (list.items.filter((n: { status?: { phase: string } }) => n.status?.phase === 'Ready').length >= nodes) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('nodes never became Ready');
}

function startAgent(server: string, joinToken: string, name: string): ChildProcess {
  // Several agents share this machine's namespace: host networking (overlay is one agent per namespace).
  return spawn(process.execPath, [BIN, '--server', server, 'agent', '--join-token', joinToken, '--data-dir', join(work, name), '--node-name', name, '--capacity', 'cpu=8,memory=8Gi', '--network', 'host'], { stdio: 'ignore' });
}

async function instances(server: string): Promise<{ metadata: { name: string }; status?: { phase: string; node?: string; pid?: number } }[]> {
  return (await api(server, 'GET', '/v1/projects/default/instances')).items;
}

async function failoverBench(): Promise<void> {
  const server = await startChild([BIN, 'server', '--data-dir', join(work, 'failover'), '--port', '0', '--no-agent'], { STRATUS_BOOTSTRAP_TOKEN: TOKEN });
  const { secret } = await api(server.url, 'POST', '/v1/join-tokens', {});
  const agents = new Map(['f1', 'f2', 'f3'].map((n) => [n, startAgent(server.url, secret, `${n}-bench-${process.pid}`)]));
  try {
    await waitReady(server, 3);
    for (let i = 0; i < 30; i++) await api(server.url, 'POST', '/v1/projects/default/instances', instance(`f-${i}`, { driver: 'process', command: ['sleep', '1000'], placement: { policy: 'spread' } }));
    while ((await instances(server.url)).filter((i) => i.status?.phase === 'Running').length < 30) await new Promise((r) => setTimeout(r, 100));
    const all = await instances(server.url);
    const victim = [...agents.keys()].map((n) => `${n}-bench-${process.pid}`).sort((a, b) => all.filter((i) => i.status?.node === b).length - all.filter((i) => i.status?.node === a).length)[0]!;
    const moved = all.filter((i) => i.status?.node === victim).map((i) => i.metadata.name);
    const t0 = performance.now();
    agents.get(victim.split('-')[0]!)!.kill('SIGKILL');
    for (;;) {
      const now = await instances(server.url);
      if (moved.every((n) => { const i = now.find((x) => x.metadata.name === n); return i?.status?.phase === 'Running' && i.status.node !== victim; })) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const s = (performance.now() - t0) / 1000;
    console.log(`\n## Failover\n\nagent of node ${victim} killed (SIGKILL) with ${moved.length} instances; all Running elsewhere after ${fmt(s, 1)} s (node timeout 10 s, heartbeat 2 s; target ≤ 15 s; Kubernetes defaults: about 300 s)`);
    agents.set('f0', startAgent(server.url, secret, victim)); // its orphans go when it comes back
    await new Promise((r) => setTimeout(r, 3000));
  } finally {
    for (const i of await instances(server.url)) await api(server.url, 'DELETE', `/v1/projects/default/instances/${i.metadata.name}`).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 4000));
    for (const a of agents.values()) a.kill('SIGKILL');
    await server.stop();
  }
}

function usage(pid: number): { cpuTicks: number; rssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  return { cpuTicks: Number(stat[11]) + Number(stat[12]), rssMiB: rss };
}

async function sample(pid: number, seconds: number): Promise<{ cpuPct: number; rssMiB: number }> {
  const a = usage(pid);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const b = usage(pid);
  return { cpuPct: ((b.cpuTicks - a.cpuTicks) / 100 / seconds) * 100, rssMiB: b.rssMiB };
}

async function footprintBench(): Promise<void> {
  const server = await startChild([BIN, 'server', '--data-dir', join(work, 'footprint'), '--port', '0', '--no-agent'], { STRATUS_BOOTSTRAP_TOKEN: TOKEN });
  const { secret } = await api(server.url, 'POST', '/v1/join-tokens', {});
  const agent = startAgent(server.url, secret, `fp-bench-${process.pid}`);
  try {
    await waitReady(server);
    await new Promise((r) => setTimeout(r, 3000));
    const idle = await sample(agent.pid!, 20);
    for (let i = 0; i < 100; i++) await api(server.url, 'POST', '/v1/projects/default/instances', instance(`fp-${i}`, { driver: 'process', command: ['sleep', '1000'] }));
    while ((await instances(server.url)).filter((i) => i.status?.phase === 'Running').length < 100) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 3000));
    const busy = await sample(agent.pid!, 20);
    console.log(`\n## Agent footprint (heartbeat 2 s, stats every 10 s)\n\n| state | CPU | RSS |\n|---|---|---|`);
    console.log(`| idle | ${fmt(idle.cpuPct, 2)} % of a core | ${fmt(idle.rssMiB, 0)} MiB |`);
    console.log(`| 100 running instances | ${fmt(busy.cpuPct, 2)} % of a core | ${fmt(busy.rssMiB, 0)} MiB |`);
  } finally {
    for (const i of await instances(server.url)) await api(server.url, 'DELETE', `/v1/projects/default/instances/${i.metadata.name}`).catch(() => undefined);
    while ((await instances(server.url)).length > 0) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 4000));
    agent.kill('SIGKILL');
    await server.stop();
  }
}

const children: Child[] = [];
const cleanup = async () => {
  for (const c of children) {
    if (c.proc.exitCode !== null || c.proc.signalCode !== null) continue;
    // an interrupted run: its instances outlive the agent, so delete them first
    const left = await instances(c.url).catch(() => []);
    for (const i of left) await api(c.url, 'DELETE', `/v1/projects/default/instances/${i.metadata.name}`).catch(() => undefined);
    for (let n = 0; n < 100 && (await instances(c.url).catch(() => [])).length > 0; n++) await new Promise((r) => setTimeout(r, 100));
    const dataDir = c.proc.spawnargs[c.proc.spawnargs.indexOf('--data-dir') + 1]!;
    await drained(join(dataDir, 'agent'));
    await c.stop().catch(() => undefined);
  }
  await removeCgroupTree(await detectCgroups(), PEER_CGROUP).catch((e: Error) => console.error(`cleanup: ${e.message}`));
  rmSync(work, { recursive: true, force: true });
};
onInterrupt(cleanup);
/**
 * The start benchmark runs in a network namespace of its own: an agent's overlay takes its
 * namespace's lock, so in the machine's namespace another agent (a test, another engineer's
 * server) would push this one into host networking; and its bridges and rules stay apart.
 */
async function startInOwnNamespace(): Promise<void> {
  const ns = `stratus-bench-${process.pid}`;
  await hostRunner.run(['ip', 'netns', 'add', ns]);
  try {
    await hostRunner.run(['ip', '-n', ns, 'link', 'set', 'dev', 'lo', 'up']);
    const args = ['start', '--inside', '--rounds', String(ROUNDS), '--network', String(values.network), ...(values.steps ? ['--steps'] : [])];
    const child = spawn('nsenter', [`--net=/run/netns/${ns}`, '--', process.execPath, '--import', 'tsx', import.meta.filename, ...args], { stdio: 'inherit' });
    const stop = onInterrupt(async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await hostRunner.run(['ip', 'netns', 'del', ns], { allowFailure: true });
    });
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    stop();
    if (code !== 0) throw new Error(`the start benchmark exited with ${code}`);
  } finally {
    await hostRunner.run(['ip', 'netns', 'del', ns], { allowFailure: true });
  }
}

try {
  if (values.inside) {
    for (const network of values.network === 'both' ? (['host', 'auto'] as const) : [values.network as 'host' | 'auto']) await startBench(network);
  } else if (MODE === 'start' || MODE === 'all') {
    await startInOwnNamespace();
  }
  if (MODE === 'failover' || MODE === 'all') await failoverBench();
  if (MODE === 'footprint' || MODE === 'all') await footprintBench();
} finally {
  await cleanup();
}
