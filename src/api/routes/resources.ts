/**
 * The generic routes of one kind, derived from its definition:
 *
 *   GET    {base}                list (?selector=&limit=&continue=) or watch (?watch=true&revision=N)
 *   POST   {base}                create
 *   GET    {base}/:name          read
 *   PUT    {base}/:name          replace (metadata.revision, when sent, must be current)
 *   PATCH  {base}/:name          JSON merge patch of metadata.labels/annotations and spec
 *   DELETE {base}/:name          delete (?revision=N refuses a stale delete)
 *   PUT    {base}/:name/status   status, written by the platform
 *   GET    /v1/{plural}          for project kinds: across every project the caller can read
 *
 * {base} is /v1/projects/:project/{plural} for project kinds and /v1/{plural} for cluster kinds.
 */
import { Type, type TObject } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiDeps } from '../server.js';
import { parseObject, parseStatus, type Kind, type StoredObject } from '../../model/kind.js';
import { notFound, StratusError, ValidationError } from '../../model/errors.js';
import { DnsLabel } from '../../model/schema.js';
import { parseSelector, SelectorError, type Selector } from '../../model/labels.js';
import { canSee, isHidden, viewOf, type Principal } from '../../policy/auth.js';
import { checkNodeStatusWrite, nodeWidenSource } from '../../policy/node-authorizer.js';
import { markDeleting } from '../project-cascade.js';
import { requestAudit } from '../request-audit.js';
import { streamWatch } from './watch.js';
import { mergePatch } from '../patch.js';
import { quantitiesAsStrings } from '../../model/quantity-fields.js';
import { conflict, type NewObject } from '../../store/repository.js';
import { projectKind } from '../../model/kinds/index.js';

interface Params { project?: string; name?: string }
interface ListQuery { selector?: string; limit?: number; continue?: string; watch?: boolean; revision?: number }

export const ListQuerySchema = Type.Object(
  {
    selector: Type.Optional(Type.String({ maxLength: 2048, description: 'Label selector, e.g. app=web,tier!=db.' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, description: 'Page size (default: everything).' })),
    continue: Type.Optional(Type.String({ maxLength: 2048, description: 'Token from the previous page.' })),
    watch: Type.Optional(Type.Boolean({ description: 'Stream changes as server-sent events instead of listing.' })),
    revision: Type.Optional(Type.Integer({ minimum: 0, description: 'With watch: deliver changes after this revision (default: from now).' })),
  },
  { additionalProperties: false },
);

const DryRunQuery = Type.Object(
  { dryRun: Type.Optional(Type.Boolean({ description: 'Validate and admit, and answer with what would be stored, without storing it.' })) },
  { additionalProperties: false },
);

const DeleteQuery = Type.Object(
  {
    revision: Type.Optional(Type.Integer({ minimum: 1, description: 'Refuse the delete unless the object is at this revision.' })),
    cascade: Type.Optional(Type.Boolean({ description: 'Projects only: delete everything the project owns, then the project. A project that holds something is marked Deleting (202; status.deletion says what it waits for) and a controller deletes it.' })),
    force: Type.Optional(Type.Boolean({ description: 'Nodes only: delete although instances run on it (they are released: placed again or Lost).' })),
  },
  { additionalProperties: false },
);

const StatusQuery = Type.Object(
  { revision: Type.Optional(Type.Integer({ minimum: 1, description: 'Refuse the write unless the object is at this revision.' })) },
  { additionalProperties: false },
);

export function listSchema(kind: Kind): TObject {
  return Type.Object({
    items: Type.Array(Type.Ref(kind.title)),
    revision: Type.Integer({ description: 'Store revision of the list; watch from it to follow changes.' }),
    continue: Type.Optional(Type.String({ description: 'Present when more items remain.' })),
  });
}

export async function resourceRoutes(app: FastifyInstance, { deps, kind }: { deps: ApiDeps; kind: Kind }): Promise<void> {
  app.addSchema(kind.objectSchema);
  const projectScoped = kind.scope === 'project';
  const base = projectScoped ? `/v1/projects/:project/${kind.plural}` : `/v1/${kind.plural}`;
  const nameParam = kind.kind === 'project' ? 'project' : 'name';
  const item = `${base}/:${nameParam}`;
  const params = Type.Object(
    { ...(projectScoped || kind.kind === 'project' ? { project: DnsLabel() } : {}), ...(kind.kind === 'project' ? {} : { name: DnsLabel() }) },
    { additionalProperties: false },
  );
  const baseParams = Type.Object(projectScoped ? { project: DnsLabel() } : {}, { additionalProperties: false });
  const tags = [kind.title];
  const ref = Type.Ref(kind.title);
  const verbs = new Set(kind.verbs);
  const nameOf = (p: Params) => (kind.kind === 'project' ? p.project! : p.name!);
  const ctx = { deps, kind };

  if (verbs.has('list')) {
    app.get(base, {
      schema: { tags, summary: `List or watch ${kind.plural}`, params: baseParams, querystring: ListQuerySchema, response: { 200: listSchema(kind) } },
      config: { permission: { kind, verb: 'list' } },
    }, (req, reply) => listOrWatch(ctx, req as FastifyRequest<{ Params: Params; Querystring: ListQuery }>, reply, (req.params as Params).project));
    if (projectScoped) {
      app.get(`/v1/${kind.plural}`, {
        schema: { tags, summary: `List or watch ${kind.plural} of every project you can read`, querystring: ListQuerySchema, response: { 200: listSchema(kind) } },
        config: { permission: { kind, verb: 'list' } },
      }, (req, reply) => listOrWatch(ctx, req as FastifyRequest<{ Querystring: ListQuery }>, reply, undefined));
    }
  }

  if (verbs.has('get')) {
    app.get(item, {
      schema: { tags, summary: `Read a ${kind.kind}`, params, response: { 200: ref } },
      config: { permission: { kind, verb: 'get' } },
    }, async (req, reply) => {
      const p = req.params as Params;
      if (readsWhole(req.principal!)) {
        const text = await deps.repo.getText(kind, nameOf(p), p.project);
        if (canSee(req.principal!, kind, text)) return sendJson(reply, text.json);
      } else {
        const view = viewOf(req.principal!, kind, await deps.repo.get(kind, nameOf(p), p.project), deps.nodeScope);
        if (view) return view;
      }
      if (isHidden(kind)) throw notFound(kind.kind, nameOf(p));
      throw new StratusError('STRATUS_ERR_FORBIDDEN', `${req.principal!.id} may not read ${kind.kind} "${nameOf(p)}"`);
    });
  }

  if (verbs.has('create')) {
    app.post(base, {
      schema: { tags, summary: `Create a ${kind.kind}`, params: baseParams, querystring: DryRunQuery, body: kind.objectSchema, response: { 201: ref, 200: ref } },
      config: { permission: { kind, verb: 'create' } },
    }, async (req, reply) => {
      const project = (req.params as Params).project;
      const parsed = parseFor(kind, req.body, project);
      const name = parsed.metadata.name;
      req.target = { kind: kind.kind, project, name, action: 'create' };
      const input: NewObject = { metadata: { ...pickMeta(parsed.metadata), ...(project ? { project } : {}) }, spec: parsed.spec };
      const dryRun = (req.query as { dryRun?: boolean }).dryRun === true;
      const guards = await deps.admission.admit({ op: 'create', kind, name, project, object: input, principal: req.principal!, dryRun });
      if (dryRun) {
        req.audited = true;
        return reply.code(200).header('x-stratus-dry-run', 'true').send({ kind: kind.kind, metadata: input.metadata, spec: input.spec });
      }
      const { op } = deps.audit.op(requestAudit(req, 201));
      const obj = await deps.repo.create(kind, input, { extraOps: [op, ...guards], actor: req.principal!.id });
      req.audited = true;
      return reply.code(201).header('location', `${base.replace(':project', project ?? '')}/${name}`).send(obj);
    });
  }

  if (verbs.has('update')) {
    app.put(item, {
      schema: { tags, summary: `Replace a ${kind.kind}`, params, querystring: DryRunQuery, body: kind.objectSchema, response: { 200: ref } },
      config: { permission: { kind, verb: 'update' } },
    }, async (req) => {
      const p = req.params as Params;
      const parsed = parseFor(kind, req.body, p.project, nameOf(p));
      return replace(ctx, req, nameOf(p), p.project, () => parsed, 'update', (req.body as StoredObject).metadata.revision);
    });
    app.patch(item, {
      schema: { tags, summary: `Change a ${kind.kind} with a JSON merge patch (RFC 7386)`, params, querystring: DryRunQuery, body: Type.Object({}, { additionalProperties: true }), response: { 200: ref } },
      config: { permission: { kind, verb: 'update' } },
    }, async (req) => {
      const p = req.params as Params;
      const patch = req.body as Record<string, unknown>;
      if ('status' in patch) throw new ValidationError([{ path: 'status', message: 'is written by the platform; patch metadata or spec' }]);
      const expected = (patch.metadata as { revision?: number } | undefined)?.revision;
      // The stored quantities (millicores, MiB) go back as strings: parsed as written, 250 would be 250 cores.
      const build = (prev: StoredObject) => parseFor(kind, mergePatch({ kind: kind.kind, metadata: pickMeta(prev.metadata), spec: quantitiesAsStrings(kind.spec, prev.spec) }, patch), p.project, nameOf(p));
      return replace(ctx, req, nameOf(p), p.project, build, 'patch', expected);
    });
  }

  if (verbs.has('delete')) {
    app.delete(item, {
      schema: { tags, summary: `Delete a ${kind.kind}`, params, querystring: DeleteQuery, response: { 200: ref, ...(kind === projectKind ? { 202: ref } : {}) } },
      config: { permission: { kind, verb: 'delete' } },
    }, async (req, reply) => {
      const p = req.params as Params;
      const name = nameOf(p);
      req.target = { kind: kind.kind, project: p.project, name, action: 'delete' };
      const prev = await deps.repo.get(kind, name, p.project);
      const q = req.query as { revision?: number; cascade?: boolean; force?: boolean };
      if (q.cascade && kind.kind !== 'project') throw new ValidationError([{ path: 'query.cascade', message: 'only applies to projects' }]);
      if (q.force && kind.kind !== 'node') throw new ValidationError([{ path: 'query.force', message: 'only applies to nodes' }]);
      // A project that holds something is marked Deleting; its controller empties and deletes it.
      const marked = q.cascade ? await markDeleting(deps, req, name) : undefined;
      if (marked) return reply.code(202).send(marked);
      const guards = await deps.admission.admit({ op: 'delete', kind, name, project: kind.scope === 'project' ? p.project : undefined, prev, principal: req.principal!, force: q.force === true });
      const { op } = deps.audit.op(requestAudit(req, 200));
      const deleted = await deps.repo.delete(kind, name, kind.scope === 'project' ? p.project : undefined, { ...(q.revision !== undefined ? { expectRevision: q.revision } : {}), extraOps: [op, ...guards] });
      req.audited = true;
      return deleted;
    });
  }

  app.put(`${item}/status`, {
    schema: { tags, summary: `Write the status of a ${kind.kind} (platform only)`, params, body: kind.status, querystring: StatusQuery, response: { 200: ref } },
    config: { permission: { kind, verb: 'status' } },
  }, async (req) => {
    const p = req.params as Params;
    const name = nameOf(p);
    req.target = { kind: kind.kind, project: p.project, name, action: 'status' };
    const status = parseStatus(kind, req.body);
    const prev = await deps.repo.get(kind, name, kind.scope === 'project' ? p.project : undefined);
    const node = req.principal!.node;
    if (node) checkNodeStatusWrite(node, kind, name, prev, status);
    const expected = (req.query as { revision?: number }).revision;
    // An agent's status writes (heartbeats, phases) are routine: not audited, unless refused above.
    const ops = node ? [] : [deps.audit.op(requestAudit(req, 200)).op];
    if (node) req.audited = true;
    const obj = await deps.repo.setStatus(kind, prev, status, { extraOps: ops, expectRevision: expected ?? prev.metadata.revision });
    req.audited = true;
    return obj;
  });
}

type Ctx = { deps: ApiDeps; kind: Kind };

/**
 * Replaces labels, annotations and spec. With `expected`, only at that revision (else 409). Without
 * it, the last writer wins the spec: a concurrent status write by the platform (an address, a
 * heartbeat) makes it read again and retry, never fail. `build` makes the new object from the
 * current one (a PATCH merges onto it).
 */
async function replace(ctx: Ctx, req: FastifyRequest, name: string, project: string | undefined, build: (prev: StoredObject) => ReturnType<typeof parseObject>, action: string, expected?: number) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await replaceOnce(ctx, req, name, project, build, action, expected);
    } catch (e) {
      if (expected !== undefined || attempt >= 8 || !(e instanceof StratusError && e.code === 'STRATUS_ERR_CONFLICT')) throw e;
    }
  }
}

async function replaceOnce(ctx: Ctx, req: FastifyRequest, name: string, project: string | undefined, build: (prev: StoredObject) => ReturnType<typeof parseObject>, action: string, expected?: number) {
  const { deps, kind } = ctx;
  req.target = { kind: kind.kind, project, name, action };
  const scopeProject = kind.scope === 'project' ? project : undefined;
  const prev = await deps.repo.get(kind, name, scopeProject);
  if (expected !== undefined && expected !== prev.metadata.revision) throw conflict(kind, name, scopeProject, expected, prev.metadata.revision);
  const parsed = build(prev);
  const problems = kind.checkUpdate?.(prev.spec as never, parsed.spec as never) ?? [];
  if (problems.length > 0) throw new StratusError('STRATUS_ERR_IMMUTABLE_FIELD', `${problems[0]!.path}: ${problems[0]!.message}`, { problems });
  const input: NewObject = { metadata: { ...pickMeta(parsed.metadata), ...(scopeProject ? { project: scopeProject } : {}) }, spec: parsed.spec };
  const dryRun = (req.query as { dryRun?: boolean }).dryRun === true;
  const guards = await deps.admission.admit({ op: 'update', kind, name, project: scopeProject, object: input, prev, principal: req.principal!, dryRun });
  if (dryRun) {
    req.audited = true;
    return { ...prev, metadata: { ...prev.metadata, labels: input.metadata.labels, annotations: input.metadata.annotations }, spec: input.spec };
  }
  const { op } = deps.audit.op(requestAudit(req, 200));
  const obj = await deps.repo.replace(kind, prev, input, { expectRevision: expected ?? prev.metadata.revision, extraOps: [op, ...guards] });
  // A no-op replace writes nothing, so its audit record is written after the response.
  req.audited = obj !== prev;
  return obj;
}

async function listOrWatch(ctx: Ctx, req: FastifyRequest<{ Querystring: ListQuery }>, reply: FastifyReply, project: string | undefined) {
  const { deps, kind } = ctx;
  const q = req.query;
  const selector = parseSelectorParam(q.selector);
  const principal = req.principal!;
  const view = (obj: StoredObject) => viewOf(principal, kind, obj, deps.nodeScope);
  if (q.watch) {
    await projectMustExist(deps, project);
    // A node that starts hosting a project may read more: its watches send what became readable.
    const widen = principal.node && deps.nodeScope ? nodeWidenSource(deps.nodeScope, principal.node, kind) : undefined;
    return streamWatch(req, reply, deps, kind, { project, selector, fromRevision: q.revision, view, ...(widen ? { widen } : {}) });
  }
  if (q.revision !== undefined) throw new ValidationError([{ path: 'query.revision', message: 'is only meaningful with watch=true' }]);
  const page = { project, selector, limit: q.limit, continue: q.continue };
  if (readsWhole(principal)) {
    const list = await deps.repo.listText(kind, { ...page, filter: (text) => canSee(principal, kind, text) });
    if (list.items.length === 0) await projectMustExist(deps, project);
    return sendJson(reply, listJson(list.items.map((t) => t.json), list.revision, list.continue));
  }
  const list = await deps.repo.list(kind, { ...page, filter: (obj) => view(obj) !== undefined });
  if (list.items.length === 0) await projectMustExist(deps, project);
  return { ...list, items: list.items.map((obj) => view(obj)!) };
}

/** A list of a project that does not exist is a 404, not an empty list (looked up only when the list is empty). */
async function projectMustExist(deps: ApiDeps, project: string | undefined): Promise<void> {
  if (project !== undefined) await deps.repo.get(projectKind, project);
}

/**
 * Whether `principal` reads objects whole or not at all (`viewOf` is then `canSee`): the stored
 * text can be sent as it is. Node credentials may get redacted views (node-authorizer.ts), which
 * need the decoded object.
 */
function readsWhole(principal: Principal): boolean {
  return principal.node === undefined;
}

/** The list response's JSON from items already encoded: what JSON.stringify({ items, revision, continue }) gives. */
function listJson(items: string[], revision: number, cont: string | undefined): string {
  return `{"items":[${items.join(',')}],"revision":${revision}${cont === undefined ? '' : `,"continue":${JSON.stringify(cont)}`}}`;
}

function sendJson(reply: FastifyReply, json: string): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(json);
}

/** A `selector` query parameter, parsed; a bad one is a 400 naming query.selector. */
export function parseSelectorParam(text: string | undefined): Selector | undefined {
  if (text === undefined || text === '') return undefined;
  try {
    return parseSelector(text);
  } catch (e) {
    throw new ValidationError([{ path: 'query.selector', message: e instanceof SelectorError ? e.message : String(e), value: text }]);
  }
}

/** Validates a body and checks that its name and project agree with the URL. */
export function parseFor(kind: Kind, body: unknown, project: string | undefined, name?: string) {
  const parsed = parseObject(kind, body);
  if (name !== undefined && parsed.metadata.name !== name) {
    throw new ValidationError([{ path: 'metadata.name', message: `${JSON.stringify(parsed.metadata.name)} does not match the name in the URL (${JSON.stringify(name)})`, value: parsed.metadata.name }]);
  }
  if (kind.scope === 'project' && parsed.metadata.project !== undefined && parsed.metadata.project !== project) {
    throw new ValidationError([{ path: 'metadata.project', message: `${JSON.stringify(parsed.metadata.project)} does not match the project in the URL (${JSON.stringify(project)})`, value: parsed.metadata.project }]);
  }
  return parsed;
}

export function pickMeta(m: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }) {
  return { name: m.name, ...(m.labels ? { labels: m.labels } : {}), ...(m.annotations ? { annotations: m.annotations } : {}) };
}
