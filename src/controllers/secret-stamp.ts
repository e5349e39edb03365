/**
 * Rotating a secret rolls the services that use it: the service controller hashes, with the
 * template, a stamp of the secret values the template uses, so new values are a new version and
 * go out with the service's own rolling update (surge, readiness, drain).
 *
 *   env DB_PASSWORD from db.password   →  "db.password=<db uid>:<version of password>"
 *   secrets: [{secret: tls}]           →  "tls/=<tls uid>:<generation of tls>"
 *   a missing secret or key            →  "db=missing", "db.password=<uid>:missing"
 *
 * Versions and generations come from the secret objects (they change when a value does, not when
 * a label does); the uid tells a re-created secret from the old one. No value is involved.
 * Standalone instances are not restarted: they read their values when they start.
 */
import type { Repository } from '../store/repository.js';
import { secretKind } from '../model/kinds/index.js';
import type { Secret } from '../model/kinds/secret.js';
import { secretNamesOf, secretRefsOf, type SecretRef } from '../model/secret-refs.js';
import type { InstanceSpec } from '../model/kinds/instance.js';

/** Pure: the stamp of `refs` given the secrets found (absent: missing). '' when there are no references. */
export function stampOf(refs: readonly SecretRef[], secrets: ReadonlyMap<string, Secret | undefined>): string {
  const parts = new Set<string>();
  for (const ref of refs) {
    const s = secrets.get(ref.secret);
    if (!s) parts.add(`${ref.secret}=missing`);
    else if (ref.key !== undefined) parts.add(`${ref.secret}.${ref.key}=${s.metadata.uid}:${s.spec.keys[ref.key] ?? 'missing'}`);
    else parts.add(`${ref.secret}/=${s.metadata.uid}:${s.metadata.generation}`);
  }
  return [...parts].sort().join(',');
}

/** The stamp of the secrets `spec` uses in `project` (a point read per secret; none without references). */
export async function secretStamp(repo: Repository, project: string, spec: InstanceSpec): Promise<string> {
  const refs = secretRefsOf(spec);
  if (refs.length === 0) return '';
  const secrets = new Map<string, Secret | undefined>();
  for (const name of secretNamesOf(spec)) secrets.set(name, await repo.find<Secret>(secretKind, name, project));
  return stampOf(refs, secrets);
}

/** Whether a write of a secret changed what stamps see (its values, or which secret it is). */
export function secretChanged(prev: Secret | undefined, next: Secret): boolean {
  return !prev || prev.metadata.uid !== next.metadata.uid || JSON.stringify(prev.spec) !== JSON.stringify(next.spec);
}
