/**
 * Real etcd members for tests: `startEtcd({ members })` runs 1 or 3 `etcd` processes on free
 * loopback ports, each with its own data directory in a temporary folder (on /dev/shm when there
 * is one: etcd fsyncs every commit), waits until the cluster has a leader and answers, and
 * `stop()` kills them and removes everything. `makeEtcdCerts()` makes a CA, a server certificate
 * for 127.0.0.1 and a client certificate with `openssl`, for TLS tests.
 *
 * etcd comes from Debian's etcd-server package (scripts/install-deps.sh). Where it is missing,
 * `etcdMissing()` says why (tests skip with that message), except under CI, where it throws.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { exitOf, freePort, sleep } from './processes.js';

export interface EtcdTls {
  /** The CA that signed the server certificate (and, for mutual TLS, the client's). */
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Require clients to present a certificate signed by the CA (default true). */
  clientCertAuth?: boolean;
}

export interface EtcdMember {
  readonly name: string;
  /** The running process's id (undefined while stopped). */
  readonly pid: number | undefined;
  readonly clientUrl: string;
  /** `host:port` of its client URL. */
  readonly endpoint: string;
  /** Sends `signal` (default SIGKILL) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same ports and data (after kill); returns once it listens (it serves once it has a quorum). */
  restart(): Promise<void>;
  /** Its log (stderr), for failure messages. */
  log(): string;
  /** Its member id and the leader it knows of (undefined: none), or undefined when it does not answer. */
  status(): Promise<{ id: string; leader: string | undefined } | undefined>;
}

export interface EtcdCluster {
  /** The store spec for every member: `etcd://127.0.0.1:p1,127.0.0.1:p2,...` (`etcds://` with TLS). */
  readonly endpoints: string;
  /** The same members through the `alias` address, when started with one. */
  readonly aliasEndpoints: string | undefined;
  readonly members: EtcdMember[];
  /** The running member that says it leads; undefined when none does. */
  leader(): Promise<EtcdMember | undefined>;
  /** Waits until every running member names the same leader, a running member that says it leads. */
  healthy(ms?: number): Promise<void>;
  /** Kills every member and removes their data. Idempotent. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** The etcd binary, or undefined when none is on PATH. */
export function etcdBinary(name = 'etcd'): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin').split(delimiter)) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/**
 * Why etcd tests cannot run here (undefined: they can). Under CI a missing etcd is an error
 * (CI installs it), so this throws instead.
 */
export function etcdMissing(): string | undefined {
  if (etcdBinary()) return undefined;
  const why = 'etcd is not installed (scripts/install-deps.sh installs etcd-server): skipping the etcd tests';
  if (process.env.CI) throw new Error(why.replace(': skipping the etcd tests', ', and CI must run the etcd tests'));
  console.warn(why);
  return why;
}

/** Starts `members` etcd members on loopback and waits until they have a leader. */
export async function startEtcd(opts: { members: 1 | 3; tls?: EtcdTls; alias?: string }): Promise<EtcdCluster> {
  const bin = etcdBinary();
  if (!bin) throw new Error('etcd is not installed (scripts/install-deps.sh installs etcd-server)');
  const root = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'stratus-etcd-'));
  const scheme = opts.tls ? 'https' : 'http';
  const specs = [];
  for (let i = 0; i < opts.members; i++) specs.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(',');
  const token = `stratus-test-${process.pid}-${Date.now()}`;
  const members = specs.map((s) => new Member(bin, root, s.name, `${scheme}://127.0.0.1:${s.client}`, [
    '--name', s.name, '--data-dir', join(root, s.name),
    // `alias`: the members listen on a second loopback address too (a chaos test cuts one server off there)
    '--listen-client-urls', [`${scheme}://127.0.0.1:${s.client}`, ...(opts.alias ? [`${scheme}://${opts.alias}:${s.client}`] : [])].join(','), '--advertise-client-urls', `${scheme}://127.0.0.1:${s.client}`,
    '--listen-peer-urls', `http://127.0.0.1:${s.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${s.peer}`,
    '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
    '--heartbeat-interval', '50', '--election-timeout', '500', '--logger', 'zap', '--log-level', 'warn',
    ...(opts.tls ? ['--cert-file', opts.tls.certFile, '--key-file', opts.tls.keyFile, '--trusted-ca-file', opts.tls.caFile, ...(opts.tls.clientCertAuth === false ? [] : ['--client-cert-auth'])] : []),
  ], opts.tls));
  let stopped = false;
  const cluster: EtcdCluster = {
    endpoints: `${opts.tls ? 'etcds' : 'etcd'}://${members.map((m) => m.endpoint).join(',')}`,
    aliasEndpoints: opts.alias ? `${opts.tls ? 'etcds' : 'etcd'}://${members.map((m) => m.endpoint.replace('127.0.0.1', opts.alias!)).join(',')}` : undefined,
    members,
    leader: async () => {
      // a member that says it leads (a dead leader is still named by its followers for a while)
      const states = await Promise.all(members.map((m) => m.status()));
      return members.find((m, i) => states[i] && states[i]!.leader === states[i]!.id);
    },
    healthy: async (ms = 20_000) => {
      const end = Date.now() + ms;
      for (;;) {
        const live = members.filter((m) => m.pid !== undefined);
        const states = await Promise.all(live.map((m) => m.status()));
        const leader = states[0]?.leader;
        // every running member names the same leader, which is running and says so itself
        if (leader && states.every((st) => st?.leader === leader) && states.some((st) => st!.id === leader)) return;
        if (Date.now() > end) throw new Error(`etcd has no leader after ${ms} ms:\n${members.map((m) => `${m.name}: ${m.log().slice(-1500)}`).join('\n')}`);
        await sleep(50);
      }
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await Promise.all(members.map((m) => m.kill('SIGKILL')));
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    for (const m of members) await m.restart();
    await cluster.healthy();
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

class Member implements EtcdMember {
  private proc: ChildProcess | undefined;
  readonly endpoint: string;
  private readonly logFile: string;

  constructor(private readonly bin: string, root: string, readonly name: string, readonly clientUrl: string, private readonly args: string[], private readonly tls?: EtcdTls) {
    this.endpoint = clientUrl.replace(/^https?:\/\//, '');
    this.logFile = join(root, `${name}.log`);
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async restart(): Promise<void> {
    if (this.proc) throw new Error(`etcd member ${this.name} is running`);
    const fd = openSync(this.logFile, 'a');
    const proc = spawn(this.bin, this.args, { stdio: ['ignore', 'ignore', fd] });
    closeSync(fd);
    running.add(proc);
    proc.once('exit', () => {
      running.delete(proc);
      if (this.proc === proc) this.proc = undefined;
    });
    this.proc = proc;
    // its client port accepts connections (etcd serves them once it has joined its cluster)
    const [host, port] = [this.endpoint.split(':')[0]!, Number(this.endpoint.split(':')[1])];
    const end = Date.now() + 15_000;
    while (!(await connects(host, port))) {
      if (!this.proc) throw new Error(`etcd member ${this.name} exited:\n${this.log().slice(-2000)}`);
      if (Date.now() > end) throw new Error(`etcd member ${this.name} does not listen on ${this.clientUrl}:\n${this.log().slice(-2000)}`);
      await sleep(20);
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    proc.kill(signal);
    await exitOf(proc, 10_000);
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  /** Its member id and the leader's, from its own view (undefined when it does not answer). */
  async status(): Promise<{ id: string; leader: string | undefined } | undefined> {
    const body = await this.post('/v3/maintenance/status', '{}');
    if (!body) return undefined;
    const s = JSON.parse(body) as { header?: { member_id?: string }; leader?: string };
    return s.header?.member_id ? { id: s.header.member_id, leader: s.leader && s.leader !== '0' ? s.leader : undefined } : undefined;
  }

  /** etcd's HTTP gateway (GET without a body), with the test CA and client certificate under TLS. */
  private post(path: string, body: string | undefined): Promise<string | undefined> {
    const url = new URL(path, this.clientUrl);
    const tls = this.tls ? { ca: readFileSync(this.tls.caFile), cert: readFileSync(this.tls.certFile), key: readFileSync(this.tls.keyFile) } : {};
    return new Promise((resolve) => {
      const req = (url.protocol === 'https:' ? request : httpRequest)(url, { method: body === undefined ? 'GET' : 'POST', timeout: 1000, ...tls }, (res) => {
        let out = '';
        res.on('data', (d: Buffer) => (out += d.toString()));
        res.on('end', () => resolve(res.statusCode === 200 ? out : undefined));
        res.on('error', () => resolve(undefined));
      });
      req.on('error', () => resolve(undefined));
      req.on('timeout', () => req.destroy());
      req.end(body);
    });
  }
}

export interface EtcdCerts {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A CA, a server certificate for 127.0.0.1/localhost and a client certificate, made with openssl in `dir`. */
export function makeEtcdCerts(dir: string): EtcdCerts {
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=stratus-test-ca');
  const sign = (name: string, cn: string, ext: string) => {
    writeFileSync(f(`${name}.ext`), ext);
    openssl('req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.crt`), '-days', '2', '-extfile', f(`${name}.ext`));
  };
  sign('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  sign('client', 'stratus-test-client', 'extendedKeyUsage=clientAuth\n');
  return { dir, ca: f('ca.crt'), serverCert: f('server.crt'), serverKey: f('server.key'), clientCert: f('client.crt'), clientKey: f('client.key') };
}
