/**
 * The service controller: keeps each service's replicas as planRollout() says (create, replace,
 * roll out, roll back) and publishes its status. Level triggered: any change to a service or to
 * an instance carrying the service label queues that service; a timer re-checks services whose
 * rollout is under way (deadlines, minReadySeconds).
 *
 * Replicas are indexed by service from the instance watch (which the store delivers in the same
 * tick as each commit), so a pass costs O(replicas), not a scan of the project.
 */
import type { Repository, ObjectEvent } from '../store/repository.js';
import type { Watcher } from '../store/backend.js';
import { instanceKind, secretKind, serviceKind } from '../model/kinds/index.js';
import { plural } from '../model/format.js';
import type { Instance, InstanceSpec } from '../model/kinds/instance.js';
import { REVISION_LABEL, SERVICE_LABEL, type Service } from '../model/kinds/service.js';
import { StratusError } from '../model/errors.js';
import { every, type Component } from '../runtime/component.js';
import type { Admission } from '../policy/admission.js';
import type { Principal } from '../policy/auth.js';
import type { EventRecorder } from '../runtime/events.js';
import { drainMs, planRollout, type RolloutPlan } from './rollout.js';
import { secretChanged, secretStamp } from './secret-stamp.js';
import type { Secret } from '../model/kinds/secret.js';
import { secretNamesOf } from '../model/secret-refs.js';
import { setCondition } from '../model/conditions.js';
import { isoNow } from '../model/runtime.js';

/** Services reconciled at the same time (each one by one pass at most). */
const WORKERS = 8;

const CONTROLLER: Principal = { id: 'system:service-controller', token: '', clusterAdmin: true, roles: new Map() };

export class ServiceController implements Component {
  readonly name = 'service-controller';
  private readonly queue = new Set<string>();
  /** Services being reconciled now: one pass per service at a time. */
  private readonly busy = new Set<string>();
  /** project/service → uid → replica, kept from the instance watch. */
  private readonly replicas = new Map<string, Map<string, Instance>>();
  private watchers: Watcher[] = [];
  private running = false;
  private worker: Promise<void> | undefined;
  private waiters: (() => void)[] = [];
  private loop: { stop(): void } | undefined;
  private lastError = '';

  constructor(private readonly repo: Repository, private readonly events: EventRecorder, private readonly admission: Admission, private readonly resyncMs = 2000) {}

  async start(): Promise<void> {
    this.running = true;
    const revision = await this.repo.revision();
    this.replicas.clear();
    const { items } = await this.repo.list<Instance>(instanceKind, { selector: [{ key: SERVICE_LABEL, op: 'exists', values: [] }] });
    for (const i of items) this.index(i, true);
    this.watchers = [
      this.repo.watch<Service>(serviceKind, undefined, revision, (e) => this.onService(e)),
      this.repo.watch<Instance>(instanceKind, undefined, revision, (e) => this.onInstance(e)),
      this.repo.watch<Secret>(secretKind, undefined, revision, (e) => this.onSecret(e)),
    ];
    await this.enqueueAll();
    this.loop = every(this.resyncMs, () => this.enqueueAll(true), (e) => (this.lastError = (e as Error).message));
    this.worker = Promise.all(Array.from({ length: WORKERS }, () => this.work())).then(() => undefined);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.loop?.stop();
    for (const w of this.watchers) w.close();
    this.wakeAll();
    await this.worker;
  }

  health(): string {
    return this.lastError;
  }

  private onService(e: ObjectEvent<Service>): void {
    if (e.type === 'resync') return void this.enqueueAll();
    this.enqueue(e.object.metadata.project!, e.object.metadata.name);
  }

  private onInstance(e: ObjectEvent<Instance>): void {
    if (e.type === 'resync') {
      void this.stop().then(() => this.start()).catch((err: Error) => (this.lastError = err.message));
      return;
    }
    if (e.type === 'put' && e.prev) this.index(e.prev, false);
    this.index(e.object, e.type === 'put');
    const svc = e.object.metadata.labels?.[SERVICE_LABEL] ?? (e.type === 'put' ? e.prev?.metadata.labels?.[SERVICE_LABEL] : undefined);
    if (svc) this.enqueue(e.object.metadata.project!, svc);
  }

  /** New values of a secret: the services whose templates use it roll out (secret-stamp.ts). */
  private onSecret(e: ObjectEvent<Secret>): void {
    if (e.type === 'resync') return void this.enqueueAll();
    if (e.type === 'put' && !secretChanged(e.prev, e.object)) return;
    const { project, name } = e.object.metadata;
    void this.repo.list<Service>(serviceKind, { project, filter: (s) => secretNamesOf((s as Service).spec.template.spec).includes(name) })
      .then(({ items }) => items.forEach((s) => this.enqueue(project!, s.metadata.name)))
      .catch((err: Error) => (this.lastError = err.message));
  }

  private index(i: Instance, present: boolean): void {
    const svc = i.metadata.labels?.[SERVICE_LABEL];
    if (!svc) return;
    const key = `${i.metadata.project}/${svc}`;
    let set = this.replicas.get(key);
    if (present) {
      if (!set) this.replicas.set(key, (set = new Map()));
      set.set(i.metadata.uid, i);
    } else {
      set?.delete(i.metadata.uid);
      if (set?.size === 0) this.replicas.delete(key);
    }
  }

  private enqueue(project: string, name: string): void {
    this.queue.add(`${project}/${name}`);
    this.wakeAll();
  }

  /** All services (or only those still rolling out). */
  private async enqueueAll(unsettledOnly = false): Promise<void> {
    const { items } = await this.repo.list<Service>(serviceKind);
    for (const s of items) if (!unsettledOnly || s.status?.phase !== 'Available') this.enqueue(s.metadata.project!, s.metadata.name);
  }

  /** One of WORKERS loops: takes a queued service no other loop is working on. */
  private async work(): Promise<void> {
    while (this.running) {
      const key = [...this.queue].find((k) => !this.busy.has(k));
      if (key === undefined) {
        await new Promise<void>((r) => this.waiters.push(r));
        continue;
      }
      this.queue.delete(key);
      this.busy.add(key);
      const [project, name] = key.split('/') as [string, string];
      try {
        await this.reconcile(project, name);
        this.lastError = '';
      } catch (e) {
        this.lastError = `${key}: ${(e as Error).message}`;
        if (!(e instanceof StratusError && e.code === 'STRATUS_ERR_CONFLICT')) await new Promise((r) => setTimeout(r, 100));
        this.queue.add(key);
      } finally {
        this.busy.delete(key);
        this.wakeAll();
      }
    }
  }

  private wakeAll(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** One pass over one service. Exposed for tests. */
  async reconcile(project: string, name: string): Promise<void> {
    const replicas = [...(this.replicas.get(`${project}/${name}`)?.values() ?? [])];
    const svc = await this.repo.find<Service>(serviceKind, name, project);
    if (!svc) {
      for (const i of replicas) await this.remove(i);
      return;
    }
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
    if (plan.drain.length > 0) setTimeout(() => this.enqueue(project, name), drainMs(svc) + 50).unref();
    const created = await this.createReplicas(svc, plan);
    if (plan.rollback) await this.rollback(svc, plan);
    await this.publish(svc, plan, created);
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
