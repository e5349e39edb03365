/**
 * Stacks planned and applied by the server (what `stratus plan/apply -f` call):
 *
 *   POST /v1/projects/:project/stacks/:name/plan    the plan of stack NAME: object by object, field by field; writes nothing
 *   POST /v1/projects/:project/stacks/:name/apply   apply it in dependsOn waves (?dryRun=true: say what, write nothing); prune: true prunes
 *   POST /v1/projects/:project/plan                 the same, the stack named by the files (name:) or by none:
 *   POST /v1/projects/:project/apply                plain objects
 *
 * The body carries the files (text) and the parameters; the server reads them (model/stack/), so a
 * bad file is a 400 naming the file, the line and the field. Every object is read and written as
 * the caller (stacks/loopback.ts): a stack can do nothing its caller could not do object by object.
 * An apply never waits for rollouts; it stops before a wave whose dependencies are not healthy
 * yet (`waiting`), and the same request continues it later.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiDeps } from '../server.js';
import { DnsLabel, Strict } from '../../model/schema.js';
import { isoNow } from '../../model/runtime.js';
import { loadStack, StackApplyResultSchema, StackPlanSchema, StackRequestSchema, type StackRequest } from '../../model/stack/plan.js';
import { loopback } from '../stacks/loopback.js';
import { planJson, planStack } from '../stacks/plan.js';
import { applyStack } from '../stacks/apply.js';

interface Params { project: string; name?: string }

const DryRun = Type.Object({ dryRun: Type.Optional(Type.Boolean({ description: 'Say what the apply would write and delete; write nothing.' })) }, Strict);

export async function stackRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  app.addSchema(StackPlanSchema);
  app.addSchema(StackApplyResultSchema);
  const tags = ['Stack'];
  const body = StackRequestSchema;
  for (const base of ['/v1/projects/:project/stacks/:name', '/v1/projects/:project']) {
    const named = base.endsWith(':name');
    const params = Type.Object({ project: DnsLabel(), ...(named ? { name: DnsLabel() } : {}) }, Strict);
    const which = named ? 'stack NAME' : 'the stack the files name (name:), or plain objects';
    app.post(`${base}/plan`, {
      schema: { tags, summary: `Plan ${which}: what apply would change, object by object and field by field; writes nothing`, params, body, response: { 200: Type.Ref('StackPlan') } },
      config: { permission: { role: 'member' } },
    }, async (req) => {
      req.audited = true; // a plan writes nothing, as a dry run
      const { loaded, project, request } = read(req);
      return planJson(await planStack(loopback(app, req), loaded, project, request.prune === true));
    });
    app.post(`${base}/apply`, {
      schema: { tags, summary: `Apply ${which} in dependsOn waves, and prune with prune: true; returns once written (it never waits for rollouts)`, params, querystring: DryRun, body, response: { 200: Type.Ref('StackApplyResult') } },
      config: { permission: { role: 'member' } },
    }, async (req) => {
      const dryRun = (req.query as { dryRun?: boolean }).dryRun === true;
      const { loaded, project, request } = read(req);
      if (dryRun) req.audited = true;
      else req.target = { ...(loaded.stack ? { kind: 'stack', name: loaded.stack } : {}), project, action: 'apply' };
      const api = loopback(app, req);
      const plan = await planStack(api, loaded, project, request.prune === true);
      return applyStack(api, loaded, plan, { project, dryRun, waitForDependencies: request.waitForDependencies !== false, now: isoNow(deps.clock) });
    });
  }
}

function read(req: FastifyRequest) {
  const { project, name } = req.params as Params;
  const request = req.body as StackRequest;
  return { project, request, loaded: loadStack(request, name) };
}
