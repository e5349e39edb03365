/**
 * Costs (issue 18): meter records priced by the price lists (runtime/costs.ts).
 *
 *   GET /v1/costs?project=&since=&until=&by=      the report (model/cost.ts CostReport)
 *   GET /v1/costs/focus?project=&since=&until=    FOCUS CSV (model/cost-focus.ts), text/csv
 *
 * Who sees what: cluster admins every project, and the idle cost of the node pools (capacity is
 * the cluster's business); anyone else the projects they have a role in (viewer and up). Without
 * `project` a member gets their projects only; a project they have no role in is answered as one
 * that does not exist (404), like the other routes.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server.js';
import { DnsLabel, Strict } from '../../model/schema.js';
import { notFound, ValidationError } from '../../model/errors.js';
import { costGroupProblem, reportPeriod, type CostGroup } from '../../model/cost.js';
import { projectKind } from '../../model/kinds/index.js';
import { roleIn, type Principal } from '../../policy/auth.js';
import { CostSource } from '../../runtime/costs.js';

const Period = {
  project: Type.Optional(DnsLabel({ description: 'Only this project (default: every project the caller can read).' })),
  since: Type.Optional(Type.String({ maxLength: 40, description: 'Start: a date (2026-12-01, UTC) or an RFC 3339 time, rounded down to the hour. Default: the start of this month (UTC).' })),
  until: Type.Optional(Type.String({ maxLength: 40, description: 'End (exclusive), rounded up to the hour. Default: the end of the current hour.' })),
};
const ReportQuery = Type.Object({ ...Period, by: Type.Optional(Type.String({ maxLength: 300, description: 'project (default), service, instance, node-pool or label:<key>.' })) }, Strict);
const FocusQuery = Type.Object(Period, Strict);

const Amounts = Type.Object({ reserved: Type.Number(), usage: Type.Number(), charged: Type.Number() });
const Row = Type.Object({
  key: Type.String(), instanceHours: Type.Number(), cpu: Amounts, memory: Amounts, gpu: Amounts, instance: Type.Number(), volume: Type.Number(), total: Amounts,
  quantities: Type.Record(Type.String(), Type.Number()),
  efficiency: Type.Object({ cpu: Type.Optional(Type.Number()), memory: Type.Optional(Type.Number()), cost: Type.Optional(Type.Number()) }),
});
const ReportSchema = Type.Object({
  since: Type.String(), until: Type.String(), by: Type.String(), currency: Type.Optional(Type.String()),
  rows: Type.Array(Row), total: Row, unpricedHours: Type.Number({ description: 'Instance- and volume-hours before any price list (priced at 0).' }),
  idle: Type.Optional(Type.Array(Type.Object({ pool: Type.String(), cpu: Type.Number(), memory: Type.Number(), gpu: Type.Number(), total: Type.Number() }), { description: 'Cluster admins: per node pool, the cost of capacity nobody reserved.' })),
});

export async function costRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  const tags = ['Costs'];
  const costs = new CostSource(deps.repo);

  app.get('/v1/costs', {
    schema: { tags, summary: 'Cost by reservation, by usage and charged (max of both), grouped; idle cost per node pool for cluster admins', querystring: ReportQuery, response: { 200: ReportSchema } },
    config: { permission: 'authenticated' },
  }, async (req) => {
    const q = req.query as Static<typeof ReportQuery>;
    const by = q.by ?? 'project';
    const problem = costGroupProblem(by);
    if (problem) throw new ValidationError([{ path: 'by', message: problem, value: by }]);
    const scope = await readable(deps, req.principal!, q.project);
    return costs.report({ ...period(q, deps.clock.now()), ...scope, by: by as CostGroup, idle: req.principal!.clusterAdmin });
  });

  app.get('/v1/costs/focus', {
    schema: { tags, summary: 'The FinOps Foundation FOCUS columns as CSV (one row per instance-hour and resource, per volume-hour)', querystring: FocusQuery, produces: ['text/csv'] },
    config: { permission: 'authenticated' },
  }, async (req, reply) => {
    const q = req.query as Static<typeof FocusQuery>;
    const scope = await readable(deps, req.principal!, q.project);
    const csv = await costs.focus({ ...period(q, deps.clock.now()), ...scope });
    return reply.header('content-type', 'text/csv; charset=utf-8').send(csv);
  });
}

function period(q: { since?: string; until?: string }, now: number): { since: Date; until: Date } {
  const p = reportPeriod(q, now);
  if ('path' in p) throw new ValidationError([{ path: p.path, message: p.message, value: p.value }]);
  return p;
}

/** What the caller may read: one project (404 when it has no role there), or all (cluster admins), or its projects. */
async function readable(deps: ApiDeps, principal: Principal, project: string | undefined): Promise<{ project?: string; projects?: ReadonlySet<string> }> {
  const person = !principal.node && !principal.join;
  if (project !== undefined) {
    if (!person || roleIn(principal, project) === undefined) throw notFound('project', project);
    await deps.repo.get(projectKind, project);
    return { project };
  }
  if (principal.clusterAdmin) return {};
  return { projects: new Set(person ? principal.roles.keys() : []) };
}
