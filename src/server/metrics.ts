/**
 * The server's Prometheus metrics (GET /metrics, see metrics-route.ts): one prom-client Registry
 * per server (tests run several servers in one process), fed three ways:
 *
 *   API requests ──── onResponse hook ─────────┐
 *   store txns ────── timedBackend() ──────────┤
 *   scheduler, queues ─ observers (runtime/observers.ts) ─┼─▶ counters, histograms
 *   revision, watches, nodes, pending, usage ─ collect() at scrape time ─▶ gauges
 *
 * What is state (capacity, allocation, usage, pending instances) is read at scrape time from the
 * server's informers and usage history rather than updated on every change. Label values are
 * bounded: API requests are labelled by route pattern, never by raw URL. Instances are labelled
 * `name` (not `instance`, which Prometheus gives every scraped series: the target).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Backend } from '../store/backend.js';
import { timedBackend } from '../store/timed.js';
import type { Repository } from '../store/repository.js';
import type { QueueObserver, SchedulerObserver, SchedulingRound } from '../runtime/observers.js';
import type { Informers } from '../runtime/informers.js';
import type { Subscription } from '../runtime/informer.js';
import type { Component } from '../runtime/component.js';
import { instanceKind, nodeKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Node } from '../model/kinds/node.js';
import { watchStreamCount } from '../api/routes/watch.js';
import { nodeSeries, pendingByReason, usageSamples, USAGE_METRICS, type NodeSeries, type UsageSource } from './metrics-cluster.js';
import { SnapshotFamily } from './metrics-family.js';

/** Latency buckets (seconds) of API requests, store writes, reconciles and scheduling rounds. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Something else's metrics served in the same scrape (the embedded agent's). */
export interface MetricsSource {
  metrics(): Promise<string>;
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly queues = new Map<string, Set<() => number>>();
  private readonly extra = new Set<MetricsSource>();
  private app: FastifyInstance | undefined;
  private repo: Repository | undefined;
  private informers: Informers | undefined;
  /** Per-instance usage (runtime/usage.ts's UsageHistory), once the server has one. */
  usage: UsageSource | undefined;

  private readonly requests = new Counter({ name: 'stratus_api_requests_total', help: 'API requests answered, by route pattern, method and status code.', labelNames: ['route', 'method', 'code'], registers: [this.registry] });
  private readonly requestSeconds = new Histogram({ name: 'stratus_api_request_duration_seconds', help: 'API request latency, by route pattern and method.', labelNames: ['route', 'method'], buckets: BUCKETS, registers: [this.registry] });
  private readonly txnSeconds = new Histogram({ name: 'stratus_store_txn_duration_seconds', help: 'Store write (txn) latency, by result (ok, conflict, error).', labelNames: ['result'], buckets: BUCKETS, registers: [this.registry] });
  /** Nodes with a heartbeat series: a deleted node's is dropped at the next scrape (node pools come and go). */
  private readonly beating = new Set<string>();
  private readonly heartbeats: Counter<'node'> = new Counter({ name: 'stratus_agent_heartbeats_received_total', help: 'Node status heartbeats accepted from agents, by node.', labelNames: ['node'], registers: [this.registry], collect: () => {
    const nodes = this.informers?.of(nodeKind).items;
    for (const node of this.beating) {
      if (nodes?.has(node) !== false) continue;
      this.heartbeats.remove({ node });
      this.beating.delete(node);
    }
  } });
  private readonly attempts = new Counter({ name: 'stratus_scheduler_attempts_total', help: 'Instances the scheduler tried to place, by result (scheduled, unschedulable, conflict, error).', labelNames: ['result'], registers: [this.registry] });
  private readonly roundSeconds = new Histogram({ name: 'stratus_scheduler_round_duration_seconds', help: 'Latency of a scheduling round (plan and commits of one batch).', buckets: BUCKETS, registers: [this.registry] });
  private readonly reconcileSeconds = new Histogram({ name: 'stratus_controller_reconcile_duration_seconds', help: 'Latency of one reconcile of a work-queue key, by controller and result (ok, error).', labelNames: ['controller', 'result'], buckets: BUCKETS, registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const revision: Gauge = new Gauge({ name: 'stratus_store_revision', help: 'The store\'s revision (of its latest write).', registers: [this.registry], collect: async () => {
      if (this.repo) revision.set(await this.repo.revision());
    } });
    const watches: Gauge = new Gauge({ name: 'stratus_watch_clients', help: 'Watch streams open on this server.', registers: [this.registry], collect: () => {
      watches.set(this.app ? watchStreamCount(this.app) : 0);
    } });
    const depth: Gauge<'controller'> = new Gauge({ name: 'stratus_controller_queue_depth', help: 'Keys waiting in a controller\'s work queue (leader only).', labelNames: ['controller'], registers: [this.registry], collect: () => {
      depth.reset();
      for (const [name, depths] of this.queues) depth.set({ controller: name }, [...depths].reduce((n, d) => n + d(), 0));
    } });
    const pending: Gauge<'reason'> = new Gauge({ name: 'stratus_scheduler_pending_instances', help: 'Pending instances, by reason (New, NoNodes, Unschedulable, Preempting, ...).', labelNames: ['reason'], registers: [this.registry], collect: () => {
      pending.reset();
      for (const [reason, n] of pendingByReason(this.items<Instance>('instance'))) pending.set({ reason }, n);
    } });
    this.nodeGauges();
    this.usageGauges();
  }

  /** Serves the state of this server: its API app, its (observed) store and its informers. */
  attach(parts: { app?: FastifyInstance; repo?: Repository; informers?: Informers; usage?: UsageSource }): void {
    this.usage = parts.usage ?? this.usage;
    this.app = parts.app ?? this.app;
    this.repo = parts.repo ?? this.repo;
    this.informers = parts.informers ?? this.informers;
  }

  /**
   * Keeps the node and instance informers listed and watched while the server runs, so that every
   * server (not only the leader, whose scheduler uses them) answers the cluster's state.
   */
  component(): Component {
    let subs: Subscription[] = [];
    return {
      name: 'metrics',
      start: async () => {
        if (!this.informers) return;
        subs = [await this.informers.of(nodeKind).use(undefined, { replay: false }), await this.informers.of(instanceKind).use(undefined, { replay: false })];
      },
      stop: async () => {
        for (const s of subs.splice(0)) s.close();
      },
    };
  }

  /** Adds another registry's text to each scrape (the embedded agent's); returns the removal function. */
  include(source: MetricsSource): () => void {
    this.extra.add(source);
    return () => this.extra.delete(source);
  }

  /** The Prometheus text of every metric, this server's and the included ones'. */
  async text(): Promise<string> {
    const parts = [await this.registry.metrics()];
    for (const s of this.extra) parts.push(await s.metrics());
    return parts.join('\n');
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The API hook: one count and one latency per answered request, labelled by route pattern. */
  readonly onResponse = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const route = req.routeOptions.url ?? 'unmatched';
    const method = req.method;
    this.requests.inc({ route, method, code: String(reply.statusCode) });
    this.requestSeconds.observe({ route, method }, reply.elapsedTime / 1000);
    // a route pattern compared, not a path built
    // eslint-disable-next-line no-restricted-syntax
    if (method === 'PUT' && route === '/v1/nodes/:name/status' && reply.statusCode < 300 && req.principal?.node) {
      this.heartbeats.inc({ node: req.principal.node });
      this.beating.add(req.principal.node);
    }
  };

  readonly scheduler: SchedulerObserver = {
    round: (r: SchedulingRound) => {
      this.roundSeconds.observe(r.seconds);
      if (r.error) return void this.attempts.inc({ result: 'error' }, r.attempted);
      if (r.bound > 0) this.attempts.inc({ result: 'scheduled' }, r.bound);
      if (r.unschedulable > 0) this.attempts.inc({ result: 'unschedulable' }, r.unschedulable);
      if (r.conflicts > 0) this.attempts.inc({ result: 'conflict' }, r.conflicts);
    },
  };

  readonly queueObserver: QueueObserver = {
    queue: (name, depth) => {
      const set = this.queues.get(name) ?? new Set();
      this.queues.set(name, set.add(depth));
      return () => void set.delete(depth);
    },
    reconciled: (name, seconds, ok) => this.reconcileSeconds.observe({ controller: name, result: ok ? 'ok' : 'error' }, seconds),
  };

  /** Store writes timed: a backend that reports each txn's latency and outcome here. */
  timedBackend(backend: Backend): Backend {
    return timedBackend(backend, (seconds, result) => this.txnSeconds.observe({ result }, seconds));
  }

  private items<T>(kind: 'instance' | 'node'): Iterable<T> {
    const informer = this.informers?.of(kind === 'instance' ? instanceKind : nodeKind);
    return (informer?.items.values() ?? []) as Iterable<T>;
  }

  /**
   * Capacity, allocatable and allocated per node: computed once per scrape by the first family's
   * get() (a scrape reads the families in registration order, each get() called in one pass) and
   * read by the other two.
   */
  private nodeGauges(): void {
    let latest: NodeSeries[] = [];
    const of = (what: NodeSeries['what']) => latest.filter((s) => s.what === what).map((s) => ({ labels: { node: s.node, resource: s.resource }, value: s.value }));
    new SnapshotFamily('stratus_node_capacity', 'A node\'s capacity: cpu in cores, memory and disk in bytes, gpus, instances.', 'gauge', () => {
      latest = nodeSeries(this.items<Node>('node'), this.items<Instance>('instance'));
      return of('capacity');
    }).register(this.registry);
    new SnapshotFamily('stratus_node_allocatable', 'What the scheduler may allocate on a node (capacity less reserved), same units.', 'gauge', () => of('allocatable')).register(this.registry);
    new SnapshotFamily('stratus_node_allocated', 'What the instances bound to a node request (scheduled to running), same units.', 'gauge', () => of('allocated')).register(this.registry);
  }

  /** The per-instance series of the usage reports, one family per field, each a pass over the latest rows. */
  private usageGauges(): void {
    for (const m of USAGE_METRICS) {
      new SnapshotFamily(m.name, m.help, m.counter ? 'counter' : 'gauge', () => (this.usage ? usageSamples(this.usage.instances(), m.value) : [])).register(this.registry);
    }
  }
}
