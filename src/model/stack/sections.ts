/**
 * The compact sections of stack files (`services:`, `volumes:`, ...), read from the kinds' `stack`
 * descriptors (model/checklist.ts `StackEntry`): a kind that declares `stack: { section }` is
 * accepted in stack files with no change here. `first` puts its objects that depend on nothing in
 * the first wave; `template` writes a compact entry's `template` as the spec of its objects' template.
 */
import type { Kind } from '../kind.js';
import { ALL_KINDS, findKind } from '../kinds/index.js';

/** Top-level fields of a compact document that are no section (and of full objects, which no section may shadow). */
const RESERVED = ['name', 'description', 'parameters', 'resources', 'kind', 'metadata', 'spec', 'dependsOn'];

/** The kinds a stack file may hold: by compact section, and by any name of a full object's kind. */
export interface StackKinds {
  /** Section → kind, in the kinds' order. */
  sections: ReadonlyMap<string, Kind>;
  /** The kind of the list a full object names: as findKind finds it (singular, plural, alias, title), or by its singular or plural. */
  find: (name: string) => Kind | undefined;
}

/**
 * The stack sections of `kinds`. Throws (a programming error, not a user's) when two kinds
 * declare one section or a section is a reserved top-level field.
 */
export function stackKinds(kinds: readonly Kind[]): StackKinds {
  const sections = new Map<string, Kind>();
  for (const k of kinds) {
    const section = k.stack?.section;
    if (section === undefined) continue;
    if (RESERVED.includes(section)) throw new Error(`kind ${k.kind}: stack section "${section}" is a reserved top-level field of stack files`);
    const other = sections.get(section);
    if (other) throw new Error(`kinds ${other.kind} and ${k.kind} both declare the stack section "${section}"`);
    sections.set(section, k);
  }
  const find = (name: string) => {
    const registered = findKind(name);
    if (registered && kinds.includes(registered)) return registered;
    return kinds.find((k) => k.kind === name.toLowerCase() || k.plural === name.toLowerCase());
  };
  return { sections, find };
}

let registered: StackKinds | undefined;

/** The stack sections of every registered kind (ALL_KINDS). */
export function registeredStackKinds(): StackKinds {
  registered ??= stackKinds(ALL_KINDS);
  return registered;
}
