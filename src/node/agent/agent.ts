/**
 * The node agent. Talks to the control plane only through the public API, with its node
 * credential.
 *
 *   join (once) ─▶ drivers + fingerprint ─▶ recover local runs ─▶ heartbeat every heartbeatMs
 *                                                             └▶ follow /v1/instances (bound here)
 *                                                                  └▶ one InstanceRunner each
 *
 * Stopping the agent leaves workloads running; the next agent process re-attaches to them.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient, ApiError, ResyncError, type ObjectWatchMessage, type Resources } from '../../client/index.js';
import { joinNode } from '../../client/routes.js';
import { instanceKind, nodeKind } from '../../model/kinds/index.js';
import { createDrivers, ImageStore, type Driver, type DriverSet, type TaskHandle } from '../drivers/index.js';
import type { Instance, InstanceStatus } from '../../model/kinds/instance.js';
import type { NodeStatus } from '../../model/kinds/node.js';
import { isoNow, systemClock, type Clock } from '../../model/runtime.js';
import { credentialServers, join as joinCluster, loadCredential, saveCredential, type Credential } from './credential.js';
import { machineInfo, machineResources, type Gpu } from './fingerprint.js';
import { RecordStore, type LocalRecord } from './records.js';
import { DEFAULT_BACKOFF, InstanceRunner, type Backoff, type PreparedRun } from './runner.js';
import { LogsServer } from './logs-server.js';
import { prepareInstance } from './prepare.js';
import { lockDataDir } from './lock.js';
import { GpuShares, hasGpuShare } from './gpu.js';
import { AgentMetrics } from './metrics.js';
import type { ServiceTraffic } from '../../model/usage.js';
import { statusUsageSource, UsageReporter } from './usage.js';
import { reportUsage } from '../../client/usage.js';
import { NodeVolumes } from './volumes.js';
import { VmDisks } from './disks.js';
import { IdRanges } from '../drivers/identity.js';

/**
 * Networking on a node, as the agent uses it. Without one, instances share the host's network.
 * Every method may be called again after an agent restart; all are idempotent.
 */
export interface InstanceNetworking {
  /** Probes the host and prepares; called once, before runs are recovered. */
  start(): Promise<void>;
  /** For the node's status: how instances are networked here, and why. */
  status(): { mode: string; message: string; addresses?: { type: string; address: string }[] };
  /**
   * Before a run starts: the namespace to join (a VM: its tap and the guest's network, or
   * user-mode networking with forwards), the environment to add and the status fields the run
   * sets (host networking: the node's address and the host ports), or why not yet.
   */
  prepare(inst: Instance): Promise<Partial<Pick<PreparedRun, 'netns' | 'env' | 'wait' | 'status' | 'tap' | 'guestNetwork' | 'userNet'>>>;
  /** After everything of an instance on this node was destroyed. */
  released(record: LocalRecord): Promise<void>;
  /** After the first list of instances: everything this node should have is known (clean up the rest). */
  synced(instances: Instance[]): Promise<void>;
  stop(): Promise<void>;
  /** Cumulative per-service counters of this node's load balancers, for the usage reports (node/agent/usage.ts); absent: none sent. */
  serviceTraffic?(): Promise<ServiceTraffic[]>;
}

export interface InstanceNetworkingContext {
  api: ApiClient;
  node: string;
  dataDir: string;
  clock: Clock;
  log: (msg: string) => void;
  /** What a run waits for (a network ready on this node) may have come: runs that wait look again. */
  wake?: () => void;
}

export interface AgentOptions {
  /** The API server's URL, or several servers' (sharing one store): every call fails over between them. */
  server: string | readonly string[];
  dataDir: string;
  name: string;
  joinToken?: string;
  /** Use this credential instead of joining (the embedded agent). */
  credential?: Credential;
  labels?: Record<string, string>;
  zone?: string;
  pool?: string;
  gpus?: Gpu[];
  capacity?: { cpu?: number; memory?: number; disk?: number };
  reserved?: { cpu?: number; memory?: number };
  /** Drivers to enable (default: all that work here). */
  drivers?: string[];
  driverOptions?: Record<string, Record<string, unknown>>;
  heartbeatMs?: number;
  statsMs?: number;
  /** The --metrics-token-file secret: GET /metrics on the agent's listener answers to it (404 without it). */
  metricsToken?: string;
  /** How often the usage report is sent (node/agent/usage.ts; default 5000 ms, 0: never). */
  usageMs?: number;
  listen?: { host: string; port: number; advertise?: string };
  backoff?: Backoff;
  clock?: Clock;
  log?: (msg: string) => void;
  /** Builds the node's networking; without it instances use the host's network. */
  network?: (ctx: InstanceNetworkingContext) => InstanceNetworking;
}

/**
 * The node agent. It has the runtime's component shape (name, start, stop, health) without
 * importing the control-plane runtime: `stratus agent` runs it alone, `stratus server` through
 * server/embedded-agent.ts.
 */
export class Agent {
  readonly name = 'agent';
  private api!: ApiClient;
  private credential!: Credential;
  private drivers!: DriverSet;
  private records!: RecordStore;
  private images!: ImageStore;
  private logs!: LogsServer;
  private address = '';
  private readonly runners = new Map<string, InstanceRunner>();
  /** Runs found after a restart, waiting for the control plane to say what their instance is. */
  private readonly recovered = new Map<string, { rec: LocalRecord; handle?: TaskHandle }>();
  private readonly abort = new AbortController();
  private timers: NodeJS.Timeout[] = [];
  private informer: Promise<void> | undefined;
  private network: InstanceNetworking | undefined;
  private gpu: GpuShares | undefined;
  /** The node's volumes: provisioned, attached in prepare, released when a run stops for good. */
  private volumes!: NodeVolumes;
  /** The node's VM disks: the disk-image cache and each VM's root disk, removed when its instance leaves. */
  private disks!: VmDisks;
  private usage: UsageReporter | undefined;
  private synced = false;
  private lastError = '';
  private unlock: (() => void) | undefined;
  private readonly clock: Clock;
  private readonly log: (msg: string) => void;
  /** Its Prometheus metrics (metrics.ts): served on its listener with metricsToken, or by the server that embeds it. */
  readonly metrics: AgentMetrics;
  private readonly timedDrivers = new Map<string, Driver>();

  constructor(private readonly opts: AgentOptions) {
    this.metrics = new AgentMetrics(() => [...this.runners.values()].map((r) => ({ instance: r.instance, ...(r.running ? { handle: r.running, driver: this.driver(r.running.driver) } : {}) })), { defaults: opts.metricsToken !== undefined });
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? ((m) => process.stderr.write(`agent ${opts.name}: ${m}\n`));
  }

  get node(): string {
    return this.credential.node;
  }

  async start(): Promise<void> {
    mkdirSync(this.opts.dataDir, { recursive: true, mode: 0o700 });
    this.unlock = lockDataDir(this.opts.dataDir);
    this.credential = this.opts.credential ?? loadCredential(this.opts.dataDir) ?? (await this.join());
    this.api = new ApiClient(credentialServers(this.credential), this.credential.token, {
      onFailover: (_from, to, why) => this.log(`control plane: ${why}; now talking to ${to}`),
    });
    this.records = new RecordStore(this.opts.dataDir);
    this.images = new ImageStore(join(this.opts.dataDir, 'images'));
    this.drivers = await createDrivers({
      dataDir: this.opts.dataDir,
      ...(this.opts.drivers ? { enabled: this.opts.drivers } : {}),
      options: { ...this.opts.driverOptions, container: { ...this.opts.driverOptions?.container, images: this.images } },
      clock: this.clock,
    });
    this.network = this.opts.network?.({ api: this.api, node: this.node, dataDir: this.opts.dataDir, clock: this.clock, log: this.log, wake: () => {
      for (const r of this.runners.values()) r.wake();
    } });
    await this.network?.start();
    this.gpu = new GpuShares({ dataDir: this.opts.dataDir, log: this.log });
    await this.gpu.start();
    // the workload's user, as the drivers pick it (the process driver's id ranges, the machine's file by default)
    const given = this.opts.driverOptions?.process?.idRanges;
    const ids = given instanceof IdRanges ? given : new IdRanges(typeof given === 'string' ? given : undefined);
    this.disks = new VmDisks(this.opts.dataDir);
    this.volumes = new NodeVolumes({
      dataDir: this.opts.dataDir,
      ownerOf: (project) => ({ uid: ids.forProject(project).start, gid: ids.forProject(project).start }),
      isRunning: (uid) => !!this.runners.get(uid)?.running || !!this.recovered.get(uid)?.handle,
    });
    const metricsEndpoint = this.opts.metricsToken ? { token: this.opts.metricsToken, metrics: () => this.metrics.metrics(), contentType: this.metrics.contentType } : undefined;
    this.logs = new LogsServer(this.credential.token, { find: (p, n, uid) => this.findRun(p, n, uid), running: (p, n, uid) => this.findRunning(p, n, uid), volumes: this.volumes }, () => this.clock.now(), metricsEndpoint);
    const l = this.opts.listen ?? { host: '127.0.0.1', port: 0 };
    this.address = await this.logs.listen(l.host, l.port, l.advertise);
    await this.recover();
    await this.heartbeat();
    this.timers.push(setInterval(() => void this.heartbeat().then(() => this.metrics.heartbeat(true), (e: Error) => {
      this.metrics.heartbeat(false);
      this.lastError = e.message;
    }), this.opts.heartbeatMs ?? 2000));
    this.timers.push(setInterval(() => {
      const t = performance.now();
      void this.reportStats().catch(() => undefined).finally(() => this.metrics.statsRound((performance.now() - t) / 1000));
    }, this.opts.statsMs ?? 10_000));
    for (const t of this.timers) t.unref();
    if (this.opts.usageMs !== 0) (this.usage = this.usageReporter()).start();
    this.informer = this.follow();
  }

  /** Stops talking to the control plane; workloads keep running. */
  async stop(): Promise<void> {
    this.abort.abort();
    for (const t of this.timers) clearInterval(t);
    this.usage?.stop();
    await this.informer?.catch(() => undefined);
    await this.network?.stop();
    // GPU shares outlive the agent: their MPS daemon stays while one may run (a recovered run not yet claimed may be one).
    await this.gpu?.stop([...this.runners.values()].some((r) => r.running && hasGpuShare(r.instance)) || [...this.recovered.values()].some((r) => r.handle));
    await this.logs?.close();
    this.unlock?.();
  }

  health(): string {
    return this.lastError;
  }

  private async join(): Promise<Credential> {
    if (!this.opts.joinToken) throw new Error(`no credential in ${this.opts.dataDir} and no --join-token to get one (stratus node join-token create)`);
    const c = await joinCluster(this.opts.server, this.opts.joinToken, { name: this.opts.name, zone: this.opts.zone, pool: this.opts.pool, labels: this.opts.labels });
    saveCredential(this.opts.dataDir, c);
    return c;
  }

  private driver(name: string): Driver | undefined {
    return this.drivers.available.get(name)?.driver;
  }

  /** The driver, with its start() latency told to the metrics (what runners use). */
  private timedDriver(name: string): Driver | undefined {
    const d = this.driver(name);
    if (!d) return undefined;
    let timed = this.timedDrivers.get(name);
    if (!timed) this.timedDrivers.set(name, (timed = this.metrics.timed(d)));
    return timed;
  }

  /**
   * Finds the runs an earlier agent process left (never restarting them). They are handed to
   * their runners once the first list says what their instances are (restart policy included).
   */
  private async recover(): Promise<void> {
    for (const rec of this.records.all()) {
      let handle: TaskHandle | undefined;
      if (rec.handle) {
        try {
          handle = await this.driver(rec.handle.driver)?.recover(rec.handle);
          if (handle) this.log(`re-attached to ${rec.project}/${rec.name} (pid ${handle.pid})`);
        } catch (e) {
          this.log(`could not re-attach to ${rec.project}/${rec.name}: ${(e as Error).message}`);
        }
      }
      this.recovered.set(rec.uid, { rec, ...(handle ? { handle } : {}) });
    }
  }

  /** Recovered runs whose instance is gone (or elsewhere): stop and destroy them. */
  private dropUnclaimed(): void {
    for (const [uid, { rec, handle }] of this.recovered) {
      const runner = this.newRunner(rec, placeholder(rec, this.node));
      if (handle) runner.adopt(handle);
      this.runners.set(uid, runner);
      void this.drop(uid, runner);
    }
    this.recovered.clear();
  }

  private newRunner(rec: LocalRecord, inst: Instance): InstanceRunner {
    return new InstanceRunner(inst, rec, {
      node: this.node,
      driver: (n) => this.timedDriver(n),
      records: this.records,
      writeStatus: (i, change) => this.writeStatus(i, change),
      prepare: async (i) => {
        const base = await prepareInstance(i, { api: this.api, images: this.images, node: this.node, dataDir: this.opts.dataDir, gpu: this.gpu, volumes: this.volumes, disks: this.disks });
        const net = await this.network?.prepare(i);
        return { ...base, ...net, env: { ...base.env, ...net?.env } } satisfies PreparedRun;
      },
      removed: async (rec) => {
        await this.volumes.release(rec.uid);
        await this.disks.release(rec.uid);
        await this.network?.released(rec);
      },
      stopped: (rec) => this.volumes.release(rec.uid),
      clock: this.clock,
      backoff: this.opts.backoff ?? DEFAULT_BACKOFF,
      log: this.log,
    });
  }

  /** Lists the instances bound here, then follows changes; starts over after a resync. */
  private async follow(): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        const { items, revision } = await this.instances().list();
        const seen = new Set(items.map((i) => i.metadata.uid));
        for (const i of items) this.onInstance('put', i);
        this.dropUnclaimed();
        if (!this.synced) {
          this.synced = true;
          const here = items.filter((i) => i.status?.node === this.node);
          // VM disks of instances that left while the agent was down
          await this.disks.sweep(new Set(here.map((i) => i.metadata.uid))).catch((e: Error) => this.log(`vm disks: ${e.message}`));
          await this.network?.synced(here);
        }
        for (const [uid, r] of this.runners) if (!seen.has(uid)) void this.drop(uid, r);
        await this.instances().watch(revision, (m) => this.onMessage(m), this.abort.signal);
      } catch (e) {
        if (this.abort.signal.aborted) return;
        if (!(e instanceof ResyncError)) this.lastError = (e as Error).message;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  private onMessage(m: ObjectWatchMessage<Instance>): void {
    if ((m.type === 'put' || m.type === 'delete') && m.object) this.onInstance(m.type, m.object);
  }

  /** The instances of `project`, or (no project) those of every project this node may read: the ones bound to it. */
  private instances(project?: string): Resources<Instance> {
    return this.api.resources(instanceKind, project);
  }

  private onInstance(type: 'put' | 'delete', inst: Instance): void {
    const uid = inst.metadata.uid;
    const existing = this.runners.get(uid);
    if (type === 'delete' || inst.status?.node !== this.node) {
      if (existing) void this.drop(uid, existing);
      return;
    }
    if (existing) return existing.update(inst);
    const found = this.recovered.get(uid);
    this.recovered.delete(uid);
    const rec: LocalRecord = found?.rec ?? { uid, project: inst.metadata.project!, name: inst.metadata.name, driver: inst.spec.driver, attempt: 0, restarts: inst.status?.restarts ?? 0, previous: [] };
    this.records.save(rec);
    const runner = this.newRunner(rec, inst);
    this.runners.set(uid, runner);
    if (found?.handle) runner.adopt(found.handle);
    runner.update(inst);
  }

  private async drop(uid: string, runner: InstanceRunner): Promise<void> {
    await runner.remove();
    if (this.runners.get(uid) === runner) this.runners.delete(uid);
  }

  /** PUT the status with the revision it was read at; on a conflict, read again and retry. */
  private async writeStatus(inst: Instance, change: (s: InstanceStatus, latest: Instance) => InstanceStatus | undefined): Promise<Instance | undefined> {
    const instances = this.instances(inst.metadata.project!);
    let current = inst;
    for (let attempt = 0; attempt < 6; attempt++) {
      const next = change(current.status ?? { phase: 'Pending' }, current);
      if (!next) return undefined;
      try {
        return await instances.writeStatus(inst.metadata.name, next, { revision: current.metadata.revision });
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        if (e.status === 404 || e.status === 403) return undefined;
        if (e.status !== 409) throw e;
        current = await instances.get(inst.metadata.name);
        if (current.metadata.uid !== inst.metadata.uid) return undefined;
      }
    }
    return undefined;
  }

  private async heartbeat(): Promise<void> {
    const { capacity, allocatable } = await machineResources({ dataDir: this.opts.dataDir, capacity: this.opts.capacity, reserved: this.opts.reserved, gpus: this.opts.gpus });
    const drivers = [...this.drivers.available.values()].map(({ fingerprint: f }) => ({
      name: f.driver, healthy: true, ...(f.version ? { version: f.version } : {}), ...(f.details.length ? { message: f.details.join('; ') } : {}),
      ...(Object.keys(f.attributes).length ? { attributes: f.attributes } : {}),
    }));
    const broken = this.drivers.unavailable.map((f) => ({ name: f.driver, healthy: false, message: f.details.join('; ') }));
    const limitsEnforced = [...this.drivers.available.values()].some((d) => d.fingerprint.enforcesLimits);
    const now = isoNow(this.clock);
    const net = this.network?.status() ?? { mode: 'host', message: 'instances share the host network (no node networking configured)' };
    const gpuShares = await this.gpu?.condition(capacity.gpus.length > 0);
    const status: NodeStatus = {
      phase: 'Ready',
      message: limitsEnforced ? 'ready' : 'ready; limits not enforced (no usable cgroups or not root)',
      capacity, allocatable,
      drivers: [...drivers, ...broken],
      conditions: [
        { type: 'Ready', status: 'True', reason: 'AgentReady', message: `agent ${machineInfo().agentVersion} reporting`, lastTransitionTime: now },
        { type: 'Networking', status: 'True', reason: net.mode, message: net.message },
        ...(gpuShares ? [gpuShares] : []),
      ],
      lastHeartbeat: now,
      addresses: [{ type: 'agent', address: this.address }, ...(net.addresses ?? [])],
      limitsEnforced,
      info: machineInfo(),
    };
    const nodes = this.api.resources(nodeKind);
    await nodes.writeStatus(this.node, status).catch(async (e: unknown) => {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
      await this.registerAgain();
      await nodes.writeStatus(this.node, status);
    });
    this.lastError = '';
  }

  /** Our node object was deleted (`stratus node delete --force`): create it again; the credential stays valid. */
  private async registerAgain(): Promise<void> {
    const { zone, pool, labels } = this.opts;
    await joinNode(this.api, { name: this.node, ...(zone ? { zone } : {}), ...(pool ? { pool } : {}), ...(labels ? { labels } : {}) });
    this.log(`node ${this.node} was deleted; registered it again`);
  }

  private usageReporter(): UsageReporter {
    const running = () => [...this.runners.values()].flatMap((r) => (r.running ? [{ instance: r.instance, handle: r.running, driver: this.driver(r.running.driver) }] : []));
    const serviceTraffic = this.network?.serviceTraffic?.bind(this.network);
    return new UsageReporter({ node: this.node, clock: this.clock, running, gpu: this.gpu, ...(serviceTraffic ? { serviceTraffic } : {}), send: (r) => reportUsage(this.api, r), log: this.log }, this.opts.usageMs);
  }

  /** Usage of each running instance, written when it moved by 10 % or a minute passed. */
  private async reportStats(): Promise<void> {
    const measure = await statusUsageSource(this.usage, { driver: (n) => this.driver(n), gpu: this.gpu, running: [...this.runners.values()].filter((r) => r.running).map((r) => r.instance) });
    for (const runner of this.runners.values()) {
      const h = runner.running;
      if (!h) continue;
      const usage = await measure(runner.instance, h);
      if (!usage) continue;
      const prev = runner.instance.status?.usage;
      const moved = (a: number, b: number) => Math.abs(a - b) > Math.max(1, 0.1 * b);
      const stale = !prev || this.clock.now() - Date.parse(prev.at) > 60_000;
      if (!stale && !moved(usage.cpu, prev.cpu) && !moved(usage.memory, prev.memory) && !(usage.gpuMemory !== undefined && moved(usage.gpuMemory, prev.gpuMemory ?? 0))) continue;
      const stored = await this.writeStatus(runner.instance, (s) => (s.phase === 'Running' && s.node === this.node ? { ...s, usage } : undefined)).catch(() => undefined);
      if (stored) runner.update(stored);
    }
  }

  private findRun(project: string, name: string, uid: string | undefined) {
    for (const r of this.records.all()) {
      if (r.project !== project || r.name !== name || (uid && r.uid !== uid)) continue;
      const handle = this.runners.get(r.uid)?.logHandle ?? r.handle ?? r.previous.at(-1);
      const driver = handle ? this.driver(handle.driver) : undefined;
      if (handle && driver) return { driver, handle };
    }
    return undefined;
  }

  /** The current run of an instance bound here, for exec and port-forward. */
  private findRunning(project: string, name: string, uid: string | undefined) {
    for (const r of this.runners.values()) {
      const i = r.instance;
      if (i.metadata.project !== project || i.metadata.name !== name || (uid && r.uid !== uid)) continue;
      const handle = r.running;
      const driver = handle ? this.driver(handle.driver) : undefined;
      if (handle && driver) return { driver, handle, instance: i };
    }
    return undefined;
  }
}

/** Until the control plane says otherwise, a recovered run's instance is assumed to be running here. */
function placeholder(rec: LocalRecord, node: string): Instance {
  return {
    kind: 'instance',
    metadata: { name: rec.name, project: rec.project, uid: rec.uid, revision: 0, generation: 0, createdAt: new Date(0).toISOString() },
    spec: { driver: rec.driver as Instance['spec']['driver'], resources: { cpu: 0, memory: 0, disk: 0 }, priority: 0, restartPolicy: 'never', gracePeriod: 10 },
    status: { phase: 'Running', node },
  };
}
