/** Health, readiness and version. Public: load balancers and probes call them without a token. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server.js';

export async function systemRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  const tags = ['System'];
  app.get('/healthz', { schema: { tags, summary: 'The process is alive', response: { 200: Type.Object({ status: Type.String() }) } }, config: { permission: 'public' } }, async () => ({ status: 'ok' }));
  app.get('/readyz', {
    schema: { tags, summary: 'The control plane can serve (store, controllers)' },
    config: { permission: 'public' },
  }, async (_req, reply) => {
    const r = deps.ready();
    return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not ready', checks: r.checks });
  });
  app.get('/v1/version', {
    schema: { tags, summary: 'Server version and store', response: { 200: Type.Object({ version: Type.String(), store: Type.String(), revision: Type.Integer() }) } },
    config: { permission: 'public' },
  }, async () => ({ version: deps.version, store: deps.repo.backend.name, revision: await deps.repo.revision() }));
}
