/** GET /v1/audit: the audit trail, newest first. Cluster admins see all; project admins their project's. */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server.js';
import { StratusError } from '../../model/errors.js';
import { hasRole } from '../../policy/auth.js';

const Query = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
    before: Type.Optional(Type.String({ maxLength: 64, description: 'Entries older than this id (from the previous page).' })),
    actor: Type.Optional(Type.String({ maxLength: 256 })),
    token: Type.Optional(Type.String({ maxLength: 63, description: 'Only what this token did.' })),
    project: Type.Optional(Type.String({ maxLength: 63 })),
    kind: Type.Optional(Type.String({ maxLength: 63 })),
    failed: Type.Optional(Type.Boolean({ description: 'Only refused requests.' })),
  },
  { additionalProperties: false },
);

const Entry = Type.Object({
  id: Type.String(), time: Type.String(), actor: Type.String(), token: Type.Optional(Type.String()), tokenUid: Type.Optional(Type.String()), method: Type.String(), path: Type.String(), action: Type.String(),
  kind: Type.Optional(Type.String()), project: Type.Optional(Type.String()), name: Type.Optional(Type.String()),
  status: Type.Integer(), code: Type.Optional(Type.String()), message: Type.Optional(Type.String()),
  sourceIp: Type.Optional(Type.String()), requestId: Type.Optional(Type.String()),
});

export async function auditRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  app.get('/v1/audit', {
    schema: { tags: ['Audit'], summary: 'Who did what, when, with which result', querystring: Query, response: { 200: Type.Object({ items: Type.Array(Entry), before: Type.Optional(Type.String()) }) } },
    config: { permission: 'authenticated' },
  }, async (req) => {
    const q = req.query as Static<typeof Query>;
    const p = req.principal!;
    if (!p.clusterAdmin && !(q.project && hasRole(p, q.project, 'admin'))) {
      throw new StratusError('STRATUS_ERR_FORBIDDEN', 'the audit trail is for cluster admins, and for project admins with ?project=<their project>');
    }
    return deps.audit.query({ limit: q.limit, before: q.before, actor: q.actor, token: q.token, project: q.project, kind: q.kind, failedOnly: q.failed });
  });
}
