/**
 * Secrets. The generic routes list and watch them (key names only); these write them, read one,
 * reveal values, and give an agent what its instances use:
 *
 *   GET    /v1/projects/:project/secrets/:name[?reveal=true]   keys only; reveal: values too (members and up, audited)
 *   POST   /v1/projects/:project/secrets                       create (spec.data: text, spec.binaryData: base64)
 *   PUT    /v1/projects/:project/secrets/:name                 replace (spec.keys listed keep their values)
 *   PATCH  /v1/projects/:project/secrets/:name                 merge patch: set keys, null removes one
 *   DELETE /v1/projects/:project/secrets/:name                 refused while something uses it
 *   GET    /v1/projects/:project/instances/:name/secrets       node agents: the values an instance bound to them uses
 *   POST   /v1/secret-keys/rotate                              cluster admins: new key, every value sealed again
 *
 * Bodies are checked here rather than by the route schema, so that no error message, audit record
 * or log line quotes a value: problems under spec lose theirs.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiDeps } from '../server.js';
import { DnsLabel, Strict } from '../../model/schema.js';
import { showValue, StratusError, ValidationError, type FieldProblem } from '../../model/errors.js';
import { instanceKind, secretKind } from '../../model/kinds/index.js';
import { keyVersions, nextValues, revealedSpec, specOfPatch, type Secret, type SecretSpec } from '../../model/kinds/secret.js';
import type { Instance } from '../../model/kinds/instance.js';
import { secretRefsOf } from '../../model/secret-refs.js';
import type { NewObject } from '../../store/repository.js';
import { conflict } from '../../store/repository.js';
import { hasRole, viewOf } from '../../policy/auth.js';
import { requestAudit } from '../request-audit.js';
import { mergePatch } from '../patch.js';
import { parseFor, pickMeta } from './resources.js';
import { listServers } from '../../runtime/servers.js';
import { recordSharedSecretKeys } from '../../policy/secret-keys-shared.js';

interface Params { project: string; name: string }

const DryRun = Type.Object({ dryRun: Type.Optional(Type.Boolean({ description: 'Check and answer with what would be stored (key names only), storing nothing.' })) }, Strict);
const Body = Type.Unknown({ description: 'A Secret object (see the Secret schema): values under spec.data (text) and spec.binaryData (base64), both write-only.' });

export async function secretRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  const tags = ['Secret'];
  const base = '/v1/projects/:project/secrets';
  const item = `${base}/:name`;
  const params = Type.Object({ project: DnsLabel(), name: DnsLabel() }, Strict);

  app.get(item, {
    schema: { tags, summary: 'Read a secret: its key names; with reveal=true (members and up), its values too', params, querystring: Type.Object({ reveal: Type.Optional(Type.Boolean()) }, Strict) },
    config: { permission: { kind: secretKind, verb: 'get' } },
  }, async (req, reply) => {
    const { project, name } = req.params as Params;
    const obj = await deps.repo.get<Secret>(secretKind, name, project);
    if (!viewOf(req.principal!, secretKind, obj, deps.nodeScope)) throw new StratusError('STRATUS_ERR_FORBIDDEN', `${req.principal!.id} may not read secret "${name}"`);
    if ((req.query as { reveal?: boolean }).reveal !== true) return obj;
    if (!hasRole(req.principal!, project, 'member')) {
      const refused = new StratusError('STRATUS_ERR_FORBIDDEN', `${req.principal!.id} needs the member role in project "${project}" to reveal the values of secret "${name}" (viewers see key names only)`);
      // A refused reveal is worth knowing about, though reads are not audited otherwise.
      await deps.audit.record({ ...requestAudit(req, 403), action: 'reveal', kind: 'secret', project, name, code: refused.code, message: refused.message });
      throw refused;
    }
    const values = await deps.secrets.read(project, name);
    // The record first: a reveal that cannot be audited does not happen.
    await deps.audit.record({ ...requestAudit(req, 200), action: 'reveal', kind: 'secret', project, name });
    void reply.header('cache-control', 'no-store');
    return { ...obj, spec: { ...obj.spec, ...revealedSpec(values) } };
  });

  app.post(base, {
    schema: { tags, summary: 'Create a secret', params: Type.Object({ project: DnsLabel() }, Strict), querystring: DryRun, body: Body },
    config: { permission: { kind: secretKind, verb: 'create' } },
  }, async (req, reply) => {
    const { project } = req.params as Params;
    const parsed = checked(() => parseFor(secretKind, req.body, project) as Parsed);
    const status = await write(deps, req, project, parsed.metadata.name, undefined, parsed);
    return reply.code(status === 'dry-run' ? 200 : 201).send(req.secretResult);
  });

  app.put(item, {
    schema: { tags, summary: 'Replace a secret (keys listed under spec.keys keep their values)', params, querystring: DryRun, body: Body },
    config: { permission: { kind: secretKind, verb: 'update' } },
  }, async (req) => {
    const { project, name } = req.params as Params;
    const parsed = checked(() => parseFor(secretKind, req.body, project, name) as Parsed);
    const prev = await deps.repo.get<Secret>(secretKind, name, project);
    const expected = (req.body as { metadata?: { revision?: number } }).metadata?.revision;
    if (expected !== undefined && expected !== prev.metadata.revision) throw conflict(secretKind, name, project, expected, prev.metadata.revision);
    await write(deps, req, project, name, prev, parsed);
    return req.secretResult;
  });

  app.patch(item, {
    schema: { tags, summary: 'Change a secret with a JSON merge patch: spec.data/binaryData set keys, null removes one', params, querystring: DryRun, body: Body },
    config: { permission: { kind: secretKind, verb: 'update' } },
  }, async (req) => {
    const { project, name } = req.params as Params;
    const patch = req.body as { metadata?: { revision?: number }; spec?: unknown; status?: unknown };
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new ValidationError([{ path: '', message: 'the body is not a JSON merge patch object' }]);
    if ('status' in patch) throw new ValidationError([{ path: 'status', message: 'secrets have no status; patch metadata or spec' }]);
    const prev = await deps.repo.get<Secret>(secretKind, name, project);
    const expected = patch.metadata?.revision;
    if (expected !== undefined && expected !== prev.metadata.revision) throw conflict(secretKind, name, project, expected, prev.metadata.revision);
    const problems: FieldProblem[] = [];
    const spec = specOfPatch(patch.spec, Object.keys(prev.spec.keys), problems);
    if (problems.length > 0) throw new ValidationError(problems);
    const metadata = mergePatch(pickMeta(prev.metadata), patch.metadata ?? {});
    const parsed = checked(() => parseFor(secretKind, { kind: 'secret', metadata, spec }, project, name) as Parsed);
    await write(deps, req, project, name, prev, parsed);
    return req.secretResult;
  });

  app.delete(item, {
    schema: { tags, summary: 'Delete a secret (refused while an instance or service uses it)', params, querystring: Type.Object({ revision: Type.Optional(Type.Integer({ minimum: 1 })) }, Strict) },
    config: { permission: { kind: secretKind, verb: 'delete' } },
  }, async (req) => {
    const { project, name } = req.params as Params;
    req.target = { kind: 'secret', project, name, action: 'delete' };
    const prev = await deps.repo.get<Secret>(secretKind, name, project);
    const revision = (req.query as { revision?: number }).revision;
    const guards = await deps.admission.admit({ op: 'delete', kind: secretKind, name, project, prev, principal: req.principal! });
    const { op } = deps.audit.op(requestAudit(req, 200));
    const extraOps = [op, ...guards, ...(await deps.secrets.deleteOps(project, name))];
    const deleted = await deps.repo.delete(secretKind, name, project, { ...(revision !== undefined ? { expectRevision: revision } : {}), extraOps });
    req.audited = true;
    return deleted;
  });

  app.get('/v1/projects/:project/instances/:name/secrets', {
    schema: { tags, summary: 'The secret values an instance uses (node agents, for instances bound to their node)', params },
    config: { permission: { kind: instanceKind, verb: 'get' } },
  }, async (req, reply) => {
    const { project, name } = req.params as Params;
    const items = await instanceSecrets(deps, req, project, name);
    void reply.header('cache-control', 'no-store');
    return { items };
  });

  app.post('/v1/secret-keys/rotate', {
    schema: { tags, summary: 'Rotate the secret key: a new key seals every value again; the old keys are then dropped' },
    config: { permission: 'cluster-admin' },
  }, async (req) => {
    req.target = { kind: 'secret-key', action: 'rotate' };
    return rotate(deps);
  });
}

type Parsed = { metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec: SecretSpec };

declare module 'fastify' {
  interface FastifyRequest {
    /** What a secret write answers with (key names only). */
    secretResult?: unknown;
  }
}

/** Runs `parse`; a refusal loses the values its problems would quote (metadata problems keep theirs). */
function checked<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    throw new ValidationError(e.problems.map(withoutValue));
  }
}

function withoutValue(p: FieldProblem): FieldProblem {
  if (p.path.startsWith('metadata.')) return p;
  const { value, ...rest } = p;
  return value === undefined ? rest : { ...rest, message: rest.message.split(showValue(value)).join('(value hidden)') };
}

/**
 * Creates (`prev` undefined) or replaces a secret: the object with key names and versions, and
 * its sealed values, in one transaction with the audit record. Sets `req.secretResult`.
 */
async function write(deps: ApiDeps, req: FastifyRequest, project: string, name: string, prev: Secret | undefined, parsed: Parsed): Promise<'dry-run' | 'written'> {
  req.target = { kind: 'secret', project, name, action: prev ? (req.method === 'PATCH' ? 'patch' : 'update') : 'create' };
  const current = prev ? await deps.secrets.read(project, name) : new Map<string, Buffer>();
  const problems: FieldProblem[] = [];
  const values = nextValues(current, parsed.spec, problems);
  if (problems.length > 0) throw new ValidationError(problems);
  const generation = prev ? prev.metadata.generation + 1 : 1;
  const input: NewObject = { metadata: { ...pickMeta(parsed.metadata), project }, spec: { keys: keyVersions(prev?.spec.keys ?? {}, current, values, generation) } };
  const dryRun = (req.query as { dryRun?: boolean }).dryRun === true;
  const guards = await deps.admission.admit({ op: prev ? 'update' : 'create', kind: secretKind, name, project, object: input, ...(prev ? { prev } : {}), principal: req.principal!, dryRun });
  if (dryRun) {
    req.audited = true;
    req.secretResult = prev ? { ...prev, metadata: { ...prev.metadata, labels: input.metadata.labels, annotations: input.metadata.annotations }, spec: input.spec } : { kind: 'secret', metadata: input.metadata, spec: input.spec };
    return 'dry-run';
  }
  const changed = !sameValues(current, values);
  const { op } = deps.audit.op(requestAudit(req, prev ? 200 : 201));
  const extraOps = [op, ...guards, ...(changed || !prev ? [deps.secrets.putOp(project, name, values)] : [])];
  if (!prev) {
    req.secretResult = await deps.repo.create(secretKind, input, { extraOps, actor: req.principal!.id });
    req.audited = true;
    return 'written';
  }
  const obj = await deps.repo.replace(secretKind, prev, input, { expectRevision: prev.metadata.revision, extraOps });
  // A no-op replace writes nothing, so its audit record is written after the response.
  req.audited = obj !== prev;
  req.secretResult = obj;
  return 'written';
}

function sameValues(a: ReadonlyMap<string, Buffer>, b: ReadonlyMap<string, Buffer>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k)?.equals(v) === true);
}

/**
 * The values instance `project/name` uses, for the agent of the node it is bound to: every key of
 * a mounted secret, the referenced keys of the others. Each secret read is audited as a reveal.
 */
async function instanceSecrets(deps: ApiDeps, req: FastifyRequest, project: string, name: string) {
  const node = req.principal!.node;
  if (!node) throw new StratusError('STRATUS_ERR_FORBIDDEN', `only the agent of the node an instance runs on reads its secret values; members read a secret's with GET /v1/projects/${project}/secrets/NAME?reveal=true`);
  const inst = await deps.repo.get<Instance>(instanceKind, name, project);
  if (inst.status?.node !== node) throw new StratusError('STRATUS_ERR_FORBIDDEN', `node:${node} may only read the secrets of instances bound to it; instance "${name}" is not`);
  const wanted = new Map<string, Set<string> | 'all'>();
  for (const ref of secretRefsOf(inst.spec)) {
    const had = wanted.get(ref.secret);
    if (ref.key === undefined || had === 'all') wanted.set(ref.secret, 'all');
    else wanted.set(ref.secret, new Set([...(had ?? []), ref.key]));
  }
  const items: { name: string; data: Record<string, string> }[] = [];
  for (const [secret, keys] of wanted) {
    await deps.repo.get(secretKind, secret, project);
    const values = await deps.secrets.read(project, secret, keys === 'all' ? undefined : [...keys]);
    await deps.audit.record({ ...requestAudit(req, 200), action: 'reveal', kind: 'secret', project, name: secret });
    items.push({ name: secret, data: Object.fromEntries([...values].map(([k, v]) => [k, v.toString('base64')])) });
  }
  return items;
}

let rotation: Promise<unknown> = Promise.resolve();

/** One rotation at a time: a new active key, every record sealed again, then the old keys dropped. */
function rotate(deps: ApiDeps): Promise<{ active: string; resealed: number; retired: string[]; kept: string[] }> {
  const run = rotation.then(async () => {
    const box = deps.secrets.box;
    // each server reads its own copy of the key file: a rotation on one would seal values the others cannot open
    const servers = await listServers(deps.repo);
    if (servers.length > 1) {
      throw new StratusError('STRATUS_ERR_CONFLICT', `${servers.length} servers share the store (${servers.map((s) => s.name).join(', ')}); rotate the secret key with one server running, then copy its key file to the others (docs/ha.md)`);
    }
    const active = await box.rotate();
    await recordSharedSecretKeys(deps.repo, box);
    const resealed = await deps.secrets.reseal();
    // A key still in use (a record that kept changing) is kept; running the rotation again retires it.
    const kept = [...(await deps.secrets.keyUsage()).keys()].filter((k) => k !== active);
    const retired = await box.retire(new Set(kept));
    return { active, resealed, retired, kept };
  });
  rotation = run.catch(() => undefined);
  return run;
}
