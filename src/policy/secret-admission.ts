/**
 * Admission for secrets and what uses them:
 *   - an instance or a service template is written only if the secrets (and keys) it references
 *     exist in its own project; the refusal names the field. Dry runs skip this check: a stack
 *     file may create the secret in the same apply (apply writes secrets first).
 *   - a secret is deleted, or a key that an env variable references removed, only once no
 *     instance (still running or to run) or service uses it.
 * References never leave the project: they are bare names, resolved in the object's project.
 */
import type { AdmissionPlugin } from './admission.js';
import type { Repository } from '../store/repository.js';
import type { Kind } from '../model/kind.js';
import { StratusError, formatProblem, type FieldProblem } from '../model/errors.js';
import { instanceKind, secretKind, serviceKind } from '../model/kinds/index.js';
import type { Instance, InstanceSpec } from '../model/kinds/instance.js';
import type { Service } from '../model/kinds/service.js';
import type { Secret } from '../model/kinds/secret.js';
import { secretRefsOf, type SecretRef } from '../model/secret-refs.js';
import { FINISHED } from '../model/lifecycle.js';

/** How many users of a secret the refusal names before "and N more". */
const NAMED = 5;

/** The secrets the workloads of an object of `kind` reference (its kind's `workloads`: an instance's spec, a service's template), with their fields. */
function secretRefsIn(kind: Kind, spec: unknown): SecretRef[] {
  return (kind.workloads?.(spec) ?? []).flatMap((w) => secretRefsOf(w.spec as InstanceSpec, w.at));
}

export const secretRefsExist: AdmissionPlugin = async (req, repo) => {
  if (req.op === 'delete' || req.dryRun || !req.project || !req.object) return;
  // An instance's spec is fixed once it exists: only its creation is checked.
  if (req.kind === instanceKind && req.op !== 'create') return;
  const problems = await missingRefs(repo, req.project, secretRefsIn(req.kind, req.object.spec));
  if (problems.length === 0) return;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  throw new StratusError('STRATUS_ERR_DEPENDENCY', formatProblem(problems[0]!) + more, { problems });
};

async function missingRefs(repo: Repository, project: string, refs: SecretRef[]): Promise<FieldProblem[]> {
  const found = new Map<string, Secret | undefined>();
  const problems: FieldProblem[] = [];
  for (const ref of refs) {
    if (!found.has(ref.secret)) found.set(ref.secret, await repo.find<Secret>(secretKind, ref.secret, project));
    const secret = found.get(ref.secret);
    if (!secret) {
      problems.push({ path: `${ref.field}.secret`, message: `secret "${ref.secret}" not found in project "${project}"; create it first (stratus secret create ${ref.secret} --from-literal KEY=VALUE)` });
    } else if (ref.key !== undefined && secret.spec.keys[ref.key] === undefined) {
      const keys = Object.keys(secret.spec.keys);
      problems.push({ path: `${ref.field}.key`, message: `secret "${ref.secret}" has no key "${ref.key}" (it has: ${keys.join(', ') || 'none'})` });
    }
  }
  return problems;
}

export const secretNotInUse: AdmissionPlugin = async (req, repo) => {
  if (req.kind !== secretKind || !req.project || req.op === 'create') return;
  let gone: (ref: SecretRef) => boolean;
  let what: string;
  if (req.op === 'delete') {
    gone = (ref) => ref.secret === req.name;
    what = `secret "${req.name}"`;
  } else {
    const next = (req.object?.spec as Secret['spec'] | undefined)?.keys ?? {};
    const removed = Object.keys((req.prev as Secret | undefined)?.spec.keys ?? {}).filter((k) => next[k] === undefined);
    if (removed.length === 0) return;
    // Mounts take whatever keys there are; env variables need theirs.
    gone = (ref) => ref.secret === req.name && ref.key !== undefined && removed.includes(ref.key);
    what = `${removed.length === 1 ? 'key' : 'keys'} ${removed.map((k) => `"${k}"`).join(', ')} of secret "${req.name}"`;
  }
  const users = await usersOf(repo, req.project, gone);
  if (users.length === 0) return;
  const more = users.length > NAMED ? ` and ${users.length - NAMED} more` : '';
  throw new StratusError('STRATUS_ERR_DEPENDENCY', `${what} is used by ${users.slice(0, NAMED).join(', ')}${more}; change or delete them first`, { kind: 'secret', name: req.name, project: req.project, users: users.length });
};

/** Services, and instances still running or to run (other than a listed service's replicas), with a reference that `gone` matches. */
async function usersOf(repo: Repository, project: string, gone: (ref: SecretRef) => boolean): Promise<string[]> {
  const services = (await repo.list<Service>(serviceKind, { project, filter: (o) => secretRefsOf((o as Service).spec.template.spec).some(gone) })).items;
  const names = new Set(services.map((s) => s.metadata.name));
  const instances = (await repo.list<Instance>(instanceKind, {
    project,
    filter: (o) => {
      const i = o as Instance;
      if (FINISHED.has(i.status?.phase ?? 'Pending')) return false;
      if (i.metadata.owner?.kind === 'service' && names.has(i.metadata.owner.name)) return false;
      return secretRefsOf(i.spec).some(gone);
    },
  })).items;
  return [...services.map((s) => `service ${s.metadata.name}`), ...instances.map((i) => `instance ${i.metadata.name}`)];
}

export const secretAdmission: AdmissionPlugin[] = [secretRefsExist, secretNotInUse];
