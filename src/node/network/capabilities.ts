/**
 * What networking this node can do, found by trying it (in a throwaway namespace), and the
 * fallback when it cannot: host networking, where instances share the node's addresses and each
 * declared port gets a host port of its own.
 *
 *   mode "overlay": root, network namespaces, veth, bridge with br_netfilter, nftables
 *                   (VXLAN too when `vxlan` is true: otherwise one node only)
 *   mode "host":    anything missing; `summary` says what, e.g.
 *                   "host networking (no root / no netns): not running as root"
 */
import { hostRunner, type Runner } from './exec.js';
import { createServer } from 'node:net';

export interface NetworkCapabilities {
  mode: 'overlay' | 'host';
  /** One line for `stratus describe node`. */
  summary: string;
  vxlan: boolean;
  /** Why the mode is what it is, and anything degraded. */
  details: string[];
  /** Host mode that only a restart can change (not root): not worth probing again. */
  fixed?: boolean;
}

export interface ProbeOptions {
  runner?: Runner;
  uid?: number;
  /** Name of the throwaway namespace. */
  probeName?: string;
}

/** Tries each capability; never throws. Takes a few tens of milliseconds as root. */
export async function probeNetworking(options: ProbeOptions = {}): Promise<NetworkCapabilities> {
  const runner = options.runner ?? hostRunner;
  const uid = options.uid ?? process.getuid?.() ?? -1;
  const host = (why: string, details: string[] = []): NetworkCapabilities => ({
    mode: 'host', vxlan: false, summary: `host networking (no root / no netns): ${why}`, details: [why, ...details],
  });
  if (uid !== 0) return { ...host('not running as root'), fixed: true };
  const tool = async (argv: string[]) => (await runner.run(argv, { allowFailure: true }).catch(() => ({ code: 127, stdout: '', stderr: 'not found' }))).code === 0;
  if (!(await tool(['ip', '-V']))) return host('`ip` (iproute2) is not installed');
  if (!(await tool(['nft', '--version']))) return host('`nft` (nftables) is not installed');
  const ns = options.probeName ?? `stratus-probe-${process.pid}`;
  const attempt = async (argv: string[]) => runner.run(argv, { allowFailure: true }).catch((e: Error) => ({ code: 127, stdout: '', stderr: e.message }));
  const created = await attempt(['ip', 'netns', 'add', ns]);
  if (created.code !== 0) return host(`cannot create a network namespace: ${created.stderr.trim()}`);
  try {
    const veth = await attempt(['ip', '-n', ns, 'link', 'add', 'name', 'p0', 'type', 'veth', 'peer', 'name', 'p1']);
    if (veth.code !== 0) return host(`no veth support: ${veth.stderr.trim()}`);
    const bridge = await attempt(['ip', '-n', ns, 'link', 'add', 'name', 'b0', 'type', 'bridge']);
    if (bridge.code !== 0) return host(`no bridge support: ${bridge.stderr.trim()}`);
    const brnf = await attempt(['ip', 'netns', 'exec', ns, 'sysctl', '-n', 'net.bridge.bridge-nf-call-iptables']);
    if (brnf.code !== 0) return host('bridged traffic cannot be filtered (br_netfilter missing: load it with `modprobe br_netfilter`)');
    const nft = await attempt(['ip', 'netns', 'exec', ns, 'nft', '-f', '-']);
    if (nft.code !== 0) return host(`nftables does not work: ${nft.stderr.trim()}`);
    const vx = await attempt(['ip', '-n', ns, 'link', 'add', 'name', 'v0', 'type', 'vxlan', 'id', '1', 'dstport', '4789']);
    const details = vx.code === 0 ? [] : [`no VXLAN (${vx.stderr.trim()}): networks cannot span nodes`];
    return { mode: 'overlay', vxlan: vx.code === 0, summary: `overlay: bridge per network, ${vx.code === 0 ? 'VXLAN between nodes' : 'single node (no VXLAN)'}, nftables`, details };
  } finally {
    await attempt(['ip', 'netns', 'del', ns]);
  }
}

/**
 * Host ports for instances in host-networking mode: each declared port of an instance gets a port
 * of the node (its `publish` port when it asks for one, else a free one from the range). The
 * workload learns them from the environment: PORT (the first) and PORT_<port> for each.
 */
export class HostPorts {
  private readonly held = new Map<string, Map<number, number>>();

  constructor(
    private readonly range: { from: number; to: number } = { from: 20000, to: 29999 },
    private readonly isFree: (port: number) => Promise<boolean> = portIsFree,
  ) {}

  /**
   * Ports of `instance` (idempotent): declared port → host port. `preferred`: the host ports it had
   * (an earlier run), taken again where still free.
   */
  async allocate(instance: string, ports: readonly { port: number; publish?: number }[], preferred: ReadonlyMap<number, number> = new Map()): Promise<Map<number, number>> {
    const existing = this.held.get(instance);
    if (existing) return existing;
    const taken = new Set([...this.held.values()].flatMap((m) => [...m.values()]));
    const out = new Map<number, number>();
    for (const p of ports) {
      if (out.has(p.port)) continue; // the same number for tcp and udp: one host port
      if (p.publish !== undefined) {
        out.set(p.port, p.publish);
        taken.add(p.publish);
        continue;
      }
      const before = preferred.get(p.port);
      let chosen = before !== undefined && !taken.has(before) && (await this.isFree(before)) ? before : undefined;
      for (let port = this.range.from; port <= this.range.to && chosen === undefined; port++) {
        if (!taken.has(port) && (await this.isFree(port))) chosen = port;
      }
      if (chosen === undefined) throw new Error(`no free host port left in ${this.range.from}-${this.range.to} for ${instance}`);
      out.set(p.port, chosen);
      taken.add(chosen);
    }
    this.held.set(instance, out);
    return out;
  }

  release(instance: string): void {
    this.held.delete(instance);
  }

  /** Records the ports of an instance that runs already (found after an agent restart), so no other gets them. */
  adopt(instance: string, ports: ReadonlyMap<number, number>): void {
    if (!this.held.has(instance)) this.held.set(instance, new Map(ports));
  }

  /** Environment for the workload: PORT and PORT_<declared port>. */
  static env(ports: ReadonlyMap<number, number>): Record<string, string> {
    const env: Record<string, string> = {};
    let first = true;
    for (const [declared, host] of ports) {
      if (first) env.PORT = String(host);
      first = false;
      env[`PORT_${declared}`] = String(host);
    }
    return env;
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '0.0.0.0', exclusive: true }, () => s.close(() => resolve(true)));
  });
}
