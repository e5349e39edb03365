/**
 * A real `stratus server` and real `stratus agent` processes, each agent inside its own network
 * namespace of a SimCluster acting as a separate host. The hosts and the server share an
 * underlay bridge, 198.18.<subnet>.0/24; the server listens on .254 in this machine's namespace.
 * Used by the networking end-to-end tests; needs root (see networkTestSkipReason).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, client, BIN, type TestServer } from './server.js';
import { SimCluster, sleep } from '../../src/node/network/testing.js';
import { hostRunner } from '../../src/node/network/exec.js';
import { shortHash } from '../../src/node/network/names.js';

export interface AgentProc { node: string; host: number; proc: ChildProcess; out: () => string }

export class AgentHosts {
  readonly agents = new Map<string, AgentProc>();
  cluster!: SimCluster;
  server!: TestServer;
  api!: ReturnType<typeof client>;
  joinToken!: string;
  /** Scratch directory of the run: agents' data directories, files instances write. */
  work!: string;
  private readonly lockFiles: string[] = [];

  constructor(private readonly tag: string, private readonly subnet: number, private readonly hostCount: number) {}

  /** Instance namespaces of host n (1-based); distinct per agent because /run/netns is shared. */
  prefixOf(n: number): string {
    return `${this.tag}h${n}-`;
  }

  underlayOf(n: number): string {
    return `198.18.${this.subnet}.${n}`;
  }

  /** The network namespace of an instance, on whichever host its node's agent runs. */
  nsOf(i: { metadata: { uid: string }; status?: { node?: string } }): string {
    return `${this.prefixOf(this.agents.get(i.status!.node!)!.host)}${shortHash(i.metadata.uid)}`;
  }

  /** The hosts, the server on the underlay, and a join token; no agents yet. */
  async start(workPrefix: string): Promise<void> {
    this.work = mkdtempSync(join(tmpdir(), workPrefix));
    this.cluster = await SimCluster.create(this.tag, this.hostCount, this.subnet);
    const serverIp = this.underlayOf(254);
    await hostRunner.run(['ip', 'addr', 'add', `${serverIp}/24`, 'dev', this.cluster.underlayBridge]);
    for (const h of this.cluster.hosts) this.lockFiles.push(`/run/stratus/network-${statSync(`/run/netns/${h.ns}`).ino}.pid`);
    this.server = await startTestServer({ args: ['--listen', serverIp, '--node-timeout', '10s'] });
    this.api = client(this.server.url, this.server.token);
    this.joinToken = (await this.api('POST', '/v1/join-tokens', {})).body.secret as string;
  }

  /** Polls until `ok`; on timeout the error shows the last value and the agents' output. */
  async until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await get();
      if (ok(v)) return v;
      if (Date.now() > end) throw new Error(`${what}: not after ${ms} ms: ${JSON.stringify(v).slice(0, 600)}\n${[...this.agents.values()].map((a) => `--- ${a.node}\n${a.out().slice(-1500)}`).join('\n')}`);
      await sleep(200);
    }
  }

  /** `stratus agent` inside host `host`'s namespace (nsenter: same mount namespace, so its `ip netns` namespaces are visible). */
  async startAgent(node: string, host: number, extra: string[] = []): Promise<AgentProc> {
    const argv = ['--net=/run/netns/' + this.cluster.hosts[host - 1]!.ns, '--', process.execPath, BIN, '--server', this.server.url, 'agent',
      '--join-token', this.joinToken, '--data-dir', join(this.work, node), '--node-name', node, '--drivers', 'process', '--capacity', 'cpu=4,memory=4Gi',
      '--heartbeat', '500ms', '--restart-backoff', '200ms', '--netns-prefix', this.prefixOf(host), ...extra];
    const proc = spawn('nsenter', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const a = { node, host, proc, out: () => out };
    this.agents.set(node, a);
    await this.until(`agent ${node} starts`, async () => out, (o) => o.includes('agent running') || proc.exitCode !== null);
    if (proc.exitCode !== null) throw new Error(`agent ${node} exited: ${out}`);
    return a;
  }

  /** Signals the node's agent and waits for it to exit (nothing if it is not running). */
  async stopAgent(node: string, signal: NodeJS.Signals): Promise<void> {
    const a = this.agents.get(node);
    if (!a || a.proc.exitCode !== null || a.proc.signalCode !== null) return;
    const exited = new Promise((r) => a.proc.once('exit', r));
    a.proc.kill(signal);
    await exited;
  }

  /**
   * Tears everything down. Workloads outlive agents: `removeWorkloads` deletes them while the
   * agents still run; whatever is left after that is killed by cgroup.
   */
  async stop(removeWorkloads: () => Promise<void>): Promise<void> {
    await removeWorkloads().catch(() => undefined); // (it may fail when start() did not get that far)
    await this.until('workloads stop', async () => this.ourCgroups(), (left) => left.length === 0, 15_000).catch(() => undefined);
    for (const node of this.agents.keys()) await this.stopAgent(node, 'SIGKILL');
    this.killOurCgroups();
    await this.server?.stop();
    this.server?.cleanup();
    await this.cluster?.destroy();
    for (let n = 1; n <= this.hostCount; n++) for (const d of existsSync('/etc/netns') ? readdirSync('/etc/netns').filter((x) => x.startsWith(this.prefixOf(n))) : []) rmSync(join('/etc/netns', d), { recursive: true, force: true });
    for (const f of this.lockFiles) rmSync(f, { force: true });
    if (this.work) rmSync(this.work, { recursive: true, force: true });
  }

  /** Task cgroups of this run's nodes (task ids end with ".<node>"). */
  private ourCgroups(): string[] {
    const parent = '/sys/fs/cgroup/memory/stratus';
    if (!existsSync(parent)) return [];
    return readdirSync(parent, { withFileTypes: true }).filter((d) => d.isDirectory() && [...this.agents.keys()].some((n) => d.name.endsWith(`.${n}`))).map((d) => d.name);
  }

  private killOurCgroups(): void {
    for (const name of this.ourCgroups()) {
      for (const c of ['unified', 'cpu', 'memory', 'pids']) {
        const dir = `/sys/fs/cgroup/${c}/stratus/${name}`;
        try {
          if (c === 'unified') writeFileSync(`${dir}/cgroup.kill`, '1');
          rmdirSync(dir);
        } catch {
          // gone already, or not on this host
        }
      }
    }
  }
}
