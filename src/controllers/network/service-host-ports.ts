/**
 * Services' host ports, for nodes with host networking: the part of the network controller that
 * says where a service answers when its replicas share their nodes' network (no overlay there).
 *
 *   the cluster has a node with host networking → every service gets a host port per port:
 *       its `publish` port, else one from the node-port range chosen here, from the top down
 *       (published ports are usually picked from the bottom), never one that another service
 *       holds or that a service or instance publishes → service.status.hostPorts
 *   ports change                                 → the same host port for a port that stays
 *                                                   (unless a publish port now claims it)
 *   no node with host networking                 → nothing is added; what was chosen stays
 *
 * The agents of those nodes balance each service on its host ports over the replicas' host ports
 * (node/agent/network-hostmode.ts). Like the address, status.hostPorts is written with
 * `repo.update` and touches nothing else.
 */
import type { Repository } from '../../store/repository.js';
import { serviceKind } from '../../model/kinds/index.js';
import { servicePortsOf, type Service } from '../../model/kinds/service.js';
import type { HostPortMapping, Instance } from '../../model/kinds/instance.js';
import type { Node } from '../../model/kinds/node.js';
import { nodeNetworking } from '../../model/host-networking.js';
import type { EventRecorder } from '../../runtime/events.js';
import { DEFAULT_NODE_PORT_RANGE } from '../../policy/platform-admission.js';

export type PortRange = readonly [number, number];

/**
 * The host ports `s` should have: kept where its current ones still fit its ports, `publish`
 * where it asks for one, else the highest port of `range` not in `taken` (which it extends).
 * Undefined when the range has no free port left.
 */
export function hostPortsFor(s: Service, taken: Set<number>, range: PortRange = DEFAULT_NODE_PORT_RANGE): HostPortMapping[] | undefined {
  const current = s.status?.hostPorts ?? [];
  const out: HostPortMapping[] = [];
  for (const p of servicePortsOf(s.spec)) {
    const protocol = p.protocol ?? 'tcp';
    const kept = current.find((c) => c.port === p.port && c.protocol === protocol)?.hostPort;
    let hostPort = p.publish ?? (kept !== undefined && !taken.has(kept) ? kept : undefined);
    for (let port = range[1]; hostPort === undefined && port >= range[0]; port--) if (!taken.has(port)) hostPort = port;
    if (hostPort === undefined) return undefined;
    taken.add(hostPort);
    out.push({ port: p.port, protocol, hostPort });
  }
  return out;
}

/** Whether the service's host ports match its ports (one each, its publish ports where it has them). */
export function settled(s: Service): boolean {
  const ports = servicePortsOf(s.spec);
  const cur = s.status?.hostPorts ?? [];
  return cur.length === ports.length && ports.every((p, i) => cur[i]!.port === p.port && cur[i]!.protocol === (p.protocol ?? 'tcp') && (p.publish === undefined || cur[i]!.hostPort === p.publish));
}

/** Host ports no service may be given: those services hold or publish, and those instances publish. */
export function takenHostPorts(services: Iterable<Service>, instances: Iterable<Instance>, except?: Service): Set<number> {
  const taken = new Set<number>();
  for (const s of services) {
    for (const p of servicePortsOf(s.spec)) if (p.publish !== undefined) taken.add(p.publish);
    if (s.metadata.uid === except?.metadata.uid) continue;
    for (const h of s.status?.hostPorts ?? []) taken.add(h.hostPort);
  }
  for (const i of instances) for (const p of i.spec.ports ?? []) if (p.publish !== undefined) taken.add(p.publish);
  return taken;
}

const same = (a: readonly HostPortMapping[] | undefined, b: readonly HostPortMapping[]) => JSON.stringify(a ?? []) === JSON.stringify(b);

export class ServiceHostPorts {
  /** Services already warned about (no free host port). */
  private readonly warned = new Set<string>();

  constructor(private readonly repo: Repository, private readonly events?: EventRecorder, private readonly range: PortRange = DEFAULT_NODE_PORT_RANGE) {}

  /**
   * While a node of `nodes` has host networking: gives every service that lacks them (or whose
   * ports changed) its host ports; a service the range has none left for gets one warning.
   */
  async assign(services: ReadonlyMap<string, Service>, instances: Iterable<Instance>, nodes: Iterable<Node>): Promise<void> {
    if (![...nodes].some((n) => nodeNetworking(n) === 'host')) return;
    const published = [...instances];
    for (const s of [...services.values()]) {
      if (settled(s)) {
        this.warned.delete(s.metadata.uid);
        continue;
      }
      const want = hostPortsFor(s, takenHostPorts(services.values(), published, s), this.range);
      if (!want) {
        await this.warnOnce(s);
        continue;
      }
      await this.repo.update<Service>(serviceKind, s.metadata.name, s.metadata.project, (cur) => {
        if (cur.metadata.uid !== s.metadata.uid || same(cur.status?.hostPorts, want)) return undefined;
        return { ...cur, status: { ...(cur.status ?? {}), hostPorts: want } };
      });
    }
  }

  private async warnOnce(s: Service): Promise<void> {
    if (this.warned.has(s.metadata.uid)) return;
    this.warned.add(s.metadata.uid);
    await this.events?.record({ kind: 'service', name: s.metadata.name, project: s.metadata.project }, 'Warning', 'NoHostPort',
      `no host port is left in the node-port range ${this.range[0]}-${this.range[1]} for this service: nodes with host networking do not balance it`);
  }
}
