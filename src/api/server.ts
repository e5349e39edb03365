/**
 * The HTTP API: a Fastify instance with the cross-cutting pieces (auth, permission checks,
 * audit, error mapping, schema validation) and one encapsulated plugin per resource kind.
 *
 *   onRequest      authenticate (Bearer token → principal) unless the route is public
 *   preValidation  authorize: the route's declared permission vs the principal's roles
 *   validation     the route's TypeBox schemas, compiled once (validate.ts)
 *   handler        domain logic; successful writes carry their audit record in the same txn
 *   onResponse     mutations that did not write their audit record (refused ones) record it
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import YAML from 'yaml';
import { compileChecker } from '../model/validate.js';
import { notFound, StratusError, ValidationError } from '../model/errors.js';
import { toErrorResponse } from './errors.js';
import { jsonDepth, valueDepth, MAX_DEPTH } from './depth.js';
import { canSee, denyReason, hasRole, isHidden, roleIn, type Authenticator, type Principal, type Role, type Verb } from '../policy/auth.js';
import { NodeScope } from '../policy/node-scope.js';
import { requestToken } from './bearer.js';
import type { AuditLog } from '../policy/audit.js';
import { requestAudit } from './request-audit.js';
import type { Repository } from '../store/repository.js';
import type { Kind } from '../model/kind.js';
import type { Clock, Ids } from '../model/runtime.js';
import type { Admission } from '../policy/admission.js';
import { registerOpenApi } from './openapi.js';
import { resourceRoutes } from './routes/resources.js';
import { endWatchStreams } from './routes/watch.js';
import { systemRoutes } from './routes/system.js';
import { tokenRoutes } from './routes/tokens.js';
import { auditRoutes } from './routes/audit.js';
import { backupRoutes } from './routes/backup.js';
import { clusterRoutes } from './routes/cluster.js';
import { peerBlobRoutes } from './routes/peer-blobs.js';
import { memberRoutes } from './routes/members.js';
import { nodeRoutes } from './routes/nodes.js';
import { logRoutes } from './routes/logs.js';
import { execRoutes } from './routes/exec.js';
import { instancePowerRoutes } from './routes/instance-power.js';
import { imageRoutes } from './routes/images.js';
import { secretRoutes } from './routes/secrets.js';
import { stackRoutes } from './routes/stacks.js';
import { usageRoutes } from './routes/usage.js';
import { costRoutes } from './routes/costs.js';
import { volumeRoutes } from './routes/volumes.js';
import type { Informers } from '../runtime/informers.js';
import type { UsageHistory } from '../runtime/usage.js';
import type { SecretData } from '../policy/secret-data.js';
import type { BlobStore } from '../store/blobs.js';
import { ALL_KINDS } from '../model/kinds/index.js';

/**
 * What a route needs, declared in its config. Routes under /v1/ need a principal unless
 * 'public'; others (health, docs) are public.
 *   { kind, verb }  the verb on that kind, in the :project of the URL for project kinds
 *   { role }        at least this role in the :project of the URL
 *   'cluster-admin' a cluster admin
 */
export type Permission = 'public' | 'authenticated' | 'cluster-admin' | { kind: Kind; verb: Verb } | { role: Role };

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** Set once the request's audit record is written (or must not be). */
    audited?: boolean;
    /** What the request acts on, for the audit record of a refused mutation. */
    target?: { kind?: string; project?: string; name?: string; action?: string };
    /** The error a refused request was answered with. */
    failure?: { code: string; message: string };
  }
  interface FastifyContextConfig {
    permission?: Permission;
  }
}

export interface ApiDeps {
  repo: Repository;
  auth: Authenticator;
  audit: AuditLog;
  clock: Clock;
  ids: Ids;
  version: string;
  /** Whether the control plane is ready to serve (store open, controllers started). */
  ready: () => { ready: boolean; checks: Record<string, string> };
  admission: Admission;
  /** Where image archives are kept. */
  blobs: BlobStore;
  /** Secret values, sealed at rest (src/policy/secret-data.ts). */
  secrets: SecretData;
  logger?: boolean | Record<string, unknown>;
  /** Serve HTTPS with this certificate and key (PEM). */
  https?: { cert: Buffer; key: Buffer };
  /** What each node hosts, for the node authorizer; built (and stopped with the API) when absent. */
  nodeScope?: NodeScope;
  /** Called once a request's principal is known (connection limits count unauthenticated clients). */
  onAuthenticated?: (req: FastifyRequest) => void;
  /** Called when each request has been answered (the server's /metrics counts and times requests). */
  onResponse?: (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** The server's shared informers; the usage routes make their own when absent. */
  informers?: Informers;
  /** The server's usage history (runtime/usage.ts); the usage routes keep their own when absent. */
  usage?: UsageHistory;
  /** Extra plugins (metrics, agent routes, ...) registered after the core routes. */
  plugins?: ((app: FastifyInstance, deps: ApiDeps) => Promise<void> | void)[];
}

export const BODY_LIMIT = 1024 * 1024;
const MUTATIONS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export async function buildApi(input: ApiDeps): Promise<FastifyInstance> {
  const ownScope = input.nodeScope === undefined;
  const deps: ApiDeps = { ...input, nodeScope: input.nodeScope ?? new NodeScope(input.repo) };
  if (ownScope) await deps.nodeScope!.start();
  const app = (Fastify as unknown as (o: object) => FastifyInstance)({
    ...(deps.https ? { https: deps.https } : {}),
    logger: deps.logger ?? false,
    bodyLimit: BODY_LIMIT,
    routerOptions: { maxParamLength: 512 },
    genReqId: () => deps.ids.uid(),
    requestIdHeader: false,
    // Every context (including plugins that add schemas) validates with our compiler.
    // Response schemas document the API; plain JSON.stringify serializes it.
    schemaController: {
      compilersFactory: {
        buildValidator: () => validatorCompiler,
        buildSerializer: () => () => (data: unknown) => JSON.stringify(data),
      },
    },
  });
  installParsers(app);
  installErrors(app, deps);
  installAuth(app, deps);
  await registerOpenApi(app, deps);
  await app.register(systemRoutes, { deps });
  await app.register(clusterRoutes, { deps });
  await app.register(peerBlobRoutes, { deps });
  for (const kind of ALL_KINDS) await app.register(resourceRoutes, { deps, kind });
  await app.register(tokenRoutes, { deps });
  await app.register(memberRoutes, { deps });
  await app.register(nodeRoutes, { deps });
  await app.register(logRoutes, { deps });
  await app.register(execRoutes, { deps });
  await app.register(instancePowerRoutes, { deps });
  await app.register(imageRoutes, { deps });
  await app.register(secretRoutes, { deps });
  await app.register(stackRoutes, { deps });
  await app.register(usageRoutes, { deps });
  await app.register(costRoutes, { deps });
  await app.register(volumeRoutes, { deps });
  await app.register(auditRoutes, { deps });
  await app.register(backupRoutes, { deps });
  for (const plugin of deps.plugins ?? []) await plugin(app, deps);
  app.addHook('preClose', async () => endWatchStreams(app));
  if (ownScope) app.addHook('onClose', async () => deps.nodeScope!.stop());
  return app;
}

function installParsers(app: FastifyInstance): void {
  app.removeContentTypeParser(['text/plain', 'application/json']);
  const strictJson = app.getDefaultJsonParser('error', 'error');
  // An empty body is "no body" (DELETE with a JSON content type); routes that need one say so.
  const jsonParser: typeof strictJson = (req, body, done) => {
    if (body === '' || (Buffer.isBuffer(body) && body.length === 0)) return done(null, undefined);
    if (jsonDepth(String(body)) > MAX_DEPTH) return done(tooDeep(), undefined);
    return strictJson(req, body, done);
  };
  app.addContentTypeParser(['application/json', 'application/merge-patch+json'], { parseAs: 'string' }, jsonParser);
  app.addContentTypeParser(['application/yaml', 'application/x-yaml', 'text/yaml'], { parseAs: 'string' }, (_req, body, done) => {
    try {
      const doc = YAML.parseDocument(body as string, { prettyErrors: true });
      if (doc.errors.length > 0) {
        const e = doc.errors[0]!;
        const [line, col] = e.linePos?.[0] ? [e.linePos[0].line, e.linePos[0].col] : [0, 0];
        done(new StratusError('STRATUS_ERR_BAD_REQUEST', `the body is not valid YAML at line ${line}, column ${col}: ${e.message.split('\n')[0]}`), undefined);
        return;
      }
      const value: unknown = doc.toJS({ maxAliasCount: 100 });
      if (valueDepth(value) > MAX_DEPTH) return done(tooDeep(), undefined);
      done(null, value);
    } catch (e) {
      done(new StratusError('STRATUS_ERR_BAD_REQUEST', `the body is not valid YAML: ${(e as Error).message}`), undefined);
    }
  });
}

function tooDeep(): StratusError {
  return new StratusError('STRATUS_ERR_BAD_REQUEST', `the body is nested more than ${MAX_DEPTH} levels deep`);
}

/** Route schemas are checked with compiled TypeBox checkers that name the field and the rule. */
function validatorCompiler({ schema, httpPart }: { schema: unknown; httpPart?: string }) {
  const prefix = httpPart === 'body' ? '' : httpPart === 'querystring' ? 'query' : httpPart ?? '';
  const check = compileChecker(schema as TSchema, prefix);
  const coerce = httpPart === 'querystring' || httpPart === 'params';
  return (data: unknown) => {
    const value = coerce ? Value.Convert(schema as TSchema, data ?? {}) : data;
    const problems = check(value);
    return problems.length > 0 ? { error: new ValidationError(problems) } : { value };
  };
}

function installErrors(app: FastifyInstance, deps: ApiDeps): void {
  app.setErrorHandler((err, req, reply) => {
    const { status, body, internal } = toErrorResponse(err);
    if (internal) req.log.error({ err }, 'internal error');
    if (!internal) req.log.debug({ code: body.error.code }, body.error.message);
    req.failure = { code: body.error.code, message: body.error.message };
    void reply.code(status).header('x-request-id', req.id).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    const { status, body } = toErrorResponse(new StratusError('STRATUS_ERR_ROUTE_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}; see /docs for the API`));
    void reply.code(status).send(body);
  });
  if (deps.onResponse) app.addHook('onResponse', deps.onResponse);
  app.addHook('onResponse', async (req, reply) => {
    if (req.audited || !MUTATIONS.has(req.method)) return;
    req.audited = true;
    const input = requestAudit(req, reply.statusCode);
    try {
      await deps.audit.record(input);
    } catch (err) {
      req.log.error({ err }, 'could not write the audit record');
    }
  });
}

function installAuth(app: FastifyInstance, deps: ApiDeps): void {
  app.addHook('onRequest', async (req) => {
    const permission = req.routeOptions.config?.permission;
    if (permission === 'public' || !req.routeOptions.url?.startsWith('/v1/')) return;
    req.principal = await deps.auth.authenticate(requestToken(req.headers));
    deps.onAuthenticated?.(req);
  });
  app.addHook('preValidation', async (req) => {
    const permission = req.routeOptions.config?.permission;
    const principal = req.principal;
    if (!permission || permission === 'public' || permission === 'authenticated' || !principal) return;
    const project = projectParam(req);
    if (permission === 'cluster-admin') {
      if (!principal.clusterAdmin) throw new StratusError('STRATUS_ERR_FORBIDDEN', `only cluster admins may ${req.method} ${req.routeOptions.url}`);
      return;
    }
    if ('role' in permission) {
      if (project && hasRole(principal, project, permission.role)) return;
      if (project && roleIn(principal, project) === undefined) throw notFound('project', project);
      throw new StratusError('STRATUS_ERR_FORBIDDEN', `${principal.id} needs the ${permission.role} role in project "${project}"`, { project, role: permission.role });
    }
    const reason = denyReason(principal, permission.kind, permission.verb, project, (req.params as { name?: string } | undefined)?.name);
    if (!reason) return;
    await hideUnseen(deps, req, principal, permission.kind);
    throw new StratusError('STRATUS_ERR_FORBIDDEN', reason, { kind: permission.kind.kind, verb: permission.verb, project });
  });
}

/** For hidden kinds: a refused request about an object the caller cannot see is answered 404. */
async function hideUnseen(deps: ApiDeps, req: FastifyRequest, principal: Principal, kind: Kind): Promise<void> {
  if (!isHidden(kind)) return;
  const params = (req.params ?? {}) as { name?: string; project?: string };
  const name = kind.kind === 'project' ? params.project : params.name;
  if (name === undefined) return;
  const obj = await deps.repo.find(kind, name);
  if (!obj || !canSee(principal, kind, obj)) throw notFound(kind.kind, name);
}

function projectParam(req: FastifyRequest): string | undefined {
  const params = req.params as Record<string, string> | undefined;
  return params?.project;
}
