/** The registry of kinds. Adding a kind: import it and list it in ALL_KINDS. */
import type { Kind } from '../kind.js';
import { projectKind } from './project.js';
import { userKind } from './user.js';
import { tokenKind } from './token.js';
import { nodeKind } from './node.js';
import { instanceKind } from './instance.js';
import { eventKind } from './event.js';

export { projectKind, userKind, tokenKind, nodeKind, instanceKind, eventKind };

export const ALL_KINDS: readonly Kind[] = [projectKind, userKind, tokenKind, nodeKind, instanceKind, eventKind] as unknown as Kind[];

const byName = new Map<string, Kind>();
for (const k of ALL_KINDS) {
  for (const n of [k.kind, k.plural, k.title.toLowerCase(), ...(k.aliases ?? [])]) byName.set(n, k);
}

/** Finds a kind by singular, plural, alias or title, case-insensitively. */
export function findKind(name: string): Kind | undefined {
  return byName.get(name.toLowerCase().replace(/[-_]/g, ''))
    ?? byName.get(name.toLowerCase());
}

export function kindNames(): string[] {
  return ALL_KINDS.map((k) => k.plural);
}
