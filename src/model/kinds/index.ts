/**
 * The registry of kinds. Adding a kind: define it in its own file, import it here and list it
 * in ALL_KINDS. Kinds are exported type-erased (`Kind`) so any layer can pass them around;
 * the typed object shapes (Instance, Node, ...) come from each kind's file.
 */
import type { Kind } from '../kind.js';
import { projectKind as project } from './project.js';
import { userKind as user } from './user.js';
import { tokenKind as token } from './token.js';
import { nodeKind as node } from './node.js';
import { instanceKind as instance } from './instance.js';
import { eventKind as event } from './event.js';
import { networkKind as network } from './network.js';
import { securityGroupKind as securityGroup } from './security-group.js';
import { imageKind as image } from './image.js';
import { serviceKind as service } from './service.js';
import { stackKind as stack } from './stack.js';
import { secretKind as secret } from './secret.js';

const erase = (k: unknown) => k as Kind;

export const projectKind = erase(project);
export const userKind = erase(user);
export const tokenKind = erase(token);
export const nodeKind = erase(node);
export const instanceKind = erase(instance);
export const eventKind = erase(event);
export const networkKind = erase(network);
export const securityGroupKind = erase(securityGroup);
export const imageKind = erase(image);
export const serviceKind = erase(service);
export const stackKind = erase(stack);
export const secretKind = erase(secret);

export const ALL_KINDS: readonly Kind[] = [projectKind, userKind, tokenKind, nodeKind, instanceKind, eventKind, imageKind, networkKind, securityGroupKind, serviceKind, stackKind, secretKind];

const byName = new Map<string, Kind>();
for (const k of ALL_KINDS) {
  for (const n of [k.kind, k.plural, k.title.toLowerCase(), ...(k.aliases ?? [])]) byName.set(n.toLowerCase(), k);
}

/** Finds a kind by singular, plural, alias or title, case-insensitively ("Instance", "inst", "security-group"). */
export function findKind(name: string): Kind | undefined {
  const n = name.toLowerCase();
  return byName.get(n) ?? byName.get(n.replace(/[-_]/g, ''));
}

export function kindNames(): string[] {
  return ALL_KINDS.map((k) => k.plural);
}
