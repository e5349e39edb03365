/**
 * What a project's deletion takes with it, read from the kinds' `lifecycle` (checklist.ts):
 * the order in which its objects go, and which of them keep it from going. Pure.
 */
import type { Kind, StoredObject } from './kind.js';
import { PROJECT_DELETING, type Project } from './kinds/project.js';

/** Whether `owner` owns objects of `kind` (its lifecycle.owns names the kind, or "*": every other kind). */
export function owns(owner: Kind, kind: Kind): boolean {
  const owned = owner.lifecycle.owns ?? [];
  return owner !== kind && (owned.includes(kind.kind) || owned.includes('*'));
}

/**
 * The project kinds of `kinds` in the order a project's cascade deletes them: kinds that own
 * others first, each before what it owns (a stack before its services, a service before its
 * instances), so that no controller makes again what was just deleted; then the others, in
 * `kinds`' order.
 */
export function cascadeOrder(kinds: readonly Kind[]): Kind[] {
  const scoped = kinds.filter((k) => k.scope === 'project');
  const owners = scoped.filter((k) => (k.lifecycle.owns ?? []).length > 0);
  const out: Kind[] = [];
  let left = owners;
  while (left.length > 0) {
    const next = left.find((k) => !left.some((o) => owns(o, k))) ?? left[0]!; // a cycle: break it in order
    out.push(next);
    left = left.filter((k) => k !== next);
  }
  return [...out, ...scoped.filter((k) => !out.includes(k))];
}

/** Whether objects of `kind` keep a project from being deleted (events do not: they come and go with the rest). */
export function holdsProject(kind: Kind): boolean {
  return kind.scope === 'project' && kind.lifecycle.transient !== true;
}

/** Whether `obj` was made by the platform for `project` and goes with it (its default network). */
export function madeFor(project: string, obj: StoredObject): boolean {
  return obj.metadata.owner?.kind === 'project' && obj.metadata.owner.name === project;
}

/** Whether project `p` is being deleted with everything in it (status.phase Deleting). */
export function isDeleting(p: StoredObject | undefined): p is Project & { status: { phase: typeof PROJECT_DELETING } } {
  return (p as Project | undefined)?.status?.phase === PROJECT_DELETING;
}
