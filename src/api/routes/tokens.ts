/**
 * Identity routes: who am I, and tokens.
 *   GET    /v1/whoami
 *   POST   /v1/tokens          → 201 { token, secret }  (the secret is shown only here)
 *   DELETE /v1/tokens/:name    revoke
 * Listing and reading tokens are the generic token routes (filtered to what the caller owns).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiDeps } from '../server.js';
import { DnsLabel, RoleBinding, Strict } from '../../model/schema.js';
import { StratusError, ValidationError } from '../../model/errors.js';
import { parseDuration } from '../../model/format.js';
import { tokenKind, userKind } from '../../model/kinds/index.js';
import type { TokenSpec } from '../../model/kinds/token.js';
import { roleBindingProblems } from '../../model/kinds/user.js';
import { hasRole, ROLE_RANK, roleIn, type Principal, type Role } from '../auth.js';
import { issueToken, revokeToken } from '../tokens.js';
import { requestAudit } from '../audit.js';

const CreateToken = Type.Object(
  {
    name: Type.Optional(DnsLabel({ description: 'Token name (default: generated).' })),
    user: Type.Optional(DnsLabel({ description: 'Act for this user (default for people: yourself). Omit with roles for a robot token.' })),
    roles: Type.Optional(Type.Array(RoleBinding, { maxItems: 1024 })),
    clusterAdmin: Type.Optional(Type.Boolean()),
    expiresIn: Type.Optional(Type.String({ pattern: '^\\d+(ms|s|m|h|d)$', description: 'Lifetime, e.g. 12h or 30d.', errorMessage: 'is not a duration (use e.g. 90s, 15m, 12h, 30d)' })),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  Strict,
);

const Whoami = Type.Object({
  id: Type.String(),
  user: Type.Optional(Type.String()),
  token: Type.String(),
  clusterAdmin: Type.Boolean(),
  roles: Type.Array(RoleBinding),
  node: Type.Optional(Type.String()),
});

export async function tokenRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  const tags = ['Identity'];
  app.get('/v1/whoami', { schema: { tags, summary: 'Who the caller is', response: { 200: Whoami } }, config: { permission: 'authenticated' } }, async (req) => {
    const p = req.principal!;
    return {
      id: p.id,
      ...(p.user ? { user: p.user } : {}),
      token: p.token,
      clusterAdmin: p.clusterAdmin,
      roles: [...p.roles].map(([project, role]) => ({ project, role })),
      ...(p.node ? { node: p.node } : {}),
    };
  });

  app.post('/v1/tokens', {
    schema: { tags, summary: 'Create a token; the response holds its secret, shown only once', body: CreateToken },
    config: { permission: 'authenticated' },
  }, async (req, reply) => {
    const body = req.body as Static<typeof CreateToken>;
    req.target = { kind: 'token', name: body.name, action: 'create' };
    const spec = await tokenSpecFor(req.principal!, body, deps);
    const { op } = deps.audit.op(requestAudit(req, 201));
    const issued = await issueToken(deps.repo, { name: body.name, spec, actor: req.principal!.id }, [op]);
    req.audited = true;
    return reply.code(201).send(issued);
  });

  app.delete('/v1/tokens/:name', {
    schema: { tags, summary: 'Revoke a token', params: Type.Object({ name: DnsLabel() }, Strict) },
    config: { permission: 'authenticated' },
  }, async (req: FastifyRequest) => {
    const { name } = req.params as { name: string };
    req.target = { kind: 'token', name, action: 'delete' };
    const token = await deps.repo.get(tokenKind, name);
    const spec = token.spec as TokenSpec;
    if (!mayRevoke(req.principal!, spec, name)) {
      throw new StratusError('STRATUS_ERR_FORBIDDEN', `${req.principal!.id} may not revoke token "${name}" (only its user, an admin of every project it has a role in, or a cluster admin)`);
    }
    const { op } = deps.audit.op(requestAudit(req, 200));
    const deleted = await revokeToken(deps.repo, name, [op]);
    req.audited = true;
    return deleted;
  });
}

/** Works out the token's spec and refuses any grant beyond the caller's own rights. */
async function tokenSpecFor(p: Principal, body: Static<typeof CreateToken>, deps: ApiDeps): Promise<TokenSpec> {
  const problems = roleBindingProblems(body.roles, 'roles');
  if (problems.length > 0) throw new ValidationError(problems);
  const spec: TokenSpec = {};
  const user = body.user ?? (body.roles === undefined && body.clusterAdmin === undefined ? p.user : undefined);
  if (user) {
    if (user !== p.user && !p.clusterAdmin) throw new StratusError('STRATUS_ERR_FORBIDDEN', `only cluster admins may create tokens for another user ("${user}")`);
    await deps.repo.get(userKind, user);
    spec.user = user;
  }
  if (!user && body.roles === undefined && !body.clusterAdmin) {
    throw new ValidationError([{ path: 'roles', message: 'a robot token needs roles (e.g. [{"project": "team-a", "role": "member"}]) or clusterAdmin' }]);
  }
  if (body.clusterAdmin) {
    if (!p.clusterAdmin) throw new StratusError('STRATUS_ERR_FORBIDDEN', 'only cluster admins may create cluster-admin tokens');
    spec.clusterAdmin = true;
  }
  for (const [i, r] of (body.roles ?? []).entries()) {
    const mine = roleIn(p, r.project);
    const needed: Role = user ? 'viewer' : 'admin';
    if (!mine || ROLE_RANK[mine] < ROLE_RANK[needed] || ROLE_RANK[mine] < ROLE_RANK[r.role as Role]) {
      throw new StratusError('STRATUS_ERR_FORBIDDEN', `roles[${i}]: ${p.id} cannot grant ${r.role} in project "${r.project}" (${mine ? `you are ${mine}` : 'you have no role there'}; granting needs admin)`);
    }
  }
  if (body.roles) spec.roles = body.roles;
  if (body.expiresIn) {
    const ms = parseDuration(body.expiresIn)!;
    spec.expiresAt = new Date(deps.clock.now() + ms).toISOString();
  }
  if (body.description) spec.description = body.description;
  return spec;
}

function mayRevoke(p: Principal, spec: TokenSpec, name: string): boolean {
  if (p.clusterAdmin || p.token === name) return true;
  if (spec.user) return spec.user === p.user;
  if (spec.clusterAdmin || spec.node) return false;
  const roles = spec.roles ?? [];
  return roles.length > 0 && roles.every((r) => hasRole(p, r.project, 'admin'));
}
