/**
 * The service controller: keeps each service's replicas as planRollout() says (create, replace,
 * roll out, roll back) and publishes its status. Level triggered: any change to a service or to
 * an instance carrying the service label queues that service; a timer re-checks services whose
 * rollout is under way (deadlines, minReadySeconds).
 *
 * Services, their replicas (the instance informer's index by service label) and secrets come from
 * the shared informers, which the store updates in the tick of each commit, so a pass costs
 * O(replicas), not a scan of the project. Queued services go through a work queue
 * (runtime/workqueue.ts): one pass per service at a time, failures retried with backoff.
 */
import type { Repository } from '../store/repository.js';
import { instanceKind, secretKind, serviceKind } from '../model/kinds/index.js';
import { plural } from '../model/format.js';
import type { Instance, InstanceSpec } from '../model/kinds/instance.js';
import { replicasOf, REVISION_LABEL, SERVICE_LABEL, type Service } from '../model/kinds/service.js';
import { StratusError } from '../model/errors.js';
import { every, type Component } from '../runtime/component.js';
import type { Admission } from '../policy/admission.js';
import type { Principal } from '../policy/auth.js';
import type { EventRecorder } from '../runtime/events.js';
import type { Subscription } from '../runtime/informer.js';
import { byLabel, byProject, Informers } from '../runtime/informers.js';
import { runWorkers, WorkQueue } from '../runtime/workqueue.js';
import type { QueueObserver } from '../runtime/observers.js';
import { drainMs, planRollout, type RolloutPlan } from './rollout.js';
import { secretChanged, secretStamp } from './secret-stamp.js';
import type { Secret } from '../model/kinds/secret.js';
import { secretNamesOf } from '../model/secret-refs.js';
import { setCondition } from '../model/conditions.js';
import { isoNow } from '../model/runtime.js';

/** Services reconciled at the same time (each one by one pass at most). */
const WORKERS = 8;

const CONTROLLER: Principal = { id: 'system:service-controller', token: '', clusterAdmin: true, roles: new Map() };

/** Replicas by "<project>/<service>". */
const byService = byLabel(SERVICE_LABEL);

export interface ServiceControllerOptions {
  /** How often services still rolling out are looked at again (deadlines, minReadySeconds). */
  resyncMs?: number;
  /** The server's shared informers (default: this controller's own). */
  informers?: Informers;
  /** Told the work queue's depth and each pass's latency (the server's /metrics). */
  queueObserver?: QueueObserver;
}

export class ServiceController implements Component {
  readonly name = 'service-controller';
  private queue = new WorkQueue<string>();
  private subs: Subscription[] = [];
  private workers: Promise<void> | undefined;
  private loop: { stop(): void } | undefined;
  private lastError = '';
  private readonly informers: Informers;

  constructor(private readonly repo: Repository, private readonly events: EventRecorder, private readonly admission: Admission, private readonly opts: ServiceControllerOptions = {}) {
    this.informers = opts.informers ?? new Informers(repo);
  }

  private get services() {
    return this.informers.of<Service>(serviceKind);
  }

  private get instances() {
    return this.informers.of<Instance>(instanceKind);
  }

  /** Every service is queued at start (the informers replay what they hold), then as it, its replicas or its secrets change. */
  async start(): Promise<void> {
    // a failure other than a conflict waits 100 ms, then longer, up to the resync period
    this.queue = new WorkQueue<string>({ baseMs: 100, maxMs: this.opts.resyncMs ?? 2000, name: this.name, ...(this.opts.queueObserver ? { observer: this.opts.queueObserver } : {}) });
    this.instances.addIndex(byService);
    this.services.addIndex(byProject);
    const queueService = (s: Service) => this.enqueue(s.metadata.project!, s.metadata.name);
    const queueOwner = (i: Instance) => {
      const svc = i.metadata.labels?.[SERVICE_LABEL];
      if (svc) this.enqueue(i.metadata.project!, svc);
    };
    this.subs = [
      await this.services.use({ add: queueService, update: (_old, s) => queueService(s), delete: queueService }),
      await this.instances.use({ add: queueOwner, update: (old, i) => (queueOwner(old), queueOwner(i)), delete: queueOwner }, { replay: false }),
      await this.informers.of<Secret>(secretKind).use({
        add: (s) => this.onSecret(s),
        update: (old, s) => secretChanged(old, s) && this.onSecret(s),
        delete: (s) => this.onSecret(s),
      }, { replay: false }),
    ];
    this.loop = every(this.opts.resyncMs ?? 2000, async () => this.enqueueAll(true), (e) => (this.lastError = (e as Error).message));
    this.workers = runWorkers(this.queue, (key) => this.pass(key), {
      workers: WORKERS,
      maxRetries: Number.MAX_SAFE_INTEGER, // retried until it works; the resync looks again anyway
      onError: (key, e) => (this.lastError = `${key}: ${(e as Error).message}`),
    });
  }

  async stop(): Promise<void> {
    this.loop?.stop();
    for (const s of this.subs) s.close();
    this.subs = [];
    this.queue.shutDown();
    await this.workers;
  }

  health(): string {
    return this.lastError;
  }

  /** New values of a secret: the services whose templates use it roll out (secret-stamp.ts). */
  private onSecret(secret: Secret): void {
    const { project, name } = secret.metadata;
    for (const s of this.services.byIndex(byProject, project!)) {
      if (secretNamesOf((s as Service).spec.template.spec).includes(name)) this.enqueue(project!, s.metadata.name);
    }
  }

  private enqueue(project: string, name: string): void {
    this.queue.add(`${project}/${name}`);
  }

  /** All services (or only those still rolling out). */
  private enqueueAll(unsettledOnly = false): void {
    for (const s of this.services.items.values()) if (!unsettledOnly || s.status?.phase !== 'Available') this.enqueue(s.metadata.project!, s.metadata.name);
  }

  /** One pass; a conflict (someone wrote meanwhile) is passed again at once, other failures after backoff. */
  private async pass(key: string): Promise<void> {
    const [project, name] = key.split('/') as [string, string];
    try {
      await this.reconcile(project, name);
      this.lastError = '';
    } catch (e) {
      if (!(e instanceof StratusError && e.code === 'STRATUS_ERR_CONFLICT')) throw e;
      this.lastError = `${key}: ${e.message}`;
      this.queue.add(key);
    }
  }

  /** One pass over one service. Exposed for tests. */
  async reconcile(project: string, name: string): Promise<void> {
    const replicas = this.instances.byIndex(byService, `${project}/${name}`);
    const stored = await this.repo.find<Service>(serviceKind, name, project);
    if (!stored) {
      for (const i of replicas) await this.remove(i);
      return;
    }
    // with spec.autoscale the count is the autoscaler's (status.autoscale), spec.replicas stays as written
    const svc: Service = { ...stored, spec: { ...stored.spec, replicas: replicasOf(stored) } };
    const plan = planRollout(svc, replicas, this.repo.clock.now(), await secretStamp(this.repo, project, svc.spec.template.spec));
    if (plan.started) void this.events.record(target(svc), 'Normal', 'RolloutStarted', `rolling out revision ${plan.started} to ${plural(svc.spec.replicas, 'replica')}`);
    for (const r of plan.remove) {
      await this.remove(r.instance);
      void this.events.record(target(svc), 'Normal', 'ReplicaRemoved', r.why);
    }
    for (const r of plan.drain) {
      await this.drain(r.instance, r.why);
      void this.events.record(target(svc), 'Normal', 'ReplicaDraining', `${r.why}; draining it first`);
    }
    if (plan.drain.length > 0) this.queue.addAfter(`${project}/${name}`, drainMs(svc) + 50);
    const created = await this.createReplicas(svc, plan);
    if (plan.rollback) await this.rollback(svc, plan);
    await this.publish(stored, plan, created);
  }

  private async createReplicas(svc: Service, plan: RolloutPlan): Promise<string | undefined> {
    for (let i = 0; i < plan.create; i++) {
      const input = replicaOf(svc, plan.status.revision!, this.repo.ids.secret(4).toLowerCase().replace(/[^a-z0-9]/g, 'x').slice(0, 5));
      try {
        await this.admission.admit({ op: 'create', kind: instanceKind, name: input.metadata.name, project: svc.metadata.project, object: input, principal: CONTROLLER });
        await this.repo.create(instanceKind, input, { actor: CONTROLLER.id });
      } catch (e) {
        if (!(e instanceof StratusError)) throw e;
        void this.events.record(target(svc), 'Warning', 'ReplicaRefused', e.message);
        return e.message;
      }
    }
    return undefined;
  }

  private async rollback(svc: Service, plan: RolloutPlan): Promise<void> {
    const { to, from, reason } = plan.rollback!;
    await this.repo.update<Service>(serviceKind, svc.metadata.name, svc.metadata.project, (cur) => ({
      ...cur,
      metadata: { ...cur.metadata, generation: cur.metadata.generation + 1 },
      spec: { ...cur.spec, template: to.template as Service['spec']['template'] },
      status: plan.status,
    }));
    void this.events.record(target(svc), 'Warning', 'RolledBack', `revision ${from} failed: ${reason}; rolled back to revision ${to.revision}`);
  }

  private async publish(svc: Service, plan: RolloutPlan, refused: string | undefined): Promise<void> {
    if (plan.rollback) return;
    const status = refused ? { ...plan.status, phase: 'Degraded' as const, message: `cannot create replicas: ${refused}` } : plan.status;
    if (JSON.stringify(status) === JSON.stringify(svc.status)) return;
    await this.repo.setStatus(serviceKind, svc, status);
  }

  /** Marks a replica Draining: load balancers send it nothing new; a later pass deletes it. */
  private async drain(i: Instance, why: string): Promise<void> {
    const now = isoNow(this.repo.clock);
    await this.repo.update<Instance>(instanceKind, i.metadata.name, i.metadata.project, (cur) => ({
      ...cur,
      status: { ...(cur.status ?? { phase: 'Pending' }), conditions: setCondition(cur.status?.conditions, { type: 'Draining', status: 'True', reason: 'Retiring', message: why }, now) },
    }));
  }

  private async remove(i: Instance): Promise<void> {
    try {
      await this.repo.delete(instanceKind, i.metadata.name, i.metadata.project);
    } catch (e) {
      if (!(e instanceof StratusError && e.code === 'STRATUS_ERR_NOT_FOUND')) throw e;
    }
  }
}

/** A new replica of `svc` at `revision`: the template, the service labels, spreading by default. */
export function replicaOf(svc: Service, revision: number, suffix: string) {
  const t = svc.spec.template;
  const spec: InstanceSpec = { ...t.spec };
  const p = spec.placement;
  if (!p?.affinity && !p?.antiAffinity && !p?.spread) {
    const self = `${SERVICE_LABEL}=${svc.metadata.name}`;
    spec.placement = {
      ...p,
      antiAffinity: [
        { selector: self, topology: 'node', required: false, weight: 60 },
        { selector: self, topology: 'zone', required: false, weight: 40 },
      ],
    };
  }
  return {
    metadata: {
      name: `${svc.metadata.name.slice(0, 57)}-${suffix}`,
      project: svc.metadata.project,
      labels: { ...t.metadata?.labels, [SERVICE_LABEL]: svc.metadata.name, [REVISION_LABEL]: String(revision) },
      ...(t.metadata?.annotations ? { annotations: t.metadata.annotations } : {}),
      owner: { kind: 'service', name: svc.metadata.name },
    },
    spec,
  };
}

function target(s: Service) {
  return { kind: 'service', name: s.metadata.name, project: s.metadata.project };
}
