/**
 * API throughput and watch latency of the HA benchmark (bench/ha.ts).
 *
 * Throughput: the same create workload (autocannon, fixed connections, fixed time, a fresh small
 * instance per request) against a Stratus server on etcd, a Stratus server on SQLite and a bare
 * Fastify route writing into the same etcd (bench/lib/ha-bare-etcd.ts); each round measures all
 * three one after the other, the order rotating, and each waits until both Stratus servers'
 * controllers are done with earlier creates (the store revision still for 0.6 s). Beside the rate:
 * the CPU time per create of the target's process and of the three etcd members, and the etcd
 * requests per create (etcd's own count of unary RPCs), both read once a Stratus server's
 * controllers have finished reacting to the phase's creates.
 *
 * Watch: write sent → event received, through the API (a watch stream of the etcd server, writes
 * by POST) and, as the floor, through a raw etcd3 watch (writes by the same create Txn the store
 * sends), one write of each in turn, sequentially.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { CompareResult, CompareTarget, type Etcd3 } from 'etcd3';
import { startChild, load, percentile, BIN, ROOT, BENCH_TOKEN, ADMIN_HEADERS, adminJson, type Child, type LoadResult } from './util.js';
import { readEvents } from '../../src/client/index.js';
import { etcdClient, etcdConfig } from '../../src/store/etcd-config.js';
import { sleep } from '../../test/helpers/processes.js';

export const TARGETS = ['etcd', 'sqlite', 'bare'] as const;
export type Target = (typeof TARGETS)[number];
/**
 * A load result with the CPU time per request of the target's own process and of the etcd
 * members, and the etcd requests (unary RPCs: reads, transactions, lease calls) per request.
 */
export type Measured = LoadResult & { serverCpuUs: number; etcdCpuUs: number; etcdCalls: number };

/** The etcd members a round reads its figures from: their process ids and client URLs. */
export interface EtcdMembers { pids(): (number | undefined)[]; urls: string[] }
export interface ApiRound { load: number; results: Record<Target, Measured> }

export interface ApiTargets {
  children: Record<Target, Child>;
  stop(): Promise<void>;
}

/** Key prefixes in the shared etcd: the Stratus server's cloud, the bare route's keys, the raw watch's. */
const PREFIX = { stratus: '/bench-ha-api', bare: '/bench-ha-bare', raw: '/bench-ha-raw' };

/**
 * An etcd3 client with the store's options (src/store/etcd-config.ts) for `endpoints`
 * (`etcd://h:p,h:p,...`): the hosts reach etcdConfig percent-encoded as one URL host, as the
 * store's openBackend passes them.
 */
export function etcdClientFor(endpoints: string): Etcd3 {
  const m = /^(etcds?:\/\/)([^/?#]*)$/.exec(endpoints);
  if (!m) throw new Error(`${endpoints} is not etcd://host:port,...`);
  return etcdClient(etcdConfig(new URL(m[1]! + encodeURIComponent(m[2]!)), {}));
}

let seq = 0;
/** A fresh small instance (the API benchmark's shape), under `label`. */
export function instanceBody(label = 'bench', name = `b-${process.pid}-${++seq}`): string {
  return JSON.stringify({
    kind: 'instance',
    metadata: { name, labels: { app: label, tier: 'web' } },
    spec: { driver: 'process', command: ['sleep', '3600'], resources: { cpu: '250m', memory: '128Mi' }, ports: [{ port: 8080 }] },
  });
}

/**
 * Starts the three targets: Stratus on `etcd` (under its own key prefix), Stratus on SQLite in
 * `dir` with fsync on every commit, both without scheduler or agent (the peers have none), and
 * the bare route on `etcd`.
 */
export async function startApiTargets(etcd: string, dir: string): Promise<ApiTargets> {
  const flags = ['server', '--port', '0', '--no-agent', '--no-scheduler', '--store-sync', 'full'];
  const env = { STRATUS_BOOTSTRAP_TOKEN: BENCH_TOKEN };
  const started: Child[] = [];
  const stop = async () => {
    await Promise.all(started.map((c) => c.stop()));
  };
  /** Starts one child and keeps it for stop(), so that a failure of the next leaves none behind. */
  const start = async (args: string[], e: Record<string, string> = {}) => {
    const child = await startChild(args, e);
    started.push(child);
    return child;
  };
  try {
    const children = {
      etcd: await start([BIN, ...flags, '--data-dir', join(dir, 'etcd-server'), '--store', `${etcd}${PREFIX.stratus}`], env),
      sqlite: await start([BIN, ...flags, '--data-dir', join(dir, 'sqlite-server')], env),
      bare: await start(['--import', 'tsx', join(ROOT, 'bench/lib/ha-bare-etcd.ts'), etcd, PREFIX.bare]),
    };
    for (const t of ['etcd', 'sqlite'] as const) await adminJson(children[t].url, 'POST', '/v1/projects', { metadata: { name: 'bench' }, spec: {} });
    return { children, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** CPU seconds (user + system) of `pids` so far; NaN where /proc does not have one. */
function cpuSeconds(pids: (number | undefined)[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      sum += (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
    } catch {
      return NaN;
    }
  }
  return sum;
}

/** Unary RPCs the members have answered so far (etcd's grpc_server_handled_total, summed). */
async function etcdCalls(urls: string[]): Promise<number> {
  let sum = 0;
  for (const url of urls) {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const m of text.matchAll(/^grpc_server_handled_total\{[^}]*grpc_type="unary"[^}]*\} (\d+)$/gm)) sum += Number(m[1]);
  }
  return sum;
}

/** Waits until a Stratus server's store revision has not moved for 0.6 s (at most a minute). */
async function settle(url: string): Promise<void> {
  const end = performance.now() + 60_000;
  let last = -1;
  for (let still = 0; still < 3 && performance.now() < end;) {
    const { revision } = (await adminJson(url, 'GET', '/v1/projects/bench/instances?limit=1')) as { revision: number };
    still = revision === last ? still + 1 : 0;
    last = revision;
    await sleep(200);
  }
}

/** What the first creates of each Stratus server cost (each gets an address): the rate, and etcd requests per create on etcd. */
export interface Preload { measured: number; rate: Record<'etcd' | 'sqlite', number>; etcdCalls: number }

/** The project's /24 has 253 addresses: the first creates up to this many each get one. */
const ADDRESSED = 250;

async function createMany(url: string, n: number): Promise<void> {
  let left = n;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (left-- > 0) await adminJson(url, 'POST', '/v1/projects/bench/instances', JSON.parse(instanceBody()));
  }));
}

/**
 * Creates `n` instances in each Stratus server's project (16 in flight), the etcd server first,
 * and waits for its controllers. Past the 253rd, the project's /24 network is full and the network
 * controller records a NetworkFull event instead of an address: preloading past that makes every
 * round measure the same path. The first 250 (where every create gets an address) are measured.
 */
export async function preload(t: ApiTargets, etcd: EtcdMembers, n: number): Promise<Preload> {
  const measured = Math.min(n, ADDRESSED);
  const rate = { etcd: 0, sqlite: 0 };
  let calls = 0;
  for (const target of ['etcd', 'sqlite'] as const) {
    const url = t.children[target].url;
    const calls0 = await etcdCalls(etcd.urls);
    const t0 = performance.now();
    await createMany(url, measured);
    rate[target] = (measured / (performance.now() - t0)) * 1000;
    await settle(url);
    if (target === 'etcd') calls = ((await etcdCalls(etcd.urls)) - calls0) / measured;
    await createMany(url, n - measured);
    await settle(url);
  }
  return { measured, rate, etcdCalls: calls };
}

/** One round: the create workload on every target, starting with TARGETS[n mod 3]. */
export async function apiRound(n: number, t: ApiTargets, etcd: EtcdMembers, seconds: number, connections: number): Promise<ApiRound> {
  const order = TARGETS.map((_, i) => TARGETS[(n + i) % TARGETS.length]!);
  const results = {} as Record<Target, Measured>;
  for (const target of order) {
    await settle(t.children.etcd.url);
    await settle(t.children.sqlite.url);
    const child = t.children[target];
    const [server0, etcd0, calls0] = [cpuSeconds([child.proc.pid]), cpuSeconds(etcd.pids()), await etcdCalls(etcd.urls)];
    const r = await load({ url: `${child.url}/v1/projects/bench/instances`, method: 'POST', headers: { authorization: `Bearer ${BENCH_TOKEN}` }, body: () => instanceBody(), seconds, connections });
    const requests = r.rps * seconds;
    // what a Stratus server's controllers do about the creates is part of their cost: read once it settles
    if (target !== 'bare') await settle(child.url);
    const serverCpu = cpuSeconds([child.proc.pid]) - server0;
    const etcdCpu = target === 'sqlite' ? NaN : cpuSeconds(etcd.pids()) - etcd0;
    const calls = target === 'sqlite' ? NaN : (await etcdCalls(etcd.urls)) - calls0;
    results[target] = { ...r, serverCpuUs: (serverCpu / requests) * 1e6, etcdCpuUs: (etcdCpu / requests) * 1e6, etcdCalls: calls / requests };
  }
  return { load: loadavg()[0]!, results };
}

export interface Latency { p50: number; p99: number; max: number; ackP50: number; ackP99: number }
export interface WatchResult { api: Latency; raw: Latency; samples: number }

/** Times write sent → event seen for a subscription; `seen(name)` is called by the subscriber. */
class Timer {
  private readonly sentAt = new Map<string, number>();
  private readonly waiters = new Map<string, () => void>();
  readonly delays: number[] = [];
  readonly acks: number[] = [];

  seen(name: string): void {
    const t = this.sentAt.get(name);
    if (t === undefined) return;
    this.sentAt.delete(name);
    this.delays.push(performance.now() - t);
    this.waiters.get(name)?.();
  }

  /** Sends `write(name)`, and resolves once its event is seen (at most 10 s). */
  async sample(name: string, write: () => Promise<void>): Promise<void> {
    const event = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no watch event for ${name} within 10 s`)), 10_000);
      this.waiters.set(name, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const t0 = performance.now();
    this.sentAt.set(name, t0);
    await write();
    this.acks.push(performance.now() - t0);
    await event;
    this.waiters.delete(name);
  }

  result(): Latency {
    const [d, a] = [[...this.delays].sort((x, y) => x - y), [...this.acks].sort((x, y) => x - y)];
    return { p50: percentile(d, 50), p99: percentile(d, 99), max: d.at(-1)!, ackP50: percentile(a, 50), ackP99: percentile(a, 99) };
  }
}

/**
 * The etcd store's create (src/store/etcd.ts): one Txn, compare create_revision = 0, put with
 * prev_kv on success, a read of the key on failure. Resolves to whether it created the key.
 */
export async function etcdCreate(etcd: Etcd3, key: string, value: string): Promise<boolean> {
  const k = Buffer.from(key);
  const res = await etcd.kv.txn({
    compare: [{ key: k, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 }],
    success: [{ request_put: { key: k, value: Buffer.from(value), prev_kv: true } }],
    failure: [{ request_range: { key: k } }],
  }, { deadline: Date.now() + 5000 });
  return res.succeeded;
}

/** Write → event latency through the API of `server` (on etcd) and through a raw etcd3 watch, `samples` each, alternating. */
export async function watchLatency(server: Child, etcdSpec: string, samples: number): Promise<WatchResult> {
  const etcd = etcdClientFor(etcdSpec);
  const controller = new AbortController();
  const [api, raw] = [new Timer(), new Timer()];
  try {
    const res = await fetch(`${server.url}/v1/projects/bench/instances?watch=true&selector=app%3Dwatch`, { headers: ADMIN_HEADERS, signal: controller.signal });
    void (async () => {
      for await (const msg of readEvents(res.body!)) {
        const name = (msg.object as { metadata?: { name: string } } | undefined)?.metadata?.name;
        if (name) api.seen(name);
      }
    })().catch(() => undefined);
    const watcher = await etcd.watch().prefix(`${PREFIX.raw}/`).create();
    watcher.on('put', (kv) => raw.seen(kv.key.toString().slice(PREFIX.raw.length + 1)));
    for (let i = 0; i < samples; i++) {
      const name = `w-${process.pid}-${i}`;
      await api.sample(name, async () => {
        await adminJson(server.url, 'POST', '/v1/projects/bench/instances', JSON.parse(instanceBody('watch', name)));
      });
      await raw.sample(name, async () => {
        if (!(await etcdCreate(etcd, `${PREFIX.raw}/${name}`, instanceBody('watch', name)))) throw new Error(`${name} exists`);
      });
    }
    await watcher.cancel();
    return { api: api.result(), raw: raw.result(), samples };
  } finally {
    controller.abort();
    etcd.close();
  }
}
