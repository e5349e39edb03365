/**
 * The control plane itself: GET /v1/servers (every server sharing the store, and which leads;
 * any signed-in caller, as clients and agents use it to find servers) and GET /v1/cluster/status
 * (the servers and the store's own members and health; cluster admins).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server.js';
import { listServers } from '../../runtime/servers.js';

const Server = Type.Object({
  name: Type.String(),
  url: Type.String({ description: 'Where clients and agents reach its API.' }),
  version: Type.String(),
  startedAt: Type.String(),
  status: Type.Object({ leader: Type.Boolean({ description: 'It runs the scheduler and controllers now.' }) }),
});

const Member = Type.Object({
  name: Type.String(), id: Type.Optional(Type.String()), endpoint: Type.String(), healthy: Type.Boolean(),
  leader: Type.Optional(Type.Boolean()), version: Type.Optional(Type.String()), dbSizeBytes: Type.Optional(Type.Integer()), error: Type.Optional(Type.String()),
});

export async function clusterRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  const tags = ['Cluster'];
  app.get('/v1/servers', {
    schema: { tags, summary: 'The servers of this cloud and which one leads', response: { 200: Type.Object({ items: Type.Array(Server) }) } },
    config: { permission: 'authenticated' },
  }, async () => ({ items: await listServers(deps.repo) }));
  app.get('/v1/cluster/status', {
    schema: {
      tags, summary: "The servers, and the store's members and their health (cluster admins)",
      response: { 200: Type.Object({ servers: Type.Array(Server), store: Type.Object({ backend: Type.String(), revision: Type.Integer(), members: Type.Array(Member) }) }) },
    },
    config: { permission: 'cluster-admin' },
  }, async () => {
    const [servers, store] = await Promise.all([listServers(deps.repo), deps.repo.backend.status()]);
    return { servers, store };
  });
}
