/**
 * First start of a cluster: the `default` and `system` projects, the `admin` user (cluster
 * admin) and its first token. Safe to run on every start: it does nothing once the marker
 * exists, and resumes cleanly if a previous first start died half-way.
 *
 * The marker is written by `finishBootstrap`, once the server serves (API listening, components
 * started), just before the admin token is shown. A first start that fails before that (port in
 * use, say) never showed its token: the next start revokes it and issues (and shows) another.
 */
import type { Repository } from '../store/repository.js';
import { projectKind, tokenKind, userKind } from '../model/kinds/index.js';
import { StratusError } from '../model/errors.js';
import { bootstrapKey } from '../model/keyspace.js';
import { issueToken, revokeToken, MIN_TOKEN_LENGTH } from '../policy/tokens.js';

export interface BootstrapResult {
  /** True on the first start of this cluster. */
  created: boolean;
  /** The admin token, only when created (shown once). */
  adminToken?: string;
}

const ADMIN_TOKEN_NAME = 'admin';

/** Whether the cluster's first start finished (its marker, model/keyspace.ts `bootstrapKey`, exists). */
export async function bootstrapped(repo: Repository): Promise<boolean> {
  return (await repo.records.get(bootstrapKey)) !== undefined;
}

export async function bootstrap(repo: Repository, bootstrapToken?: string): Promise<BootstrapResult> {
  if (await bootstrapped(repo)) return { created: false };
  if (bootstrapToken !== undefined && bootstrapToken.length < MIN_TOKEN_LENGTH) {
    throw new Error(`--bootstrap-token must be at least ${MIN_TOKEN_LENGTH} characters (it was ${bootstrapToken.length})`);
  }
  for (const [name, displayName] of [['default', 'Default project'], ['system', 'Platform components and cluster events']] as const) {
    await ignoreExists(repo.create(projectKind, { metadata: { name }, spec: { displayName } }, { actor: 'system:bootstrap' }));
  }
  await ignoreExists(repo.create(userKind, { metadata: { name: 'admin' }, spec: { displayName: 'Cluster administrator', clusterAdmin: true } }, { actor: 'system:bootstrap' }));
  if (await repo.find(tokenKind, ADMIN_TOKEN_NAME)) await revokeToken(repo, ADMIN_TOKEN_NAME);
  const { secret } = await issueToken(repo, { name: ADMIN_TOKEN_NAME, spec: { user: 'admin', description: 'first admin token, created at bootstrap' }, secret: bootstrapToken, actor: 'system:bootstrap' });
  return { created: true, adminToken: secret };
}

/** Marks the cluster bootstrapped; call once the server serves, right before showing the token. */
export async function finishBootstrap(repo: Repository, result: BootstrapResult): Promise<void> {
  if (!result.created) return;
  await repo.records.txn([{ op: 'create', key: bootstrapKey, value: JSON.stringify({ at: new Date(repo.clock.now()).toISOString() }) }]);
}

async function ignoreExists(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof StratusError && e.code === 'STRATUS_ERR_ALREADY_EXISTS')) throw e;
  }
}
