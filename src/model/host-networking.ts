/**
 * Host networking, as both sides read it. A node without overlay networking (no root, no
 * nftables, `--network host`) runs instances in its own network: each declared port gets a host
 * port, `status.hostNetwork` lists them and `status.ip` is the node's address. Health checks,
 * service balancers and port-forward reach a declared port there, at its host port.
 */
import type { Instance } from './kinds/instance.js';
import type { Node } from './kinds/node.js';

/** Whether the instance runs in its node's network (set by the agent when it starts it so). */
export function isHostNetworked(i: Pick<Instance, 'status'>): boolean {
  return i.status?.hostNetwork !== undefined;
}

/** The host port a declared port of a host-networked instance listens on; undefined otherwise. */
export function hostPortOf(i: Pick<Instance, 'status'>, port: number, protocol: 'tcp' | 'udp' = 'tcp'): number | undefined {
  return i.status?.hostNetwork?.ports.find((p) => p.port === port && p.protocol === protocol)?.hostPort;
}

/**
 * Where a port of the instance is reached: its address (the node's, in host networking; from its
 * own node, `local`, 127.0.0.1 there, where the workload surely listens) or 127.0.0.1 when it has
 * none, at the port's host port in host networking (a port it does not declare: as is).
 */
export function instanceEndpoint(i: Pick<Instance, 'status'>, port: number, local = false): { host: string; port: number } {
  const host = local && isHostNetworked(i) ? '127.0.0.1' : i.status?.ip ?? '127.0.0.1';
  return { host, port: hostPortOf(i, port) ?? port };
}

/** How a node runs instances now, from the Networking condition its agent reports; undefined before it says. */
export function nodeNetworking(n: Pick<Node, 'status'> | undefined): 'overlay' | 'host' | undefined {
  const reason = n?.status?.conditions?.find((c) => c.type === 'Networking')?.reason;
  return reason === 'overlay' || reason === 'host' ? reason : undefined;
}
