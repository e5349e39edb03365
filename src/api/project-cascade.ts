/**
 * `DELETE /v1/projects/P?cascade=true` of a project that holds something: the request only marks
 * the project Deleting and answers at once (202); the project-delete controller
 * (controllers/project-delete.ts) empties it, owners first, and then deletes it.
 *
 *   status.phase      Deleting: nothing new can be created in it (policy/admission.ts)
 *   status.deletion   since when, and what it still waits for ("3 instances, 1 service"), as
 *                     `stratus describe project P` shows it; the controller keeps it current
 */
import type { FastifyRequest } from 'fastify';
import type { ApiDeps } from './server.js';
import { StratusError } from '../model/errors.js';
import { isoNow } from '../model/runtime.js';
import { projectKind } from '../model/kinds/index.js';
import { PROJECT_DELETING, type Project } from '../model/kinds/project.js';
import { isDeleting } from '../model/cascade.js';
import { projectContents } from '../policy/project-contents.js';
import { requestAudit } from './request-audit.js';

/**
 * Marks project `name` Deleting, with what its deletion waits for, audited as the request's
 * delete (answered 202). Undefined when it holds nothing: then it is deleted as any object, at once.
 * A project already Deleting is answered as it is.
 */
export async function markDeleting(deps: ApiDeps, req: FastifyRequest, name: string): Promise<Project | undefined> {
  for (let attempt = 0; ; attempt++) {
    const prev = await deps.repo.get<Project>(projectKind, name);
    if (isDeleting(prev)) return prev;
    const waitingFor = await projectContents(deps.repo, name);
    if (waitingFor.length === 0) return undefined;
    const status = { ...prev.status, phase: PROJECT_DELETING, deletion: { startedAt: isoNow(deps.clock), waitingFor } } as Project['status'];
    const { op } = deps.audit.op(requestAudit(req, 202));
    try {
      const marked = await deps.repo.setStatus(projectKind, prev, status, { extraOps: [op], expectRevision: prev.metadata.revision });
      req.audited = true;
      return marked;
    } catch (e) {
      // A status written meanwhile (its usage): read again.
      if (attempt >= 8 || !(e instanceof StratusError && e.code === 'STRATUS_ERR_CONFLICT')) throw e;
    }
  }
}
