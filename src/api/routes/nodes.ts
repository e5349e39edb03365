/**
 * Joining nodes.
 *   POST /v1/join-tokens   (cluster admins) → { token, secret }: a token that can only register nodes
 *   POST /v1/nodes/join    (a join token)   → { node, secret }: the node object and its credential
 * A node that joins again under the same name gets a new credential; its old ones are revoked.
 *
 * An agent whose node object was deleted (`stratus node delete --force`) registers it again with
 * its own credential, which stays valid (as a kubelet recreates its Node):
 *   POST /v1/nodes/join    (node:NAME, body.name NAME) → { node }: created (201) or as it was (200)
 * To keep a machine out for good, revoke its credential (`stratus token revoke node-NAME`) too.
 *
 * Deleting a node that still has instances bound to it needs `?force=true` (they are released at
 * once: placed again or Lost); otherwise drain it first.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiDeps } from '../server.js';
import { DnsLabel, LabelMap, Strict } from '../../model/schema.js';
import { StratusError, ValidationError } from '../../model/errors.js';
import { parseDuration } from '../../model/format.js';
import { metadataProblems } from '../../model/kind.js';
import { nodeKind } from '../../model/kinds/index.js';
import type { Node } from '../../model/kinds/node.js';
import { issueToken } from '../../policy/tokens.js';
import { registerNode } from '../../policy/nodes.js';
import { requestAudit } from '../request-audit.js';

const JoinTokenBody = Type.Object(
  {
    expiresIn: Type.Optional(Type.String({ pattern: '^\\d+(ms|s|m|h|d)$', description: 'Lifetime (default 24h).', errorMessage: 'is not a duration (use e.g. 1h, 24h, 7d)' })),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  Strict,
);

const JoinBody = Type.Object(
  {
    name: DnsLabel({ description: 'Node name, unique in the cluster.' }),
    zone: Type.Optional(DnsLabel()),
    pool: Type.Optional(DnsLabel()),
    labels: Type.Optional(LabelMap()),
  },
  Strict,
);

/** A node agent registers its own node again (it was deleted); its credential stays valid. */
async function reRegister(deps: ApiDeps, req: FastifyRequest, reply: FastifyReply, node: string, body: Static<typeof JoinBody>) {
  if (body.name !== node) throw new StratusError('STRATUS_ERR_FORBIDDEN', `node:${node} may only register itself, not "${body.name}"`);
  const existing = await deps.repo.find<Node>(nodeKind, node);
  if (existing) {
    req.audited = true;
    return reply.code(200).send({ node: existing });
  }
  const spec = { ...(body.zone ? { zone: body.zone } : {}), ...(body.pool ? { pool: body.pool } : {}) };
  const { op } = deps.audit.op(requestAudit(req, 201));
  const created = await deps.repo.create<Node>(nodeKind, { metadata: { name: node, ...(body.labels ? { labels: body.labels } : {}) }, spec }, { actor: `node:${node}`, extraOps: [op] });
  req.audited = true;
  return reply.code(201).send({ node: created });
}

export async function nodeRoutes(app: FastifyInstance, { deps }: { deps: ApiDeps }): Promise<void> {
  const tags = ['Node'];
  app.post('/v1/join-tokens', {
    schema: { tags, summary: 'Create a join token for `stratus agent --join-token`', body: JoinTokenBody },
    config: { permission: 'cluster-admin' },
  }, async (req, reply) => {
    const body = (req.body ?? {}) as Static<typeof JoinTokenBody>;
    req.target = { kind: 'token', action: 'create-join-token' };
    const ms = parseDuration(body.expiresIn ?? '24h')!;
    const { op } = deps.audit.op(requestAudit(req, 201));
    const issued = await issueToken(deps.repo, {
      spec: { join: true, expiresAt: new Date(deps.clock.now() + ms).toISOString(), description: body.description ?? 'node join token' },
      actor: req.principal!.id,
    }, [op]);
    req.audited = true;
    return reply.code(201).send(issued);
  });

  app.post('/v1/nodes/join', {
    schema: { tags, summary: 'Register a node with a join token; returns the node credential (shown once). With a node credential: register that node again after it was deleted', body: JoinBody },
    config: { permission: 'authenticated' },
  }, async (req, reply) => {
    const p = req.principal!;
    const body = req.body as Static<typeof JoinBody>;
    req.target = { kind: 'node', name: body.name, action: 'join' };
    if (!p.node && !p.join && !p.clusterAdmin) throw new StratusError('STRATUS_ERR_FORBIDDEN', 'registering a node needs a join token (stratus node join-token create)');
    const problems = metadataProblems({ name: body.name, labels: body.labels });
    if (problems.length > 0) throw new ValidationError(problems.map((x) => ({ ...x, path: x.path.replace(/^metadata\./, '') })));
    if (p.node) return reRegister(deps, req, reply, p.node, body);
    const { op } = deps.audit.op(requestAudit(req, 201));
    const registered = await registerNode(deps.repo, body, p.id, [op]);
    req.audited = true;
    return reply.code(201).send(registered);
  });
}
