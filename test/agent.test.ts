/**
 * A control plane and three real agents (separate processes) on this machine: real processes and
 * containers, failover, re-attachment, limits, logs, drain, and a clean teardown.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { startTestServer, client, BIN, type TestServer } from './helpers/server.js';
import { cliRunner } from './helpers/cli.js';
import { buildBusyboxRootfs } from '../src/node/drivers/index.js';

const root = process.getuid?.() === 0;
const runc = (() => { try { execFileSync('runc', ['--version']); return true; } catch { return false; } })();
const CGROUP_PARENT = '/sys/fs/cgroup/memory/stratus';
const NODE_TIMEOUT_S = 4;
/** Node names unique to this run, so its cgroups can be told from any other run's. */
const RUN = String(process.pid % 100000);
const nodeName = (n: string) => `${n}-${RUN}`;

interface AgentProc { name: string; dir: string; proc: ChildProcess; out: () => string }

let server: TestServer;
let api: ReturnType<typeof client>;
let joinToken: string;
let work: string;
const agents = new Map<string, AgentProc>();

function startAgent(name: string): Promise<AgentProc> {
  const dir = join(work, name);
  const proc = spawn(process.execPath, [BIN, '--server', server.url, 'agent', '--join-token', joinToken, '--data-dir', dir, '--node-name', name,
    '--capacity', 'cpu=2,memory=4Gi', '--heartbeat', '500ms', '--restart-backoff', '200ms', '--zone', `z-${name}`,
    // Three agents share this machine's network namespace: host networking (overlay is tested in network-e2e).
    '--network', 'host'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const a = { name, dir, proc, out: () => out };
  agents.set(name, a);
  return until(async () => out.includes('agent running'), (ok) => ok, 20_000, () => out).then(() => a);
}

async function stopAgent(name: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const a = agents.get(name)!;
  if (a.proc.exitCode === null && a.proc.signalCode === null) {
    const exited = new Promise((r) => a.proc.once('exit', r));
    a.proc.kill(signal);
    await exited;
  }
}

async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000, show: () => string = () => ''): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`condition not met in ${ms} ms: ${JSON.stringify(v).slice(0, 800)} ${show()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

type Inst = { metadata: { name: string }; status?: { phase: string; node?: string; pid?: number; reason?: string; message?: string; restarts?: number; usage?: { cpu: number } } };
const get = async (name: string) => (await api('GET', `/v1/projects/default/instances/${name}`)).body as Inst;
const list = async () => (await api('GET', '/v1/projects/default/instances')).body.items as Inst[];
const create = (name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}) =>
  api('POST', '/v1/projects/default/instances', { kind: 'instance', metadata: { name, labels }, spec: { driver: 'process', resources: { cpu: '100m', memory: '64Mi' }, ...spec } });

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  if (!root) return;
  work = mkdtempSync(join(tmpdir(), 'stratus-agents-'));
  server = await startTestServer({ args: ['--node-timeout', `${NODE_TIMEOUT_S}s`] });
  api = client(server.url, server.token);
  const jt = await api('POST', '/v1/join-tokens', {});
  expect(jt.status).toBe(201);
  joinToken = jt.body.secret;
  await Promise.all(['a1', 'a2', 'a3'].map((n) => startAgent(nodeName(n))));
}, 60_000);

afterAll(async () => {
  if (!root) return;
  // Workloads outlive agents on purpose, so a failed test must not leave them behind: delete
  // everything while the agents still run, then kill whatever is left in this run's cgroups.
  for (const i of await list().catch(() => [] as Inst[])) await api('DELETE', `/v1/projects/default/instances/${i.metadata.name}`).catch(() => undefined);
  await until(async () => ourCgroups(), (left) => left.length === 0, 15_000).catch(() => undefined);
  for (const name of agents.keys()) await stopAgent(name, 'SIGKILL');
  killOurCgroups();
  await server.stop();
  server.cleanup();
  rmSync(work, { recursive: true, force: true });
}, 60_000);

/** Task cgroups of this run (their names end with one of its node names). */
function ourCgroups(): string[] {
  if (!existsSync(CGROUP_PARENT)) return [];
  return readdirSync(CGROUP_PARENT, { withFileTypes: true })
    .filter((d) => d.isDirectory() && [...agents.keys()].some((n) => d.name.endsWith(`.${n}`)))
    .map((d) => d.name);
}

function killOurCgroups(): void {
  for (const name of ourCgroups()) {
    for (const c of ['unified', 'cpu', 'memory', 'pids']) {
      const dir = `/sys/fs/cgroup/${c}/stratus/${name}`;
      try {
        if (c === 'unified') execFileSync('sh', ['-c', 'echo 1 > "$1"', 'sh', `${dir}/cgroup.kill`]);
        rmdirSync(dir);
      } catch {
        // gone already, or not on this host
      }
    }
  }
}

describe.skipIf(!root)('agents', () => {
  it('join, report capacity and drivers, and run instances', async () => {
    const nodes = await until(async () => (await api('GET', '/v1/nodes')).body.items as { metadata: { name: string }; status: { phase: string; allocatable: { cpu: number }; drivers: { name: string; healthy: boolean }[]; limitsEnforced: boolean } }[],
      (ns) => ns.length === 3 && ns.every((n) => n.status?.phase === 'Ready'));
    for (const n of nodes) {
      expect(n.status.allocatable.cpu).toBe(2000);
      expect(n.status.drivers.find((d) => d.name === 'process')?.healthy).toBe(true);
      expect(n.status.limitsEnforced).toBe(true);
    }
    for (let i = 0; i < 6; i++) expect((await create(`svc-${i}`, { command: ['sleep', '3600'], resources: { cpu: '600m', memory: '64Mi' } }, { app: 'svc' })).status).toBe(201);
    const running = await until(list, (items) => items.filter((i) => i.status?.phase === 'Running').length === 6);
    for (const i of running) expect(() => process.kill(i.status!.pid!, 0)).not.toThrow();
  });

  it('moves restart-always instances off a killed agent within the node timeout plus 5 s', async () => {
    const before = await list();
    const victim = before.find((i) => i.status?.node)!.status!.node!;
    const affected = before.filter((i) => i.status?.node === victim).map((i) => i.metadata.name);
    const oldPids = new Map(before.map((i) => [i.metadata.name, i.status?.pid]));
    const killedAt = Date.now();
    await stopAgent(victim, 'SIGKILL');
    const moved = await until(list, (items) => affected.every((n) => {
      const i = items.find((x) => x.metadata.name === n);
      return i?.status?.phase === 'Running' && i.status.node !== victim;
    }), (NODE_TIMEOUT_S + 5) * 1000 + 2000);
    expect(Date.now() - killedAt).toBeLessThanOrEqual((NODE_TIMEOUT_S + 5) * 1000 + 2000);
    expect((await api('GET', `/v1/nodes/${victim}`)).body.status.phase).toBe('Down');
    for (const n of affected) expect(moved.find((x) => x.metadata.name === n)!.status!.pid).not.toBe(oldPids.get(n));
    // The machine is not really dead here: its orphaned workloads go when its agent comes back.
    const orphans = affected.map((n) => oldPids.get(n)!).filter(Boolean);
    await startAgent(victim);
    await until(async () => orphans.filter((pid) => { try { process.kill(pid, 0); return true; } catch { return false; } }), (alive) => alive.length === 0);
    await until(async () => (await api('GET', `/v1/nodes/${victim}`)).body.status.phase, (p) => p === 'Ready');
  });

  it('re-attaches to running workloads when an agent restarts, keeping their pids', async () => {
    const items = await list();
    const node = items.find((i) => i.status?.phase === 'Running')!.status!.node!;
    const mine = items.filter((i) => i.status?.node === node && i.status.phase === 'Running');
    await stopAgent(node, 'SIGTERM');
    await startAgent(node);
    // stderr and stdout are separate pipes: wait for the line rather than expect it already.
    await until(async () => agents.get(node)!.out(), (out) => mine.every((i) => out.includes(`re-attached to default/${i.metadata.name} (pid ${i.status!.pid})`)));
    await new Promise((r) => setTimeout(r, 1500));
    for (const i of mine) {
      const now = await get(i.metadata.name);
      expect(now.status).toMatchObject({ phase: 'Running', node, pid: i.status!.pid, restarts: i.status!.restarts ?? 0 });
    }
  });

  it('reports an out-of-memory kill and throttles CPU to the quota', async () => {
    await create('hog', { command: ['python3', '-c', 'a = []\nwhile True: a.append(bytearray(1 << 20))'], resources: { cpu: '200m', memory: '32Mi' }, restartPolicy: 'never' });
    await create('spin', { command: ['sh', '-c', 'while :; do :; done'], resources: { cpu: '200m', memory: '32Mi' } });
    const hog = await until(() => get('hog'), (i) => i.status?.phase === 'Failed');
    expect(hog.status?.reason).toBe('OOMKilled');
    await until(async () => (await api('GET', '/v1/projects/default/events?selector=stratus.io%2Fobject-name%3Dhog')).body.items as { spec: { reason: string } }[],
      (evs) => evs.some((e) => e.spec.reason === 'OOMKilled'));
    // Usage comes from the cgroup's CPU counters: a busy loop held to 200m reports about 200m.
    const spin = await until(() => get('spin'), (i) => (i.status?.usage?.cpu ?? 0) > 100, 30_000);
    expect(spin.status!.usage!.cpu).toBeLessThanOrEqual(260);
  });

  it('runs a container that serves HTTP the host can fetch, and streams logs', async () => {
    if (!runc) return console.warn('container test skipped: runc missing (scripts/install-deps.sh installs it)');
    const rootfs = join(work, 'busybox');
    await buildBusyboxRootfs(rootfs);
    const run = cliRunner(join(work, 'cli.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token });
    const imported = await run(['image', 'import', 'busybox', rootfs]);
    expect(imported.stdout).toMatch(/^image\/busybox imported \(\d+ KiB, sha256:/);
    const port = await freePort();
    await create('web', { driver: 'container', image: 'busybox', command: ['sh', '-c', `echo hello from the container; exec httpd -f -p ${port} -h /etc`], resources: { cpu: '100m', memory: '32Mi' } });
    await until(() => get('web'), (i) => i.status?.phase === 'Running');
    const res = await until(() => fetch(`http://127.0.0.1:${port}/passwd`).then((r) => r.status).catch(() => 0), (s) => s === 200);
    expect(res).toBe(200);
    const logs = await until(() => run(['logs', 'web']), (r) => r.stdout.includes('hello from the container'));
    expect(logs.code).toBe(0);
  });

  it('drains a node: its instances stop within their grace period and run elsewhere', async () => {
    const items = await list();
    const node = items.find((i) => i.status?.phase === 'Running' && i.metadata.name.startsWith('svc'))!.status!.node!;
    const there = items.filter((i) => i.status?.node === node && i.metadata.name.startsWith('svc')).map((i) => i.metadata.name);
    const run = cliRunner(join(work, 'cli.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token });
    expect((await run(['node', 'drain', node])).code).toBe(0);
    await until(list, (now) => there.every((n) => {
      const i = now.find((x) => x.metadata.name === n);
      return i?.status?.phase === 'Running' && i.status.node !== node;
    }), 30_000);
    expect((await run(['node', 'uncordon', node])).code).toBe(0);
  });

  it('leaves no processes, cgroups or bundles behind once everything is deleted', async () => {
    const pids = (await list()).map((i) => i.status?.pid).filter((p): p is number => p !== undefined);
    for (const i of await list()) await api('DELETE', `/v1/projects/default/instances/${i.metadata.name}`);
    await until(async () => pids.filter((pid) => { try { process.kill(pid, 0); return true; } catch { return false; } }), (alive) => alive.length === 0);
    await until(async () => [...agents.values()].flatMap((a) => (existsSync(join(a.dir, 'tasks')) ? readdirSync(join(a.dir, 'tasks')) : [])), (left) => left.length === 0);
    const uids = new Set((await list()).map((i) => i.metadata.name));
    expect(uids.size).toBe(0);
    await until(async () => ourCgroups(), (left) => left.length === 0);
    if (runc) {
      const containers = execFileSync('runc', ['--root', '/run/stratus/runc', 'list', '-q']).toString().split('\n');
      expect(containers.filter((id) => [...agents.keys()].some((n) => id.endsWith(`.${n}`)))).toEqual([]);
    }
  });
});
