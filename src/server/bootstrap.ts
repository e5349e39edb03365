/**
 * First start of a cluster: the `default` and `system` projects, the `admin` user (cluster
 * admin) and its first token. Safe to run on every start: it does nothing once the marker
 * exists, and resumes cleanly if a previous first start died half-way.
 */
import type { Repository } from '../store/repository.js';
import { projectKind, userKind } from '../model/kinds/index.js';
import { StratusError } from '../model/errors.js';
import { issueToken, MIN_TOKEN_LENGTH } from '../api/tokens.js';

export const BOOTSTRAP_MARKER = '/internal/bootstrapped';

export interface BootstrapResult {
  /** True on the first start of this cluster. */
  created: boolean;
  /** The admin token, only when created (shown once). */
  adminToken?: string;
}

export async function bootstrap(repo: Repository, bootstrapToken?: string): Promise<BootstrapResult> {
  if (await repo.backend.get(BOOTSTRAP_MARKER)) return { created: false };
  if (bootstrapToken !== undefined && bootstrapToken.length < MIN_TOKEN_LENGTH) {
    throw new Error(`--bootstrap-token must be at least ${MIN_TOKEN_LENGTH} characters (it was ${bootstrapToken.length})`);
  }
  for (const [name, displayName] of [['default', 'Default project'], ['system', 'Platform components and cluster events']] as const) {
    await ignoreExists(repo.create(projectKind, { metadata: { name }, spec: { displayName } }, { actor: 'system:bootstrap' }));
  }
  await ignoreExists(repo.create(userKind, { metadata: { name: 'admin' }, spec: { displayName: 'Cluster administrator', clusterAdmin: true } }, { actor: 'system:bootstrap' }));
  const marker = { op: 'create' as const, key: BOOTSTRAP_MARKER, value: JSON.stringify({ at: new Date(repo.clock.now()).toISOString() }) };
  const { secret } = await issueToken(repo, { name: 'admin', spec: { user: 'admin', description: 'first admin token, created at bootstrap' }, secret: bootstrapToken, actor: 'system:bootstrap' }, [marker]);
  return { created: true, adminToken: secret };
}

async function ignoreExists(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof StratusError && e.code === 'STRATUS_ERR_ALREADY_EXISTS')) throw e;
  }
}
