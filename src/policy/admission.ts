/**
 * Admission: checks that run after validation and authorization and before a write, and that
 * need the store (the project exists, the project is empty before deletion, quotas...).
 * Plugins throw StratusErrors; they never write.
 */
import type { Kind, StoredObject } from '../model/kind.js';
import type { Repository } from '../store/repository.js';
import type { TxnOp } from '../store/backend.js';
import type { Principal } from './auth.js';
import { StratusError } from '../model/errors.js';
import type { AdmissionChecks } from './admission-checks.js';
import { projectKind } from '../model/kinds/index.js';
import { PROJECT_DELETING, type Project } from '../model/kinds/project.js';
import { describeHoldings, projectContents } from './project-contents.js';

export interface AdmissionRequest {
  op: 'create' | 'update' | 'delete';
  kind: Kind;
  name: string;
  project?: string;
  /** The normalized object to be written (create, update). */
  object?: { metadata: { name: string; labels?: Record<string, string> }; spec: unknown };
  /** The stored object (update, delete). */
  prev?: StoredObject;
  principal: Principal;
  /** Only checking (dry run): plugins must not hold anything for it. */
  dryRun?: boolean;
  /** Delete although the object is in use (nodes with instances: `?force=true`). */
  force?: boolean;
}

/**
 * A check before a write. It throws to refuse; it may return store operations that must hold in
 * the write's own transaction (a guard: an expected revision), which the writer adds to it.
 */
export type AdmissionPlugin = (req: AdmissionRequest, repo: Repository) => Promise<void | TxnOp[]>;

/**
 * Runs, for each write: the project checks, then the checks the written kind names in its
 * description (`admission`, bound by `checks`: admission-checks.ts `admissionChecks()`, as the
 * server does), then `plugins` (for every kind). A check a kind names that `checks` does not bind
 * is skipped (an Admission made without a quota tracker has no quota check).
 */
export class Admission {
  private readonly plugins: AdmissionPlugin[];

  constructor(private readonly repo: Repository, plugins: AdmissionPlugin[] = [], private readonly checks: AdmissionChecks = {}) {
    this.plugins = [...plugins];
  }

  add(plugin: AdmissionPlugin): void {
    this.plugins.push(plugin);
  }

  /** Runs every check that applies; returns their guards for the write's transaction. */
  async admit(req: AdmissionRequest): Promise<TxnOp[]> {
    const named = req.kind.admission.flatMap((name) => this.checks[name] ?? []);
    const guards: TxnOp[] = [];
    for (const plugin of [projectMustExist, projectMustBeEmpty, ...named, ...this.plugins]) guards.push(...((await plugin(req, this.repo)) ?? []));
    return guards;
  }
}

/** Objects of project kinds can only be created in an existing project, and not in one being deleted. */
export const projectMustExist: AdmissionPlugin = async (req, repo) => {
  if (req.op !== 'create' || req.kind.scope !== 'project' || !req.project) return;
  const project = await repo.find<Project>(projectKind, req.project);
  if (!project) throw new StratusError('STRATUS_ERR_NOT_FOUND', `project "${req.project}" not found; create it first (stratus project create ${req.project})`, { kind: 'project', name: req.project });
  if (project.status?.phase !== PROJECT_DELETING) return;
  throw new StratusError('STRATUS_ERR_PROJECT_DELETING', `project "${req.project}" is Deleting: nothing new can be created in it (stratus describe project ${req.project} shows what its deletion waits for)`, { project: req.project, phase: PROJECT_DELETING });
};

/** A project is deleted only once it owns nothing, so nothing is orphaned (what the platform made for it goes with it). */
export const projectMustBeEmpty: AdmissionPlugin = async (req, repo) => {
  if (req.op !== 'delete' || req.kind !== projectKind) return;
  const left = await projectContents(repo, req.name);
  if (left.length === 0) return;
  throw new StratusError('STRATUS_ERR_DEPENDENCY', `project "${req.name}" still has ${describeHoldings(left)}; delete them first, or delete with --cascade`, { project: req.name, remaining: left.map((h) => describeHoldings([h])) });
};
