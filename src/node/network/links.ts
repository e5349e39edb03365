/**
 * Thin, typed wrappers over `ip`, `bridge` and `sysctl` (iproute2, JSON output), each one
 * command with an argument array. Names are always passed after `name`/`dev` so that a name can
 * never be read as a keyword (`ip link add tx` means txqueuelen to iproute2).
 */
import { readdir } from 'node:fs/promises';
import type { Runner } from './exec.js';

export interface LinkInfo {
  ifname: string;
  kind?: string;
  master?: string;
  address?: string;
  mtu?: number;
  up: boolean;
}

export interface AddrInfo {
  local: string;
  prefixlen: number;
  secondary: boolean;
}

interface RawLink {
  ifname: string;
  master?: string;
  address?: string;
  mtu?: number;
  flags?: string[];
  linkinfo?: { info_kind?: string };
  addr_info?: { family: string; local: string; prefixlen: number; secondary?: boolean }[];
}

export class IpTool {
  constructor(
    private readonly runner: Runner,
    private readonly netnsDir = '/run/netns',
  ) {}

  /** `ip` with the given arguments; `netns` runs it against that namespace (`ip -n`). */
  async ip(args: string[], opts: { netns?: string; allowFailure?: boolean } = {}): Promise<string> {
    const argv = ['ip', ...(opts.netns ? ['-n', opts.netns] : []), ...args];
    return (await this.runner.run(argv, { allowFailure: opts.allowFailure })).stdout;
  }

  /**
   * Several `ip` commands in one process (`ip -batch -`). Stops at the first failure, unless
   * `force` (then it runs them all and the exit code tells whether any failed).
   */
  async batch(lines: string[][], opts: { netns?: string; force?: boolean } = {}): Promise<void> {
    if (lines.length === 0) return;
    for (const l of lines) for (const w of l) if (/\s|^$/.test(w)) throw new Error(`ip batch word ${JSON.stringify(w)} contains white space`);
    const input = `${lines.map((l) => l.join(' ')).join('\n')}\n`;
    await this.runner.run(['ip', ...(opts.netns ? ['-n', opts.netns] : []), ...(opts.force ? ['-force'] : []), '-batch', '-'], { input, allowFailure: opts.force });
  }

  /** Every link of the namespace with its IPv4 addresses, in one command. */
  async links(): Promise<(LinkInfo & { addrs: AddrInfo[] })[]> {
    const out = await this.ip(['-j', '-d', 'addr', 'show']); // not -4: that hides links without IPv4 addresses
    return (JSON.parse(out || '[]') as RawLink[]).map((raw) => ({ ...toLink(raw), addrs: toAddrs(raw) }));
  }

  async link(name: string): Promise<LinkInfo | undefined> {
    const r = await this.runner.run(['ip', '-j', '-d', 'link', 'show', 'dev', name], { allowFailure: true });
    if (r.code !== 0) return undefined;
    const [raw] = JSON.parse(r.stdout || '[]') as RawLink[];
    return raw ? toLink(raw) : undefined;
  }

  async addresses(dev: string, netns?: string): Promise<AddrInfo[]> {
    const out = await this.ip(['-j', '-4', 'addr', 'show', 'dev', dev], { netns, allowFailure: true });
    const [raw] = JSON.parse(out || '[]') as RawLink[];
    return raw ? toAddrs(raw) : [];
  }

  async deleteLink(name: string): Promise<boolean> {
    const r = await this.runner.run(['ip', 'link', 'del', 'dev', name], { allowFailure: true });
    return r.code === 0;
  }

  /** Named network namespaces: the entries of /run/netns (what `ip netns list` shows). */
  async netnsList(): Promise<string[]> {
    return readdir(this.netnsDir).catch(() => [] as string[]);
  }

  async deleteNetns(name: string): Promise<boolean> {
    const r = await this.runner.run(['ip', 'netns', 'del', name], { allowFailure: true });
    return r.code === 0;
  }

  /** Head-end replication targets of a VXLAN device: the all-zero MAC entries' destinations. */
  async floodPeers(vxlan: string): Promise<string[]> {
    const r = await this.runner.run(['bridge', '-j', 'fdb', 'show', 'dev', vxlan], { allowFailure: true });
    if (r.code !== 0) return [];
    const entries = JSON.parse(r.stdout || '[]') as { mac: string; dst?: string }[];
    return entries.filter((e) => e.mac === '00:00:00:00:00:00' && e.dst).map((e) => e.dst!);
  }

  async changeFloodPeers(vxlan: string, add: readonly string[], remove: readonly string[]): Promise<void> {
    const lines = [
      ...add.map((p) => `fdb append 00:00:00:00:00:00 dev ${vxlan} dst ${p}`),
      ...remove.map((p) => `fdb del 00:00:00:00:00:00 dev ${vxlan} dst ${p}`),
    ];
    if (lines.length) await this.runner.run(['bridge', '-force', '-batch', '-'], { input: `${lines.join('\n')}\n`, allowFailure: remove.length > 0 });
  }
}

function toAddrs(raw: RawLink): AddrInfo[] {
  return (raw.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => ({ local: a.local, prefixlen: a.prefixlen, secondary: a.secondary === true }));
}

function toLink(raw: RawLink): LinkInfo {
  return {
    ifname: raw.ifname.split('@')[0]!,
    ...(raw.linkinfo?.info_kind ? { kind: raw.linkinfo.info_kind } : {}),
    ...(raw.master ? { master: raw.master } : {}),
    ...(raw.address ? { address: raw.address } : {}),
    ...(raw.mtu !== undefined ? { mtu: raw.mtu } : {}),
    up: (raw.flags ?? []).includes('UP'),
  };
}
