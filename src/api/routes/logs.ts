/**
 * GET /v1/projects/:project/instances/:name/logs?follow=&tail=&stream=
 * Streams an instance's output from the agent of its node (text/plain, one line per line).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server.js';
import { DnsLabel, StringEnum, Strict } from '../../model/schema.js';
import { StratusError } from '../../model/errors.js';
import { instanceKind, nodeKind } from '../../model/kinds/index.js';
import type { Instance } from '../../model/kinds/instance.js';
import type { Node } from '../../model/kinds/node.js';
import { TOKEN_NAME_PREFIX } from '../auth.js';
import { SIGNATURE_HEADER, sign } from '../../client/node-signing.js';
import { nodeTokenName } from '../tokens.js';

const Query = Type.Object(
  {
    follow: Type.Optional(Type.Boolean({ description: 'Keep streaming new lines until the instance ends.' })),
    tail: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000, description: 'Start with the last N lines.' })),
    stream: Type.Optional(StringEnum(['stdout', 'stderr'], { description: 'Default: both.' })),
  },
  Strict,
);

export const AGENT_ADDRESS = 'agent';

export async function logRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  app.get('/v1/projects/:project/instances/:name/logs', {
    schema: { tags: ['Instance'], summary: 'Stream the output of an instance', params: Type.Object({ project: DnsLabel(), name: DnsLabel() }, Strict), querystring: Query },
    config: { permission: { kind: instanceKind, verb: 'get' } },
  }, async (req, reply) => {
    const { project, name } = req.params as { project: string; name: string };
    const q = req.query as Static<typeof Query>;
    if (req.principal!.node) throw new StratusError('STRATUS_ERR_FORBIDDEN', `${req.principal!.id} may not read logs: a node credential reads them on its node`);
    const inst = await deps.repo.get<Instance>(instanceKind, name, project);
    const nodeName = inst.status?.node;
    if (!nodeName) throw new StratusError('STRATUS_ERR_NOT_RUNNING', `instance "${name}" has not run on any node yet (phase ${inst.status?.phase ?? 'Pending'}): no logs`);
    const node = await deps.repo.find<Node>(nodeKind, nodeName);
    const address = node?.status?.addresses?.find((a) => a.type === AGENT_ADDRESS)?.address;
    const ref = await deps.repo.backend.get(TOKEN_NAME_PREFIX + nodeTokenName(nodeName));
    if (!address || !ref) throw new StratusError('STRATUS_ERR_UNAVAILABLE', `the agent of node "${nodeName}" does not serve logs (is it running?)`);
    const { hash } = JSON.parse(ref.value) as { hash: string };
    const search = new URLSearchParams();
    if (q.follow) search.set('follow', 'true');
    if (q.tail !== undefined) search.set('tail', String(q.tail));
    if (q.stream) search.set('stream', q.stream);
    search.set('uid', inst.metadata.uid);
    const path = `/v1/logs/${encodeURIComponent(project)}/${encodeURIComponent(name)}?${search}`;
    const controller = new AbortController();
    req.raw.on('close', () => controller.abort());
    let res: Response;
    try {
      res = await fetch(address + path, { headers: { [SIGNATURE_HEADER]: sign(hash, 'GET', path, deps.clock.now()) }, signal: controller.signal });
    } catch (e) {
      throw new StratusError('STRATUS_ERR_UNAVAILABLE', `cannot reach the agent of node "${nodeName}" at ${address}: ${(e as { cause?: Error }).cause?.message ?? (e as Error).message}`);
    }
    if (!res.ok) {
      const text = await res.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { error: { message: string } }).error.message;
      } catch { /* plain text */ }
      throw new StratusError(res.status === 404 ? 'STRATUS_ERR_NOT_FOUND' : 'STRATUS_ERR_UNAVAILABLE', `node "${nodeName}": ${message}`);
    }
    reply.header('content-type', 'text/plain; charset=utf-8').header('cache-control', 'no-cache');
    return reply.send(res.body);
  });
}
