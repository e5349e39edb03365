/**
 * The cluster autoscaler: leader only, beside the scheduler, every `intervalMs` (default 1 s).
 *
 *   node pools, nodes, instances, volumes (shared informers)
 *       │
 *       ├─ each pool's nodes (spec.pool) and the machines still joining ─▶ status.nodes
 *       ├─ below min ─▶ create machines
 *       ├─ instances Pending for capacity ─▶ planScaleUp (the engine on copies of the cluster
 *       │    with machines of each pool's shape added) ─▶ create the fewest that let most in
 *       └─ a Ready node underused for scaleDownDelay whose instances fit elsewhere (checkRemoval)
 *            ─▶ drain (spec.draining; the node controller moves its instances) ─▶ once Drained:
 *            the provider deletes the machine ─▶ the node object is deleted
 *
 * Machines created and not Ready yet count as capacity (no second machine for the same pending
 * instances) until the pool's join timeout, after which they are deleted and the pool's status
 * says so. Every decision and its reason goes into the pool's status and an event.
 */
import type { Component } from '../../runtime/component.js';
import { every } from '../../runtime/component.js';
import type { EventRecorder } from '../../runtime/events.js';
import type { Informers } from '../../runtime/informers.js';
import type { Repository } from '../../store/repository.js';
import { instanceKind, nodeKind, nodePoolKind, volumeKind } from '../../model/kinds/index.js';
import type { Instance } from '../../model/kinds/instance.js';
import type { Node } from '../../model/kinds/node.js';
import { poolTimings, type NodePool, type NodePoolStatus } from '../../model/kinds/node-pool.js';
import type { Volume } from '../../model/kinds/volume.js';
import { isoNow } from '../../model/runtime.js';
import { plural } from '../../model/format.js';
import { issueToken, revokeToken } from '../../policy/tokens.js';
import { Engine } from '../engine/engine.js';
import { ClusterSnapshot, occupiesNode } from '../engine/snapshot.js';
import type { PolicyChoice } from '../engine/types.js';
import { checkRemoval, pendingForCapacity, planScaleUp, utilization, type PoolView, type RemovalVerdict } from './simulate.js';
import { reconcileNodes, repeats, SCALE_DOWN_ANNOTATION, statusChanged, TRANSIENT, withDecision, withError, type PoolNode } from './pool-status.js';
import type { MachineProvider, ProviderFactory } from './providers/provider.js';
import { defaultProviders } from './providers/index.js';

/** The first wait after a provider's create failed. */
const CREATE_BACKOFF_MS = 10_000;

export interface AutoscalerOptions {
  informers: Informers;
  /** The control plane's URLs, handed to new machines. */
  servers: () => string[];
  /** Where the local provider keeps agents' data (default providers only). */
  localDir: string;
  policy?: PolicyChoice;
  intervalMs?: number;
  providers?: ProviderFactory;
}

/** One pass's view of a pool, and the status it will write. */
interface PoolPass {
  pool: NodePool;
  status: NodePoolStatus;
  view: PoolView;
  grew: boolean;
  /** Whether this pass made (or repeated) a decision. */
  decided: boolean;
}

/** Records a decision; whether it is new (not a repeat: see `repeats`). */
function decide(p: PoolPass, d: NonNullable<NodePoolStatus['decisions']>[number]): boolean {
  p.decided = true;
  const fresh = !repeats(p.status.decisions, d);
  p.status.decisions = withDecision(p.status.decisions, d);
  return fresh;
}

/** A transient decision on top that this pass did not repeat no longer holds: it goes. */
function dropStale(p: PoolPass): void {
  const top = p.status.decisions?.[0];
  if (!p.decided && top && TRANSIENT.has(top.action)) p.status.decisions = p.status.decisions!.slice(1);
}

export class ClusterAutoscaler implements Component {
  readonly name = 'cluster-autoscaler';
  private loop: { stop(): void } | undefined;
  private readonly engine: Engine;
  private readonly providers = new Map<string, { key: string; provider: MachineProvider }>();
  private readonly underusedSince = new Map<string, number>();
  /** Join tokens made for machines still joining, by node. */
  private readonly tokens = new Map<string, string>();
  /** Provider deletes that failed: not retried before this time, by node. */
  private readonly retryAt = new Map<string, number>();
  private lastError = '';
  private readonly factory: ProviderFactory;
  /** What the last scale-up simulation that created nothing read (see `simulationKey`). */
  private lastSimulation: string | undefined;
  /** Per pool, after a failed create: not again before `until`; the delay doubles up to 5 min. */
  private readonly backoff = new Map<string, { until: number; delayMs: number }>();
  /** The last removal verdict per node, with what it read. */
  private readonly removals = new Map<string, { key: string; verdict: RemovalVerdict }>();

  constructor(private readonly repo: Repository, private readonly events: EventRecorder, private readonly opts: AutoscalerOptions) {
    this.engine = new Engine({ policy: opts.policy ?? 'auto', preemption: false });
    this.factory = opts.providers ?? defaultProviders({ baseDir: opts.localDir });
  }

  async start(): Promise<void> {
    const i = this.opts.informers;
    for (const kind of [nodePoolKind, nodeKind, instanceKind, volumeKind]) await i.of(kind).use({}, { replay: false });
    this.loop = every(this.opts.intervalMs ?? 1000, () => this.pass(), (e) => void (this.lastError = (e as Error).message));
  }

  async stop(): Promise<void> {
    this.loop?.stop();
    for (const { provider } of this.providers.values()) await provider.close?.().catch(() => undefined);
    this.providers.clear();
  }

  health(): string {
    return this.lastError;
  }

  /** One look at every pool: grow, shrink, finish removals, write statuses. */
  async pass(): Promise<void> {
    const i = this.opts.informers;
    const pools = [...i.of<NodePool>(nodePoolKind).items.values()];
    if (pools.length === 0) return;
    const nodes = [...i.of<Node>(nodeKind).items.values()];
    const instances = [...i.of<Instance>(instanceKind).items.values()];
    const now = this.repo.clock.now();
    const servers = this.opts.servers();
    for (const p of pools) await this.provider(p).attach?.(servers).catch((e: Error) => void (this.lastError = `node pool ${p.metadata.name}: ${e.message}`));
    const passes = await Promise.all(pools.map((p) => this.reconcile(p, nodes, now)));
    await this.growToMin(passes);
    const pending = pendingForCapacity(instances);
    if (pending.length > 0) await this.scaleUp(passes, nodes, instances, pending);
    const volumes = [...i.of<Volume>(volumeKind).items.values()];
    const snap = ClusterSnapshot.from(nodes, instances);
    for (const p of passes) {
      await this.finishRemovals(p, nodes);
      if (!p.grew && p.view.upcoming.length === 0) await this.scaleDown(p, nodes, instances, volumes, snap, now);
    }
    for (const p of passes) {
      dropStale(p);
      await this.writeStatus(p);
    }
    this.lastError = '';
  }

  private provider(pool: NodePool): MachineProvider {
    const key = JSON.stringify(pool.spec.provider);
    const had = this.providers.get(pool.metadata.name);
    if (had?.key === key) return had.provider;
    void had?.provider.close?.();
    const provider = this.factory(pool.metadata.name, pool.spec.provider);
    this.providers.set(pool.metadata.name, { key, provider });
    return provider;
  }

  private async reconcile(pool: NodePool, nodes: readonly Node[], now: number): Promise<PoolPass> {
    const name = pool.metadata.name;
    const poolNodes = nodes.filter((n) => n.spec.pool === name);
    const r = reconcileNodes(pool, poolNodes, now, poolTimings(pool.spec).joinTimeoutMs);
    const status: NodePoolStatus = { ...pool.status, size: 0 };
    for (const n of r.joined) await this.dropToken(n);
    for (const n of r.timedOut) {
      const message = `machine ${n.name} did not join as a Ready node within ${pool.spec.joinTimeout ?? '5m'}; deleting it`;
      status.errors = withError(status.errors, isoNow(this.repo.clock), message);
      void this.events.record({ kind: 'node-pool', name }, 'Warning', 'JoinTimeout', message);
      await this.dropToken(n.name);
      await this.provider(pool).delete({ pool: name, node: n.name, ...(n.machine ? { id: n.machine } : {}) }).catch((e: Error) => {
        status.errors = withError(status.errors, isoNow(this.repo.clock), e.message);
      });
    }
    status.nodes = r.nodes;
    status.size = r.nodes.length;
    status.ready = r.nodes.filter((n) => n.phase === 'Ready').length;
    const drivers = poolNodes.find((n) => n.status?.phase === 'Ready')?.status?.drivers;
    const view: PoolView = { name, spec: pool.spec, size: status.size, upcoming: r.nodes.filter((n) => n.phase === 'Joining').map((n) => n.name), ...(drivers ? { drivers } : {}) };
    return { pool, status, view, grew: false, decided: false };
  }

  private async growToMin(passes: PoolPass[]): Promise<void> {
    for (const p of passes) {
      const missing = p.pool.spec.min - p.view.size;
      if (missing > 0) await this.create(p, missing, `below its min (${p.view.size} of ${p.pool.spec.min})`);
    }
  }

  private async scaleUp(passes: PoolPass[], nodes: readonly Node[], instances: readonly Instance[], pending: Instance[]): Promise<void> {
    // The simulations cost a few schedules of copies of the cluster: not again while nothing they
    // read changed (the same pending instances, nodes and pools); what they decided still stands.
    const key = simulationKey(passes, nodes, instances, pending);
    if (key === this.lastSimulation) {
      for (const p of passes) p.decided = true;
      return;
    }
    const plan = planScaleUp(this.engine, nodes, instances, passes.map((p) => p.view), pending);
    this.lastSimulation = plan.choice ? undefined : key;
    const at = isoNow(this.repo.clock);
    for (const v of plan.verdicts) {
      const p = passes.find((x) => x.pool.metadata.name === v.pool)!;
      if (plan.choice?.pool === v.pool) continue;
      const action = v.headroom === 0 && v.fits === 0 ? 'blocked' : 'keep';
      const reason = plan.choice && v.fits > 0 ? `${v.reason}; pool ${plan.choice.pool} lets more in with fewer machines` : v.reason;
      decide(p, { at, action, reason });
    }
    if (plan.choice) {
      const p = passes.find((x) => x.pool.metadata.name === plan.choice!.pool)!;
      await this.create(p, plan.choice.count, `${plan.choice.reason} of its shape`);
    } else if (plan.awaitingUpcoming > 0) {
      for (const p of passes.filter((x) => x.view.upcoming.length > 0)) {
        decide(p, { at, action: 'waiting', count: p.view.upcoming.length, reason: `${plural(plan.awaitingUpcoming, 'pending instance')} will fit on the ${plural(p.view.upcoming.length, 'machine')} joining` });
      }
    }
  }

  /** Creates `count` machines of the pool through its provider (all at once); each gets a join token of its own. */
  private async create(p: PoolPass, count: number, why: string): Promise<void> {
    const pool = p.pool;
    const name = pool.metadata.name;
    const at = isoNow(this.repo.clock);
    p.grew = true;
    const backoff = this.backoff.get(name);
    if (backoff && backoff.until > this.repo.clock.now()) {
      // a failing provider (a cloud API, say) is not asked again every second
      decide(p, { at, action: 'blocked', count, reason: `${why}; the provider failed, next try at ${new Date(backoff.until).toISOString()}` });
      return;
    }
    decide(p, { at, action: 'scale-up', count, reason: why });
    void this.events.record({ kind: 'node-pool', name }, 'Normal', 'ScaleUp', `adding ${plural(count, 'machine')}: ${why}`);
    const made = await Promise.all(Array.from({ length: count }, () => this.createOne(pool).then((m) => m, (e: Error) => e)));
    for (const m of made) {
      if (m instanceof Error) {
        p.status.errors = withError(p.status.errors, at, m.message);
        void this.events.record({ kind: 'node-pool', name }, 'Warning', 'ScaleUpFailed', m.message);
        continue;
      }
      p.status.nodes = [...(p.status.nodes ?? []), m].sort((a, b) => a.name.localeCompare(b.name));
      p.view.upcoming.push(m.name);
    }
    p.status.size = p.status.nodes?.length ?? 0;
    p.view.size = p.status.size;
    if (made.some((m) => !(m instanceof Error))) p.status.lastScaleUp = at;
    if (made.every((m) => !(m instanceof Error))) this.backoff.delete(name);
    else {
      const delayMs = Math.min(2 * (backoff?.delayMs ?? CREATE_BACKOFF_MS / 2), 300_000);
      this.backoff.set(name, { delayMs, until: this.repo.clock.now() + delayMs });
    }
  }

  private async createOne(pool: NodePool): Promise<PoolNode> {
    const name = pool.metadata.name;
    const node = `${name.slice(0, 56)}-${this.repo.ids.secret(8).toLowerCase().replace(/[^a-z0-9]/g, '0').slice(0, 5)}`;
    const { joinTimeoutMs } = poolTimings(pool.spec);
    const issued = await issueToken(this.repo, { spec: { join: true, expiresAt: new Date(this.repo.clock.now() + joinTimeoutMs).toISOString(), description: `join token of machine ${node} of node pool ${name}` }, actor: 'cluster-autoscaler' });
    this.tokens.set(node, issued.token.metadata.name);
    try {
      const made = await this.provider(pool).create({ pool: name, node, joinToken: issued.secret, servers: this.opts.servers(), shape: pool.spec.shape });
      if (made.node !== node) this.tokens.set(made.node, issued.token.metadata.name);
      return { name: made.node, phase: 'Joining', ...(made.id ? { machine: made.id } : {}), createdAt: isoNow(this.repo.clock) };
    } catch (e) {
      await this.dropToken(node);
      throw e;
    }
  }

  private async dropToken(node: string): Promise<void> {
    const token = this.tokens.get(node);
    if (!token) return;
    this.tokens.delete(node);
    await revokeToken(this.repo, token).catch(() => undefined); // gone already, or expired and swept
  }

  /** Drained nodes this autoscaler is removing: the provider deletes the machine, then the node object goes. */
  private async finishRemovals(p: PoolPass, nodes: readonly Node[]): Promise<void> {
    const name = p.pool.metadata.name;
    for (const entry of (p.status.nodes ?? []).filter((n) => n.phase === 'Deleting')) {
      if ((this.retryAt.get(entry.name) ?? 0) > this.repo.clock.now()) continue;
      const at = isoNow(this.repo.clock);
      try {
        await this.provider(p.pool).delete({ pool: name, node: entry.name, ...(entry.machine ? { id: entry.machine } : {}) });
      } catch (e) {
        this.retryAt.set(entry.name, this.repo.clock.now() + 30_000);
        p.status.errors = withError(p.status.errors, at, (e as Error).message);
        void this.events.record({ kind: 'node-pool', name }, 'Warning', 'ScaleDownFailed', (e as Error).message);
        continue;
      }
      this.retryAt.delete(entry.name);
      if (nodes.some((n) => n.metadata.name === entry.name)) await this.repo.delete(nodeKind, entry.name, undefined).catch(() => undefined);
      p.status.nodes = (p.status.nodes ?? []).filter((n) => n.name !== entry.name);
      p.status.size = p.status.nodes.length;
      p.status.lastScaleDown = at;
      decide(p, { at, action: 'scale-down', node: entry.name, reason: 'drained; machine deleted' });
      void this.events.record({ kind: 'node-pool', name }, 'Normal', 'ScaleDown', `node ${entry.name} removed: drained, machine deleted`);
    }
  }

  /** At most one node of the pool leaves at a time, never below min; see the file comment. */
  private async scaleDown(p: PoolPass, nodes: readonly Node[], instances: readonly Instance[], volumes: readonly Volume[], snap: ClusterSnapshot, now: number): Promise<void> {
    const entries = p.status.nodes ?? [];
    if (entries.some((n) => n.phase === 'Draining' || n.phase === 'Deleting')) return;
    const { scaleDownDelayMs } = poolTimings(p.pool.spec);
    const threshold = p.pool.spec.scaleDownUtilization ?? 50;
    const ready = entries.filter((n) => n.phase === 'Ready').map((n) => nodes.find((x) => x.metadata.name === n.name)).filter((n): n is Node => n !== undefined && !n.spec.unschedulable);
    for (const node of ready) {
      const name = node.metadata.name;
      const used = utilization(snap, name);
      if (used >= threshold) this.underusedSince.delete(name);
      else if (!this.underusedSince.has(name)) this.underusedSince.set(name, now);
    }
    if (entries.length <= p.pool.spec.min) return;
    const due = ready.filter((n) => now - (this.underusedSince.get(n.metadata.name) ?? now) >= scaleDownDelayMs);
    const at = isoNow(this.repo.clock);
    let key: string | undefined;
    for (const node of due.sort((a, b) => utilization(snap, a.metadata.name) - utilization(snap, b.metadata.name))) {
      const name = node.metadata.name;
      const verdict = this.removal(nodes, instances, volumes, name, (key ??= removalKey(nodes, instances, volumes)));
      // no seconds in it: a reason that holds pass after pass reads the same (nothing new to write)
      const used = `${utilization(snap, name)} % used (below ${threshold} %) for ${p.pool.spec.scaleDownDelay ?? '10m'}`;
      if (!verdict.remove) {
        const fresh = decide(p, { at, action: 'keep', node: name, reason: `${used}, but ${verdict.reason}` });
        if (fresh) void this.events.record({ kind: 'node', name }, 'Normal', 'ScaleDownBlocked', `node pool ${p.pool.metadata.name} keeps ${name}: ${verdict.reason}`);
        continue;
      }
      const reason = `${used}; ${verdict.reason}: draining`;
      await this.repo.update<Node>(nodeKind, name, undefined, (cur) => ({
        ...cur,
        metadata: { ...cur.metadata, annotations: { ...cur.metadata.annotations, [SCALE_DOWN_ANNOTATION]: `${at} ${reason}` } },
        spec: { ...cur.spec, unschedulable: true, draining: true },
      }));
      this.underusedSince.delete(name);
      p.status.nodes = entries.map((n) => (n.name === name ? { ...n, phase: 'Draining' as const } : n));
      decide(p, { at, action: 'scale-down', node: name, reason });
      void this.events.record({ kind: 'node-pool', name: p.pool.metadata.name }, 'Normal', 'ScaleDown', `removing node ${name}: ${reason}`);
      return;
    }
  }

  /** checkRemoval, not asked again while nothing it reads changed (a node kept pass after pass). */
  private removal(nodes: readonly Node[], instances: readonly Instance[], volumes: readonly Volume[], name: string, key: string): RemovalVerdict {
    const known = this.removals.get(name);
    if (known?.key === key) return known.verdict;
    const verdict = checkRemoval(this.engine, nodes, instances, volumes, name);
    this.removals.set(name, { key, verdict });
    if (this.removals.size > 10_000) this.removals.delete(this.removals.keys().next().value!);
    return verdict;
  }

  private async writeStatus(p: PoolPass): Promise<void> {
    if (!statusChanged(p.pool.status, p.status)) return;
    await this.repo.update<NodePool>(nodePoolKind, p.pool.metadata.name, undefined, (cur) => ({ ...cur, status: p.status })).catch((e: Error) => {
      this.lastError = `node pool ${p.pool.metadata.name}: ${e.message}`;
    });
  }
}

/** What nodes offer and which instances they hold: what every simulation reads of the cluster. */
function clusterKey(nodes: readonly Node[], instances: readonly Instance[]): string[] {
  const bound = instances.filter(occupiesNode).map((i) => `${i.metadata.uid}:${i.metadata.generation}@${i.status!.node}`);
  const n = nodes.map((x) => `${x.metadata.name}:${x.metadata.generation}:${x.status?.phase}:${JSON.stringify(x.status?.allocatable ?? x.status?.capacity)}`);
  return [...n.sort(), ...bound.sort()];
}

/** What a scale-up simulation depends on: pending instances, the cluster, the pools and their machines. */
function simulationKey(passes: readonly PoolPass[], nodes: readonly Node[], instances: readonly Instance[], pending: readonly Instance[]): string {
  const p = passes.map((x) => `${x.pool.metadata.name}:${x.pool.metadata.generation}:${x.view.size}:${x.view.upcoming.join(',')}`);
  return JSON.stringify([pending.map((i) => `${i.metadata.project}/${i.metadata.name}:${i.metadata.generation}`).sort(), clusterKey(nodes, instances), p]);
}

/** What a removal check depends on: the cluster and where volumes live. */
function removalKey(nodes: readonly Node[], instances: readonly Instance[], volumes: readonly Volume[]): string {
  return JSON.stringify([clusterKey(nodes, instances), volumes.map((v) => `${v.metadata.project}/${v.metadata.name}@${v.spec.node ?? v.status?.node ?? ''}`).sort()]);
}
