/**
 * Host networking on a node (no overlay: not root, no nftables, `--network host`): instances share
 * the node's network. NetworkSync (network.ts) uses it for every instance it starts so, also after
 * the node switched to overlay networking (those keep running as they are).
 *
 *   prepare   each declared port gets a host port (its `publish` port, else a free one: HostPorts;
 *             the one it had before where still free) → env PORT (the first), PORT_<port>,
 *             STRATUS_PORT_<NAME> for a named port (Nomad's NOMAD_PORT_<label>);
 *             the services of its project with host ports → env <NAME>_SERVICE_HOST (127.0.0.1),
 *             <NAME>_SERVICE_PORT (the first host port), <NAME>_SERVICE_PORT_<port> (Kubernetes'
 *             names; the workload's own env wins); status { ip: the node's address, hostNetwork }
 *   refresh   every service with host ports (service.status.hostPorts, from the network controller)
 *             is balanced on them (HostServices) over its Ready host-networked replicas, at their
 *             host ports (this node's own at 127.0.0.1, the others at their address)
 *   released  the instance's host ports go back
 */
import type { Instance, InstanceStatus } from '../../model/kinds/instance.js';
import type { Service } from '../../model/kinds/service.js';
import { isTrue } from '../../model/conditions.js';
import { hostPortOf, instanceEndpoint, isHostNetworked } from '../../model/host-networking.js';
import { HostPorts } from '../network/capabilities.js';
import { HostServices, type HostService } from '../network/host-services.js';
import type { ProxyBackend } from '../network/balancer.js';
import type { TrafficReading } from '../network/traffic.js';
import { keyOf, servicePorts } from './network-view.js';
import { SERVICE_LABEL } from '../../model/kinds/service.js';

export interface HostPrepared {
  env: Record<string, string>;
  status: Pick<InstanceStatus, 'ip' | 'hostNetwork'>;
}

export class HostNetworking {
  private readonly ports: HostPorts;
  private readonly balancers: HostServices;

  /** `address`: the node's (hostAddress()), written as the instances' status.ip; none: they have none. */
  constructor(private readonly node: string, private readonly address: string | undefined, log: (msg: string) => void, ports = new HostPorts()) {
    this.ports = ports;
    this.balancers = new HostServices({ log });
  }

  async prepare(inst: Instance, services: Iterable<Service>): Promise<HostPrepared> {
    const declared = inst.spec.ports ?? [];
    const before = new Map((inst.status?.hostNetwork?.ports ?? []).map((p) => [p.port, p.hostPort]));
    const held = await this.ports.allocate(inst.metadata.uid, declared, before);
    const env = { ...HostPorts.env(held), ...namedPortEnv(declared, held), ...serviceEnv(services, inst) };
    const ports = declared.map((p) => ({ port: p.port, protocol: p.protocol ?? 'tcp', hostPort: held.get(p.port)! }));
    return { env, status: { ip: this.address, hostNetwork: { ports } } };
  }

  released(uid: string): void {
    this.ports.release(uid);
  }

  /** After an agent restart: the host ports of what runs here stay theirs. */
  adopt(instances: Iterable<Instance>): void {
    for (const i of instances) {
      if (i.status?.node === this.node && isHostNetworked(i)) this.ports.adopt(i.metadata.uid, new Map(i.status!.hostNetwork!.ports.map((p) => [p.port, p.hostPort])));
    }
  }

  /** Balances each service with host ports over its Ready host-networked replicas. Calls must not overlap. */
  refresh(services: Iterable<Service>, replicas: ReadonlyMap<string, Instance[]>): Promise<void> {
    const defs: HostService[] = [];
    for (const s of services) {
      const def = hostServiceOf(s, replicas.get(keyOf(s)) ?? [], this.node);
      if (def) defs.push(def);
    }
    return this.balancers.set(defs);
  }

  /** Connections its balancers accepted, per host port (network/traffic.ts). */
  traffic(): TrafficReading[] {
    return this.balancers.traffic();
  }

  /** Host ports balanced here now. */
  listening(): number[] {
    return this.balancers.ports();
  }

  close(): Promise<void> {
    return this.balancers.close();
  }
}

/**
 * The service as a node with host networking balances it: each TCP port with a host port, over
 * the replicas that run host-networked and are Ready (not Draining), at the host port of the
 * target port. Undefined without host ports.
 */
export function hostServiceOf(s: Service, replicas: Iterable<Instance>, node: string): HostService | undefined {
  const hostPorts = s.status?.hostPorts ?? [];
  if (hostPorts.length === 0) return undefined;
  const ready = [...replicas].filter((i) => i.metadata.project === s.metadata.project && i.metadata.labels?.[SERVICE_LABEL] === s.metadata.name
    && isHostNetworked(i) && i.status?.phase === 'Running' && isTrue(i.status.conditions, 'Ready') && !isTrue(i.status.conditions, 'Draining')
    && (i.status.node === node || i.status.ip !== undefined));
  const ports = servicePorts(s).flatMap((p) => {
    const hostPort = hostPorts.find((h) => h.port === p.port && h.protocol === p.protocol)?.hostPort;
    if (hostPort === undefined || p.protocol !== 'tcp') return [];
    const backends: ProxyBackend[] = ready.flatMap((i) => (hostPortOf(i, p.targetPort) === undefined ? [] : [instanceEndpoint(i, p.targetPort, i.status!.node === node)]));
    return [{ hostPort, backends: backends.sort((a, b) => `${a.host}:${a.port}`.localeCompare(`${b.host}:${b.port}`)) }];
  });
  return { key: keyOf(s), algorithm: s.spec.loadBalancer?.algorithm ?? 'round-robin', ports };
}

/** STRATUS_PORT_<NAME> (upper case, "-" → "_") → the host port of each named port. */
export function namedPortEnv(declared: readonly { name?: string; port: number }[], held: ReadonlyMap<number, number>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of declared) if (p.name !== undefined) env[`STRATUS_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(held.get(p.port)!);
  return env;
}

/** Kubernetes' service variables for the services of the instance's project that have host ports. */
export function serviceEnv(services: Iterable<Service>, inst: Instance): Record<string, string> {
  const env: Record<string, string> = {};
  for (const s of services) {
    const hostPorts = s.status?.hostPorts ?? [];
    if (s.metadata.project !== inst.metadata.project || hostPorts.length === 0) continue;
    const name = s.metadata.name.toUpperCase().replace(/-/g, '_');
    env[`${name}_SERVICE_HOST`] = '127.0.0.1';
    env[`${name}_SERVICE_PORT`] = String(hostPorts[0]!.hostPort);
    for (const h of hostPorts) env[`${name}_SERVICE_PORT_${h.port}`] = String(h.hostPort);
  }
  for (const k of Object.keys(inst.spec.env ?? {})) delete env[k];
  return env;
}
