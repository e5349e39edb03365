/**
 * Service balancers of a node with host networking: one userspace TcpBalancer per host port of a
 * service, listening on every address of the node (127.0.0.1 included), spreading connections
 * over the replicas' host ports. TCP only (the balancer splices streams). The kernel DNAT of the
 * overlay needs the rules and addresses this mode does not have.
 */
import { TcpBalancer, type Algorithm, type ProxyBackend } from './balancer.js';
import type { TrafficReading } from './traffic.js';

export interface HostService {
  /** "<project>/<service>" */
  key: string;
  algorithm: Algorithm;
  /** Each TCP host port of the service and the replicas behind it (those taking new connections). */
  ports: { hostPort: number; backends: ProxyBackend[] }[];
}

export interface HostServicesOptions {
  /** Where the balancers listen. Default 0.0.0.0 (every address of the node). */
  host?: string;
  log: (message: string) => void;
}

export class HostServices {
  /** "<hostPort>" → its balancer and what it balances. */
  private readonly listeners = new Map<number, { balancer: TcpBalancer; key: string; algorithm: Algorithm }>();
  /** Host ports that could not be listened on, with why (logged once). */
  private readonly failed = new Map<number, string>();

  constructor(private readonly options: HostServicesOptions) {}

  /**
   * Replaces the services balanced here: starts a balancer for each new host port, sets the
   * backends of the others, stops those no longer wanted (their open connections are cut). A
   * port that cannot be listened on (taken by another process) is reported and skipped; the next
   * call tries again. Idempotent; calls must not overlap.
   */
  async set(services: readonly HostService[]): Promise<void> {
    const wanted = new Map<number, { key: string; algorithm: Algorithm; backends: ProxyBackend[] }>();
    for (const s of services) for (const p of s.ports) wanted.set(p.hostPort, { key: s.key, algorithm: s.algorithm, backends: p.backends });
    for (const [port, l] of [...this.listeners]) {
      const w = wanted.get(port);
      if (w && w.key === l.key && w.algorithm === l.algorithm) continue;
      this.listeners.delete(port);
      await l.balancer.stop();
    }
    for (const [port, w] of wanted) {
      let l = this.listeners.get(port);
      if (!l) {
        const balancer = new TcpBalancer({ host: this.options.host ?? '0.0.0.0', port, algorithm: w.algorithm });
        try {
          await balancer.start();
        } catch (e) {
          const why = (e as Error).message;
          if (this.failed.get(port) !== why) this.options.log(`service ${w.key}: cannot listen on host port ${port}: ${why}`);
          this.failed.set(port, why);
          continue;
        }
        this.failed.delete(port);
        l = { balancer, key: w.key, algorithm: w.algorithm };
        this.listeners.set(port, l);
      }
      l.balancer.setBackends(w.backends);
    }
  }

  /** Connections each listener accepted (traffic.ts). */
  traffic(): TrafficReading[] {
    return [...this.listeners].map(([port, l]) => ({ source: `host ${port}`, service: l.key, value: l.balancer.counters.accepted }));
  }

  /** Host ports listened on now (for tests and status). */
  ports(): number[] {
    return [...this.listeners.keys()].sort((a, b) => a - b);
  }

  async close(): Promise<void> {
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map((l) => l.balancer.stop()));
  }
}
