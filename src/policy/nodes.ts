/**
 * Nodes as the platform admits them: registering one (its object and its credential, used by the
 * join route and by the server's embedded agent) and refusing to delete one that still runs
 * instances. The HTTP side is api/routes/nodes.ts.
 */
import { StratusError } from '../model/errors.js';
import { instanceKind, nodeKind, tokenKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Node } from '../model/kinds/node.js';
import type { Token } from '../model/kinds/token.js';
import { FINISHED } from '../model/lifecycle.js';
import type { TxnOp } from '../store/backend.js';
import type { Repository } from '../store/repository.js';
import type { AdmissionPlugin } from './admission.js';
import { issueToken, nodeTokenName, revokeToken } from './tokens.js';

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

/** Refuses deleting a node that instances are still bound to, unless forced. */
export const nodeDeleteNeedsDrain: AdmissionPlugin = async (req, repo) => {
  if (req.op !== 'delete' || req.kind !== nodeKind || req.force) return;
  const { items } = await repo.list<Instance>(instanceKind, { filter: (o) => {
    const status = (o as Instance).status;
    return status?.node === req.name && !FINISHED.has(status.phase);
  } });
  if (items.length === 0) return;
  const n = items.length;
  const some = items.slice(0, 3).map((i) => `${i.metadata.project}/${i.metadata.name}`).join(', ') + (n > 3 ? ', ...' : '');
  throw new StratusError('STRATUS_ERR_DEPENDENCY',
    `node "${req.name}" still has ${n} ${n === 1 ? 'instance' : 'instances'} (${some}); drain it first (stratus node drain ${req.name}) and delete it once they moved, or delete with --force to release them at once (restart-always ones are placed again, the others are Lost)`,
    { node: req.name, instances: n });
};
