/**
 * Agent benchmarks (issue: node agent and compute drivers).
 *
 *   start     Create → Running through the whole platform (API, scheduler, agent, driver, status
 *             write, watch), for process and container instances, against spawning the same
 *             command from Node and running the same bundle with runc, interleaved in one run.
 *   failover  SIGKILL an agent with the default 10 s node timeout: time until every one of its
 *             restart-always instances runs on another node.
 *   footprint agent CPU and memory, idle and with 100 running instances.
 *
 *   npx tsx bench/agent.ts [start|failover|footprint|all] [--rounds 100] [--network host|auto|both]
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startChild, percentile, fmt, adminJson, BIN, BENCH_TOKEN as TOKEN, ADMIN_HEADERS as H, type Child } from './lib/util.js';
import { viaRunc, viaSpawn, type RuncPeer } from './lib/peers.js';
import { buildBusyboxRootfs, ImageStore } from '../src/drivers/index.js';
import { readEvents } from '../src/client/index.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { rounds: { type: 'string', default: '100' }, network: { type: 'string', default: 'both' } } });
const MODE = positionals[0] ?? 'all';
const ROUNDS = Number(values.rounds);
const work = mkdtempSync(join(tmpdir(), 'stratus-bench-agent-'));
const pct = (xs: number[], p: number) => percentile([...xs].sort((a, b) => a - b), p);

const api = (server: string, method: string, path: string, body?: unknown) => adminJson(server, method, path, body);

const instance = (name: string, spec: Record<string, unknown>) => ({ kind: 'instance', metadata: { name }, spec: { resources: { cpu: '10m', memory: '16Mi' }, ...spec } });

/** Resolves names as their Running event arrives on a watch of the default project. */
function runningWatch(server: string): { when(name: string): Promise<number>; close(): void } {
  const controller = new AbortController();
  const waiters = new Map<string, (t: number) => void>();
  void (async () => {
    const res = await fetch(`${server}/v1/projects/default/instances?watch=true`, { headers: H, signal: controller.signal });
    for await (const m of readEvents(res.body!)) {
      const o = m.object as { metadata: { name: string }; status?: { phase: string } } | undefined;
      if (o?.status?.phase === 'Running') waiters.get(o.metadata.name)?.(performance.now());
    }
  })().catch(() => undefined);
  return { when: (name) => new Promise((r) => waiters.set(name, r)), close: () => controller.abort() };
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
async function measureStart(server: string, name: string, spec: Record<string, unknown>, watch: ReturnType<typeof runningWatch>, tasks: string): Promise<number> {
  const running = watch.when(name);
  const t0 = performance.now();
  // The same limits as the runc peer's bundle (100m CPU, 128 MiB): under a small CPU quota the
  // start itself (runc init, the process wrapper) runs throttled inside the instance's cgroup.
  await api(server, 'POST', '/v1/projects/default/instances', instance(name, { ...spec, resources: { cpu: '100m', memory: '128Mi' }, gracePeriod: 0 }));
  const ms = (await running) - t0;
  const obj = await api(server, 'GET', `/v1/projects/default/instances/${name}`);
  await api(server, 'DELETE', `/v1/projects/default/instances/${name}`);
  await waitGone(obj.status?.pid);
  await drained(tasks);
  return ms;
}

async function startBench(network: 'host' | 'auto'): Promise<void> {
  const dataDir = join(work, `start-${network}`);
  const server = await startChild([BIN, 'server', '--data-dir', dataDir, '--port', '0', '--node-name', 'bench', '--capacity', 'cpu=64,memory=64Gi', '--network', network], { STRATUS_BOOTSTRAP_TOKEN: TOKEN });
  const rootfs = join(work, 'rootfs');
  await buildBusyboxRootfs(rootfs);
  const store = new ImageStore(join(work, 'peer-images'));
  const peer: RuncPeer = { runc: 'runc', runcRoot: join(work, 'runc'), imageDir: (await store.importImage('busybox', rootfs)).dir, parent: `stratus-bench-${process.pid}`, base: work };
  execFileSync(process.execPath, [BIN, '--server', server.url, '--token', TOKEN, 'image', 'import', 'busybox', rootfs]);
  await waitReady(server);
  const watch = runningWatch(server.url);
  const s: Record<string, number[]> = { process: [], spawn: [], container: [], runc: [] };
  try {
    for (let i = 0; i < ROUNDS + 5; i++) {
      const keep = i >= 5;
      const tasks = join(dataDir, 'agent', 'tasks');
      const p = await measureStart(server.url, `p-${i}`, { driver: 'process', command: ['sleep', '1000'] }, watch, tasks);
      const sp = await viaSpawn();
      const c = await measureStart(server.url, `c-${i}`, { driver: 'container', image: 'busybox', command: ['sleep', '1000'] }, watch, tasks);
      const r = await viaRunc(peer, i);
      if (keep) [s.process, s.spawn, s.container, s.runc].forEach((xs, j) => xs!.push([p, sp, c, r][j]!));
    }
  } finally {
    watch.close();
    await drained(join(dataDir, 'agent', 'tasks'));
    await server.stop();
  }
  const how = network === 'host' ? 'host networking (`--network host`: the same command, no network isolation)' : 'per-instance network namespace on the project network (the default: namespace, veth, address, DNS, firewall)';
  console.log(`\n## Create → Running, ${how}; ${ROUNDS} instances per series (after 5 warm-up), interleaved\n`);
  console.log('| series | p50 ms | p99 ms | peer | added p50 ms | added p99 ms |');
  console.log('|---|---|---|---|---|---|');
  for (const [name, peer] of [['process', 'spawn'], ['container', 'runc']] as const) {
    const [a50, a99, b50, b99] = [pct(s[name]!, 50), pct(s[name]!, 99), pct(s[peer]!, 50), pct(s[peer]!, 99)];
    console.log(`| ${name} instance | ${fmt(a50, 1)} | ${fmt(a99, 1)} | ${peer === 'spawn' ? 'node spawn' : 'runc run -d'} ${fmt(b50, 1)} / ${fmt(b99, 1)} | +${fmt(a50 - b50, 1)} | +${fmt(a99 - b99, 1)} |`);
  }
  console.log('\ntarget: at most +50 ms at p50');
}

/** Waits until the agent has torn down every run (no task directory left), at most 30 s. */
async function drained(tasks: string): Promise<void> {
  for (let i = 0; i < 1500; i++) {
    if (!existsSync(tasks) || readdirSync(tasks).length === 0) return;
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
  const agents = new Map(['f1', 'f2', 'f3'].map((n) => [n, startAgent(server.url, secret, `${n}-${process.pid}`)]));
  try {
    await waitReady(server, 3);
    for (let i = 0; i < 30; i++) await api(server.url, 'POST', '/v1/projects/default/instances', instance(`f-${i}`, { driver: 'process', command: ['sleep', '1000'], placement: { policy: 'spread' } }));
    while ((await instances(server.url)).filter((i) => i.status?.phase === 'Running').length < 30) await new Promise((r) => setTimeout(r, 100));
    const all = await instances(server.url);
    const victim = [...agents.keys()].map((n) => `${n}-${process.pid}`).sort((a, b) => all.filter((i) => i.status?.node === b).length - all.filter((i) => i.status?.node === a).length)[0]!;
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
  const agent = startAgent(server.url, secret, `fp-${process.pid}`);
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

try {
  if (MODE === 'start' || MODE === 'all') {
    for (const network of values.network === 'both' ? (['host', 'auto'] as const) : [values.network as 'host' | 'auto']) await startBench(network);
  }
  if (MODE === 'failover' || MODE === 'all') await failoverBench();
  if (MODE === 'footprint' || MODE === 'all') await footprintBench();
} finally {
  rmSync(work, { recursive: true, force: true });
}
