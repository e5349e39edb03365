/**
 * Following what apply wrote until it is healthy: the dependencies a wave waits for, then every
 * rollout to its end (and `service restart` / `rollback`). Health is model/stack/health.ts, the
 * same judgement the server's apply makes before a wave.
 */
import type { Cli } from '../context.js';
import { CliError } from '../errors.js';
import type { Kind, StoredObject } from '../../model/kind.js';
import { serviceKind } from '../../model/kinds/index.js';
import { health } from '../../model/stack/health.js';
import { Progress } from './progress.js';

/** An object to follow; `desired` is what was applied, to tell a rollback from success. */
export interface Followed {
  kind: Kind;
  name: string;
  project: string;
  desired?: StoredObject;
}

const keyOf = (f: Pick<Followed, 'name' | 'project'> & { kind: { kind: string } }) => `${f.kind.kind}/${f.project}/${f.name}`;

/**
 * Polls until every item is healthy; throws on a failure (a rolled-back rollout, a failed instance)
 * or the timeout. `settled`: what one apply already saw healthy (a gate), not waited for again; the
 * items seen healthy now are added to it.
 */
export async function waitHealthy(cli: Cli, items: Followed[], progress: Progress, timeoutMs: number, settled = new Set<string>()): Promise<void> {
  const end = Date.now() + timeoutMs;
  const pending = new Map(items.filter((i) => !settled.has(keyOf(i))).map((i) => [keyOf(i), i]));
  while (pending.size > 0) {
    const current = await snapshot(cli, [...pending.values()]);
    for (const [key, item] of pending) {
      const h = health(item.kind.kind, current.get(key), item.desired);
      progress.line(`${item.kind.kind}/${item.name}`, h.text, h.fraction);
      if (h.state === 'failed') {
        progress.done();
        throw new CliError(`${item.kind.kind}/${item.name} failed: ${h.text}`);
      }
      if (h.state === 'healthy') {
        pending.delete(key);
        settled.add(key);
      }
    }
    if (pending.size === 0) break;
    if (Date.now() > end) {
      progress.done();
      throw new CliError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${[...pending.values()].map((i) => `${i.kind.kind}/${i.name}`).join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  progress.done();
}

/**
 * Follows the rollout of a service just changed outside a file (`service restart`, `rollback`), as
 * apply does: resolves once it is available, rejects if it fails (rolled back) or times out.
 */
export async function followRollout(cli: Cli, applied: StoredObject, timeoutMs: number): Promise<void> {
  await waitHealthy(cli, [{ kind: serviceKind, name: applied.metadata.name, project: applied.metadata.project ?? cli.project, desired: applied }], new Progress(process.stdout), timeoutMs);
}

/** The current objects of `items`, one list request per kind and project (not one GET each). */
async function snapshot(cli: Cli, items: Followed[]): Promise<Map<string, StoredObject | undefined>> {
  const groups = new Map<string, Followed[]>();
  for (const i of items) {
    const group = i.kind.scope === 'cluster' ? i.kind.kind : `${i.kind.kind}/${i.project}`;
    groups.set(group, [...(groups.get(group) ?? []), i]);
  }
  const out = new Map<string, StoredObject | undefined>();
  for (const group of groups.values()) {
    const { kind, project } = group[0]!;
    const { items: found } = await cli.client.resources(kind, kind.scope === 'cluster' ? undefined : project).list().catch(() => ({ items: [] as StoredObject[] }));
    const byName = new Map(found.map((o) => [o.metadata.name, o]));
    for (const i of group) out.set(keyOf(i), byName.get(i.name));
  }
  return out;
}
