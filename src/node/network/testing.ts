/**
 * Test fixtures: simulated hosts. Each host is a network namespace joined to the others by an
 * underlay bridge in the machine's own namespace; an agent-like child process runs inside each
 * (`nsenter --net`, same mount namespace, so the `ip netns` namespaces it creates are real and
 * visible) and drives a NodeNetworking exactly as the agent would, over JSON lines on stdio.
 * Workloads and clients run in the instances' namespaces via `ip netns exec`.
 *
 * Everything created here carries the fixture's tag and is removed by `destroy()`; processes are
 * killed by the pids this module started, never by name.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { hostRunner } from './exec.js';

export const REPO = resolve(import.meta.dirname, '..', '..', '..');
const HOST_SCRIPT = join(import.meta.dirname, 'testing-host.ts');

/** Why the namespace tests cannot run here, or undefined when they can. */
export function networkTestSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, bridges, nftables)';
  for (const tool of ['ip', 'nft', 'nsenter', 'bridge']) {
    if (spawnSync(tool, ['-V'], { stdio: 'ignore' }).error) return `needs \`${tool}\` (run scripts/install-deps.sh)`;
  }
  if (!existsSync('/bin/busybox')) return 'needs /bin/busybox (busybox-static; run scripts/install-deps.sh)';
  const probe = spawnSync('ip', ['netns', 'add', `stratus-skipcheck-${process.pid}`]);
  if (probe.status !== 0) return `cannot create network namespaces: ${probe.stderr.toString().trim()}`;
  spawnSync('ip', ['netns', 'del', `stratus-skipcheck-${process.pid}`]);
  return undefined;
}

export interface SimHost {
  index: number;
  /** The host's namespace name (under /run/netns). */
  ns: string;
  underlayIp: string;
  /** Node name, and prefix of the instance namespaces this host's dataplane owns. */
  node: string;
  netnsPrefix: string;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** A started child that is killed on destroy(). */
function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export class SimCluster {
  readonly agents: HostAgent[] = [];
  private readonly workloads = new Set<ChildProcess>();
  private readonly dirs = new Set<string>();

  private constructor(
    readonly tag: string,
    readonly hosts: SimHost[],
    readonly underlayBridge: string,
  ) {}

  /**
   * `tag`: 2-5 lowercase letters/digits, unique per test file (it names the namespaces and the
   * underlay bridge). `subnet`: the third octet of the underlay 198.18.<subnet>.0/24 (RFC 2544).
   */
  static async create(tag: string, hostCount: number, subnet: number): Promise<SimCluster> {
    const ip = (args: string[]) => hostRunner.run(['ip', ...args]);
    const bridge = `${tag}ul`;
    await SimCluster.removeLeftovers(tag);
    await ip(['link', 'add', 'name', bridge, 'type', 'bridge']);
    await ip(['link', 'set', 'dev', bridge, 'up']);
    const hosts: SimHost[] = [];
    for (let i = 0; i < hostCount; i++) {
      const ns = `${tag}-host${i + 1}`;
      const underlayIp = `198.18.${subnet}.${i + 1}`;
      await ip(['netns', 'add', ns]);
      await ip(['link', 'add', 'name', `${tag}u${i + 1}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await ip(['link', 'set', 'dev', `${tag}u${i + 1}`, 'master', bridge, 'up']);
      await ip(['-n', ns, 'addr', 'add', `${underlayIp}/24`, 'dev', 'eth0']);
      await ip(['-n', ns, 'link', 'set', 'dev', 'eth0', 'up']);
      await ip(['-n', ns, 'link', 'set', 'dev', 'lo', 'up']);
      hosts.push({ index: i, ns, underlayIp, node: `node-${i + 1}`, netnsPrefix: `${tag}h${i + 1}-` });
    }
    return new SimCluster(tag, hosts, bridge);
  }

  /** Removes what an earlier, interrupted run with the same tag left. */
  static async removeLeftovers(tag: string): Promise<void> {
    const list = await hostRunner.run(['ip', 'netns', 'list'], { allowFailure: true });
    for (const name of list.stdout.split('\n').map((l) => l.split(' ')[0] ?? '')) {
      if (name.startsWith(`${tag}-host`) || name.startsWith(`${tag}h`)) await hostRunner.run(['ip', 'netns', 'del', name], { allowFailure: true });
    }
    await hostRunner.run(['ip', 'link', 'del', 'dev', `${tag}ul`], { allowFailure: true });
  }

  /** Starts the agent-like process of host `i` (0-based). */
  async agent(i: number, options: Record<string, unknown> = {}): Promise<HostAgent> {
    const h = this.hosts[i]!;
    const opts = { node: h.node, underlay: { ip: h.underlayIp, dev: 'eth0' }, netnsPrefix: h.netnsPrefix, ...options };
    const a = await HostAgent.spawn(h, opts);
    this.agents[i] = a;
    return a;
  }

  /** Runs `argv` inside namespace `ns` (e.g. a workload in an instance's namespace). Killed on destroy(). */
  run(ns: string, argv: string[], options: { stdin?: boolean } = {}): ChildProcess {
    const child = track(spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] }));
    this.workloads.add(child);
    child.once('exit', () => this.workloads.delete(child));
    return child;
  }

  /** Runs a command in `ns` to completion. */
  async exec(ns: string, argv: string[], timeoutMs = 20_000): Promise<{ code: number; stdout: string; stderr: string }> {
    return hostRunner.run(['ip', 'netns', 'exec', ns, ...argv], { allowFailure: true, timeoutMs });
  }

  /** Starts `busybox httpd` serving `body` at / on `port` in `ns`; resolves once it accepts connections. */
  async httpServer(ns: string, port: number, body: string): Promise<ChildProcess> {
    const dir = await mkdtemp(join(tmpdir(), `stratus-${ns}-www-`));
    this.dirs.add(dir);
    await writeFile(join(dir, 'index.html'), body);
    const child = this.run(ns, ['/bin/busybox', 'httpd', '-f', '-p', String(port), '-h', dir]);
    for (let i = 0; i < 100; i++) {
      if ((await this.tcpConnect(ns, '127.0.0.1', port, 500)) === 'ok') return child;
      await sleep(50);
    }
    throw new Error(`httpd in ${ns} did not start`);
  }

  /** Tries one TCP connection from `ns`: 'ok', 'refused' or 'timeout' (or another error code). */
  async tcpConnect(ns: string, host: string, port: number, timeoutMs = 1000): Promise<string> {
    const r = await this.exec(ns, [process.execPath, '-e', CONNECT_SCRIPT, host, String(port), String(timeoutMs)]);
    return r.stdout.trim() || `error: ${r.stderr.trim()}`;
  }

  /** `count` HTTP GETs from `ns`, `gapMs` apart, each on a new connection: bodies or "ERR <code>". */
  async httpGets(ns: string, url: string, count: number, gapMs = 0, timeoutMs = 2000): Promise<string[]> {
    const r = await this.exec(ns, [process.execPath, '-e', GETS_SCRIPT, url, String(count), String(gapMs), String(timeoutMs)], 120_000);
    if (r.code !== 0) throw new Error(`client in ${ns} failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as string[];
  }

  async destroy(): Promise<void> {
    for (const w of this.workloads) w.kill('SIGKILL');
    for (const a of this.agents) if (a) await a.call('teardown').catch(() => undefined);
    for (const a of this.agents) if (a) await a.close();
    for (const d of this.dirs) await rm(d, { recursive: true, force: true });
    await SimCluster.removeLeftovers(this.tag);
  }
}

/** The agent-like child of one simulated host: calls NodeNetworking methods over JSON lines. */
export class HostAgent {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private stderr = '';

  private constructor(readonly host: SimHost, private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as { id: number; result?: unknown; error?: string };
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error !== undefined) p.reject(new Error(`${host.node}: ${msg.error}`));
      else p.resolve(msg.result);
    });
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    child.once('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`${host.node} agent exited (${code}): ${this.stderr}`));
      this.pending.clear();
    });
  }

  static async spawn(host: SimHost, options: Record<string, unknown>): Promise<HostAgent> {
    const child = track(spawn('nsenter', [`--net=/run/netns/${host.ns}`, '--', process.execPath, '--import', 'tsx', HOST_SCRIPT, JSON.stringify(options)], {
      cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'],
    }));
    const agent = new HostAgent(host, child);
    await agent.call('ping');
    return agent;
  }

  call<T = unknown>(method: string, ...args: unknown[]): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, method, args })}\n`);
    });
  }

  /** SIGKILL, as a crash would: nothing is cleaned up. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await exited;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const CONNECT_SCRIPT = `
const [host, port, timeout] = process.argv.slice(1);
const s = require('net').connect({ host, port: Number(port) });
const t = setTimeout(() => { console.log('timeout'); process.exit(0); }, Number(timeout));
s.on('connect', () => { console.log('ok'); clearTimeout(t); s.destroy(); });
s.on('error', (e) => { console.log(e.code === 'ECONNREFUSED' ? 'refused' : e.code); clearTimeout(t); });
`;

const GETS_SCRIPT = `
const [url, count, gap, timeout] = process.argv.slice(1);
const http = require('http');
const one = () => new Promise((resolve) => {
  const req = http.get(url, { agent: false, timeout: Number(timeout) }, (res) => {
    let body = ''; res.on('data', (d) => (body += d)); res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : 'ERR HTTP ' + res.statusCode));
    res.on('error', (e) => resolve('ERR ' + e.code));
  });
  req.on('timeout', () => { req.destroy(); resolve('ERR TIMEOUT'); });
  req.on('error', (e) => resolve('ERR ' + (e.code || e.message)));
});
(async () => {
  const out = [];
  for (let i = 0; i < Number(count); i++) { out.push(await one()); if (Number(gap)) await new Promise((r) => setTimeout(r, Number(gap))); }
  console.log(JSON.stringify(out));
})();
`;
