/**
 * What a node's networking reads from the control plane, and the pure derivations from it:
 * informers (list + watch through the API) of instances, networks and security groups, and the
 * functions that turn objects into NodeNetworking inputs (network config with peers, DNS
 * records, published ports, policy endpoints).
 */
import { ResyncError, type ApiClient, type WatchMessage } from '../client/index.js';
import type { Instance } from '../model/kinds/instance.js';
import { instanceNetwork, type Network } from '../model/kinds/network.js';
import type { SecurityGroup } from '../model/kinds/security-group.js';
import { FINISHED } from '../model/lifecycle.js';
import type { NetworkConfig } from '../network/types.js';
import type { PublishedPort } from '../network/firewall.js';
import type { Endpoint, GroupInfo } from '../network/policy.js';

interface Named {
  metadata: { name: string; project?: string; uid: string };
}

/** "<project>/<name>" */
export const keyOf = (o: Named): string => `${o.metadata.project ?? ''}/${o.metadata.name}`;

/** A list + watch of one collection, kept in memory; calls `onChange` after every change. */
export class Informer<T extends Named> {
  readonly items = new Map<string, T>();
  private loaded = false;

  constructor(
    private readonly api: ApiClient,
    private readonly path: string,
    private readonly onChange: () => void,
    private readonly log: (msg: string) => void,
  ) {}

  get synced(): boolean {
    return this.loaded;
  }

  /** Lists, then follows; starts over after a resync or an error. Resolves when `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        const { items, revision } = await this.api.listAll<T>(this.path);
        this.items.clear();
        for (const o of items) this.items.set(keyOf(o), o);
        this.loaded = true;
        failures = 0;
        this.onChange();
        await this.api.watch(this.path, revision, {}, (m) => this.apply(m), signal);
      } catch (e) {
        if (signal.aborted) return;
        if (!(e instanceof ResyncError) && failures++ % 30 === 0) this.log(`watching ${this.path}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  private apply(m: WatchMessage): void {
    if ((m.type !== 'put' && m.type !== 'delete') || !m.object) return;
    const o = m.object as unknown as T;
    if (m.type === 'delete') this.items.delete(keyOf(o));
    else this.items.set(keyOf(o), o);
    this.onChange();
  }
}

/** Why the network cannot be used on `node` yet, or undefined when it can. */
export function notReady(net: Network | undefined, project: string, name: string, node: string): string | undefined {
  if (!net) return `network "${name}" of project "${project}" does not exist`;
  const s = net.status;
  if (s?.phase !== 'Ready' || s.vni === undefined || !s.cidr || !s.gateway) {
    return `network ${project}/${name} is ${s?.phase ?? 'Pending'}${s?.message ? `: ${s.message}` : ''}`;
  }
  if (!s.nodes?.some((n) => n.node === node)) return `waiting for node ${node}'s address in network ${project}/${name}`;
  return undefined;
}

/** The network as this node sets it up: its own address, and the other nodes with an underlay as VXLAN peers. */
export function configOf(net: Network, node: string): NetworkConfig {
  const s = net.status!;
  const project = net.metadata.project!;
  const me = s.nodes!.find((n) => n.node === node)!;
  const peers = (s.nodes ?? [])
    .filter((n) => n.node !== node && n.underlay)
    .map((n) => ({ underlay: n.underlay!, address: n.address }));
  return { project, name: net.metadata.name, vni: s.vni!, cidr: s.cidr!, gateway: s.gateway!, nodeAddress: me.address, peers, search: [zoneOf(project)] };
}

/** The DNS zone of a project's names: "web.<project>.stratus". */
export function zoneOf(project: string): string {
  return `${project}.stratus`;
}

/** Whether the instance holds an address worth naming (it has one and is not finished). */
export function addressed(i: Instance): boolean {
  return i.status?.ip !== undefined && !FINISHED.has(i.status.phase);
}

/** DNS names of a network: each addressed instance of it → its address. */
export function recordsOf(instances: Iterable<Instance>, project: string, network: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const i of instances) {
    if (i.metadata.project === project && instanceNetwork(i.spec) === network && addressed(i)) out[i.metadata.name] = i.status!.ip!;
  }
  return out;
}

/** Host ports to forward to an instance at `ip`. */
export function publishedOf(spec: Instance['spec'], ip: string): PublishedPort[] {
  return (spec.ports ?? []).flatMap((p) => (p.publish === undefined ? [] : [{ hostPort: p.publish, protocol: p.protocol ?? 'tcp', ip, port: p.port }]));
}

export function endpointOf(i: { metadata: { name: string; project?: string; labels?: Record<string, string> } }, ip: string): Endpoint {
  return { project: i.metadata.project!, name: i.metadata.name, ip, ...(i.metadata.labels ? { labels: i.metadata.labels } : {}) };
}

export function groupInfo(g: SecurityGroup): GroupInfo {
  return { project: g.metadata.project!, name: g.metadata.name, spec: g.spec };
}
