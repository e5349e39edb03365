/**
 * Recovery from a lost admin: `stratus server --reset-admin-token` (run where the data dir is,
 * with the server stopped) makes the user `admin` an enabled cluster admin again (creating it if
 * it is gone) and issues a new token for it, recorded in the audit log like any other write.
 */
import type { Repository } from '../store/repository.js';
import { userKind } from '../model/kinds/index.js';
import type { User } from '../model/kinds/user.js';
import type { AuditLog } from './audit.js';
import { issueToken } from './tokens.js';

export const RECOVERY_USER = 'admin';
const ACTOR = 'system:reset-admin-token';

export interface RecoveredAdmin {
  user: string;
  /** The new token's name. */
  name: string;
  secret: string;
}

/** Restores the admin user's rights and issues it a token; each write carries its audit record. */
export async function recoverAdmin(repo: Repository, audit: AuditLog): Promise<RecoveredAdmin> {
  const record = (action: string, kind: string, name: string, status: number) =>
    audit.op({ actor: ACTOR, method: 'LOCAL', path: 'stratus server --reset-admin-token', action, kind, name, status }).op;
  const user = await repo.find<User>(userKind, RECOVERY_USER);
  if (!user) {
    await repo.create(userKind, { metadata: { name: RECOVERY_USER }, spec: { displayName: 'Cluster administrator', clusterAdmin: true } }, { actor: ACTOR, extraOps: [record('create', 'user', RECOVERY_USER, 201)] });
  } else if (!user.spec.clusterAdmin || user.spec.disabled) {
    const { disabled: _enabledAgain, ...spec } = user.spec;
    await repo.replace(userKind, user, { metadata: { name: RECOVERY_USER, labels: user.metadata.labels, annotations: user.metadata.annotations }, spec: { ...spec, clusterAdmin: true } }, { extraOps: [record('update', 'user', RECOVERY_USER, 200)] });
  }
  const name = `admin-reset-${repo.clock.now().toString(36)}`;
  const issued = await issueToken(repo, {
    name,
    spec: { user: RECOVERY_USER, description: 'admin token issued by stratus server --reset-admin-token' },
    actor: ACTOR,
  }, [record('reset-admin-token', 'token', name, 201)]);
  return { user: RECOVERY_USER, name: issued.token.metadata.name, secret: issued.secret };
}
