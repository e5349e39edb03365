/**
 * The project-delete controller: empties each project being deleted, then deletes it (a
 * finalizer, in Kubernetes' terms).
 *
 *   DELETE /v1/projects/P?cascade=true ─▶ status.phase Deleting, status.deletion {startedAt, waitingFor}
 *
 *   project informer ─▶ work queue (runtime/workqueue.ts) ─▶ pass: delete what P holds, owners first (model/cascade.ts: stacks,
 *                              services, then the rest), each with its audit record; a secret's
 *                              sealed values in the same transaction (policy/secret-data.ts)
 *                          ─▶ something left: status.deletion.waitingFor says what; again after the queue's backoff
 *                          ─▶ nothing left: delete P (its admission checks it is empty)
 *
 * Creating in a Deleting project is refused (policy/admission.ts), so the service controller
 * cannot bring replicas back; a pass that still finds something (a controller that had not seen
 * the phase yet) is repeated. Level triggered: a restarted server finds its Deleting projects and
 * finishes them.
 */
import type { Repository } from '../store/repository.js';
import { deletionOf, type Kind, type StoredObject } from '../model/kind.js';
import { ALL_KINDS, projectKind, secretKind } from '../model/kinds/index.js';
import type { Project } from '../model/kinds/project.js';
import { cascadeOrder, isDeleting } from '../model/cascade.js';
import { StratusError } from '../model/errors.js';
import { every, type Component } from '../runtime/component.js';
import { runWorkers, WorkQueue } from '../runtime/workqueue.js';
import type { QueueObserver } from '../runtime/observers.js';
import type { Subscription } from '../runtime/informer.js';
import { Informers } from '../runtime/informers.js';
import type { Admission } from '../policy/admission.js';
import type { AuditLog } from '../policy/audit.js';
import type { Principal } from '../policy/auth.js';
import type { SecretData } from '../policy/secret-data.js';
import { projectContents, type Holding } from '../policy/project-contents.js';

const CONTROLLER: Principal = { id: 'system:project-delete', token: '', clusterAdmin: true, roles: new Map() };

export interface ProjectDeleteOptions {
  /** The first retry of a project that still holds something; doubled each time up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
  /** Every so often, every Deleting project is looked at again (a missed event, a failed pass). */
  resyncMs?: number;
  /** The server's shared informers (default: this controller's own). */
  informers?: Informers;
  /** Told the work queue's depth and each pass's latency (the server's /metrics). */
  queueObserver?: QueueObserver;
}

export interface ProjectDeleteDeps {
  audit: AuditLog;
  secrets: SecretData;
  admission: Admission;
}

/** A pass that found the project still holding something: retried after the queue's backoff. */
class StillHolding extends Error {}

export class ProjectDeleteController implements Component {
  readonly name = 'project-delete';
  private sub: Subscription | undefined;
  private readonly informers: Informers;
  private loop: { stop(): void } | undefined;
  private queue = new WorkQueue<string>();
  private workers: Promise<void> | undefined;
  private lastError = '';

  constructor(private readonly repo: Repository, private readonly deps: ProjectDeleteDeps, private readonly opts: ProjectDeleteOptions = {}) {
    this.informers = opts.informers ?? new Informers(repo);
  }

  async start(): Promise<void> {
    this.queue = new WorkQueue<string>({ baseMs: this.opts.retryMs ?? 100, maxMs: this.opts.maxRetryMs ?? 5000, name: this.name, ...(this.opts.queueObserver ? { observer: this.opts.queueObserver } : {}) });
    this.workers = runWorkers(this.queue, async (name) => {
      if (!(await this.reconcile(name))) throw new StillHolding(name);
    }, {
      maxRetries: Number.MAX_SAFE_INTEGER, // a project being deleted is retried until it is gone
      onError: (name, e) => {
        if (!(e instanceof StillHolding)) this.lastError = `project ${name}: ${(e as Error).message}`;
      },
    });
    await this.subscribe();
    this.loop = every(this.opts.resyncMs ?? 30_000, async () => this.enqueueDeleting(), (e) => (this.lastError = (e as Error).message));
  }

  async stop(): Promise<void> {
    this.sub?.close();
    this.sub = undefined;
    this.loop?.stop();
    this.queue.shutDown();
    await this.workers;
  }

  health(): string {
    return this.lastError;
  }

  /**
   * Subscribes to the project informer: a project added or written while Deleting is queued (the
   * informer replays those it holds, so those already Deleting are queued at start).
   */
  private async subscribe(): Promise<void> {
    const seen = (p: Project) => {
      if (isDeleting(p)) this.queue.add(p.metadata.name);
    };
    this.sub = await this.informers.of<Project>(projectKind).use({ add: seen, update: (_old, p) => seen(p) });
  }

  /** Queues every Deleting project the informer holds. */
  private enqueueDeleting(): void {
    for (const p of this.informers.of<Project>(projectKind).list(isDeleting)) this.queue.add(p.metadata.name);
  }

  /**
   * One pass over project `name`: whether it is done with (deleted, or not being deleted). Deletes
   * what it holds; once it holds nothing, the project itself; else writes what it waits for.
   */
  async reconcile(name: string): Promise<boolean> {
    const project = await this.repo.find<Project>(projectKind, name);
    if (!isDeleting(project)) return true;
    const refused = await this.deleteContents(name);
    const left = await projectContents(this.repo, name);
    if (left.length === 0 && refused.length === 0) {
      await this.deleteContents(name); // what came meanwhile and does not hold it (events)
      await this.deleteProject(project);
      return true;
    }
    await this.report(name, left, refused);
    return false;
  }

  /** Deletes every object of the project, owners first; the messages of the deletes that failed. */
  private async deleteContents(project: string): Promise<string[]> {
    const refused: string[] = [];
    for (const kind of cascadeOrder(ALL_KINDS)) {
      for (const obj of (await this.repo.list(kind, { project })).items) {
        try {
          await this.deleteOne(kind, obj, project);
        } catch (e) {
          if (e instanceof StratusError && e.code === 'STRATUS_ERR_NOT_FOUND') continue;
          refused.push(`${kind.kind}/${obj.metadata.name}: ${(e as Error).message}`);
        }
      }
    }
    return refused;
  }

  private async deleteOne(kind: Kind, obj: StoredObject, project: string): Promise<void> {
    const name = obj.metadata.name;
    const { op } = this.deps.audit.op(this.auditOf('cascade-delete', kind.kind, name, project));
    const sealed = kind === secretKind ? await this.deps.secrets.deleteOps(project, name) : [];
    await this.repo.delete(kind, name, project, { extraOps: [op, ...sealed] });
  }

  private async deleteProject(project: Project): Promise<void> {
    const name = project.metadata.name;
    const guards = await this.deps.admission.admit({ op: 'delete', kind: projectKind, name, prev: project, principal: CONTROLLER });
    const { op } = this.deps.audit.op(this.auditOf('delete', 'project', name));
    try {
      await this.repo.delete(projectKind, name, undefined, { extraOps: [op, ...guards] });
    } catch (e) {
      if (!(e instanceof StratusError && e.code === 'STRATUS_ERR_NOT_FOUND')) throw e;
    }
  }

  /** Writes what the deletion still waits for (and why it is stuck, if a delete was refused), when that changed. */
  private async report(name: string, left: Holding[], refused: string[]): Promise<void> {
    await this.repo.update<Project>(projectKind, name, undefined, (cur) => {
      if (!isDeleting(cur)) return undefined;
      const prev = deletionOf(cur);
      const deletion = { startedAt: prev?.startedAt ?? cur.metadata.updatedAt ?? cur.metadata.createdAt, waitingFor: left, ...(refused.length ? { message: `refused: ${refused.slice(0, 3).join('; ')}` } : {}) };
      if (JSON.stringify(deletion) === JSON.stringify(prev)) return undefined;
      return { ...cur, status: { ...cur.status, deletion } };
    });
  }

  private auditOf(action: string, kind: string, name: string, project?: string) {
    return { actor: CONTROLLER.id, method: 'CONTROLLER', path: `project-delete ${project ?? name}`, action, kind, name, ...(project ? { project } : {}), status: 200 };
  }
}
