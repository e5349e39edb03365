/**
 * What a project still holds, as a deletion waits for it: per kind, how many objects (and a few
 * names). Transient kinds (events) and what the platform made for the project itself (its default
 * network) do not hold it: they go with it (model/cascade.ts). Used by the admission that refuses to delete a project that is not
 * empty, the API that marks a project Deleting, and the controller that empties it.
 */
import type { Repository } from '../store/repository.js';
import type { Deletion } from '../model/kind.js';
import { ALL_KINDS } from '../model/kinds/index.js';
import { holdsProject, madeFor } from '../model/cascade.js';

export type Holding = Deletion['waitingFor'][number];

/** Names listed per kind (the count says how many there are). */
const NAMES = 5;

/** What `project` holds, kind by kind in the registry's order; kinds it holds none of are left out. */
export async function projectContents(repo: Repository, project: string): Promise<Holding[]> {
  const out: Holding[] = [];
  for (const kind of ALL_KINDS) {
    if (!holdsProject(kind)) continue;
    const total = await repo.count(kind, project);
    if (total === 0) continue;
    // Only kinds the platform makes for projects (networks) are read for that; the others are counted.
    const owned = kind.lifecycle.madeForProjects ? (await repo.list(kind, { project, filter: (o) => madeFor(project, o) })).items.length : 0;
    const { items } = await repo.list(kind, { project, limit: NAMES, filter: (o) => !madeFor(project, o) });
    if (total - owned > 0) out.push({ kind: kind.kind, count: total - owned, names: items.map((o) => o.metadata.name) });
  }
  return out;
}

/** "3 instances, 1 service". */
export function describeHoldings(holdings: readonly Holding[]): string {
  return holdings.map((h) => `${h.count} ${h.count === 1 ? h.kind : ALL_KINDS.find((k) => k.kind === h.kind)?.plural ?? `${h.kind}s`}`).join(', ');
}
