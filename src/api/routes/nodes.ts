/**
 * Joining nodes.
 *   POST /v1/join-tokens   (cluster admins) → { token, secret }: a token that can only register nodes
 *   POST /v1/nodes/join    (a join token)   → { node, secret }: the node object and its credential
 * A node that joins again under the same name gets a new credential; its old ones are revoked.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server.js';
import { DnsLabel, LabelMap, Strict } from '../../model/schema.js';
import { StratusError, ValidationError } from '../../model/errors.js';
import { parseDuration } from '../../model/format.js';
import { metadataProblems } from '../../model/kind.js';
import { nodeKind, tokenKind } from '../../model/kinds/index.js';
import type { Node } from '../../model/kinds/node.js';
import type { Token } from '../../model/kinds/token.js';
import { issueToken, nodeTokenName, revokeToken } from '../tokens.js';
import { requestAudit } from '../audit.js';
import type { Repository } from '../../store/repository.js';
import type { TxnOp } from '../../store/backend.js';

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

/**
 * Creates (or takes back) a node object and issues its credential, revoking earlier ones.
 * Used by the join route and by the server's embedded agent.
 */
export async function registerNode(
  repo: Repository,
  req: { name: string; zone?: string; pool?: string; labels?: Record<string, string> },
  actor: string,
  extraOps: TxnOp[] = [],
): Promise<{ node: Node; secret: string }> {
  const spec = { ...(req.zone ? { zone: req.zone } : {}), ...(req.pool ? { pool: req.pool } : {}) };
  const existing = await repo.find<Node>(nodeKind, req.name);
  const node = existing
    ? await repo.replace<Node>(nodeKind, existing, { metadata: { name: req.name, labels: req.labels ?? existing.metadata.labels, annotations: existing.metadata.annotations }, spec: { ...existing.spec, ...spec } })
    : await repo.create<Node>(nodeKind, { metadata: { name: req.name, ...(req.labels ? { labels: req.labels } : {}) }, spec }, { actor });
  const old = await repo.list<Token>(tokenKind, { filter: (t) => (t as Token).spec.node === req.name });
  for (const t of old.items) await revokeToken(repo, t.metadata.name).catch(() => undefined);
  const issued = await issueToken(repo, { name: nodeTokenName(req.name), spec: { node: req.name, description: `credential of node ${req.name}` }, actor }, extraOps);
  return { node, secret: issued.secret };
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
    schema: { tags, summary: 'Register a node with a join token; returns the node credential (shown once)', body: JoinBody },
    config: { permission: 'authenticated' },
  }, async (req, reply) => {
    const p = req.principal!;
    if (!p.join && !p.clusterAdmin) throw new StratusError('STRATUS_ERR_FORBIDDEN', 'registering a node needs a join token (stratus node join-token create)');
    const body = req.body as Static<typeof JoinBody>;
    req.target = { kind: 'node', name: body.name, action: 'join' };
    const problems = metadataProblems({ name: body.name, labels: body.labels });
    if (problems.length > 0) throw new ValidationError(problems.map((x) => ({ ...x, path: x.path.replace(/^metadata\./, '') })));
    const { op } = deps.audit.op(requestAudit(req, 201));
    const registered = await registerNode(deps.repo, body, p.id, [op]);
    req.audited = true;
    return reply.code(201).send(registered);
  });
}
