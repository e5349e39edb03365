/**
 * Admission from what objects name (their kind's `references`, model/checklist.ts), for any kind:
 *
 *   refsExist  a write whose references marked mustExist name an object the project does not have
 *              is refused, naming the field (an instance's spec.volumes[0].volume). New references
 *              only: an update keeps what it already had. Dry runs skip it, as a stack applies what
 *              they name in an earlier wave.
 *   notInUse   an object is deleted only once no active object of another kind refers to it (an
 *              instance that finished holds nothing).
 */
import type { AdmissionPlugin } from './admission.js';
import type { ObjectRef, StoredObject } from '../model/kind.js';
import { StratusError, formatProblem, type FieldProblem } from '../model/errors.js';
import { ALL_KINDS, findKind } from '../model/kinds/index.js';
import { refuseWhileUsed } from './in-use.js';

const key = (r: ObjectRef) => `${r.kind}/${r.project}/${r.name}`;

export const refsExist: AdmissionPlugin = async (req, repo) => {
  if (req.op === 'delete' || req.dryRun || !req.project || !req.object || !req.kind.references) return;
  const had = new Set(req.prev ? req.kind.references(req.prev).map(key) : []);
  const refs = req.kind.references({ metadata: { name: req.name, project: req.project }, spec: req.object.spec });
  const problems: FieldProblem[] = [];
  for (const ref of refs) {
    const kind = findKind(ref.kind);
    if (!ref.mustExist || had.has(key(ref)) || !kind) continue;
    if (await repo.find(kind, ref.name, ref.project)) continue;
    problems.push({ path: ref.field, message: `${ref.kind} "${ref.name}" not found in project "${ref.project}"; create it first`, value: ref.name });
  }
  if (problems.length === 0) return;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  throw new StratusError('STRATUS_ERR_DEPENDENCY', formatProblem(problems[0]!) + more, { problems });
};

export const notInUse: AdmissionPlugin = async (req, repo) => {
  if (req.op !== 'delete' || !req.project) return;
  const project = req.project;
  const target = (r: ObjectRef) => r.kind === req.kind.kind && r.project === project && r.name === req.name;
  const users: string[] = [];
  const counts: Record<string, number> = {};
  for (const kind of ALL_KINDS) {
    if (kind === req.kind || !kind.references || kind.scope !== 'project') continue;
    const refers = (o: StoredObject) => (kind.lifecycle.active?.(o) ?? true) && kind.references!(o).some(target);
    const { items } = await repo.list(kind, { project, filter: refers });
    if (items.length > 0) counts[kind.plural] = items.length;
    users.push(...items.map((o) => `${kind.kind} ${o.metadata.name}`));
  }
  refuseWhileUsed({ kind: req.kind.kind, name: req.name, project }, users, counts);
};

