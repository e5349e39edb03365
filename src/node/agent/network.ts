/**
 * NetworkSync: the agent's InstanceNetworking, the API-driven glue between what the control plane
 * says and NodeNetworking (the node's dataplane, DNS and balancers). Reads everything through the
 * API; the addresses come from the network controller (src/controllers/network/networks.ts).
 *
 *   start     probe the host: overlay (bridge per network, netns per instance, VXLAN, nftables)
 *             or host networking, and why; one overlay agent per network namespace (a lock). While
 *             host networking is a fallback, probe again every `reprobeMs`: once overlay works (nft
 *             installed, say), new instances get it; those running keep host networking
 *   prepare   overlay: wait for status.ip (from the run, or this watch of instances: it wakes the
 *             run when it sees the address first) and the network (Ready, with this node's address);
 *             ensureNetwork (peers: the other nodes in network.status.nodes), attachInstance
 *             → { netns, env STRATUS_IP, STRATUS_DNS } (a VM: attachTap → { tap, guestNetwork },
 *             network-vm.ts).  host (network-hostmode.ts): host ports → { env PORT..., status { ip:
 *             the node's address, hostNetwork } } (a VM: userNet, its ports forwarded from those)
 *   released  detachInstance; removeNetwork once the network has had no local instance for
 *             `networkGraceMs` (or at once when this node leaves it); host ports go back
 *   synced    after a restart: re-attach what runs here, then cleanupLeftovers
 *   always    from watches of instances, networks, security groups and services: peers, DNS names
 *             of each local network (services → their address, instances → theirs), ingress rules
 *             (PolicyResolver), published ports, and the services of the networks present here
 *             (address from the network controller, Ready replicas as backends, Draining ones
 *             draining, the replicas' health check run by this node too) → setServices; services
 *             with host ports balanced on them over host-networked replicas (HostNetworking)
 */
import type { InstanceNetworking, InstanceNetworkingContext } from './agent.js';
import type { LocalRecord } from './records.js';
import type { Instance, InstanceStatus } from '../../model/kinds/instance.js';
import { instanceNetwork, type Network } from '../../model/kinds/network.js';
import { FINISHED } from '../../model/lifecycle.js';
import type { SecurityGroup } from '../../model/kinds/security-group.js';
import type { Service } from '../../model/kinds/service.js';
import { ApiError } from '../../client/index.js';
import { collectionPath, itemPath } from '../../client/paths.js';
import { instanceKind, networkKind, securityGroupKind, serviceKind } from '../../model/kinds/index.js';
import { NodeNetworking, type NodeNetworkingOptions } from '../network/node.js';
import type { AttachedInstance, AttachedTap, InstanceConfig } from '../network/dataplane.js';
import { hostVm, isVm, overlayVm, type VmNetworking } from './network-vm.js';
import { probeNetworking, type NetworkCapabilities } from '../network/capabilities.js';
import { hostRunner, type Runner } from '../network/exec.js';
import { DEFAULT_POOL } from '../../model/kinds/network.js';
import { Informer, latestOf, configOf, keyOf, notReady, policiesOf, publishedOf, recordsOf, replicasByService, serviceDefinitionsOf, serviceRecordsOf, zoneOf, type Attached } from './network-view.js';
import { findUnderlay, hostAddress, lockNetworkNamespace, upstreamResolvers } from './network-host.js';
import { HostNetworking } from './network-hostmode.js';
import { isHostNetworked } from '../../model/host-networking.js';
import { recordStep, timed } from '../network/timing.js';
import { IdleNetworks } from './network-idle.js';
import { TrafficTotals } from '../network/traffic.js';
import type { ServiceTraffic } from '../../model/usage.js';

export { findUnderlay, lockNetworkNamespace } from './network-host.js';

/** What NetworkSync needs of NodeNetworking (a fake in unit tests). */
export type NodeNetworkingApi = Pick<NodeNetworking, 'ensureNetwork' | 'removeNetwork' | 'attachInstance' | 'detachInstance' | 'cleanupLeftovers' | 'setIngress' | 'setPublished' | 'setServices' | 'setRecords' | 'close'> & Partial<Pick<NodeNetworking, 'serviceTraffic' | 'attachTap'>>;

export interface NetworkSyncOptions {
  /** auto (default): overlay where the host allows it, else host networking; host: always host networking. */
  mode?: 'auto' | 'host';
  /** This node's VXLAN endpoint. Default: the source address of the route to the API server, else of the default route. */
  underlayAddress?: string;
  /** Prefix of instance namespaces; agents sharing /run/netns (tests) need one each. Default "stratus-". */
  netnsPrefix?: string;
  /** Where the one-overlay-agent-per-network-namespace lock lives. Default /run/stratus. */
  lockDir?: string;
  runner?: Runner;
  probe?: () => Promise<NetworkCapabilities>;
  nodeNetworking?: (options: NodeNetworkingOptions) => NodeNetworkingApi;
  /** Debounce of re-applying rules and names after a change. Default 100 ms. */
  settleMs?: number;
  /**
   * How long a network's bridge, VXLAN device and rules stay after its last local instance is
   * gone, so that the next one starts without making them again. Default 5 s; removed sooner
   * when this node leaves the network's status.nodes or the network goes. 0: at once.
   */
  networkGraceMs?: number;
  /**
   * While host networking is a fallback (not chosen with --network host, not for want of root),
   * how often the node looks again whether overlay networking works now. Default 30 s; 0: never.
   */
  reprobeMs?: number;
}

export const DEFAULT_NETWORK_GRACE_MS = 5000;
export const DEFAULT_REPROBE_MS = 30_000;

/** What prepare() gives a run: see InstanceNetworking.prepare. */
type Prepared = { netns?: string; env?: Record<string, string>; wait?: string; status?: Pick<InstanceStatus, 'ip' | 'hostNetwork'> } & VmNetworking;

export class NetworkSync implements InstanceNetworking {
  private mode: 'overlay' | 'host' = 'host';
  private message = 'host networking: not started';
  private underlay: { ip: string; dev?: string } | undefined;
  private net: NodeNetworkingApi | undefined;
  /** Host networking: in host mode, and for the instances started so before a switch to overlay. */
  private host: HostNetworking | undefined;
  private hostIp: string | undefined;
  private reprobe: NodeJS.Timeout | undefined;
  private readonly attached = new Map<string, Attached>();
  /** VNI → the NetworkConfig (JSON) last ensured. */
  private readonly ensured = new Map<number, string>();
  /** Networks without local instances, removed after their grace period. */
  private readonly idle: IdleNetworks;
  /** uid → "<project>/<name>" of runs waiting for their address: told (wake) when the informer sees it. */
  private readonly waiting = new Map<string, string>();
  /** Ranges instances may have cluster-wide; read by the dataplane at each rule render. */
  private readonly cluster: string[] = [DEFAULT_POOL];
  private readonly abort = new AbortController();
  private readonly instances: Informer<Instance>;
  private readonly networks: Informer<Network>;
  private readonly groups: Informer<SecurityGroup>;
  private readonly services: Informer<Service>;
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private unlock: (() => void) | undefined;
  private readonly traffic = new TrafficTotals();

  constructor(private readonly ctx: InstanceNetworkingContext, private readonly opts: NetworkSyncOptions = {}) {
    this.idle = new IdleNetworks(opts.networkGraceMs ?? DEFAULT_NETWORK_GRACE_MS, (vni, generation) => void this.serial(async () => {
      if (!this.idle.current(vni, generation) || this.hosts(vni)) return;
      await this.removeNetwork(vni);
      await this.applyRules();
    }).catch((e: Error) => ctx.log(`network: removing network ${vni}: ${e.message}`)));
    const changed = () => this.schedule();
    this.instances = new Informer<Instance>(ctx.api, collectionPath(instanceKind), () => {
      changed();
      this.wakeAddressed();
    }, ctx.log);
    this.networks = new Informer<Network>(ctx.api, collectionPath(networkKind), () => {
      changed();
      ctx.wake?.();
    }, ctx.log);
    this.groups = new Informer<SecurityGroup>(ctx.api, collectionPath(securityGroupKind), changed, ctx.log);
    this.services = new Informer<Service>(ctx.api, collectionPath(serviceKind), changed, ctx.log);
  }

  async start(): Promise<void> {
    for (const inf of [this.instances, this.networks, this.groups, this.services]) void inf.run(this.abort.signal);
    if (this.opts.mode === 'host') return this.hostMode('host networking: chosen with --network host');
    const caps = await this.probe();
    const why = caps.mode === 'host' ? caps.summary : await this.overlay(caps);
    if (why === undefined) return;
    await this.hostMode(why);
    if (!caps.fixed && (this.opts.reprobeMs ?? DEFAULT_REPROBE_MS) > 0) {
      this.reprobe = setInterval(() => void this.serial(() => this.probeAgain()).catch((e: Error) => this.ctx.log(`network: ${e.message}`)), this.opts.reprobeMs ?? DEFAULT_REPROBE_MS);
      this.reprobe.unref();
    }
  }

  private probe(): Promise<NetworkCapabilities> {
    return (this.opts.probe ?? (() => probeNetworking(this.opts.runner ? { runner: this.opts.runner } : {})))();
  }

  /** Overlay networking from now on, or why not (undefined: it is on). */
  private async overlay(caps: NetworkCapabilities, since?: string): Promise<string | undefined> {
    let lock: (() => void) | string;
    try {
      lock = lockNetworkNamespace(this.opts.lockDir ?? '/run/stratus', this.ctx.node);
    } catch (e) {
      lock = `cannot take the network lock: ${(e as Error).message}`;
    }
    if (typeof lock === 'string') return `host networking: ${lock}`;
    const runner = this.opts.runner ?? hostRunner;
    try {
      this.underlay = caps.vxlan ? await findUnderlay(runner, this.ctx.api.server, this.opts.underlayAddress) : undefined;
    } catch (e) {
      lock(); // the next look takes it again
      throw e;
    }
    this.unlock = lock;
    const options: NodeNetworkingOptions = {
      node: this.ctx.node, cluster: this.cluster, runner, log: this.ctx.log,
      ...(this.underlay ? { underlay: this.underlay } : {}),
      ...(this.opts.netnsPrefix ? { netnsPrefix: this.opts.netnsPrefix } : {}),
      dns: { upstream: upstreamResolvers() },
    };
    this.net = (this.opts.nodeNetworking ?? ((o) => new NodeNetworking(o)))(options);
    this.mode = 'overlay';
    const where = this.underlay ? `underlay ${this.underlay.ip}${this.underlay.dev ? ` (${this.underlay.dev})` : ''}` : 'no underlay address: networks cannot span nodes from here';
    const switched = since ? [`switched from host networking at ${since}: instances started before keep it`] : [];
    this.message = [caps.summary, where, ...caps.details, ...switched].join('; ');
    this.schedule();
    return undefined;
  }

  /** While in fallback host networking: overlay for the instances started from now on, once it works. Call serialized. */
  private async probeAgain(): Promise<void> {
    if (this.net || this.abort.signal.aborted) return;
    const caps = await this.probe();
    const why = caps.mode === 'host' ? caps.summary : await this.overlay(caps, new Date(this.ctx.clock.now()).toISOString());
    if (why === undefined) {
      clearInterval(this.reprobe);
      this.ctx.log(`network: ${this.message}`);
    } else this.message = why;
  }

  status(): { mode: string; message: string; addresses?: { type: string; address: string }[] } {
    const addresses = [...(this.underlay ? [{ type: 'underlay', address: this.underlay.ip }] : []), ...(this.mode === 'host' && this.hostIp ? [{ type: 'host', address: this.hostIp }] : [])];
    return { mode: this.mode, message: this.message, ...(addresses.length ? { addresses } : {}) };
  }

  /**
   * Connections that reached each service's load balancer on this node, cumulative (never down):
   * the overlay's kernel counters and proxies, and the host-networking balancers (network/traffic.ts).
   */
  async serviceTraffic(): Promise<ServiceTraffic[]> {
    const readings = [...(this.host?.traffic() ?? []), ...((await this.net?.serviceTraffic?.()) ?? [])];
    return this.traffic.observe(readings);
  }

  /** Overlay, unless the instance started with host networking before (it keeps it for its life here). */
  async prepare(inst: Instance): Promise<Prepared> {
    return this.net && !isHostNetworked(inst) ? timed('prepare', () => this.prepareOverlay(inst)) : this.prepareHost(inst);
  }

  private async prepareOverlay(inst: Instance): Promise<Prepared> {
    const ip = inst.status?.ip ?? latestOf(this.instances, inst)?.status?.ip;
    if (!ip) {
      this.waiting.set(inst.metadata.uid, keyOf(inst));
      recordStep('prepare: no address yet', 0);
      return { wait: 'waiting for the network controller to assign an address (status.ip)' };
    }
    this.waiting.delete(inst.metadata.uid);
    const project = inst.metadata.project!;
    const name = instanceNetwork(inst.spec);
    let net: Network | undefined;
    try {
      net = await this.network(project, name);
    } catch (e) {
      return { wait: `cannot read network ${project}/${name}: ${(e as Error).message}` };
    }
    const why = notReady(net, project, name, this.ctx.node);
    if (why) return { wait: why };
    return this.serial(async () => {
      const a = await this.attach(inst, net!, ip);
      await timed('prepare: rules', () => this.applyRules());
      const env = { STRATUS_IP: ip, STRATUS_DNS: a.dns.nameserver };
      return 'tap' in a ? { env, ...overlayVm(a) } : { netns: a.netns, env };
    });
  }

  async released(record: LocalRecord): Promise<void> {
    this.host?.released(record.uid);
    const net = this.net;
    if (!net) return;
    this.waiting.delete(record.uid);
    await timed('released', () => this.serial(async () => {
      const gone = this.attached.get(record.uid);
      this.attached.delete(record.uid);
      await net.detachInstance(record.uid);
      // its network stays for a grace period: the next instance of it starts without making it again
      if (gone && !this.hosts(gone.vni)) await (this.idle.graceMs > 0 ? this.idle.hold(gone.vni) : this.removeNetwork(gone.vni));
      await this.applyRules();
    }));
  }

  /** Re-attaches what runs here (a restart), then removes whatever else of ours is on the node; retried until it can. */
  async synced(instances: Instance[]): Promise<void> {
    if (instances.some((i) => i.status?.node === this.ctx.node && isHostNetworked(i))) (await this.hostNetworking()).adopt(instances);
    if (!this.net || this.abort.signal.aborted) return;
    const done = await this.resync(instances).catch((e: Error) => {
      this.ctx.log(`network: re-attaching after a restart: ${e.message}`);
      return false;
    });
    if (done) return;
    this.retry = setTimeout(() => {
      void this.ctx.api.listAll<Instance>(collectionPath(instanceKind))
        .then(({ items }) => this.synced(items.filter((i) => i.status?.node === this.ctx.node)), () => this.synced(instances));
    }, 2000);
    this.retry.unref();
  }

  /** Stops following the API. Networks in their grace period (no local instance) go; the rest stays for what still runs. */
  async stop(): Promise<void> {
    this.abort.abort();
    clearInterval(this.reprobe);
    clearTimeout(this.timer);
    clearTimeout(this.retry);
    const idle = this.idle.vnis();
    this.idle.clear();
    if (this.net && idle.length) {
      await this.serial(async () => {
        for (const vni of idle) if (!this.hosts(vni)) await this.removeNetwork(vni);
        await this.applyRules();
      }).catch((e: Error) => this.ctx.log(`network: removing idle networks: ${e.message}`));
    }
    await this.queue.catch(() => undefined);
    await this.net?.close();
    await this.host?.close();
    this.unlock?.();
  }

  private async hostMode(message: string): Promise<void> {
    this.mode = 'host';
    this.message = message;
    await this.hostNetworking();
  }

  private async hostNetworking(): Promise<HostNetworking> {
    if (!this.host) {
      const ip = await hostAddress(this.ctx.api.server, this.opts.underlayAddress);
      this.hostIp = ip;
      this.host ??= new HostNetworking(this.ctx.node, ip, this.ctx.log);
    }
    return this.host;
  }

  /** Host networking (network-hostmode.ts): host ports, the node's address, the services' variables. */
  private async prepareHost(inst: Instance): Promise<Prepared> {
    const prepared = await (await this.hostNetworking()).prepare(inst, this.services.items.values());
    this.schedule();
    return isVm(inst) ? { ...prepared, ...hostVm(prepared.status) } : prepared;
  }

  private async resync(instances: Instance[]): Promise<boolean> {
    const here = instances.filter((i) => i.status?.node === this.ctx.node && !FINISHED.has(i.status.phase) && !isHostNetworked(i));
    const nets = new Map<string, Network | undefined>();
    for (const i of here) {
      const k = `${i.metadata.project}/${instanceNetwork(i.spec)}`;
      if (!nets.has(k)) nets.set(k, await this.network(i.metadata.project!, instanceNetwork(i.spec), true));
    }
    return this.serial(async () => {
      let complete = true;
      for (const i of here) {
        const net = nets.get(`${i.metadata.project}/${instanceNetwork(i.spec)}`);
        // without its address or network now, it may still run in a namespace of ours: keep everything for now
        if (!i.status?.ip || notReady(net, i.metadata.project!, instanceNetwork(i.spec), this.ctx.node)) complete = false;
        else await this.attach(i, net!, i.status.ip);
      }
      if (complete) {
        const removed = await this.net!.cleanupLeftovers();
        const n = removed.netns.length + removed.links.length;
        if (n > 0) this.ctx.log(`network: removed leftovers: ${[...removed.netns, ...removed.links].join(', ')}`);
      }
      await this.applyRules();
      return complete;
    });
  }

  /** The network from the informer, or read fresh when the informer cannot use it yet. */
  private async network(project: string, name: string, fresh = false): Promise<Network | undefined> {
    const cached = this.networks.items.get(`${project}/${name}`);
    if (!fresh && cached && !notReady(cached, project, name, this.ctx.node)) return cached;
    try {
      return await this.ctx.api.get<Network>(itemPath(networkKind, name, project));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  /** Ensures the network (when its config changed) and attaches the instance with its current ingress. Call serialized. */
  private async attach(inst: Instance, net: Network, ip: string) {
    const cfg = configOf(net, this.ctx.node);
    this.idle.claim(cfg.vni);
    await timed('prepare: ensure network', () => this.ensure(cfg));
    const uid = inst.metadata.uid;
    const before = this.attached.get(uid);
    this.attached.set(uid, { inst, vni: cfg.vni, ip });
    const ingress = policiesOf(this.attached, this.instances.items.values(), this.groups.items.values()).get(uid);
    try {
      const config = { id: uid, project: cfg.project, name: inst.metadata.name, vni: cfg.vni, ip, ...(ingress ? { ingress } : {}) };
      const a = await timed<AttachedInstance | AttachedTap>('prepare: attach instance', () => (isVm(inst) ? this.attachTap(config) : this.net!.attachInstance(config)));
      this.setRecords(cfg.vni, cfg.project, cfg.name);
      return a;
    } catch (e) {
      if (before) this.attached.set(uid, before);
      else this.attached.delete(uid);
      throw e;
    }
  }

  /** A VM's NIC: a tap on the bridge, opened by QEMU as root before it drops privileges (the tap needs no owner). */
  private attachTap(config: InstanceConfig): Promise<AttachedTap> {
    if (!this.net!.attachTap) throw new Error('this node\'s networking cannot attach virtual machines (no tap support)');
    return this.net!.attachTap({ ...config, tap: {} });
  }

  private async ensure(cfg: ReturnType<typeof configOf>): Promise<void> {
    const json = JSON.stringify(cfg);
    if (this.ensured.get(cfg.vni) === json) return;
    await this.net!.ensureNetwork(cfg);
    this.ensured.set(cfg.vni, json);
  }

  /** Instances' names, and services' (which win over an instance of the same name). */
  private setRecords(vni: number, project: string, network: string): void {
    const local = [...this.attached.values()].map((a) => a.inst);
    const records = { ...recordsOf([...local, ...this.instances.items.values()], project, network), ...serviceRecordsOf(this.services.items.values(), project, network) };
    this.net!.setRecords(vni, records, [zoneOf(project)]);
  }

  /** Re-applies everything derived from the watched objects, `settleMs` after the last change. */
  private schedule(): void {
    if ((!this.net && !this.host) || this.abort.signal.aborted || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.serial(() => this.refresh()).catch((e: Error) => this.ctx.log(`network: ${e.message}`));
    }, this.opts.settleMs ?? 100);
    this.timer.unref();
  }

  private async refresh(): Promise<void> {
    await this.host?.refresh(this.services.items.values(), replicasByService(this.instances.items.values()));
    if (this.net) await this.refreshOverlay();
  }

  private async refreshOverlay(): Promise<void> {
    this.cluster.splice(1, Infinity, ...[...this.networks.items.values()].flatMap((n) => (n.status?.cidr ? [n.status.cidr] : [])));
    for (const a of this.attached.values()) {
      a.inst = latestOf(this.instances, a.inst) ?? a.inst;
    }
    const vnis = new Map([...this.attached.values()].map((a) => [a.vni, a.inst]));
    for (const [vni, inst] of vnis) {
      const project = inst.metadata.project!;
      const name = instanceNetwork(inst.spec);
      const net = this.networks.items.get(`${project}/${name}`);
      if (net && !notReady(net, project, name, this.ctx.node) && net.status!.vni === vni) await this.ensure(configOf(net, this.ctx.node));
      this.setRecords(vni, project, name);
    }
    for (const vni of this.idle.vnis()) {
      // an idle network this node no longer belongs to (or that is gone) goes now, not after its grace period
      const net = [...this.networks.items.values()].find((n) => n.status?.vni === vni);
      if (!net || notReady(net, net.metadata.project!, net.metadata.name, this.ctx.node)) await this.removeNetwork(vni);
    }
    await this.applyRules();
  }

  /** Whether an instance of the network is attached here. */
  private hosts(vni: number): boolean {
    return [...this.attached.values()].some((a) => a.vni === vni);
  }

  /** Call serialized. */
  private async removeNetwork(vni: number): Promise<void> {
    this.idle.claim(vni);
    await this.net!.removeNetwork(vni);
    this.ensured.delete(vni);
  }

  /**
   * A run waiting for its address learns of it from the agent's own watch, which may lag (a
   * watch that starts over after a resync): wake the runs whose address this informer has.
   */
  private wakeAddressed(): void {
    if (![...this.waiting].some(([uid, key]) => this.instances.items.get(key)?.metadata.uid === uid && this.instances.items.get(key)?.status?.ip)) return;
    this.waiting.clear();
    this.ctx.wake?.();
  }

  /** Ingress of every local instance, the host ports forwarded to them, and the services here. Call serialized. */
  private async applyRules(): Promise<void> {
    await this.net!.setIngress(policiesOf(this.attached, this.instances.items.values(), this.groups.items.values()));
    await this.net!.setPublished([...this.attached.values()].flatMap((a) => publishedOf(a.inst.spec, a.ip)));
    // a service that cannot be set up here (a proxy's port taken) must not hold up instances
    await this.net!.setServices(serviceDefinitionsOf(this.attached.values(), this.ensured, this.services.items.values(), this.instances.items.values())).catch((e: Error) => this.ctx.log(`network: services: ${e.message}`));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
