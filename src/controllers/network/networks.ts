/**
 * Network controller (level triggered, runs on the leader): the control-plane half of
 * per-project networking. It owns every address decision; agents only read the results.
 *
 *   project exists              → network "default" (not for "system", unless an instance there needs it)
 *   network without allocation  → Ipam.allocateNetwork → status {Ready, cidr, gateway, vni} (Failed + why)
 *   instance without status.ip  → Ipam.allocateAddress(owner instance/uid) → status.ip, same address for
 *                                 the instance's whole life (re-written if another writer drops it);
 *                                 not while it is bound to a node with host networking, nor once its agent
 *                                 ran it so (status.hostNetwork: status.ip is the node's; its lease goes)
 *   instance bound to node N    → N's own address in the network → network.status.nodes += {N, address,
 *                                 underlay: N's "underlay" address}; removed (and released) once N has had
 *                                 no instance of the network for `nodeReleaseDelayMs`
 *   instance / network deleted  → addresses / range and VNI released
 *   service                     → its virtual address in its network → status.address; released on
 *                                 delete (service-addresses.ts); while a node has host networking, its
 *                                 host ports → status.hostPorts (service-host-ports.ts)
 *   every `orphanScanMs`        → leases whose owner is gone, allocations without a network, networks
 *                                 without a project, and Failed networks are looked at again
 *
 * Objects are read from the shared informers (runtime/informers.ts: projects, networks, instances,
 * nodes, services; changes delivered in commit order); every change schedules one pass over them,
 * which writes only what differs. Status writes go through `repo.update` (latest
 * object, retried on conflict) and touch only the fields this controller owns.
 */
import type { Repository } from '../../store/repository.js';
import type { StoredObject, Kind } from '../../model/kind.js';
import { instanceKind, networkKind, nodeKind, projectKind, serviceKind } from '../../model/kinds/index.js';
import type { Instance } from '../../model/kinds/instance.js';
import type { Service } from '../../model/kinds/service.js';
import type { Network, NetworkStatus } from '../../model/kinds/network.js';
import { DEFAULT_NETWORK, instanceNetwork } from '../../model/kinds/network.js';
import type { Node } from '../../model/kinds/node.js';
import { SYSTEM_PROJECT } from '../../model/kinds/event.js';
import { FINISHED } from '../../model/lifecycle.js';
import { StratusError, ValidationError } from '../../model/errors.js';
import { AddressSpaceExhausted, Ipam, type Owner } from './ipam.js';
import { every, type Component } from '../../runtime/component.js';
import type { Subscription } from '../../runtime/informer.js';
import { Informers, objectKey as keyOf } from '../../runtime/informers.js';
import type { EventRecorder } from '../../runtime/events.js';
import { ServiceAddresses } from './service-addresses.js';
import { ServiceHostPorts, type PortRange } from './service-host-ports.js';
import { isHostNetworked, nodeNetworking } from '../../model/host-networking.js';

export interface NetworkControllerOptions {
  /** Cluster pool for networks without a cidr. Default 10.240.0.0/12. */
  pool?: string;
  /** Periodic pass (time-based work: delayed releases, re-creation). Default 1000 ms. */
  intervalMs?: number;
  /** A node keeps its address in a network this long after its last instance there. Default 30 s. */
  nodeReleaseDelayMs?: number;
  /** A deleted default network of a live project comes back after this long. Default 5 s. */
  recreateDelayMs?: number;
  /** Orphan scan period. Default 60 s. */
  orphanScanMs?: number;
  /** Allocations in flight at once. Default 8. */
  concurrency?: number;
  ipam?: Ipam;
  /** Where services' host ports come from (nodes with host networking). Default 30000-32767. */
  nodePortRange?: PortRange;
  /** The server's shared informers (default: this controller's own). */
  informers?: Informers;
}

const ACTOR = 'system:network-controller';

export class NetworkController implements Component {
  readonly name = 'network-controller';
  readonly ipam: Ipam;
  private readonly vips: ServiceAddresses;
  private readonly hostPorts: ServiceHostPorts;
  private readonly informers: Informers;
  private readonly deletedInstances: Instance[] = [];
  private readonly deletedNetworks: Network[] = [];
  /** Projects seen for the first time: their default network is made at once. */
  private readonly freshProjects = new Set<string>();
  private readonly missingSince = new Map<string, number>();
  /** `<network key>|<node>` → since when the node has had no instance of the network. */
  private readonly emptySince = new Map<string, number>();
  /** Warnings already recorded (network failures, missing networks), so each is written once. */
  private readonly warned = new Set<string>();
  /** Networks found without a free address; not tried again until one of their addresses is released, or on the orphan scan. */
  private readonly full = new Set<string>();
  /** Kept as instances change, so that a pass costs what changed, not the number of instances. */
  private readonly unaddressed = new Map<string, Instance>();
  /** Unaddressed instances that changed since the last pass; all of them are tried when `retryAll`. */
  private readonly dirty = new Set<string>();
  /** Project → how many of its unaddressed instances are on its default network. */
  private readonly waitingForDefault = new Map<string, number>();
  private retryAll = true;
  /** Instances that started with host networking since the last pass: their overlay address goes back. */
  private readonly hostNetworked: Instance[] = [];
  /** `<network key>` → node → how many of the network's instances are bound there. */
  private readonly placements = new Map<string, Map<string, number>>();
  private subs: Subscription[] = [];
  private loop?: { stop(): void };
  private scheduled: NodeJS.Immediate | undefined;
  private pass: Promise<void> | undefined;
  private pending = false;
  private stopped = false;
  private lastOrphanScan = 0;
  private lastError = '';

  constructor(private readonly repo: Repository, private readonly events?: EventRecorder, private readonly opts: NetworkControllerOptions = {}) {
    this.ipam = opts.ipam ?? new Ipam(repo.backend, opts.pool ? { pool: opts.pool } : {});
    this.informers = opts.informers ?? new Informers(repo);
    this.vips = new ServiceAddresses(repo, this.ipam, this.informers.of<Service>(serviceKind).items, events);
    this.hostPorts = new ServiceHostPorts(repo, events, opts.nodePortRange);
  }

  /** Projects by name, networks, instances and services by "<project>/<name>", nodes by name (the informers' caches; read only). */
  private get projects(): ReadonlyMap<string, StoredObject> {
    return this.informers.of<StoredObject>(projectKind).items;
  }

  private get networks(): ReadonlyMap<string, Network> {
    return this.informers.of<Network>(networkKind).items;
  }

  private get instances(): ReadonlyMap<string, Instance> {
    return this.informers.of<Instance>(instanceKind).items;
  }

  private get nodes(): ReadonlyMap<string, Node> {
    return this.informers.of<Node>(nodeKind).items;
  }

  async start(): Promise<void> {
    await this.subscribe();
    this.lastOrphanScan = this.repo.clock.now();
    this.loop = every(this.opts.intervalMs ?? 1000, async () => this.kick(), () => undefined);
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.loop?.stop();
    for (const s of this.subs) s.close();
    this.subs = [];
    if (this.scheduled) clearImmediate(this.scheduled);
    await this.pass;
  }

  health(): string {
    return this.lastError;
  }

  /** Resolves once no pass is scheduled or running (for tests). */
  async idle(): Promise<void> {
    for (;;) {
      if (this.scheduled) await new Promise((r) => setImmediate(r));
      else if (this.pass) await this.pass;
      else return;
    }
  }

  /** Schedules one pass (several kicks before it runs make one pass). */
  kick(): void {
    if (this.stopped) return;
    this.pending = true;
    if (this.pass || this.scheduled) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = undefined;
      this.pass = this.drain().finally(() => (this.pass = undefined));
    });
  }

  private async drain(): Promise<void> {
    while (this.pending && !this.stopped) {
      this.pending = false;
      try {
        await this.tick();
        this.lastError = '';
      } catch (e) {
        this.lastError = (e as Error).message;
      }
    }
  }

  /**
   * Subscribes to the five informers (each replays what it holds as adds); every change schedules a
   * pass. After a resync (the informer listed again) every unaddressed instance is tried again.
   */
  private async subscribe(): Promise<void> {
    const follow = async <T extends StoredObject>(kind: Kind, on: { add?(o: T): void; delete?(o: T): void; change?(before: T | undefined, after: T | undefined): void }) => {
      this.subs.push(await this.informers.of<T>(kind).use({
        add: (o) => {
          on.add?.(o);
          on.change?.(undefined, o);
          this.kick();
        },
        update: (old, o) => {
          on.change?.(old, o);
          this.kick();
        },
        delete: (o) => {
          on.delete?.(o);
          on.change?.(o, undefined);
          this.kick();
        },
        resync: () => {
          this.retryAll = true;
          this.kick();
        },
      }));
    };
    await follow<StoredObject>(projectKind, { add: (p) => this.freshProjects.add(p.metadata.name) });
    await follow<Network>(networkKind, { delete: (n) => this.deletedNetworks.push(n), change: () => (this.retryAll = true) });
    await follow<Instance>(instanceKind, { delete: (i) => this.deletedInstances.push(i), change: (before, after) => this.track(before, after) });
    // a node that changes networking mode: instances bound there wait for (or no longer need) an address
    await follow<Node>(nodeKind, {
      change: (before, after) => {
        if (nodeNetworking(before) !== nodeNetworking(after)) this.retryAll = true;
      },
    });
    await follow<Service>(serviceKind, { delete: (s) => this.vips.onDelete(s) });
  }

  private track(before: Instance | undefined, after: Instance | undefined): void {
    // an instance with host networking needs no address in its network, nor does its node for it
    const placed = (i: Instance | undefined) => (i?.status?.node && !isHostNetworked(i) ? [`${i.metadata.project}/${instanceNetwork(i.spec)}`, i.status.node] as const : undefined);
    const was = placed(before);
    const now = placed(after);
    if (was?.[0] !== now?.[0] || was?.[1] !== now?.[1]) {
      if (was) {
        const m = this.placements.get(was[0])!;
        const n = m.get(was[1])! - 1;
        if (n > 0) m.set(was[1], n);
        else m.delete(was[1]);
        if (m.size === 0) this.placements.delete(was[0]);
      }
      if (now) {
        const m = this.placements.get(now[0]) ?? new Map<string, number>();
        this.placements.set(now[0], m.set(now[1], (m.get(now[1]) ?? 0) + 1));
      }
    }
    const key = keyOf((after ?? before)!);
    const count = (i: Instance | undefined, by: number) => {
      if (!i || instanceNetwork(i.spec) !== DEFAULT_NETWORK) return;
      const n = (this.waitingForDefault.get(i.metadata.project!) ?? 0) + by;
      if (n > 0) this.waitingForDefault.set(i.metadata.project!, n);
      else this.waitingForDefault.delete(i.metadata.project!);
    };
    count(this.unaddressed.get(key), -1);
    if (after && isHostNetworked(after) && !(before && isHostNetworked(before))) this.hostNetworked.push(after);
    if (after && !after.status?.ip && !isHostNetworked(after) && !FINISHED.has(after.status?.phase ?? 'Pending')) {
      this.unaddressed.set(key, after);
      this.dirty.add(key);
      count(after, 1);
    } else this.unaddressed.delete(key);
  }

  /** One pass: everything that differs from what it should be. Exposed for tests. */
  async tick(): Promise<void> {
    await this.releaseDeleted();
    await this.ensureDefaultNetworks();
    const scan = this.repo.clock.now() - this.lastOrphanScan >= (this.opts.orphanScanMs ?? 60_000);
    await this.allocateNetworks(scan);
    await this.assignAddresses();
    await this.vips.assign(this.networks);
    await this.hostPorts.assign(this.vips.services, this.instances.values(), this.nodes.values());
    await this.attachNodes();
    if (scan) {
      this.lastOrphanScan = this.repo.clock.now();
      await this.releaseOrphans();
      this.full.clear();
      this.retryAll = true;
    }
  }

  private async releaseDeleted(): Promise<void> {
    while (this.hostNetworked.length > 0) {
      const i = this.hostNetworked.shift()!;
      const released = await this.ipam.releaseAddress(i.metadata.project!, instanceNetwork(i.spec), { kind: 'instance', name: i.metadata.name, uid: i.metadata.uid });
      if (released && this.full.delete(`${i.metadata.project}/${instanceNetwork(i.spec)}`)) this.retryAll = true;
    }
    while (this.deletedInstances.length > 0) {
      const i = this.deletedInstances.shift()!;
      this.warned.delete(`nonet:${i.metadata.uid}`);
      this.warned.delete(`full:${i.metadata.uid}`);
      const released = await this.ipam.releaseAddress(i.metadata.project!, instanceNetwork(i.spec), { kind: 'instance', name: i.metadata.name, uid: i.metadata.uid });
      if (released && this.full.delete(`${i.metadata.project}/${instanceNetwork(i.spec)}`)) this.retryAll = true;
    }
    await this.vips.releaseDeleted();
    while (this.deletedNetworks.length > 0) {
      const n = this.deletedNetworks.shift()!;
      const key = keyOf(n);
      for (const k of [...this.emptySince.keys()]) if (k.startsWith(`${key}|`)) this.emptySince.delete(k);
      if (this.networks.has(key)) continue; // created again already: the allocation carries over
      await this.ipam.releaseNetwork(n.metadata.project!, n.metadata.name);
    }
  }

  /**
   * Each project's default network: made at once for a new project (or one an instance needs it
   * in), and again `recreateDelayMs` after it was deleted — not at once, so that a cascade delete
   * of the project is not raced by its own default network coming back.
   */
  private async ensureDefaultNetworks(): Promise<void> {
    const now = this.repo.clock.now();
    const missing = [...this.projects.keys()].filter((project) => !this.networks.has(`${project}/${DEFAULT_NETWORK}`));
    const needed = missing.length > 0 ? this.vips.projectsNeedingDefault(DEFAULT_NETWORK) : new Set<string>();
    for (const p of missing) if (this.waitingForDefault.has(p)) needed.add(p);
    for (const p of [...this.missingSince.keys(), ...this.freshProjects]) {
      if (this.networks.has(`${p}/${DEFAULT_NETWORK}`)) {
        this.missingSince.delete(p);
        this.freshProjects.delete(p);
      }
    }
    for (const project of missing) {
      const urgent = needed.has(project) || (this.freshProjects.has(project) && project !== SYSTEM_PROJECT);
      if (!urgent) {
        if (project === SYSTEM_PROJECT) continue;
        const since = this.missingSince.get(project) ?? now;
        this.missingSince.set(project, since);
        if (now - since < (this.opts.recreateDelayMs ?? 5000)) continue;
      }
      await this.createDefault(project);
    }
    for (const p of [...this.freshProjects]) if (!this.projects.has(p)) this.freshProjects.delete(p);
    for (const p of [...this.missingSince.keys()]) if (!this.projects.has(p)) this.missingSince.delete(p);
  }

  private async createDefault(project: string): Promise<void> {
    try {
      await this.repo.create(networkKind, {
        metadata: { name: DEFAULT_NETWORK, project, owner: { kind: 'project', name: project } },
        spec: { description: `default network of project ${project}` },
      }, { actor: ACTOR });
    } catch (e) {
      if (!(e instanceof StratusError && (e.code === 'STRATUS_ERR_ALREADY_EXISTS' || e.code === 'STRATUS_ERR_NOT_FOUND'))) throw e;
    }
    this.freshProjects.delete(project);
    this.missingSince.delete(project);
  }

  /** Ranges and VNIs for networks that have none; Failed ones are tried again on orphan scans or spec changes. */
  private async allocateNetworks(retryFailed: boolean): Promise<void> {
    for (const net of [...this.networks.values()]) {
      const s = net.status;
      if (s?.phase === 'Ready' && s.vni !== undefined && s.cidr && s.gateway) continue;
      const failedKey = `failed:${keyOf(net)}:${net.metadata.uid}:${net.metadata.generation}`;
      if (s?.phase === 'Failed' && this.warned.has(failedKey) && !retryFailed) continue;
      let status: NetworkStatus;
      try {
        const a = await this.ipam.allocateNetwork(net.metadata.project!, net.metadata.name, net.spec.cidr);
        status = { phase: 'Ready', cidr: a.cidr, gateway: a.gateway, vni: a.vni, nodes: s?.nodes ?? [] };
      } catch (e) {
        if (!(e instanceof ValidationError || e instanceof AddressSpaceExhausted)) throw e;
        const message = e instanceof ValidationError ? (e.problems[0]?.message ?? e.message) : e.message;
        status = { phase: 'Failed', message };
        if (!this.warned.has(failedKey)) {
          this.warned.add(failedKey);
          await this.events?.record({ kind: 'network', name: net.metadata.name, project: net.metadata.project }, 'Warning', 'AllocationFailed', message);
        }
      }
      await this.repo.update<Network>(networkKind, net.metadata.name, net.metadata.project, (cur) => {
        const next: NetworkStatus = status.phase === 'Ready' ? { ...status, nodes: cur.status?.nodes ?? [] } : status;
        if (cur.metadata.uid !== net.metadata.uid || JSON.stringify(cur.status) === JSON.stringify(next)) return undefined;
        return { ...cur, status: next };
      });
    }
  }

  /** status.ip for every instance that lacks one and is not finished. */
  private async assignAddresses(): Promise<void> {
    const keys = this.retryAll ? [...this.unaddressed.keys()] : [...this.dirty].filter((k) => this.unaddressed.has(k));
    this.retryAll = false;
    this.dirty.clear();
    const work: Instance[] = [];
    for (const k of keys) {
      const i = this.unaddressed.get(k)!;
      if (this.hostNetworking(i.status?.node)) continue; // looked at again when its node's mode changes
      // A full network: one warning per waiting instance, without asking the store again.
      if (this.full.has(`${i.metadata.project}/${instanceNetwork(i.spec)}`) && this.warned.has(`full:${i.metadata.uid}`)) continue;
      work.push(i);
    }
    await parallel(work, this.opts.concurrency ?? 8, (i) => this.assignAddress(i)).catch((e: unknown) => {
      this.retryAll = true; // what failed is tried again on the next pass
      throw e;
    });
  }

  private async assignAddress(inst: Instance): Promise<void> {
    const project = inst.metadata.project!;
    const netName = instanceNetwork(inst.spec);
    const net = this.networks.get(`${project}/${netName}`);
    if (!net || net.status?.phase !== 'Ready') {
      if (!net) await this.warnOnce(`nonet:${inst.metadata.uid}`, inst, 'NetworkNotFound', `network "${netName}" does not exist in project "${project}"; the instance waits for it (stratus get networks)`);
      return;
    }
    const netKey = `${project}/${netName}`;
    const full = `network "${netName}" (${net.status.cidr}) has no free address; the instance waits until one is released (delete instances, or put more on a network with a larger cidr)`;
    if (this.full.has(netKey)) return this.warnOnce(`full:${inst.metadata.uid}`, inst, 'NetworkFull', full);
    const owner: Owner = { kind: 'instance', name: inst.metadata.name, uid: inst.metadata.uid };
    let ip: string;
    try {
      ip = await this.ipam.allocateAddress(project, netName, owner);
    } catch (e) {
      if (!(e instanceof AddressSpaceExhausted)) throw e;
      this.full.add(netKey);
      return this.warnOnce(`full:${inst.metadata.uid}`, inst, 'NetworkFull', full);
    }
    const stored = await this.repo.update<Instance>(instanceKind, inst.metadata.name, project, (cur) => {
      if (cur.metadata.uid !== inst.metadata.uid || cur.status?.ip === ip || isHostNetworked(cur) || this.hostNetworking(cur.status?.node)) return undefined;
      return { ...cur, status: { ...(cur.status ?? { phase: 'Pending' as const }), ip } };
    });
    if (!stored || stored.metadata.uid !== inst.metadata.uid || stored.status?.ip !== ip) await this.ipam.releaseAddress(project, netName, owner);
  }

  /** network.status.nodes follows where the network's instances are bound. */
  private async attachNodes(): Promise<void> {
    for (const net of [...this.networks.values()]) {
      // a node with host networking needs no address in the network for what it runs
      if (net.status?.phase === 'Ready') await this.attachNodesOf(net, new Set([...this.placements.get(keyOf(net))?.keys() ?? []].filter((n) => !this.hostNetworking(n))));
    }
  }

  private async attachNodesOf(net: Network, want: Set<string>): Promise<void> {
    const key = keyOf(net);
    const now = this.repo.clock.now();
    const current = net.status?.nodes ?? [];
    const add = [...want].filter((n) => !current.some((c) => c.node === n));
    const remove: string[] = [];
    for (const c of current) {
      const k = `${key}|${c.node}`;
      if (want.has(c.node)) this.emptySince.delete(k);
      else if (!this.emptySince.has(k)) this.emptySince.set(k, now);
      else if (now - this.emptySince.get(k)! >= (this.opts.nodeReleaseDelayMs ?? 30_000)) remove.push(c.node);
    }
    const moved = current.some((c) => this.underlayOf(c.node) !== c.underlay);
    if (add.length === 0 && remove.length === 0 && !moved) return;
    const project = net.metadata.project!;
    const added = new Map<string, string>();
    for (const n of add) added.set(n, await this.ipam.allocateAddress(project, net.metadata.name, { kind: 'node', name: n }));
    await this.repo.update<Network>(networkKind, net.metadata.name, project, (cur) => {
      if (cur.metadata.uid !== net.metadata.uid || cur.status?.phase !== 'Ready') return undefined;
      const kept = (cur.status.nodes ?? []).filter((c) => !remove.includes(c.node) && !added.has(c.node));
      const nodes = [...kept.map((c) => ({ node: c.node, address: c.address })), ...[...added].map(([node, address]) => ({ node, address }))]
        .map((c) => {
          const underlay = this.underlayOf(c.node);
          return underlay ? { ...c, underlay } : c;
        })
        .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
      return { ...cur, status: { ...cur.status, nodes } };
    });
    for (const n of remove) {
      this.emptySince.delete(`${key}|${n}`);
      await this.ipam.releaseAddress(project, net.metadata.name, { kind: 'node', name: n });
    }
  }

  /** Whether `node` runs instances with host networking now (its agent says so in its Networking condition). */
  private hostNetworking(node: string | undefined): boolean {
    return node !== undefined && nodeNetworking(this.nodes.get(node)) === 'host';
  }

  /** The node's VXLAN endpoint, as its agent reports it (node.status.addresses, type "underlay"). */
  private underlayOf(node: string): string | undefined {
    return this.nodes.get(node)?.status?.addresses?.find((a) => a.type === 'underlay')?.address;
  }

  /** Level-triggered clean-up of what missed deletes left (the controller was down, a write failed). */
  private async releaseOrphans(): Promise<void> {
    for (const net of [...this.networks.values()]) {
      const project = net.metadata.project!;
      if (!this.projects.has(project) && !(await this.repo.find(projectKind, project))) {
        await this.repo.delete(networkKind, net.metadata.name, project).catch(() => undefined);
        continue;
      }
      if (net.status?.phase !== 'Ready') continue;
      await this.ipam.releaseOrphans(project, net.metadata.name, (owner) => this.alive(net, owner));
    }
    for (const { project, network } of await this.ipam.allocations()) {
      if (this.networks.has(`${project}/${network}`) || (await this.repo.find(networkKind, network, project))) continue;
      await this.ipam.releaseNetwork(project, network);
    }
  }

  private alive(net: Network, owner: Owner): boolean {
    if (owner.kind === 'node') return (net.status?.nodes ?? []).some((n) => n.node === owner.name);
    if (owner.kind === 'service') return this.vips.alive(net, owner);
    const i = this.instances.get(`${net.metadata.project}/${owner.name}`);
    // A finished instance (Succeeded, Failed) gives its address back: batch jobs must not fill a network; so does one with host networking.
    return i !== undefined && instanceNetwork(i.spec) === net.metadata.name && (owner.uid === undefined || owner.uid === i.metadata.uid) && !FINISHED.has(i.status?.phase ?? 'Pending') && !isHostNetworked(i);
  }

  private async warnOnce(key: string, inst: Instance, reason: string, message: string): Promise<void> {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    await this.events?.record({ kind: 'instance', name: inst.metadata.name, project: inst.metadata.project }, 'Warning', reason, message);
  }
}

/** Runs `fn` over `items`, at most `limit` at a time; the first error is thrown after all settle. */
async function parallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure;
}
