/**
 * The node dataplane (agent side): bridges, VXLAN, instance namespaces and the nftables rules of
 * one machine. Every method is idempotent and may be called again after a crash or an agent
 * restart; all of them are serialized, so the agent may call them concurrently.
 *
 * Call order (see README "Wiring"):
 *   ensureNetwork(net)              before the first instance of that network starts here
 *   attachInstance(inst)            → { netns } for the driver's Task.netns, before driver.start
 *   attachTap(inst)                 the same for a VM → { tap } for the driver's Task.tap
 *   setIngress / setPublished / setServices   whenever security groups, ports or backends change
 *   detachInstance(id)              after driver.destroy
 *   removeNetwork(vni)              when no instance of the network is left here
 *   cleanupLeftovers()              once after a restart, when every known object was ensured again
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostRunner, type Runner } from './exec.js';
import { IpTool, type AddrInfo } from './links.js';
import { attachLinks, detachCommands } from './instance-links.js';
import { Naming, bridgeMac } from './names.js';
import type { AttachedInstance, AttachedTap, InstanceConfig, NetworkConfig, DataplaneOptions, Owned, ServiceConfig, TapInstanceConfig } from './types.js';
import { parseCidrOrThrow } from '../../model/cidr.js';
import { render, removalScript, serviceCounter, type FirewallModel, type PublishedPort, type RenderedRules } from './firewall.js';
import { readCounters, type TrafficReading } from './traffic.js';
import { updateScript } from './firewall-update.js';
import type { IngressPolicy } from './policy.js';
import { DEFAULT_POOL } from '../../model/kinds/network.js';
import { timed, timedRunner } from './timing.js';

export type { AttachedInstance, AttachedTap, InstanceConfig, TapInstanceConfig, LbAlgorithm, NetworkConfig, NetworkPeer, DataplaneOptions, Owned, ServiceConfig } from './types.js';

export class Dataplane {
  readonly names: Naming;
  readonly mtu: number;
  private readonly runner: Runner;
  private readonly ipt: IpTool;
  private readonly networks = new Map<number, NetworkConfig>();
  private readonly instances = new Map<string, InstanceConfig>();
  private published: PublishedPort[] = [];
  private services: ServiceConfig[] = [];
  /** The rules as last applied (undefined: unknown, the next change loads them whole). */
  private applied: RenderedRules | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private sysctlsDone = false;

  constructor(private readonly options: DataplaneOptions) {
    this.names = new Naming(options);
    this.mtu = options.mtu ?? 1450;
    this.runner = timedRunner(options.runner ?? hostRunner);
    this.ipt = new IpTool(this.runner, options.netnsDir);
  }

  /** Creates or repairs the network's bridge (node address, then the shared gateway), VXLAN device and peers. */
  ensureNetwork(net: NetworkConfig): Promise<void> {
    return this.serial(async () => {
      await this.hostSysctls();
      this.networks.set(net.vni, net);
      await this.ensureLinks(net);
      // 127.0.0.1:<published port> from the node itself: DNATed traffic with a loopback source may leave
      // through the bridge (masqueraded there, firewall.ts); the input chain drops anything else from it
      await this.sysctl(`net.ipv4.conf.${this.names.bridge(net.vni)}.route_localnet`, '1');
      await this.syncFirewall();
    });
  }

  /** Detaches the network's instances and deletes its links. Idempotent. */
  removeNetwork(vni: number): Promise<void> {
    return this.serial(async () => {
      for (const i of [...this.instances.values()]) if (i.vni === vni) await this.detach(i.id);
      this.networks.delete(vni);
      this.services = this.services.filter((s) => s.vni !== vni);
      await this.ipt.batch([['link', 'del', 'dev', this.names.vxlan(vni)], ['link', 'del', 'dev', this.names.bridge(vni)]], { force: true });
      await this.syncFirewall();
    });
  }

  /**
   * Creates (or repairs) the instance's namespace, veth, address and default route, and its rules.
   * The links and the rules are made concurrently: until the rules name the new veth, the bridge
   * drops whatever it sends (its source is not in `sources`), and the workload starts only after
   * both are done.
   */
  attachInstance(inst: InstanceConfig): Promise<AttachedInstance> {
    if (inst.tap) return Promise.reject(new Error(`instance ${inst.id} has a tap: attach it with attachTap`));
    return this.attachAny(inst) as Promise<AttachedInstance>;
  }

  /** The same for a VM: a tap on the bridge (owned by `inst.tap`'s uid and gid) instead of a namespace and veth. */
  attachTap(inst: TapInstanceConfig): Promise<AttachedTap> {
    return this.attachAny(inst) as Promise<AttachedTap>;
  }

  private attachAny(inst: InstanceConfig): Promise<AttachedInstance | AttachedTap> {
    return this.serial(async () => {
      const net = this.networks.get(inst.vni);
      if (!net) throw new Error(`network with VNI ${inst.vni} is not set up on this node; call ensureNetwork first`);
      const known = this.instances.get(inst.id);
      this.instances.set(inst.id, inst);
      const [links, rules] = await Promise.allSettled([timed('attach: links', () => this.attach(inst, net)), timed('attach: rules', () => this.syncFirewall())]);
      if (links.status === 'rejected') {
        if (known) this.instances.set(inst.id, known);
        else this.instances.delete(inst.id);
        await this.syncFirewall().catch(() => undefined);
        throw links.reason;
      }
      if (rules.status === 'rejected') throw rules.reason;
      return links.value;
    });
  }

  /** Deletes the instance's veth and namespace. Works from the id alone (after a restart too). */
  detachInstance(id: string): Promise<void> {
    return this.serial(async () => {
      await this.detach(id);
      await this.syncFirewall();
    });
  }

  /** Replaces the ingress policies (undefined: the default) of the given local instances. */
  setIngress(policies: ReadonlyMap<string, IngressPolicy | undefined>): Promise<void> {
    return this.serial(async () => {
      for (const [id, ingress] of policies) {
        const i = this.instances.get(id);
        if (!i) continue;
        if (ingress) i.ingress = ingress;
        else delete i.ingress;
      }
      await this.syncFirewall();
    });
  }

  /** Replaces the host ports forwarded to local instances. */
  setPublished(ports: readonly PublishedPort[]): Promise<void> {
    return this.serial(async () => {
      this.published = [...ports];
      await this.syncFirewall();
    });
  }

  /** Replaces the service addresses: VIPs on the bridges, DNAT rules (round-robin) or openings for the userspace proxies. */
  setServices(services: readonly ServiceConfig[]): Promise<void> {
    return this.serial(async () => {
      const unknown = services.find((s) => !this.networks.has(s.vni));
      if (unknown) throw new Error(`service ${unknown.key}: network with VNI ${unknown.vni} is not set up on this node`);
      const before = new Set(this.services.map((s) => `${s.vni}/${s.vip}`));
      this.services = services.map((s) => ({ ...s, backends: [...s.backends] }));
      const after = new Set(this.services.map((s) => `${s.vni}/${s.vip}`));
      if (before.size !== after.size || [...after].some((v) => !before.has(v))) {
        const links = new Map((await this.ipt.links()).map((l) => [l.ifname, l]));
        const cmds = [...this.networks.values()].flatMap((n) => this.addressCommands(n, links.get(this.names.bridge(n.vni))?.addrs ?? []));
        await this.ipt.batch(cmds);
      }
      await this.syncFirewall();
    });
  }

  /**
   * Removes namespaces, links and rules of ours that this object does not know (what an earlier
   * agent process left behind, or a crash in the middle of a change). Call after re-ensuring
   * everything that should exist. Returns what it removed.
   */
  cleanupLeftovers(): Promise<Owned> {
    return this.serial(() => this.cleanup());
  }

  /** The connection counter of each kernel-balanced service port (traffic.ts). */
  async serviceCounters(): Promise<TrafficReading[]> {
    const names = new Map(this.services.filter((s) => s.algorithm !== 'least-connections').flatMap((s) => s.ports.map((p) => [serviceCounter(s.vip, p), s.key] as const)));
    if (names.size === 0) return [];
    const r = await this.runner.run(['nft', '-j', 'list', 'counters', 'table', 'ip', this.names.table], { allowFailure: true });
    return r.code === 0 ? readCounters(r.stdout, names) : [];
  }

  /** Removes everything of ours on this node, tables included: for decommissioning a node and for tests. */
  teardown(): Promise<Owned> {
    return this.serial(async () => {
      this.instances.clear();
      this.networks.clear();
      this.services = [];
      this.published = [];
      const removed = await this.cleanup();
      await this.runner.run(['nft', '-f', '-'], { input: removalScript(this.names.table) });
      this.applied = undefined;
      removed.tables.push(`ip ${this.names.table}`, `bridge ${this.names.table}`);
      return removed;
    });
  }

  /** What of ours exists on this node now (for tests and `describe node`). */
  async owned(): Promise<Owned> {
    const links = (await this.ipt.links()).map((l) => l.ifname).filter((n) => this.names.isVeth(n) || this.names.isTap(n) || this.names.vniOf(n, 'b') !== undefined || this.names.vniOf(n, 'x') !== undefined);
    const netns = (await this.ipt.netnsList()).filter((n) => this.names.isNetns(n));
    const out = await this.runner.run(['nft', 'list', 'tables'], { allowFailure: true });
    const tables = out.stdout.split('\n').map((l) => l.trim()).filter((l) => l.endsWith(` ${this.names.table}`));
    return { netns: netns.sort(), links: links.sort(), tables };
  }

  /** The rules this node would apply now (for `describe` and tests). */
  ruleset(): string {
    return render(this.model()).full;
  }

  netnsPath(id: string): string {
    return join(this.options.netnsDir ?? '/run/netns', this.names.netns(id));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async cleanup(): Promise<Owned> {
    const removed: Owned = { netns: [], links: [], tables: [] };
    const knownNs = new Set([...this.instances.keys()].map((id) => this.names.netns(id)));
    const known = new Set([...this.instances.values()].map((i) => (i.tap ? this.names.tap(i.id) : this.names.veth(i.id))));
    for (const l of await this.ipt.links()) {
      const vni = this.names.vniOf(l.ifname, 'b') ?? this.names.vniOf(l.ifname, 'x');
      const stale = this.names.isVeth(l.ifname) || this.names.isTap(l.ifname) ? !known.has(l.ifname) : vni !== undefined && !this.networks.has(vni);
      if (stale) removed.links.push(l.ifname);
    }
    removed.netns = (await this.ipt.netnsList()).filter((ns) => this.names.isNetns(ns) && !knownNs.has(ns));
    await this.ipt.batch([...removed.links.map((l) => ['link', 'del', 'dev', l]), ...removed.netns.map((ns) => ['netns', 'del', ns])], { force: true });
    for (const ns of removed.netns) await this.removeResolvConf(ns);
    this.applied = undefined;
    await this.syncFirewall();
    return removed;
  }

  private async hostSysctls(): Promise<void> {
    if (this.sysctlsDone) return;
    await this.sysctl('net.ipv4.ip_forward', '1');
    // bridged traffic must pass the IPv4 hooks: security groups between instances on one bridge, service DNAT replies
    await this.sysctl('net.bridge.bridge-nf-call-iptables', '1');
    this.sysctlsDone = true;
  }

  private sysctl(key: string, value: string): Promise<void> {
    return (this.options.sysctl ?? ((k: string, v: string) => writeFile(`/proc/sys/${k.replace(/\./g, '/')}`, v)))(key, value);
  }

  /** Bridge (addresses, up), VXLAN device (enslaved, up) and its flood list, in as few commands as possible. */
  private async ensureLinks(net: NetworkConfig): Promise<void> {
    const br = this.names.bridge(net.vni);
    const vx = this.names.vxlan(net.vni);
    const links = new Map((await this.ipt.links()).map((l) => [l.ifname, l]));
    const brLink = links.get(br);
    const cmds: string[][] = [];
    if (!brLink) cmds.push(['link', 'add', 'name', br, 'address', bridgeMac(this.options.node, net.vni), 'mtu', String(this.mtu), 'type', 'bridge']);
    cmds.push(...this.addressCommands(net, brLink?.addrs ?? []));
    if (!brLink?.up) cmds.push(['link', 'set', 'dev', br, 'up']);
    const underlay = this.options.underlay;
    const vxLink = links.get(vx);
    if (underlay) {
      const dev = underlay.dev ? ['dev', underlay.dev] : [];
      if (!vxLink) cmds.push(['link', 'add', 'name', vx, 'mtu', String(this.mtu), 'type', 'vxlan', 'id', String(net.vni), 'local', underlay.ip, 'dstport', String(this.options.vxlanPort ?? 4789), ...dev]);
      if (!vxLink || vxLink.master !== br || !vxLink.up) cmds.push(['link', 'set', 'dev', vx, 'master', br, 'up']);
    }
    await this.ipt.batch(cmds);
    if (!underlay) return;
    const want = new Set((net.peers ?? []).map((p) => p.underlay).filter((p) => p !== underlay.ip));
    const have = new Set(vxLink ? await this.ipt.floodPeers(vx) : []);
    await this.ipt.changeFloodPeers(vx, [...want].filter((p) => !have.has(p)), [...have].filter((p) => !want.has(p)));
  }

  /**
   * Commands that give the bridge its addresses in order: the node's own first (primary: the
   * source of what the node sends into the network), then the shared gateway, then the VIPs.
   */
  private addressCommands(net: NetworkConfig, current: readonly AddrInfo[]): string[][] {
    const br = this.names.bridge(net.vni);
    const prefix = parseCidrOrThrow(net.cidr).prefix;
    const want = [`${net.nodeAddress}/${prefix}`, `${net.gateway}/${prefix}`, ...this.services.filter((s) => s.vni === net.vni).map((s) => `${s.vip}/32`)];
    let have = current.map((a) => `${a.local}/${a.prefixlen}`);
    const cmds: string[][] = [];
    if (have.length > 0 && (have[0] !== want[0] || !have.includes(want[1]!))) {
      cmds.push(['addr', 'flush', 'dev', br]);
      have = [];
    }
    cmds.push(...want.filter((a) => !have.includes(a)).map((a) => ['addr', 'add', a, 'dev', br]));
    cmds.push(...have.filter((a) => !want.includes(a)).map((a) => ['addr', 'del', a, 'dev', br]));
    return cmds;
  }

  /** The instance's links (instance-links.ts: a namespace and veth, or a VM's tap). */
  private attach(inst: InstanceConfig, net: NetworkConfig): Promise<AttachedInstance | AttachedTap> {
    return attachLinks({ ipt: this.ipt, names: this.names, mtu: this.mtu, netnsPath: (id) => this.netnsPath(id), writeResolvConf: (ns, dns) => this.writeResolvConf(ns, dns) }, inst, net);
  }

  private async detach(id: string): Promise<void> {
    await this.ipt.batch(detachCommands(this.names, id), { force: true });
    await this.removeResolvConf(this.names.netns(id));
    this.instances.delete(id);
  }

  private async writeResolvConf(ns: string, dns: { nameserver: string; search: string[] }): Promise<void> {
    if (this.options.etcNetnsDir === null) return;
    const dir = join(this.options.etcNetnsDir ?? '/etc/netns', ns);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'resolv.conf'), resolvConf(dns));
  }

  private async removeResolvConf(ns: string): Promise<void> {
    if (this.options.etcNetnsDir === null) return;
    await rm(join(this.options.etcNetnsDir ?? '/etc/netns', ns), { recursive: true, force: true });
  }

  private model(): FirewallModel {
    const vxlan = this.options.underlay !== undefined;
    return {
      table: this.names.table,
      cluster: this.options.cluster ?? [DEFAULT_POOL],
      networks: [...this.networks.values()].map((n) => ({
        vni: n.vni,
        bridge: this.names.bridge(n.vni),
        ...(vxlan ? { vxlan: this.names.vxlan(n.vni) } : {}),
        cidr: n.cidr,
        gateway: n.gateway,
        trusted: [n.nodeAddress, ...(n.peers ?? []).map((p) => p.address)],
      })),
      instanceLinks: this.names.instanceLinks(),
      instances: [...this.instances.values()].map((i) => ({ id: i.id, ip: i.ip, link: i.tap ? this.names.tap(i.id) : this.names.veth(i.id), ...(i.ingress ? { ingress: i.ingress } : {}) })),
      published: this.published,
      // least-connections is a TCP proxy; a UDP port of such a service is still balanced by DNAT
      services: this.services.flatMap((s) => {
        const proxied = s.algorithm === 'least-connections';
        return [
          { key: s.key, vip: s.vip, ports: s.ports.filter((p) => proxied && p.protocol === 'tcp'), backends: s.backends, userspace: true },
          { key: s.key, vip: s.vip, ports: s.ports.filter((p) => !proxied || p.protocol !== 'tcp'), backends: s.backends, userspace: false },
        ].filter((x) => x.ports.length > 0);
      }),
    };
  }

  /**
   * Applies the rules of the current model: by element and chain commands when only those parts
   * changed since the last apply, else (or when that fails: the tables were changed behind our
   * back) by re-creating both tables.
   */
  private async syncFirewall(): Promise<void> {
    const next = render(this.model());
    const applied = this.applied;
    if (applied?.full === next.full) return;
    const script = applied ? updateScript(this.names.table, applied, next) : undefined;
    if (script === '' || (script !== undefined && (await timed('nft update', () => this.runner.run(['nft', '-f', '-'], { input: script, allowFailure: true }))).code === 0)) {
      this.applied = next;
      return;
    }
    this.applied = undefined;
    await timed('nft reload', () => this.runner.run(['nft', '-f', '-'], { input: next.full }));
    this.applied = next;
  }
}

/** resolv.conf pointing at the network's DNS server (the gateway). */
export function resolvConf(dns: { nameserver: string; search: string[] }): string {
  return `nameserver ${dns.nameserver}\n${dns.search.length ? `search ${dns.search.join(' ')}\n` : ''}options ndots:1 timeout:1 attempts:2\n`;
}
