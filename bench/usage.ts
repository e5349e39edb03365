/**
 * Usage benchmarks (issue 17: usage and `stratus top`).
 *
 *   agent    one agent with N running instances (process driver, host networking), its CPU and RSS
 *            with the usage reporter on (--usage-interval 5s) and off (0), alternating, the agent
 *            restarted with the other flag between phases (its runs are re-attached, not restarted).
 *            The difference is the reporter's cost; per instance per report it is
 *            (on - off) × interval / N.
 *   collect  in this process: one round of the reporter over N cgroups of this host (v1 and v2,
 *            created empty), read as the process and container drivers read them
 *            (TaskCgroup.sample), plus the report's JSON; CPU time per round and per instance,
 *            against the interval (what share of a core it takes at one round every 5 s).
 *   server   the API server's cost of applying one report of N instances (validation, the node's
 *            bound instances, one store write, every UsageHistory's watch), sent with the node's own
 *            credential, against a heartbeat (PUT of the node's status) measured in the same run.
 *
 *   npx tsx bench/usage.ts [collect|agent|server|all] [--instances 100] [--seconds 20] [--reports 200] [--rounds 50] [--pairs 3]
 *
 * `server` runs the agent phases first (they set up its node and instances); `agent` stops after them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startChild, percentile, fmt, median, spread, adminJson, onInterrupt, BIN, BENCH_TOKEN, type Child } from './lib/util.js';
import { loadCredential } from '../src/node/agent/credential.js';
import type { NodeUsageReport } from '../src/model/usage.js';
import { detectCgroups, TaskCgroup } from '../src/node/drivers/cgroups.js';
import { removeCgroupTree } from '../src/node/drivers/testing.js';
import type { Instance } from '../src/model/kinds/instance.js';
import type { TaskHandle } from '../src/node/drivers/index.js';
import { UsageReporter, type RunningTask } from '../src/node/agent/usage.js';
import { systemClock } from '../src/model/runtime.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { instances: { type: 'string', default: '100' }, seconds: { type: 'string', default: '20' }, reports: { type: 'string', default: '200' }, rounds: { type: 'string', default: '50' }, pairs: { type: 'string', default: '3' } } });
const MODE = positionals[0] ?? 'all';
const ROUNDS = Number(values.rounds);
const PAIRS = Number(values.pairs);
const N = Number(values.instances);
const SECONDS = Number(values.seconds);
const REPORTS = Number(values.reports);
const INTERVAL_S = 5;
const work = mkdtempSync(join(tmpdir(), 'stratus-bench-usage-'));
const NODE = `usage-bench-${process.pid}`;
const agentDir = join(work, NODE);
/** The agent now (restarted with another flag between phases). */
let agentProc: ChildProcess | undefined;

type Inst = { metadata: { name: string; uid: string; project: string }; status?: { phase: string; node?: string } };
const api = (server: string, method: string, path: string, body?: unknown) => adminJson(server, method, path, body);
const instances = async (server: string): Promise<Inst[]> => (await api(server, 'GET', '/v1/projects/default/instances')).items;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startAgent(server: string, joinToken: string, usage: string): ChildProcess {
  return spawn(process.execPath, [BIN, '--server', server, 'agent', '--join-token', joinToken, '--data-dir', agentDir, '--node-name', NODE, '--capacity', 'cpu=8,memory=8Gi', '--network', 'host', '--usage-interval', usage], { stdio: 'ignore' });
}

async function stopAgent(agent: ChildProcess): Promise<void> {
  if (agent.exitCode !== null || agent.signalCode !== null) return;
  const exited = new Promise((r) => agent.once('exit', r));
  agent.kill('SIGTERM');
  await exited;
}

/** CPU ticks (1/100 s) and RSS of a process. */
function proc(pid: number): { ticks: number; rssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { ticks: Number(stat[11]) + Number(stat[12]), rssMiB: Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024 };
}

async function sample(pids: number[], seconds: number): Promise<{ cpuPct: number[]; rssMiB: number[] }> {
  const a = pids.map(proc);
  await sleep(seconds * 1000);
  const b = pids.map(proc);
  return { cpuPct: b.map((x, i) => (x.ticks - a[i]!.ticks) / seconds), rssMiB: b.map((x) => x.rssMiB) };
}

async function ready(server: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const n = await api(server, 'GET', `/v1/nodes/${NODE}`).catch(() => undefined);
    if (n?.status?.phase === 'Ready' && Date.now() - Date.parse(n.status.lastHeartbeat ?? 0) < 3000) return;
    await sleep(100);
  }
  throw new Error(`node ${NODE} never became Ready`);
}

/** Alternating phases of the agent with the reporter on and off: agent and server CPU, agent RSS. */
async function agentBench(server: Child, joinToken: string): Promise<void> {
  const rows: Record<'on' | 'off', { agent: number[]; server: number[]; rss: number[] }> = { on: { agent: [], server: [], rss: [] }, off: { agent: [], server: [], rss: [] } };
  agentProc = startAgent(server.url, joinToken, `${INTERVAL_S}s`);
  await ready(server.url);
  for (let i = 0; i < N; i++) await api(server.url, 'POST', '/v1/projects/default/instances', { kind: 'instance', metadata: { name: `u-${i}` }, spec: { driver: 'process', command: ['sleep', '100000'], resources: { cpu: '10m', memory: '16Mi' } } });
  while ((await instances(server.url)).filter((i) => i.status?.phase === 'Running').length < N) await sleep(200);
  for (const phase of Array.from({ length: PAIRS }, () => ['on', 'off'] as const).flat()) {
    await stopAgent(agentProc);
    agentProc = startAgent(server.url, joinToken, phase === 'on' ? `${INTERVAL_S}s` : '0');
    await ready(server.url);
    await sleep(6000); // past its start and first report
    const s = await sample([agentProc.pid!, server.proc.pid!], SECONDS);
    rows[phase].agent.push(s.cpuPct[0]!);
    rows[phase].server.push(s.cpuPct[1]!);
    rows[phase].rss.push(s.rssMiB[0]!);
  }
  const on = median(rows.on.agent);
  const off = median(rows.off.agent);
  const perInstanceMs = ((on - off) / 100) * 1000 * INTERVAL_S / N;
  console.log(`\n## Agent with ${N} running instances, usage reporter on (every ${INTERVAL_S} s) and off, alternating; ${SECONDS} s samples, medians of ${PAIRS} each (and their range)\n`);
  console.log('| reporter | agent CPU | agent RSS | server CPU |\n|---|---|---|---|');
  for (const p of ['off', 'on'] as const) console.log(`| ${p} | ${spread(rows[p].agent, 2)} % of a core | ${fmt(median(rows[p].rss), 0)} MiB | ${spread(rows[p].server, 2)} % of a core |`);
  console.log(`\nreporter cost: ${fmt(on - off, 2)} % of a core (${fmt(on / Math.max(off, 0.01), 2)}× the agent without it); ${fmt(perInstanceMs, 3)} ms of CPU per instance per report`);
}

/** Sequential PUTs: latency of each and the server's CPU per call. */
async function timed(server: Child, calls: number, call: () => Promise<Response>): Promise<{ p50: number; p99: number; cpuMs: number }> {
  for (let i = 0; i < 20; i++) await call(); // warm up
  const lat: number[] = [];
  const before = proc(server.proc.pid!).ticks;
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    const res = await call();
    if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
    lat.push(performance.now() - t);
  }
  const cpuMs = ((proc(server.proc.pid!).ticks - before) * 10) / calls;
  lat.sort((a, b) => a - b);
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), cpuMs };
}

async function serverBench(server: Child): Promise<void> {
  const cred = loadCredential(agentDir)!;
  const headers = { authorization: `Bearer ${cred.token}`, 'content-type': 'application/json' };
  const bound = (await instances(server.url)).filter((i) => i.status?.node === NODE);
  let t = Date.now() + 60_000; // after the agent's own reports (off now)
  const report = (): NodeUsageReport => ({
    node: NODE, at: new Date(t++).toISOString(), intervalMs: 5000, cpu: 1000, memory: 2000, services: [],
    instances: bound.map((i, k) => ({ uid: i.metadata.uid, project: 'default', name: i.metadata.name, cpu: 10 + k, cpuSeconds: 100 + k, throttledPeriods: 5, periods: 900, memory: 16, memoryPeak: 20, pids: 1, netRxBytes: 123456 + k, netTxBytes: 654321 })),
  });
  const bytes = JSON.stringify(report()).length;
  const usage = await timed(server, REPORTS, () => fetch(`${server.url}/v1/nodes/${NODE}/usage`, { method: 'PUT', headers, body: JSON.stringify(report()) }));
  const node = await api(server.url, 'GET', `/v1/nodes/${NODE}`);
  const heartbeat = await timed(server, REPORTS, () => fetch(`${server.url}/v1/nodes/${NODE}/status`, { method: 'PUT', headers, body: JSON.stringify({ ...node.status, lastHeartbeat: new Date().toISOString() }) }));
  console.log(`\n## Server: one report of ${bound.length} instances (${fmt(bytes / 1024, 1)} KiB), ${REPORTS} sequential PUTs with the node's credential, SQLite store\n`);
  console.log('| request | p50 | p99 | server CPU per request |\n|---|---|---|---|');
  console.log(`| PUT /v1/nodes/{node}/usage | ${fmt(usage.p50, 2)} ms | ${fmt(usage.p99, 2)} ms | ${fmt(usage.cpuMs, 2)} ms |`);
  console.log(`| PUT /v1/nodes/{node}/status (heartbeat) | ${fmt(heartbeat.p50, 2)} ms | ${fmt(heartbeat.p99, 2)} ms | ${fmt(heartbeat.cpuMs, 2)} ms |`);
  console.log(`\nreport / heartbeat: ${fmt(usage.cpuMs / heartbeat.cpuMs, 2)}× the server CPU, ${fmt(usage.p50 / heartbeat.p50, 2)}× the p50 latency; at one report per node every ${INTERVAL_S} s: ${fmt(usage.cpuMs / INTERVAL_S / 10, 3)} % of a core per node`);
}

/** The reporter's rounds over N empty cgroups of this host, in this process: CPU per round. */
async function collectBench(): Promise<void> {
  const host = await detectCgroups();
  const parent = `stratus-bench-usage-${process.pid}`;
  try {
    const tasks: RunningTask[] = [];
    for (let i = 0; i < N; i++) {
      const { cgroup } = await TaskCgroup.create(host, `${parent}/t${i}`, { cpu: 100, memory: 64, pids: 100 });
      const instance = { metadata: { name: `c-${i}`, project: 'default', uid: `uid-${i}` } } as Instance;
      const handle = { driver: 'process', version: 1, taskId: `t${i}`, dir: '/', pid: process.pid, startedAt: new Date().toISOString(), state: { cgroups: cgroup.paths } } as unknown as TaskHandle;
      const stats = async () => {
        const s = await cgroup.sample();
        return { at: '', cpu: 0, cpuUsageNs: s.cpuUsageNs, memory: Math.ceil(s.workingSetBytes / 1048576), memoryBytes: s.memoryBytes, ...(s.throttling ? { throttling: s.throttling } : {}), ...(s.pids !== undefined ? { pids: s.pids } : {}), source: 'cgroup' as const };
      };
      tasks.push({ instance, handle, driver: { stats } });
    }
    let bytes = 0;
    const reporter = new UsageReporter({ node: NODE, clock: systemClock, running: () => tasks, send: async (r) => void (bytes = JSON.stringify(r).length), log: () => undefined });
    for (let i = 0; i < 5; i++) await reporter.round();
    const cpu: number[] = [];
    const wall: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const c = process.cpuUsage();
      const t = performance.now();
      await reporter.round();
      wall.push(performance.now() - t);
      const d = process.cpuUsage(c);
      cpu.push((d.user + d.system) / 1000);
    }
    const perRound = median(cpu);
    console.log(`\n## Collection in process: ${N} cgroups (cgroup ${host.mode}), ${ROUNDS} rounds, report ${fmt(bytes / 1024, 1)} KiB\n`);
    console.log('| per round: CPU p50 | CPU p99 | wall p50 | CPU per instance | share of a core at one round every 5 s |\n|---|---|---|---|---|');
    cpu.sort((a, b) => a - b);
    wall.sort((a, b) => a - b);
    console.log(`| ${fmt(perRound, 2)} ms | ${fmt(percentile(cpu, 99), 2)} ms | ${fmt(percentile(wall, 50), 2)} ms | ${fmt((perRound / N) * 1000, 0)} µs | ${fmt((perRound / (INTERVAL_S * 1000)) * 100, 3)} % |`);
  } finally {
    await removeCgroupTree(host, parent).catch((e: Error) => console.error(`cleanup: ${e.message}`));
  }
}

const children: Child[] = [];
const cleanup = async () => {
  for (const c of children) {
    if (c.proc.exitCode !== null || c.proc.signalCode !== null) continue;
    if (!agentProc || agentProc.exitCode !== null) agentProc = startAgent(c.url, '', '0'); // it destroys the runs
    for (const i of await instances(c.url).catch(() => [])) await api(c.url, 'DELETE', `/v1/projects/default/instances/${i.metadata.name}`).catch(() => undefined);
    for (let n = 0; n < 600 && (await instances(c.url).catch(() => [])).length > 0; n++) await sleep(100);
    const tasks = join(agentDir, 'tasks');
    for (let n = 0; n < 600 && existsSync(tasks) && readdirSync(tasks).length > 0; n++) await sleep(100);
    agentProc.kill('SIGKILL');
    await c.stop().catch(() => undefined);
  }
  rmSync(work, { recursive: true, force: true });
};
onInterrupt(cleanup);

try {
  if (MODE === 'collect' || MODE === 'all') await collectBench();
  if (MODE !== 'collect') {
    const server = await startChild([BIN, 'server', '--data-dir', join(work, 'server'), '--port', '0', '--no-agent'], { STRATUS_BOOTSTRAP_TOKEN: BENCH_TOKEN });
    children.push(server);
    const { secret } = await api(server.url, 'POST', '/v1/join-tokens', {});
    await agentBench(server, secret);
    if (MODE !== 'agent') await serverBench(server);
  }
} finally {
  await cleanup();
}
