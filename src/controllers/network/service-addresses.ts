/**
 * Services' virtual addresses: the part of the network controller (networks.ts) that gives each
 * service a stable address in its network.
 *
 *   service exists, its network Ready  → Ipam.allocateAddress(owner {service, name, uid}) in the
 *                                        network of its template (spec.template.spec.network, default
 *                                        "default") → service.status.address (re-written if another
 *                                        writer drops it; other status fields are left as they are)
 *   template moves to another network  → a new address there, the old one released
 *   network deleted (address gone)     → status.address removed, a new one once the network is back
 *   service deleted                    → address released (missed deletes: the orphan scan, via alive())
 *
 * The service controller owns the rest of service.status; writes go through `repo.update` so a
 * concurrent status write is retried on, never overwritten.
 */
import type { Repository } from '../../store/repository.js';
import { serviceKind } from '../../model/kinds/index.js';
import type { Service } from '../../model/kinds/service.js';
import { instanceNetwork, type Network } from '../../model/kinds/network.js';
import type { Ipam, Owner } from './ipam.js';
import type { EventRecorder } from '../../runtime/events.js';

/** The network a service's address (and its replicas) live in. */
export const serviceNetwork = (s: Service): string => instanceNetwork(s.spec.template.spec);

const ownerOf = (s: Service): Owner => ({ kind: 'service', name: s.metadata.name, uid: s.metadata.uid });

export class ServiceAddresses {
  private readonly deleted: Service[] = [];
  /** "<service uid>|<network uid>|<address>" already checked against IPAM: skipped until one of them changes. */
  private readonly confirmed = new Set<string>();
  private readonly warned = new Set<string>();

  /** `services`: by "<project>/<name>", kept current by the network controller (the shared service informer's cache). */
  constructor(private readonly repo: Repository, private readonly ipam: Ipam, readonly services: ReadonlyMap<string, Service>, private readonly events?: EventRecorder) {}

  /** Called by the network controller when a service is deleted; its address is released on the next pass. */
  onDelete(s: Service): void {
    this.deleted.push(s);
  }

  /** Projects whose services need their default network. */
  projectsNeedingDefault(defaultNetwork: string): Set<string> {
    return new Set([...this.services.values()].filter((s) => serviceNetwork(s) === defaultNetwork).map((s) => s.metadata.project!));
  }

  async releaseDeleted(): Promise<void> {
    while (this.deleted.length > 0) {
      const s = this.deleted.shift()!;
      for (const k of [...this.confirmed]) if (k.startsWith(`${s.metadata.uid}|`)) this.confirmed.delete(k);
      this.warned.delete(s.metadata.uid);
      await this.ipam.releaseAddress(s.metadata.project!, serviceNetwork(s), ownerOf(s));
    }
  }

  /** status.address for every service, in the network of its template. */
  async assign(networks: ReadonlyMap<string, Network>): Promise<void> {
    for (const s of [...this.services.values()]) {
      const net = networks.get(`${s.metadata.project}/${serviceNetwork(s)}`);
      const address = s.status?.address;
      if (address && net && this.confirmed.has(`${s.metadata.uid}|${net.metadata.uid}|${address}`)) continue;
      if (!net) {
        await this.warnOnce(s, `network "${serviceNetwork(s)}" does not exist in project "${s.metadata.project}"; the service gets its address once it does`);
        if (address) await this.write(s, undefined);
        continue;
      }
      if (net.status?.phase !== 'Ready') continue;
      await this.assignOne(s, net, networks);
    }
  }

  /** Whether an address lease of kind "service" in `net` still has its service (for the orphan scan). */
  alive(net: Network, owner: Owner): boolean {
    const s = this.services.get(`${net.metadata.project}/${owner.name}`);
    return s !== undefined && serviceNetwork(s) === net.metadata.name && (owner.uid === undefined || owner.uid === s.metadata.uid);
  }

  private async assignOne(s: Service, net: Network, networks: ReadonlyMap<string, Network>): Promise<void> {
    const project = s.metadata.project!;
    const owner = ownerOf(s);
    const ip = await this.ipam.allocateAddress(project, net.metadata.name, owner);
    const stored = await this.write(s, ip);
    if (!stored || stored.metadata.uid !== s.metadata.uid) {
      await this.ipam.releaseAddress(project, net.metadata.name, owner); // deleted meanwhile
      return;
    }
    this.warned.delete(s.metadata.uid);
    this.confirmed.add(`${s.metadata.uid}|${net.metadata.uid}|${ip}`);
    if (s.status?.address && s.status.address !== ip) {
      // the template moved to another network: what it held elsewhere in the project goes back
      for (const other of networks.values()) {
        if (other.metadata.project === project && other.metadata.name !== net.metadata.name) await this.ipam.releaseAddress(project, other.metadata.name, owner);
      }
    }
  }

  /** Sets (or, with undefined, removes) status.address on the latest object of the same uid; nothing else. */
  private write(s: Service, ip: string | undefined): Promise<Service | undefined> {
    return this.repo.update<Service>(serviceKind, s.metadata.name, s.metadata.project, (cur) => {
      if (cur.metadata.uid !== s.metadata.uid || cur.status?.address === ip) return undefined;
      const status = { ...(cur.status ?? {}) };
      if (ip === undefined) delete status.address;
      else status.address = ip;
      return { ...cur, status };
    });
  }

  private async warnOnce(s: Service, message: string): Promise<void> {
    if (this.warned.has(s.metadata.uid)) return;
    this.warned.add(s.metadata.uid);
    await this.events?.record({ kind: 'service', name: s.metadata.name, project: s.metadata.project }, 'Warning', 'NetworkNotFound', message);
  }
}
