/** The control-plane components `stratus server` runs besides the API. */
import type { Component } from '../runtime/component.js';
import { WhileLeading } from '../runtime/leading.js';
import type { Informers } from '../runtime/informers.js';
import type { ServerContext } from './main.js';
import { Scheduler } from '../scheduler/live.js';
import { NodeController } from '../controllers/nodes.js';
import { EventRecorder } from '../runtime/events.js';
import { eventSweeper } from '../controllers/event-sweeper.js';
import { InstanceEvents } from '../controllers/instance-events.js';
import { ServiceController } from '../controllers/services.js';
import { Autoscaler } from '../controllers/autoscaler.js';
import { StackController } from '../controllers/stacks.js';
import { NetworkController } from '../controllers/network/networks.js';
import { ProjectUsageController } from '../controllers/project-usage.js';
import { StackStatusController } from '../controllers/stack-status.js';
import { ProjectDeleteController } from '../controllers/project-delete.js';
import type { PolicyChoice } from '../scheduler/engine/types.js';
import { embeddedAgent, type EmbeddedAgentOptions } from './embedded-agent.js';
import { CONTROLLERS_ELECTION } from '../model/cluster.js';
import { ClusterAutoscaler } from '../scheduler/pools/autoscaler.js';
import { BudgetController } from '../controllers/budgets.js';
import { MeteringController } from '../controllers/metering.js';
import { VolumeController } from '../controllers/volumes.js';
import { onNode } from '../api/routes/volumes.js';
import { join, resolve } from 'node:path';

export interface ComponentOptions {
  scheduler: boolean;
  policy: string;
  /** A node that misses heartbeats this long is Down. */
  nodeTimeoutMs?: number;
  /** Events older than this are deleted. */
  eventTtlMs?: number;
  /** The leader's lease TTL in seconds: a dead leader is replaced within about this long (default: 3 on etcd, 10 on a single-process store). */
  leaderTtlSeconds?: number;
  /** The metering controller's flush period and retention (controllers/metering.ts). */
  metering?: { flushMs?: number; retentionDays?: number };
  /** How often the budgets controller computes month-to-date costs (controllers/budgets.ts; default 1 min). */
  budgetIntervalMs?: number;
  /** Run an agent for this machine inside the server. */
  agent?: EmbeddedAgentOptions;
}

/**
 * The scheduler and the controllers run only while this server leads (runtime/leading.ts), built
 * afresh each time it is elected; the embedded agent runs on every server, as the API does.
 */
export function serverComponents(options: ComponentOptions): (ctx: ServerContext) => Component[] {
  return (ctx) => {
    const shared = ctx.backend.name === 'etcd'; // several servers may share it: who leads is worth a log line
    const ttlSeconds = options.leaderTtlSeconds ?? (shared ? 3 : 10);
    // the server's shared informers (ServerContext.informers), which the API side's auth cache and quota use too
    const out: Component[] = [new WhileLeading(ctx.repo, { election: CONTROLLERS_ELECTION, identity: ctx.identity, ttlSeconds, ...(shared ? { log: (m: string) => console.error(`stratus server: ${m}`) } : {}) }, () => leaderComponents(ctx, options, ctx.informers))];
    if (options.agent) out.push(embeddedAgent(ctx, options.agent));
    return out;
  };
}

/** What runs on the leader only, in start order. */
function leaderComponents(ctx: ServerContext, options: ComponentOptions, informers: Informers): Component[] {
  const out: Component[] = [];
  if (options.scheduler) {
    out.push(new Scheduler(ctx.repo, new EventRecorder(ctx.repo, 'scheduler'), { policy: options.policy as PolicyChoice, informers, observer: ctx.metrics.scheduler }));
    // node pools: asks the scheduler's engine which machines would let pending instances in
    out.push(new ClusterAutoscaler(ctx.repo, new EventRecorder(ctx.repo, 'cluster-autoscaler'), {
      informers, policy: options.policy as PolicyChoice, servers: () => [ctx.config.advertiseUrl ?? ctx.url], localDir: join(resolve(ctx.config.dataDir), 'pools'),
    }));
  }
  out.push(new NodeController(ctx.repo, new EventRecorder(ctx.repo, 'node-controller'), { heartbeatTimeoutMs: options.nodeTimeoutMs ?? 10_000, informers }));
  // services' host ports (nodes with host networking) come from the range published ports come from
  out.push(new NetworkController(ctx.repo, new EventRecorder(ctx.repo, 'network-controller'), { informers, ...(ctx.config.nodePortRange ? { nodePortRange: ctx.config.nodePortRange } : {}) }));
  out.push(new InstanceEvents(ctx.repo, new EventRecorder(ctx.repo, 'agent'), informers));
  out.push(new ServiceController(ctx.repo, new EventRecorder(ctx.repo, 'service-controller'), ctx.admission, { informers, queueObserver: ctx.metrics.queueObserver }));
  // services with spec.autoscale: status.autoscale.desiredReplicas from the nodes' usage reports
  out.push(new Autoscaler(ctx.repo, new EventRecorder(ctx.repo, 'autoscaler'), ctx.usage, { informers, quota: ctx.quota }));
  out.push(new StackController(ctx.repo, new EventRecorder(ctx.repo, 'stack-controller'), undefined, informers));
  // volumes: their node (the first instance's that used one) and who uses them now
  out.push(new VolumeController(ctx.repo, informers, { removeData: (node, op, params) => onNode({ repo: ctx.repo, clock: ctx.repo.clock }, node, op, params) }));
  out.push(new ProjectUsageController(ctx.repo, { informers }));
  out.push(new StackStatusController(ctx.repo, { informers }));
  out.push(new ProjectDeleteController(ctx.repo, { audit: ctx.audit, secrets: ctx.secrets, admission: ctx.admission }, { informers, queueObserver: ctx.metrics.queueObserver }));
  // usage reports → hourly metered records (cost reports read them on every server)
  out.push(new MeteringController(ctx.repo, { informers, ...options.metering }));
  // budgets: month-to-date cost, threshold events, status.exceeded for the budget admission check
  out.push(new BudgetController(ctx.repo, new EventRecorder(ctx.repo, 'budgets'), { ...(options.budgetIntervalMs ? { intervalMs: options.budgetIntervalMs } : {}) }));
  out.push(eventSweeper(ctx.repo, options.eventTtlMs ?? 3_600_000));
  return out;
}
