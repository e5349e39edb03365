/**
 * The registry of kinds. Adding a kind: define it in its own file, import it here and list it
 * in ALL_KINDS. Kinds are exported with their schemas erased (`KindOf<T>`, a `Kind`) so any layer
 * can pass them around, and with the type of their stored objects (Instance, Node, ...: from each
 * kind's file) attached for the typed client.
 */
import type { Kind, KindOf, StoredObject } from '../kind.js';
import { projectKind as project, type Project } from './project.js';
import { userKind as user, type User } from './user.js';
import { tokenKind as token, type Token } from './token.js';
import { nodeKind as node, type Node } from './node.js';
import { instanceKind as instance, type Instance } from './instance.js';
import { eventKind as event, type StratusEvent } from './event.js';
import { networkKind as network, type Network } from './network.js';
import { securityGroupKind as securityGroup, type SecurityGroup } from './security-group.js';
import { imageKind as image, type Image } from './image.js';
import { serviceKind as service, type Service } from './service.js';
import { stackKind as stack, type Stack } from './stack.js';
import { secretKind as secret, type Secret } from './secret.js';
import { volumeKind as volume, type Volume } from './volume.js';
import { snapshotKind as snapshot, type Snapshot } from './snapshot.js';
import { nodePoolKind as nodePool, type NodePool } from './node-pool.js';
import { priceListKind as priceList, type PriceList } from './price-list.js';
import { budgetKind as budget, type Budget } from './budget.js';

const erase = <T extends StoredObject>(k: unknown) => k as KindOf<T>;

export const projectKind = erase<Project>(project);
export const userKind = erase<User>(user);
export const tokenKind = erase<Token>(token);
export const nodeKind = erase<Node>(node);
export const instanceKind = erase<Instance>(instance);
export const eventKind = erase<StratusEvent>(event);
export const networkKind = erase<Network>(network);
export const securityGroupKind = erase<SecurityGroup>(securityGroup);
export const imageKind = erase<Image>(image);
export const serviceKind = erase<Service>(service);
export const stackKind = erase<Stack>(stack);
export const secretKind = erase<Secret>(secret);
export const volumeKind = erase<Volume>(volume);
export const snapshotKind = erase<Snapshot>(snapshot);
export const nodePoolKind = erase<NodePool>(nodePool);
export const priceListKind = erase<PriceList>(priceList);
export const budgetKind = erase<Budget>(budget);

export const ALL_KINDS: readonly Kind[] = [projectKind, userKind, tokenKind, nodeKind, instanceKind, eventKind, imageKind, networkKind, securityGroupKind, serviceKind, stackKind, secretKind, snapshotKind, volumeKind, nodePoolKind, priceListKind, budgetKind];

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
