/**
 * Compaction planning (issue 18):
 *   POST /v1/nodes/compact?dryRun=true[&maxDrains=N]   (cluster admins) → CompactionPlan
 * Which nodes to drain so that the most nodes end up empty, computed with the scheduler's engine
 * over the nodes and instances as stored (src/scheduler/plan/live.ts). Only the dry run is served:
 * `stratus node compact --apply` carries a plan out through the ordinary drains, one node at a
 * time, asking again before each. An API plugin (the API layer does not import the scheduler):
 * src/server/main.ts registers it.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../api/server.js';
import { Strict } from '../model/schema.js';
import { ValidationError } from '../model/errors.js';
import { instanceKind, nodeKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Node } from '../model/kinds/node.js';
import { planCompaction } from '../scheduler/plan/live.js';
import { paths } from '../client/paths.js';

const CompactQuery = Type.Object(
  {
    dryRun: Type.Optional(Type.String({ description: 'Must be "true": the server only plans (the CLI applies through drains).' })),
    maxDrains: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}$', description: 'Plan at most this many drains.', errorMessage: 'is not a whole number' })),
  },
  Strict,
);

/** The API plugin serving the compaction plan. */
export function compactRoute(app: FastifyInstance, deps: ApiDeps): void {
  app.post(paths.nodesCompact(), {
    schema: { tags: ['Node'], summary: 'Plan which nodes to drain to empty the most nodes (dry run only)', querystring: CompactQuery },
    config: { permission: 'cluster-admin' },
  }, async (req) => {
    const q = req.query as Static<typeof CompactQuery>;
    if (q.dryRun !== 'true') {
      throw new ValidationError([{ path: 'dryRun', message: 'must be "true": the server only plans; apply a plan with stratus node compact --apply, which drains one node at a time', value: q.dryRun }]);
    }
    req.target = { kind: 'node', action: 'compact-plan' };
    const [nodes, instances] = await Promise.all([deps.repo.list<Node>(nodeKind), deps.repo.list<Instance>(instanceKind)]);
    return planCompaction(nodes.items, instances.items, q.maxDrains !== undefined ? { maxDrains: Number(q.maxDrains) } : {});
  });
}
