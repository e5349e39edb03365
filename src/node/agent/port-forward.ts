/**
 * `stratus port-forward` on this node: a TCP connection from the agent to a port of one instance,
 * its bytes relayed over a WebSocket (client/streams.ts). The API server only names the instance
 * and the port; the address is decided here, from what the instance is:
 *
 *   own network namespace (overlay)  its address (status.ip): every port there is the instance's
 *   the node's network (host mode)   127.0.0.1, only on a port a process of the instance listens
 *                                    on (its host port for a declared port, PORT_<port>), so no
 *                                    one reaches the node's own services through it
 */
import { connect, isIP, type Socket } from 'node:net';
import { readdir, readFile, readlink } from 'node:fs/promises';
import type { Instance } from '../../model/kinds/instance.js';
import type { TaskHandle } from '../drivers/index.js';

/** A refusal with the HTTP status the API server passes on. */
export class StreamRefused extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'StreamRefused';
  }
}

const CONNECT_TIMEOUT_MS = 10_000;

/** Where a connection to `port` of this run goes; throws StreamRefused when nowhere it may. */
export async function forwardTarget(handle: TaskHandle, inst: Instance, port: number): Promise<{ host: string; port: number }> {
  const what = `instance ${inst.metadata.project}/${inst.metadata.name}`;
  const [own, node] = await Promise.all([readlink(`/proc/${handle.pid}/ns/net`).catch(() => ''), readlink('/proc/self/ns/net')]);
  if (!own) throw new StreamRefused(409, `${what} has no running process on this node`);
  if (own !== node) {
    const ip = inst.status?.ip;
    if (!ip || !isIP(ip)) throw new StreamRefused(409, `${what} has no address yet`);
    return { host: ip, port };
  }
  const declared = inst.spec.ports?.find((p) => p.port === port && (p.protocol ?? 'tcp') === 'tcp');
  const hostPort = declared ? await declaredHostPort(handle.pid, port) : port;
  const listening = await listenersOf(handle.pid);
  if (!listening.has(hostPort)) {
    throw new StreamRefused(403, `${what} (host networking) does not listen on port ${hostPort}${hostPort !== port ? ` (its host port for ${port})` : ''}: only its own ports can be forwarded`);
  }
  return { host: '127.0.0.1', port: hostPort };
}

/**
 * The host port the agent gave a declared port (PORT_<port> in the workload's environment),
 * else the port itself. Only a hint: the caller checks that the instance listens there.
 */
async function declaredHostPort(pid: number, port: number): Promise<number> {
  const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
  const v = environ.split('\0').find((kv) => kv.startsWith(`PORT_${port}=`))?.slice(`PORT_${port}=`.length);
  return v && /^\d{1,5}$/.test(v) && Number(v) <= 65535 ? Number(v) : port;
}

/**
 * TCP ports in LISTEN whose sockets a process of the task holds. The task's processes: those in
 * the pid namespace of `pid` when it has its own, else those in its cgroups when they are not the
 * agent's; else none can be told apart from the node's, and this refuses.
 */
export async function listenersOf(pid: number): Promise<Set<number>> {
  const members = await taskProcesses(pid);
  const inodes = new Set<string>();
  for (const p of members) {
    for (const fd of await readdir(`/proc/${p}/fd`).catch(() => [] as string[])) {
      const m = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/${p}/fd/${fd}`).catch(() => ''));
      if (m) inodes.add(m[1]!);
    }
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of (await readFile(table, 'utf8').catch(() => '')).split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9]!)) continue;
      ports.add(parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

async function taskProcesses(pid: number): Promise<number[]> {
  const link = (p: number | string, ns: string) => readlink(`/proc/${p}/ns/${ns}`).catch(() => '');
  const [ownNs, nodeNs] = await Promise.all([link(pid, 'pid'), link('self', 'pid')]);
  const all = (await readdir('/proc')).filter((d) => /^\d+$/.test(d)).map(Number);
  if (ownNs && ownNs !== nodeNs) {
    const same = await Promise.all(all.map(async (p) => (await link(p, 'pid')) === ownNs));
    return all.filter((_, i) => same[i]);
  }
  const cgroup = (p: number | string) => readFile(`/proc/${p}/cgroup`, 'utf8').catch(() => '');
  const [own, node] = await Promise.all([cgroup(pid), cgroup('self')]);
  if (!own || own === node) throw new StreamRefused(409, 'this instance\'s processes cannot be told apart from the node\'s (no pid namespace or cgroup of its own): port-forward is not possible');
  const same = await Promise.all(all.map(async (p) => (await cgroup(p)) === own));
  return all.filter((_, i) => same[i]);
}

/** Connects to the target; rejects with StreamRefused (502) naming the address and the cause. */
export function connectTarget(target: { host: string; port: number }, what: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: target.host, port: target.port, allowHalfOpen: true });
    sock.setTimeout(CONNECT_TIMEOUT_MS, () => sock.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    sock.once('connect', () => {
      sock.setTimeout(0);
      resolve(sock);
    });
    sock.once('error', (e: NodeJS.ErrnoException) => reject(new StreamRefused(502, `cannot connect to port ${target.port} of ${what} (${target.host}:${target.port}): ${e.code ?? e.message}`)));
  });
}
