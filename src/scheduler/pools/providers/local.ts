/**
 * The `local` provider: each machine is a `stratus agent` process on the server's own machine,
 * with a data directory of its own (<dir>/<node>) and `--pool`, for demos, tests and capacity
 * planning.
 *
 *   network: namespace (default)  the agent runs in a network namespace of its own
 *       (`nsenter --net`), on a bridge of this machine, 198.18.<subnet>.0/24: the bridge is .254,
 *       machine n is .n. An agent there cannot reach a server listening on loopback, so the
 *       provider relays TCP from 198.18.<subnet>.254 to the server (in the server's process:
 *       agents of a server that stopped lose contact, as machines would). Needs root, `ip`, `nsenter`.
 *   network: host  agents share this machine's network; their instances use host networking.
 *
 * The agent's pid is kept in its directory, so a new leader deletes what an old one created.
 * Processes are stopped by that pid (checked against /proc/<pid>/cmdline), never by name.
 */
import { spawn } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LocalProviderSpec } from '../../../model/kinds/node-pool.js';
import { formatMebibytes } from '../../../model/quantity.js';
import type { CreatedMachine, CreateRequest, DeleteRequest, MachineProvider } from './provider.js';
import { runBounded } from './command.js';

/** bin/stratus.js, from src/ or dist/ alike (both sit four levels below the root). */
export const STRATUS_BIN = fileURLToPath(new URL('../../../../bin/stratus.js', import.meta.url));

export interface LocalOptions {
  /** Where agents' data directories go when the spec names none. */
  baseDir: string;
  /** How to run stratus (default: this node and bin/stratus.js). */
  stratus?: string[];
}

const run = async (argv: string[], allowFailure = false) => {
  const r = await runBounded(argv, '', { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' }, 20_000);
  if (r.code !== 0 && !allowFailure) throw new Error(`${argv.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return r;
};

export class LocalProvider implements MachineProvider {
  readonly type = 'local';
  private readonly dir: string;
  private readonly subnet: number;
  private relay: { server: Server; port: number; target: string; sockets: Set<Socket> } | undefined;
  /** Namespace setup, one machine at a time (host numbers are picked from what exists). */
  private setup: Promise<unknown> = Promise.resolve();

  constructor(private readonly pool: string, private readonly spec: LocalProviderSpec, private readonly opts: LocalOptions) {
    this.dir = spec.dataDir ?? join(opts.baseDir, pool);
    this.subnet = spec.subnet ?? 200;
  }

  private get namespaced(): boolean {
    return (this.spec.network ?? 'namespace') === 'namespace';
  }

  private bridge(): string {
    return `stpl${this.subnet}`;
  }

  async create(req: CreateRequest): Promise<CreatedMachine> {
    try {
      return await this.start(req);
    } catch (e) {
      await this.delete({ pool: req.pool, node: req.node }).catch(() => undefined); // what it made so far
      throw e;
    }
  }

  private async start(req: CreateRequest): Promise<CreatedMachine> {
    const dir = join(this.dir, req.node);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const s = req.shape;
    // the join token goes in the environment: a command line is readable by every user of the machine
    const agentArgs = ['agent', '--data-dir', dir, '--node-name', req.node, '--pool', req.pool,
      '--capacity', `cpu=${s.cpu}m,memory=${formatMebibytes(s.memory)}${s.disk ? `,disk=${formatMebibytes(s.disk)}` : ''}`,
      ...(s.zone ? ['--zone', s.zone] : []),
      ...(Object.keys(s.labels).length ? ['--labels', Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(',')] : []),
      ...(s.gpus.length ? ['--gpus', s.gpus.map((g) => `${g.model}:${g.count}`).join(',')] : []),
      ...(this.spec.agentArgs ?? [])];
    let servers = req.servers;
    let prefix: string[] = [];
    if (this.namespaced) {
      const made = this.setup.then(() => this.makeHost(dir));
      this.setup = made.catch(() => undefined);
      const host = await made;
      servers = [await this.relayUrl(req.servers[0]!)];
      prefix = ['nsenter', `--net=/run/netns/${host.ns}`, '--'];
      agentArgs.push('--netns-prefix', `stpl${this.subnet}h${host.n}-`);
    } else {
      agentArgs.push('--network', 'host');
    }
    const stratus = this.opts.stratus ?? [process.execPath, STRATUS_BIN];
    const argv = [...prefix, ...stratus, '--server', servers.join(','), ...agentArgs];
    const log = openSync(join(dir, 'agent.log'), 'a', 0o600);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', log, log], detached: true, env: agentEnv(req.joinToken) });
    closeSync(log);
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => resolve(child.pid!));
    });
    child.unref();
    writeFileSync(join(dir, 'agent.pid'), String(pid), { mode: 0o600 });
    // a bad flag or an unreachable server ends the agent at once: say why now rather than at the join timeout
    const early = await new Promise<number | null | undefined>((resolve) => {
      const t = setTimeout(() => resolve(undefined), 300);
      child.once('exit', (code) => {
        clearTimeout(t);
        resolve(code);
      });
    });
    if (early !== undefined) throw new Error(`the agent of ${req.node} exited at once (${early}): ${tail(join(dir, 'agent.log'))}`);
    return { node: req.node, id: String(pid) };
  }

  async delete(req: DeleteRequest): Promise<void> {
    const dir = join(this.dir, req.node);
    const pidFile = join(dir, 'agent.pid');
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : Number(req.id);
    if (pid > 0 && isOurAgent(pid, dir)) await stopProcess(pid);
    const nsFile = join(dir, 'netns');
    if (existsSync(nsFile)) {
      const { ns, n } = JSON.parse(readFileSync(nsFile, 'utf8')) as { ns: string; n: number };
      const list = await run(['ip', 'netns', 'list'], true);
      for (const name of list.stdout.split('\n').map((l) => l.split(' ')[0] ?? '')) {
        if (name === ns || name.startsWith(`stpl${this.subnet}h${n}-`)) await run(['ip', 'netns', 'del', name], true);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }

  /** Namespaced machines left by an earlier server reach this one through a new relay (on the same port when it is free). */
  async attach(servers: string[]): Promise<void> {
    if (!this.namespaced || !servers[0] || this.relay) return;
    const machines = existsSync(this.dir) ? readdirSync(this.dir).filter((m) => existsSync(join(this.dir, m, 'netns'))) : [];
    if (machines.length > 0) await this.relayUrl(servers[0]);
  }

  async close(): Promise<void> {
    const r = this.relay;
    this.relay = undefined;
    if (!r) return;
    const closed = new Promise<void>((resolve) => r.server.close(() => resolve()));
    for (const sock of r.sockets) sock.destroy(); // agents' watches never end by themselves
    await closed;
  }

  /** A namespace for machine `dir`: the lowest free host number on the pool's bridge (made once). */
  private async makeHost(dir: string): Promise<{ ns: string; n: number }> {
    const br = this.bridge();
    const gateway = `198.18.${this.subnet}.254`;
    if ((await run(['ip', 'link', 'show', 'dev', br], true)).code !== 0) {
      await run(['ip', 'link', 'add', 'name', br, 'type', 'bridge']);
      await run(['ip', 'addr', 'add', `${gateway}/24`, 'dev', br]);
      await run(['ip', 'link', 'set', 'dev', br, 'up']);
    }
    const used = new Set(existsSync('/run/netns') ? readdirSync('/run/netns') : []);
    let n = 1;
    while (used.has(`stpl${this.subnet}-h${n}`) && n < 253) n++;
    const ns = `stpl${this.subnet}-h${n}`;
    const veth = `stpl${this.subnet}v${n}`;
    await run(['ip', 'link', 'del', 'dev', veth], true);
    await run(['ip', 'netns', 'add', ns]);
    writeFileSync(join(dir, 'netns'), JSON.stringify({ ns, n }), { mode: 0o600 });
    await run(['ip', 'link', 'add', 'name', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await run(['ip', 'link', 'set', 'dev', veth, 'master', br, 'up']);
    await run(['ip', '-n', ns, 'addr', 'add', `198.18.${this.subnet}.${n}/24`, 'dev', 'eth0']);
    await run(['ip', '-n', ns, 'link', 'set', 'dev', 'eth0', 'up']);
    await run(['ip', '-n', ns, 'link', 'set', 'dev', 'lo', 'up']);
    return { ns, n };
  }

  /** The URL agents in namespaces reach `server` at: itself unless it is on loopback, else a relay on the bridge. */
  private async relayUrl(server: string): Promise<string> {
    const url = new URL(server);
    const gateway = `198.18.${this.subnet}.254`;
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) return server;
    if (this.relay?.target !== url.host) {
      await this.close();
      const target = { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) };
      const sockets = new Set<Socket>();
      const server = createServer((c) => {
        const up = connect(target);
        for (const sock of [c, up]) {
          sockets.add(sock);
          sock.once('close', () => sockets.delete(sock));
        }
        c.pipe(up).pipe(c);
        c.on('error', () => up.destroy());
        up.on('error', () => c.destroy());
      });
      // the server's own port number, so that agents started by an earlier server find this one
      const listen = (port: number) => new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, gateway, () => resolve((server.address() as { port: number }).port));
      });
      const port = await listen(target.port).catch(() => listen(0));
      this.relay = { server, port, target: url.host, sockets };
    }
    return `${url.protocol}//${gateway}:${this.relay.port}`;
  }
}

/** The server's environment without its own STRATUS_* settings (its bootstrap token...), and the join token. */
function agentEnv(joinToken: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STRATUS_')));
  return { ...env, STRATUS_JOIN_TOKEN: joinToken };
}

/** Whether `pid` is a process this provider started for `dir` (its command line names the directory). */
export function isOurAgent(pid: number, dir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(dir);
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after 10 s; resolves once it is gone. */
async function stopProcess(pid: number): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
    } catch {
      return false;
    }
  };
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive()) process.kill(pid, 'SIGKILL');
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ').slice(0, 500);
  } catch {
    return '';
  }
}
