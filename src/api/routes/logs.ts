/**
 * GET /v1/projects/:project/instances/:name/logs?follow=&tail=&stream=
 * Streams an instance's output from the agent of its node (text/plain, one line per line).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server.js';
import { DnsLabel, StringEnum, Strict } from '../../model/schema.js';
import { StratusError } from '../../model/errors.js';
import { instanceKind } from '../../model/kinds/index.js';
import { agentError, agentOf } from '../agent-link.js';

const Query = Type.Object(
  {
    follow: Type.Optional(Type.Boolean({ description: 'Keep streaming new lines until the instance ends.' })),
    tail: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000, description: 'Start with the last N lines.' })),
    stream: Type.Optional(StringEnum(['stdout', 'stderr'], { description: 'Default: both.' })),
  },
  Strict,
);

export { AGENT_ADDRESS } from '../agent-link.js';

export async function logRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  app.get('/v1/projects/:project/instances/:name/logs', {
    schema: { tags: ['Instance'], summary: 'Stream the output of an instance', params: Type.Object({ project: DnsLabel(), name: DnsLabel() }, Strict), querystring: Query },
    config: { permission: { kind: instanceKind, verb: 'get' } },
  }, async (req, reply) => {
    const { project, name } = req.params as { project: string; name: string };
    const q = req.query as Static<typeof Query>;
    if (req.principal!.node) throw new StratusError('STRATUS_ERR_FORBIDDEN', `${req.principal!.id} may not read logs: a node credential reads them on its node`);
    const agent = await agentOf(deps, project, name, 'no logs');
    const search = new URLSearchParams();
    if (q.follow) search.set('follow', 'true');
    if (q.tail !== undefined) search.set('tail', String(q.tail));
    if (q.stream) search.set('stream', q.stream);
    search.set('uid', agent.inst.metadata.uid);
    const path = `/v1/logs/${encodeURIComponent(project)}/${encodeURIComponent(name)}?${search}`;
    const controller = new AbortController();
    req.raw.on('close', () => controller.abort());
    let res: Response;
    try {
      res = await fetch(agent.address + path, { headers: agent.sign('GET', path), signal: controller.signal });
    } catch (e) {
      throw new StratusError('STRATUS_ERR_UNAVAILABLE', `cannot reach the agent of node "${agent.node}" at ${agent.address}: ${(e as { cause?: Error }).cause?.message ?? (e as Error).message}`);
    }
    if (!res.ok) throw agentError(agent.node, res.status, await res.text());
    reply.header('content-type', 'text/plain; charset=utf-8').header('cache-control', 'no-cache');
    return reply.send(res.body);
  });
}
