/**
 * Everything networking an agent runs on its node, behind one object: the dataplane (links,
 * namespaces, nftables), the DNS server on each network's gateway, health checks of service
 * backends, and the userspace balancers of least-connections services. The agent feeds it
 * desired state; it never reads the store. See README "Wiring" for the calls and their order.
 */
import { Dataplane, type AttachedInstance, type AttachedTap, type TapInstanceConfig, type InstanceConfig, type LbAlgorithm, type NetworkConfig, type DataplaneOptions, type Owned, type ServiceConfig } from './dataplane.js';
import { DnsServer, type DnsOptions, type Records } from './dns.js';
import { HealthChecker, type Probe } from './health.js';
import { TcpBalancer } from './balancer.js';
import type { FwServicePort, PublishedPort } from './firewall.js';
import type { IngressPolicy } from './policy.js';
import { hostRunner } from './exec.js';
import type { TrafficReading } from './traffic.js';

export interface ServiceBackend {
  ip: string;
  /** Finishing its open connections, taking no new ones (rolling update, scale-down). */
  draining?: boolean;
  /** This backend's own probe, when it differs from the service's (replicas of another version during a rollout). */
  probe?: BackendProbe;
}

/** What is probed on a backend. */
export interface BackendProbe {
  probe: Probe;
  port: number;
}

/** How a node probes each backend of a service: `probe` on `port` (unless the backend has its own probe), every `intervalMs`. */
export interface ServiceHealth extends BackendProbe {
  intervalMs: number;
  timeoutMs?: number;
}

export interface ServiceDefinition {
  /** "<project>/<service>" */
  key: string;
  vni: number;
  vip: string;
  algorithm: LbAlgorithm;
  ports: FwServicePort[];
  /** Replicas with an address (running, or draining). */
  backends: ServiceBackend[];
  /** Absent: every backend that is not draining takes connections. */
  health?: ServiceHealth;
}

export interface NodeNetworkingOptions extends DataplaneOptions {
  dns?: DnsOptions;
  /** Port of the DNS servers on the gateways. Default 53. */
  dnsPort?: number;
  /** Where failures of background work (applying a health change) are reported. Default: stderr. */
  log?: (message: string) => void;
}

export class NodeNetworking {
  readonly dataplane: Dataplane;
  readonly dns: DnsServer;
  private readonly services = new Map<string, ServiceDefinition>();
  private readonly checkers = new Map<string, { checker: HealthChecker; intervalMs: number }>();
  private readonly proxies = new Map<string, TcpBalancer>();
  private applying: Promise<void> = Promise.resolve();

  constructor(private readonly options: NodeNetworkingOptions) {
    this.dataplane = new Dataplane(options);
    this.dns = new DnsServer(options.dns);
  }

  /** Bridge, VXLAN and peers of the network, and its DNS server on the gateway. */
  async ensureNetwork(net: NetworkConfig): Promise<void> {
    await this.dataplane.ensureNetwork(net);
    await this.dns.listen(String(net.vni), net.gateway, this.options.dnsPort ?? 53);
  }

  async removeNetwork(vni: number): Promise<void> {
    for (const s of [...this.services.values()]) if (s.vni === vni) this.services.delete(s.key);
    await this.apply();
    await this.dns.close(String(vni));
    await this.dataplane.removeNetwork(vni);
  }

  attachInstance(inst: InstanceConfig): Promise<AttachedInstance> {
    return this.dataplane.attachInstance(inst);
  }

  /** A VM: a tap on the bridge instead of a namespace and veth (Dataplane.attachTap). */
  attachTap(inst: TapInstanceConfig): Promise<AttachedTap> {
    return this.dataplane.attachTap(inst);
  }

  detachInstance(id: string): Promise<void> {
    return this.dataplane.detachInstance(id);
  }

  /** After a restart, once everything known was ensured again: removes the rest. */
  cleanupLeftovers(): Promise<Owned> {
    return this.dataplane.cleanupLeftovers();
  }

  setIngress(policies: ReadonlyMap<string, IngressPolicy | undefined>): Promise<void> {
    return this.dataplane.setIngress(policies);
  }

  setPublished(ports: readonly PublishedPort[]): Promise<void> {
    return this.dataplane.setPublished(ports);
  }

  /** Names the network's DNS server answers: services and instances of its project. */
  setRecords(vni: number, records: Records, zones: readonly string[] = []): void {
    this.dns.setRecords(String(vni), records, zones);
  }

  /** Replaces the services with an address on this node (those of the networks present here). */
  async setServices(defs: readonly ServiceDefinition[]): Promise<void> {
    this.services.clear();
    for (const d of defs) this.services.set(d.key, d);
    this.syncHealth();
    await this.apply();
  }

  /** Addresses of the backends of `key` that take new connections now. */
  ready(key: string): string[] {
    const s = this.services.get(key);
    if (!s) return [];
    const checker = this.checkers.get(key)?.checker;
    return s.backends.filter((b) => !b.draining && (!s.health || checker?.isHealthy(`${key}|${b.ip}`))).map((b) => b.ip);
  }

  /**
   * Resolves true once no connection through the service's address is open to `ip` (list it as
   * draining first), false after `timeoutMs`. Kernel-balanced services ask conntrack; without the
   * `conntrack` tool this waits the whole timeout and resolves false.
   */
  async drained(key: string, ip: string, timeoutMs: number): Promise<boolean> {
    const s = this.services.get(key);
    if (!s) return true;
    const deadline = Date.now() + timeoutMs;
    if (s.algorithm === 'least-connections') {
      const waits = s.ports.map((p) => this.proxies.get(`${s.vip}:${p.port}`)?.drained({ host: ip, port: p.targetPort }, timeoutMs) ?? Promise.resolve(true));
      return (await Promise.all(waits)).every(Boolean);
    }
    for (;;) {
      const open = await this.conntrackCount(s.vip, ip);
      if (open === 0) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, Math.min(200, Math.max(1, deadline - Date.now()))));
    }
  }

  /** Connections counted per service port here: kernel counters and the userspace balancers' accepts (traffic.ts). */
  async serviceTraffic(): Promise<TrafficReading[]> {
    const proxied = [...this.services.values()].filter((s) => s.algorithm === 'least-connections').flatMap((s) => s.ports.flatMap((p) => {
      const proxy = this.proxies.get(`${s.vip}:${p.port}`);
      return proxy ? [{ source: `proxy ${s.vip}:${p.port}`, service: s.key, value: proxy.counters.accepted }] : [];
    }));
    return [...(await this.dataplane.serviceCounters()), ...proxied];
  }

  /** Stops health checks, balancers and DNS. Leaves the dataplane as it is (instances keep running). */
  async close(): Promise<void> {
    for (const { checker } of this.checkers.values()) checker.stop();
    this.checkers.clear();
    await Promise.all([...this.proxies.values()].map((p) => p.stop()));
    this.proxies.clear();
    await this.dns.close();
  }

  private log(message: string): void {
    (this.options.log ?? ((m: string) => process.stderr.write(`network: ${m}\n`)))(message);
  }

  private syncHealth(): void {
    for (const [key, c] of this.checkers) {
      const s = this.services.get(key);
      if (!s?.health || s.health.intervalMs !== c.intervalMs) {
        c.checker.stop();
        this.checkers.delete(key);
      }
    }
    for (const s of this.services.values()) {
      if (!s.health) continue;
      let c = this.checkers.get(s.key);
      if (!c) {
        const onChange = (id: string, healthy: boolean, reason: string) => {
          this.log(`backend ${id} is ${healthy ? 'healthy' : `unhealthy: ${reason}`}`);
          this.apply().catch((e: Error) => this.log(`applying the health of ${id} failed: ${e.message}`));
        };
        const checker = new HealthChecker({ intervalMs: s.health.intervalMs, ...(s.health.timeoutMs ? { timeoutMs: s.health.timeoutMs } : {}) }, onChange);
        c = { checker, intervalMs: s.health.intervalMs };
        this.checkers.set(s.key, c);
        checker.start();
      }
      const h = s.health;
      c.checker.setTargets(s.backends.filter((b) => !b.draining).map((b) => ({ id: `${s.key}|${b.ip}`, host: b.ip, port: (b.probe ?? h).port, probe: (b.probe ?? h).probe })));
    }
  }

  /** Pushes the ready backends to the dataplane and the proxies; serialized, latest state wins. */
  private apply(): Promise<void> {
    const run = this.applying.then(() => this.applyNow());
    this.applying = run.catch(() => undefined);
    return run;
  }

  private async applyNow(): Promise<void> {
    const configs: ServiceConfig[] = [...this.services.values()].map((s) => ({ key: s.key, vni: s.vni, vip: s.vip, algorithm: s.algorithm, ports: s.ports, backends: this.ready(s.key) }));
    await this.dataplane.setServices(configs);
    const wanted = new Set<string>();
    for (const c of configs) {
      if (c.algorithm !== 'least-connections') continue;
      for (const p of c.ports) {
        if (p.protocol !== 'tcp') continue;
        const k = `${c.vip}:${p.port}`;
        wanted.add(k);
        let proxy = this.proxies.get(k);
        if (!proxy) {
          proxy = new TcpBalancer({ host: c.vip, port: p.port, algorithm: 'least-connections' });
          await proxy.start();
          this.proxies.set(k, proxy);
        }
        proxy.setBackends(c.backends.map((ip) => ({ host: ip, port: p.targetPort })));
      }
    }
    for (const [k, proxy] of this.proxies) {
      if (wanted.has(k)) continue;
      this.proxies.delete(k);
      await proxy.stop();
    }
  }

  private async conntrackCount(vip: string, backend: string): Promise<number> {
    const r = await (this.options.runner ?? hostRunner).run(['conntrack', '-L', '--orig-dst', vip, '--reply-src', backend, '-p', 'tcp', '--state', 'ESTABLISHED'], { allowFailure: true });
    if (r.code !== 0 && !/flow entries/.test(r.stderr)) return -1;
    return r.stdout.split('\n').filter((l) => l.trim() !== '').length;
  }
}
