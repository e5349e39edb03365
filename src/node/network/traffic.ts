/**
 * Per-service traffic on a node: how many connections reached each service's load balancer here,
 * as cumulative counters the agent reports (model/usage.ts ServiceTraffic; the autoscaler's
 * connections-per-second comes from them).
 *
 * What is counted, and where (connections, never HTTP requests: nothing here parses HTTP, and a
 * keep-alive client sends many requests on one connection):
 *   kernel DNAT (round-robin)    a named nftables counter per service port (firewall.ts
 *                                serviceCounter), in the rule of the service's nat chain, which sees
 *                                only the first packet of each connection: one packet per new
 *                                connection (a new UDP flow for UDP ports), from this node's
 *                                instances, the node itself and its published ports
 *   userspace (least-connections, host networking)   TcpBalancer.counters.accepted per listener
 *
 * Readings are per source (a counter, a listener); TrafficTotals turns them into one cumulative
 * count per service that never goes down: a source read lower than before was re-created (a full
 * ruleset reload, a balancer restarted) and counts from zero again; a source seen for the first
 * time (a new service, or everything after an agent restart) is a baseline and adds nothing, so a
 * restarted agent does not report the kernel's whole count as new connections.
 */
import type { ServiceTraffic } from '../../model/usage.js';

export interface TrafficReading {
  /** What was read: a counter's or a listener's name. */
  source: string;
  /** "<project>/<service>" */
  service: string;
  /** Connections since the source was made. */
  value: number;
}

/** The readings of `nft -j list counters table ip <table>` for the counters in `names` (counter → service key). */
export function readCounters(json: string, names: ReadonlyMap<string, string>): TrafficReading[] {
  let items: { counter?: { name?: string; packets?: number } }[];
  try {
    items = (JSON.parse(json) as { nftables?: typeof items }).nftables ?? [];
  } catch {
    return [];
  }
  const out: TrafficReading[] = [];
  for (const { counter } of items) {
    const service = counter?.name === undefined ? undefined : names.get(counter.name);
    if (service !== undefined && typeof counter!.packets === 'number') out.push({ source: counter!.name!, service, value: counter!.packets });
  }
  return out;
}

export class TrafficTotals {
  private readonly last = new Map<string, { service: string; value: number }>();
  private readonly totals = new Map<string, number>();

  /**
   * Folds in the readings of now; returns the cumulative connections of each service some source
   * counts now. Sources not read now are forgotten (their count stays in their service's total).
   */
  observe(readings: readonly TrafficReading[]): ServiceTraffic[] {
    const seen = new Set<string>();
    const services = new Set<string>();
    for (const r of readings) {
      const prev = this.last.get(r.source);
      const increase = prev === undefined || prev.service !== r.service ? 0 : r.value >= prev.value ? r.value - prev.value : r.value;
      this.last.set(r.source, { service: r.service, value: r.value });
      this.totals.set(r.service, (this.totals.get(r.service) ?? 0) + increase);
      seen.add(r.source);
      services.add(r.service);
    }
    for (const source of [...this.last.keys()]) if (!seen.has(source)) this.last.delete(source);
    for (const service of [...this.totals.keys()]) if (!services.has(service)) this.totals.delete(service);
    return [...services].sort().map((key) => {
      const [project, service] = key.split('/') as [string, string];
      return { project, service, connections: this.totals.get(key)! };
    });
  }
}
