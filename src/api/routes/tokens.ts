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
import { notFound, StratusError } from '../../model/errors.js';
import { tokenKind, userKind } from '../../model/kinds/index.js';
import type { TokenSpec } from '../../model/kinds/token.js';
import { canSee } from '../../policy/auth.js';
import { issueToken, revokeToken } from '../../policy/tokens.js';
import { mayRevoke, tokenSpecFor } from '../../policy/token-rights.js';
import { requestAudit } from '../request-audit.js';

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
    const spec = tokenSpecFor(req.principal!, body, deps.clock.now());
    if (spec.user !== undefined) await deps.repo.get(userKind, spec.user);
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
    const token = await deps.repo.find(tokenKind, name);
    if (!token || !canSee(req.principal!, tokenKind, token)) throw notFound('token', name);
    const spec = token.spec as TokenSpec;
    if (!mayRevoke(req.principal!, spec, name)) {
      throw new StratusError('STRATUS_ERR_FORBIDDEN', `${req.principal!.id} may not revoke token "${name}": it grants more than this token holds (revoke it with a token of its user that is not narrowed, or as a cluster admin)`);
    }
    const { op } = deps.audit.op(requestAudit(req, 200));
    const deleted = await revokeToken(deps.repo, name, [op]);
    req.audited = true;
    return deleted;
  });
}
