/**
 * Host-side helpers of the agent's networking (network.ts): the one-overlay-agent-per-network-
 * namespace lock, the node's VXLAN endpoint, its address for host networking, and the machine's
 * own resolvers.
 */
import { closeSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Runner } from '../network/exec.js';

/**
 * One overlay agent per network namespace: two would fight over the same bridges, addresses
 * and rules. Returns the release function, or why another agent has it.
 */
export function lockNetworkNamespace(dir: string, node: string): (() => void) | string {
  const ino = statSync('/proc/self/ns/net').ino;
  const file = join(dir, `network-${ino}.pid`);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      writeSync(fd, `${process.pid} ${node}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(file, 'utf8').startsWith(`${process.pid} `)) unlinkSync(file);
        } catch {
          // gone already
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const [pid, other] = readFileSync(file, 'utf8').trim().split(' ');
      if (alive(Number(pid))) return `the agent of node ${other ?? '?'} (pid ${pid}) already manages this machine's network namespace`;
      unlinkSync(file); // left by an agent that died
    }
  }
  return `cannot take ${file}`;
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The node's VXLAN endpoint: the given address (and the interface that has it), else the source
 * address of the route to the API server (the network nodes share with the control plane), else
 * that of the default route. Undefined when there is none (one node only).
 */
export async function findUnderlay(runner: Runner, server: string, explicit?: string): Promise<{ ip: string; dev?: string } | undefined> {
  const json = async <T>(argv: string[]): Promise<T[]> => {
    const r = await runner.run(argv, { allowFailure: true });
    try {
      return r.code === 0 ? (JSON.parse(r.stdout || '[]') as T[]) : [];
    } catch {
      return [];
    }
  };
  type Addr = { ifname: string; addr_info?: { family: string; local: string }[] };
  if (explicit) {
    const dev = (await json<Addr>(['ip', '-j', '-4', 'addr', 'show'])).find((l) => l.addr_info?.some((a) => a.local === explicit))?.ifname;
    return { ip: explicit, ...(dev ? { dev } : {}) };
  }
  const host = new URL(server).hostname.replace(/^\[|\]$/g, '');
  const target = isIP(host) ? host : await lookup(host, { family: 4 }).then((r) => r.address, () => undefined);
  if (target) {
    const [route] = await json<{ dev?: string; prefsrc?: string }>(['ip', '-j', 'route', 'get', target]);
    if (route?.dev && route.dev !== 'lo' && route.prefsrc) return { ip: route.prefsrc, dev: route.dev };
  }
  const [def] = await json<{ dev?: string }>(['ip', '-j', 'route', 'show', 'default']);
  if (!def?.dev) return undefined;
  const [link] = await json<Addr>(['ip', '-j', '-4', 'addr', 'show', 'dev', def.dev]);
  const local = link?.addr_info?.find((a) => a.family === 'inet')?.local;
  return local ? { ip: local, dev: def.dev } : undefined;
}

/**
 * The node's address for host networking (what instances there are reached at): the given one,
 * else the source address of the route to the API server, else of the default route (found by
 * the kernel's route lookup of a UDP socket: nothing is sent, no tool is needed). Undefined when
 * the machine has no route but loopback.
 */
export async function hostAddress(server: string, explicit?: string): Promise<string | undefined> {
  if (explicit) return explicit;
  const host = new URL(server).hostname.replace(/^\[|\]$/g, '');
  const target = isIP(host) === 4 ? host : await lookup(host, { family: 4 }).then((r) => r.address, () => undefined);
  for (const to of [target, '192.0.2.1']) { // TEST-NET-1: routed by the default route, never answered
    const ip = to === undefined ? undefined : await sourceAddress(to);
    if (ip && !ip.startsWith('127.')) return ip;
  }
  return undefined;
}

function sourceAddress(to: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(undefined);
    });
    s.connect(9, to, () => {
      const { address } = s.address();
      s.close();
      resolve(address);
    });
  });
}

/** IPv4 resolvers of this machine, for names outside the cluster's zones. */
export function upstreamResolvers(): string[] {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8').split('\n')
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((ip): ip is string => ip !== undefined && isIP(ip) === 4);
  } catch {
    return [];
  }
}
