/**
 * A highly available control plane for tests: `startHa()` runs several real `stratus server`
 * processes on one etcd cluster (test/helpers/etcd.ts), each on its own fixed port and data dir
 * (no embedded agent), sharing the first server's secret key file as servers of one cloud must.
 * A server can be SIGKILLed and started again on the same port; `leader()` asks the live servers
 * which one leads.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, client, ADMIN_TOKEN, type TestServer } from './server.js';
import { freePort, sleep } from './processes.js';

export interface HaServer {
  readonly name: string;
  readonly url: string;
  readonly dataDir: string;
  /** The running process, if any. */
  readonly running: TestServer | undefined;
  /** SIGKILL (no cleanup, its lease is left to expire). */
  kill(): Promise<void>;
  /** SIGTERM. */
  stop(): Promise<void>;
  /** Starts it again on the same port, data dir and store (after kill/stop). */
  start(): Promise<void>;
  output(): string;
}

export interface Ha {
  readonly servers: HaServer[];
  /** Every server's URL, comma-separated: what a client or agent configured for failover is given. */
  readonly urls: string;
  readonly token: string;
  /** The server that leads now, asked of the live servers (undefined during an election). */
  leader(): Promise<HaServer | undefined>;
  /** Waits until some server leads; returns it. */
  waitLeader(ms?: number, not?: HaServer): Promise<HaServer>;
  /** A JSON client on some live server (the first that answers). */
  api(): ReturnType<typeof client>;
  stop(): Promise<void>;
}

const SECRET_KEYS = 'secret-keys.json';

/** `store(i)`: the store spec server i uses (default: the same for all). */
export async function startHa(opts: { store: string | ((i: number) => string); servers?: number; args?: string[] }): Promise<Ha> {
  const count = opts.servers ?? 3;
  const root = mkdtempSync(join(tmpdir(), 'stratus-ha-'));
  const servers: Server[] = [];
  for (let i = 0; i < count; i++) {
    const store = typeof opts.store === 'string' ? opts.store : opts.store(i);
    servers.push(new Server(`s${i}`, await freePort(), join(root, `s${i}`), ['--store', store, ...(opts.args ?? [])]));
  }
  const ha: Ha = {
    servers,
    urls: servers.map((s) => s.url).join(','),
    token: ADMIN_TOKEN,
    leader: async () => {
      for (const s of servers.filter((x) => x.running)) {
        const res = await client(s.url, ADMIN_TOKEN)('GET', '/v1/servers').catch(() => undefined);
        if (res?.status !== 200) continue;
        const name = (res.body.items as { name: string; status: { leader: boolean } }[]).find((x) => x.status.leader)?.name;
        return servers.find((x) => x.name === name);
      }
      return undefined;
    },
    waitLeader: async (ms = 30_000, not) => {
      const end = Date.now() + ms;
      for (;;) {
        const l = await ha.leader();
        if (l && l !== not && l.running) return l;
        if (Date.now() > end) throw new Error(`no server leads after ${ms} ms:\n${servers.map((s) => `${s.name}: ${s.output().slice(-1500)}`).join('\n')}`);
        await sleep(100);
      }
    },
    api: () => {
      const live = servers.filter((s) => s.running);
      return (async (...args: Parameters<ReturnType<typeof client>>) => {
        let last: unknown;
        for (const s of live) {
          try {
            return await client(s.url, ADMIN_TOKEN)(...args);
          } catch (e) {
            last = e;
          }
        }
        throw last ?? new Error('no server is running');
      }) as ReturnType<typeof client>;
    },
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    // the first server makes the cluster and its secret key file; the others get a copy of it
    await servers[0]!.start();
    for (const s of servers.slice(1)) {
      s.init();
      copyFileSync(join(servers[0]!.dataDir, SECRET_KEYS), join(s.dataDir, SECRET_KEYS));
    }
    await Promise.all(servers.slice(1).map((s) => s.start()));
  } catch (e) {
    await ha.stop();
    throw e;
  }
  return ha;
}

class Server implements HaServer {
  running: TestServer | undefined;
  readonly url: string;
  private lastOutput = '';

  constructor(readonly name: string, readonly port: number, readonly dataDir: string, private readonly args: string[]) {
    this.url = `http://127.0.0.1:${port}`;
  }

  init(): void {
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
  }

  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.name} is running`);
    this.running = await startTestServer({ dataDir: this.dataDir, args: ['--port', String(this.port), '--name', this.name, ...this.args] });
  }

  async kill(): Promise<void> {
    const r = this.running;
    this.running = undefined;
    if (r) {
      await r.kill();
      this.lastOutput = r.output();
    }
  }

  async stop(): Promise<void> {
    const r = this.running;
    this.running = undefined;
    if (r) {
      await r.stop();
      this.lastOutput = r.output();
    }
  }

  output(): string {
    return this.running?.output() ?? this.lastOutput;
  }
}
