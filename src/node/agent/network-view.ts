/**
 * What a node's networking reads from the control plane, and the pure derivations from it:
 * informers (list + watch through the API) of instances, networks, security groups and
 * services, and the functions that turn objects into NodeNetworking inputs (network config with
 * peers, DNS records, published ports, policy endpoints, service definitions).
 */
import { ResyncError, type ApiClient, type WatchMessage } from '../../client/index.js';
import type { Instance } from '../../model/kinds/instance.js';
import { SERVICE_LABEL, servicePortsOf, type Service } from '../../model/kinds/service.js';
import { isTrue } from '../../model/conditions.js';
import { instanceNetwork, type Network } from '../../model/kinds/network.js';
import type { SecurityGroup } from '../../model/kinds/security-group.js';
import { FINISHED } from '../../model/lifecycle.js';
import type { NetworkConfig } from '../network/types.js';
import type { FwServicePort, PublishedPort } from '../network/firewall.js';
import type { BackendProbe, ServiceBackend, ServiceDefinition, ServiceHealth } from '../network/node.js';
import type { HealthCheck } from '../../model/health.js';
import { PolicyResolver, type Endpoint, type GroupInfo, type IngressPolicy } from '../network/policy.js';
import { isHostNetworked } from '../../model/host-networking.js';

interface Named {
  metadata: { name: string; project?: string; uid: string };
}

/** An instance attached on this node: enough to compute its rules when the informer lags. */
export interface Attached {
  inst: Instance;
  vni: number;
  ip: string;
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

  /**
   * Lists, then follows; starts over after a resync (at once, unless the last one was less than a
   * second ago) or an error (after a second). Resolves when `signal` aborts.
   */
  async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    let lastResync = -Infinity;
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
        const resync = e instanceof ResyncError;
        // a resync is no failure: a node's watches start over whenever it starts hosting another project
        if (resync && Date.now() - lastResync > 1000) {
          lastResync = Date.now();
          continue;
        }
        if (!resync && failures++ % 30 === 0) this.log(`watching ${this.path}: ${(e as Error).message}`);
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

/** The informer's copy of `o`, if it is the same object (same uid): it may be newer than the caller's. */
export function latestOf<T extends Named>(informer: Informer<T>, o: T): T | undefined {
  const latest = informer.items.get(keyOf(o));
  return latest?.metadata.uid === o.metadata.uid ? latest : undefined;
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

/** Whether the instance holds an address in its network worth naming (it has one, is not finished, and runs in a network of its own, not its node's). */
export function addressed(i: Instance): boolean {
  return i.status?.ip !== undefined && !FINISHED.has(i.status.phase) && !isHostNetworked(i);
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

/** The network a service's address and replicas are in: that of its template. */
export function serviceNetwork(s: Service): string {
  return instanceNetwork(s.spec.template.spec);
}

/** DNS names of a network: each service of it with an address → that address. */
export function serviceRecordsOf(services: Iterable<Service>, project: string, network: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of services) {
    if (s.metadata.project === project && serviceNetwork(s) === network && s.status?.address) out[s.metadata.name] = s.status.address;
  }
  return out;
}

/**
 * The service as this node balances it, or undefined when it has no address or no port yet.
 * `vni`: its network's, which must be present on this node. `replicas`: instances labelled as
 * the service's (SERVICE_LABEL) in its project; those of its network that run with an address
 * and are Ready are its backends, those the service controller marks Draining stay listed as
 * draining (no new connections).
 */
export function serviceDefinitionOf(s: Service, vni: number, replicas: Iterable<Instance>): ServiceDefinition | undefined {
  const vip = s.status?.address;
  const ports = servicePorts(s);
  if (!vip || ports.length === 0) return undefined;
  const health = serviceHealth(s, ports);
  return {
    key: keyOf(s), vni, vip, algorithm: s.spec.loadBalancer?.algorithm ?? 'round-robin', ports,
    backends: backendsOf(s, replicas, ports, health), ...(health ? { health } : {}),
  };
}

export function servicePorts(s: Service): FwServicePort[] {
  return servicePortsOf(s.spec).map((p) => ({
    port: p.port, targetPort: p.targetPort ?? p.port, protocol: p.protocol ?? 'tcp', ...(p.publish !== undefined ? { publish: p.publish } : {}),
  }));
}

/** Instances by the service they are replicas of ("<project>/<service>"). */
export function replicasByService(instances: Iterable<Instance>): Map<string, Instance[]> {
  const out = new Map<string, Instance[]>();
  for (const i of instances) {
    const svc = i.metadata.labels?.[SERVICE_LABEL];
    if (svc === undefined) continue;
    const k = `${i.metadata.project}/${svc}`;
    const list = out.get(k);
    if (list) list.push(i);
    else out.set(k, [i]);
  }
  return out;
}

function backendsOf(s: Service, replicas: Iterable<Instance>, ports: readonly FwServicePort[], health: ServiceHealth | undefined): ServiceBackend[] {
  const network = serviceNetwork(s);
  const shared = health ? JSON.stringify({ probe: health.probe, port: health.port }) : undefined;
  const out: ServiceBackend[] = [];
  for (const i of replicas) {
    if (i.metadata.project !== s.metadata.project || i.metadata.labels?.[SERVICE_LABEL] !== s.metadata.name || instanceNetwork(i.spec) !== network) continue;
    const st = i.status;
    if (st?.phase !== 'Running' || !st.ip || isHostNetworked(i)) continue; // host-networked: balanced on the service's host ports
    if (isTrue(st.conditions, 'Draining')) {
      out.push({ ip: st.ip, draining: true });
    } else if (isTrue(st.conditions, 'Ready')) {
      // a replica of another version (a rollout) may be checked differently: probe it as it is
      const own = probeOf(i.spec.health, ports);
      out.push({ ip: st.ip, ...(own && shared !== undefined && JSON.stringify(own) !== shared ? { probe: own } : {}) });
    }
  }
  return out.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
}

/** Default interval of the node's own probes of a service without an interval of its own (as an instance check's). */
export const DEFAULT_PROBE_INTERVAL_MS = 10_000;

/**
 * What a node probes on a replica: its http or tcp health check; for a command check or none, a
 * TCP connect to the first TCP target port. Undefined for UDP ports only and no such check.
 */
export function probeOf(h: HealthCheck | undefined, ports: readonly FwServicePort[]): BackendProbe | undefined {
  if (h?.http) return { probe: { type: 'http', path: h.http.path ?? '/' }, port: h.http.port };
  if (h?.tcp) return { probe: { type: 'tcp' }, port: h.tcp.port };
  const tcp = ports.find((p) => p.protocol === 'tcp');
  return tcp ? { probe: { type: 'tcp' }, port: tcp.targetPort } : undefined;
}

/**
 * How every node probes the service's backends itself, so that a dead one leaves its balancers
 * within one interval without a round trip through the control plane: the template's probe
 * (probeOf), with its check's interval and timeout.
 */
export function serviceHealth(s: Service, ports: readonly FwServicePort[]): ServiceHealth | undefined {
  const h = s.spec.template.spec.health;
  const probe = probeOf(h, ports);
  if (!probe) return undefined;
  return { ...probe, intervalMs: h?.interval !== undefined ? h.interval * 1000 : DEFAULT_PROBE_INTERVAL_MS, timeoutMs: (h?.timeout ?? 2) * 1000 };
}

/** The services of every network present (ensured, with a local instance) on this node. */
export function serviceDefinitionsOf(attached: Iterable<Attached>, ensured: ReadonlyMap<number, unknown>, services: Iterable<Service>, instances: Iterable<Instance>): ServiceDefinition[] {
  const present = new Map<string, number>();
  for (const a of attached) {
    if (ensured.has(a.vni)) present.set(`${a.inst.metadata.project}/${instanceNetwork(a.inst.spec)}`, a.vni);
  }
  const replicas = replicasByService(instances);
  const out: ServiceDefinition[] = [];
  for (const s of services) {
    const vni = present.get(`${s.metadata.project}/${serviceNetwork(s)}`);
    const def = vni === undefined ? undefined : serviceDefinitionOf(s, vni, replicas.get(keyOf(s)) ?? []);
    if (def) out.push(def);
  }
  return out;
}

/** Security groups → ingress per local (attached) instance; group sources resolve to addresses on every node. */
export function policiesOf(attached: ReadonlyMap<string, Attached>, instances: Iterable<Instance>, groups: Iterable<SecurityGroup>): Map<string, IngressPolicy | undefined> {
  const projects = new Set([...attached.values()].map((a) => a.inst.metadata.project!));
  const endpoints = new Map<string, Endpoint>();
  for (const i of instances) {
    if (projects.has(i.metadata.project!) && addressed(i)) endpoints.set(i.metadata.uid, endpointOf(i, i.status!.ip!));
  }
  for (const a of attached.values()) endpoints.set(a.inst.metadata.uid, endpointOf(a.inst, a.ip));
  const infos = [...groups].filter((g) => projects.has(g.metadata.project!)).map(groupInfo);
  const resolver = new PolicyResolver([...endpoints.values()], infos);
  return new Map([...attached.entries()].map(([uid, a]) => [uid, resolver.ingressFor(endpointOf(a.inst, a.ip))]));
}
