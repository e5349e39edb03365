/**
 * The autoscaler: for each service with `spec.autoscale`, every `intervalMs` and after each usage
 * report, measures its replicas (UsageHistory: the agents' reports), decides (autoscale-decide.ts),
 * and writes `status.autoscale` (metric, target, desired count, why, last decisions). The services
 * controller keeps `status.autoscale.desiredReplicas` replicas (and drains those it removes);
 * `spec.replicas` is never written, so a stack applied again does not fight the autoscaler.
 *
 *   usage reports ─▶ UsageHistory ─▶ measure ─▶ decide ─▶ quota cap ─▶ status.autoscale ─▶ services controller
 *                                                                      events ScaledUp / ScaledDown / ScaleBlocked
 *
 * Leader only. The stabilisation window lives in memory: a new leader starts each window with the
 * count it finds (no scale-down for one window after a takeover). A scale-up is capped by what the
 * project's quotas leave room for (the same figures the quota admission of the replicas' creation
 * checks), and says so in `status.autoscale.blocked` and a ScaleBlocked event.
 */
import type { Repository } from '../store/repository.js';
import { instanceKind, projectKind, serviceKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Project } from '../model/kinds/project.js';
import { replicasOf, SERVICE_LABEL, type Service } from '../model/kinds/service.js';
import { timingsOf, type AutoscaleDecision, type AutoscaleSpec, type AutoscaleStatus } from '../model/kinds/service-autoscale.js';
import { FINISHED } from '../model/lifecycle.js';
import { plural } from '../model/format.js';
import { isoNow } from '../model/runtime.js';
import { StratusError } from '../model/errors.js';
import { every, type Component } from '../runtime/component.js';
import type { EventRecorder } from '../runtime/events.js';
import type { Subscription } from '../runtime/informer.js';
import { byLabel, Informers } from '../runtime/informers.js';
import type { UsageHistory } from '../runtime/usage.js';
import { decide, type Decision, type Recommendation, type ReplicaSample } from './autoscale-decide.js';
import { isDraining, isReady } from './rollout.js';
import { quotaRoom } from './autoscale-quota.js';
import { QuotaTracker } from '../policy/quota.js';

const byService = byLabel(SERVICE_LABEL);
const DECISIONS = 10;

export interface AutoscalerOptions {
  informers?: Informers;
  /** How often every autoscaled service is evaluated (besides after each usage report). Default 5 s. */
  intervalMs?: number;
  /**
   * A replica's cpu or memory is the average of its last two reports (each an average over the
   * agent's report interval) within this span; none within it: not measured. Default 30 s.
   */
  freshMs?: number;
  /** The span a service's connection rate is measured over (two reports of each node at least). Default 10 s. */
  rateMs?: number;
  /** Status is written when the count, the block or the decisions change, else at most this often. Default 15 s. */
  statusEveryMs?: number;
  /**
   * What the projects' quotas have in use. Default: a QuotaTracker of the autoscaler's own on the
   * shared informers (the figures the quota admission counts, less the reservations of creates in
   * flight on the API side, which last until the informer sees them: the same tick as the commit).
   */
  quota?: { usage(project: string): Partial<Record<string, number>> };
}

/** What the autoscaler reads of the usage history. */
export type UsageSource = Pick<UsageHistory, 'history' | 'serviceRate' | 'onReport'>;

export class Autoscaler implements Component {
  readonly name = 'autoscaler';
  private readonly informers: Informers;
  private readonly windows = new Map<string, Recommendation[]>();
  private readonly written = new Map<string, number>();
  private subs: Subscription[] = [];
  private loop: { stop(): void } | undefined;
  private offReport: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private lastError = '';
  private ownQuota: QuotaTracker | undefined;

  constructor(private readonly repo: Repository, private readonly events: EventRecorder, private readonly usage: UsageSource, private readonly opts: AutoscalerOptions = {}) {
    this.informers = opts.informers ?? new Informers(repo);
  }

  private get services() {
    return this.informers.of<Service>(serviceKind);
  }

  private get instances() {
    return this.informers.of<Instance>(instanceKind);
  }

  async start(): Promise<void> {
    if (!this.opts.quota) {
      this.ownQuota = new QuotaTracker(this.repo, undefined, this.informers);
      await this.ownQuota.start();
    }
    this.instances.addIndex(byService);
    this.subs = [await this.services.use(), await this.instances.use(), await this.informers.of<Project>(projectKind).use()];
    this.loop = every(this.opts.intervalMs ?? 5000, () => this.evaluateAll(), (e) => (this.lastError = (e as Error).message));
    this.offReport = this.usage.onReport(() => void this.evaluateAll().catch((e: Error) => (this.lastError = e.message)));
  }

  async stop(): Promise<void> {
    this.loop?.stop();
    this.offReport?.();
    for (const s of this.subs) s.close();
    this.subs = [];
    await this.running;
    await this.ownQuota?.stop();
  }

  health(): string {
    return this.lastError;
  }

  /** One pass over every autoscaled service; a pass asked for while one runs follows it (once). */
  evaluateAll(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        this.forgetGone();
        for (const s of [...this.services.items.values()]) {
          if (!s.spec.autoscale) continue;
          await this.evaluate(s).catch((e: Error) => {
            if (!(e instanceof StratusError && (e.code === 'STRATUS_ERR_CONFLICT' || e.code === 'STRATUS_ERR_NOT_FOUND'))) this.lastError = `${key(s)}: ${e.message}`;
          });
        }
      } while (this.again);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Windows and write times of services that are gone or no longer autoscaled. */
  private forgetGone(): void {
    for (const k of [...this.windows.keys(), ...this.written.keys()]) {
      if (!this.services.items.get(k)?.spec.autoscale) {
        this.windows.delete(k);
        this.written.delete(k);
      }
    }
  }

  /** Measures, decides and writes the status of one service. Exposed for tests. */
  async evaluate(svc: Service): Promise<Decision> {
    const a = svc.spec.autoscale!;
    const now = this.repo.clock.now();
    const k = key(svc);
    const st = svc.status?.autoscale;
    const current = replicasOf(svc);
    const live = this.instances.byIndex(byService, k).filter((i) => !FINISHED.has(i.status?.phase ?? 'Pending') && !isDraining(i));
    // a new leader (or a new policy) starts the window with the count it finds: no scale-down for one window
    const window = this.windows.get(k) ?? [{ at: now, replicas: current }];
    const t = timingsOf(a);
    const d = decide({
      now, current, replicas: this.samples(svc, a, live), target: a.target, min: a.min, max: a.max, window, ...t,
      ...(st?.lastScaleUp ? { lastScaleUp: Date.parse(st.lastScaleUp) } : {}),
      ...(st?.lastScaleDown ? { lastScaleDown: Date.parse(st.lastScaleDown) } : {}),
    });
    this.windows.set(k, d.window);
    const blocked = d.desired > current ? this.capByQuota(svc, d, live.length) : undefined;
    await this.write(svc, a, d, current, blocked, now);
    return d;
  }

  /** Each live replica's metric in the target's unit (undefined: not measured in the sample span). */
  private samples(svc: Service, a: AutoscaleSpec, live: Instance[]): ReplicaSample[] {
    if (a.metric === 'connections-per-second') {
      const rate = this.usage.serviceRate(svc.metadata.project!, svc.metadata.name, this.opts.rateMs ?? 10_000, 'connections');
      const ready = live.filter(isReady).length;
      return live.map((i) => ({ ready: isReady(i), ...(rate !== undefined && ready > 0 ? { value: rate / ready } : {}) }));
    }
    return live.map((i) => {
      const points = this.usage.history(i.metadata.uid, this.opts.freshMs ?? 30_000).slice(-2);
      const requested = a.metric === 'cpu' ? i.spec.resources.cpu : i.spec.resources.memory;
      if (points.length === 0 || !requested) return { ready: isReady(i) };
      const avg = points.reduce((sum, p) => sum + (a.metric === 'cpu' ? p.cpu : p.memory), 0) / points.length;
      return { ready: isReady(i), value: (avg / requested) * 100 };
    });
  }

  /** Lowers `d.desired` to what the project's quotas leave room for; returns why, when it had to. */
  private capByQuota(svc: Service, d: Decision, live: number): string | undefined {
    const quota = this.opts.quota ?? this.ownQuota;
    if (!quota) return undefined;
    const project = this.informers.of<Project>(projectKind).get(svc.metadata.project!);
    const room = quotaRoom(svc, project?.spec.quotas, quota.usage(svc.metadata.project!), d.desired - live);
    if (!room) return undefined;
    const wanted = d.desired;
    d.desired = Math.max(replicasOf(svc), live + room.fits);
    return `scale-up to ${wanted} blocked by project "${svc.metadata.project}" quota: ${room.why}; keeping ${d.desired}`;
  }

  private async write(svc: Service, a: AutoscaleSpec, d: Decision, current: number, blocked: string | undefined, now: number): Promise<void> {
    const k = key(svc);
    const prev = svc.status?.autoscale;
    const at = isoNow(this.repo.clock);
    const changed = d.desired !== current;
    const decision: AutoscaleDecision | undefined = changed
      ? { at, from: current, to: d.desired, reason: blocked ? `${d.reason}; ${blocked}` : d.reason }
      : blocked && blocked !== prev?.blocked ? { at, from: current, to: current, reason: blocked } : undefined;
    const next: AutoscaleStatus = {
      metric: a.metric, target: a.target,
      ...(d.value !== undefined ? { current: Math.round(d.value * 100) / 100, measuredAt: at } : prev?.current !== undefined ? { current: prev.current, measuredAt: prev.measuredAt } : {}),
      desiredReplicas: d.desired,
      ...(d.recommended !== undefined ? { recommended: d.recommended } : {}),
      reason: d.reason,
      ...(blocked ? { blocked } : {}),
      ...(d.desired > current ? { lastScaleUp: at } : prev?.lastScaleUp ? { lastScaleUp: prev.lastScaleUp } : {}),
      ...(d.desired < current ? { lastScaleDown: at } : prev?.lastScaleDown ? { lastScaleDown: prev.lastScaleDown } : {}),
      decisions: [...(prev?.decisions ?? []), ...(decision ? [decision] : [])].slice(-DECISIONS),
    };
    const material = decision !== undefined || prev?.desiredReplicas !== next.desiredReplicas || prev?.blocked !== next.blocked;
    if (!material && now - (this.written.get(k) ?? 0) < (this.opts.statusEveryMs ?? 15_000)) return;
    await this.repo.update<Service>(serviceKind, svc.metadata.name, svc.metadata.project, (cur) => {
      // the policy or the count changed under us (another leader, a user): the next pass decides again
      if (JSON.stringify(cur.spec.autoscale) !== JSON.stringify(a) || replicasOf(cur) !== current) return undefined;
      return { ...cur, status: { ...cur.status, autoscale: next } };
    });
    this.written.set(k, now);
    const target = { kind: 'service', name: svc.metadata.name, project: svc.metadata.project };
    if (d.desired > current) void this.events.record(target, 'Normal', 'ScaledUp', `${current} → ${plural(d.desired, 'replica')}: ${d.reason}`);
    if (d.desired < current) void this.events.record(target, 'Normal', 'ScaledDown', `${current} → ${plural(d.desired, 'replica')}: ${d.reason}`);
    if (blocked) void this.events.record(target, 'Warning', 'ScaleBlocked', blocked);
  }
}

function key(s: Service): string {
  return `${s.metadata.project}/${s.metadata.name}`;
}
