/**
 * The node authorizer (Kubernetes' is the model): what a node's credential may read and write,
 * as each kind's description says (`access.node`, model/checklist.ts NodeAccess):
 *
 *   own         its own object (nodes)
 *   boundTo     the objects bound to it, whole (instances whose status.node is the node)
 *   hosted      in the projects it hosts (an instance of the project is bound to it): whole
 *               (networks, security groups) or redacted to what its networking needs (peer
 *               instances, services: model/redact.ts; never their env, command or annotations)
 *   referenced  what an instance bound to it refers to (images, volumes: NodeScope)
 *   writesStatus  its own object's status, or that of the objects bound to it (kept bound to it
 *               or released, never handed to another node: checkNodeStatusWrite)
 *
 * A kind without `access.node` is refused to nodes; `{}` lets them list and watch and see none
 * of it (secrets: an agent gets the values its instances use through a route of their own).
 * Route-level checks (`nodeDenyReason`) run before the handler; `nodeView` decides per object.
 */
import type { Kind, StoredObject } from '../model/kind.js';
import { StratusError } from '../model/errors.js';
import type { NodeScope } from './node-scope.js';
import type { Verb } from './auth.js';

export { REDACTED_ANNOTATION } from '../model/redact.js';

const READ_VERBS: ReadonlySet<Verb> = new Set(['get', 'list', 'watch']);

/** Why node `node` may not do `verb` on `kind` (object `name`), or undefined when it may, subject to `nodeView`. */
export function nodeDenyReason(node: string, kind: Kind, verb: Verb, name?: string): string | undefined {
  const access = kind.access.node;
  if (verb === 'status' && access?.writesStatus === 'own' && name === node) return undefined;
  if (verb === 'status' && access?.writesStatus === 'bound') return undefined; // bound to it: checked on the object
  if (READ_VERBS.has(verb) && access) return undefined;
  return `node:${node} may not ${verb} ${kind.plural}${name ? ` (${name})` : ''}`;
}

/** The object as node `node` may read it: whole, redacted, or undefined (not at all). */
export function nodeView(scope: NodeScope | undefined, node: string, kind: Kind, obj: StoredObject): StoredObject | undefined {
  const access = kind.access.node;
  if (!access) return undefined;
  if (access.own) return obj.metadata.name === node ? obj : undefined;
  if (access.boundTo?.(obj) === node) return obj;
  const project = obj.metadata.project;
  if (!scope || project === undefined) return undefined;
  if (access.referenced && scope.references(node, kind.kind, project, obj.metadata.name)) return obj;
  if (access.hosted && scope.hostsProject(node, project)) return access.hosted === 'whole' ? obj : access.hosted(obj);
  return undefined;
}

/**
 * A node writes the status of the objects bound to it (`writesStatus: 'bound'`): they stay bound
 * to it, or it releases them (no node: placed again, after a drain or a preemption). It never hands
 * one to another node or claims one. Its own object's status is checked by the route's permission.
 */
export function checkNodeStatusWrite(node: string, kind: Kind, name: string, prev: StoredObject, status: unknown): void {
  const boundTo = kind.access.node?.writesStatus === 'bound' ? kind.access.node.boundTo : undefined;
  if (!boundTo) return;
  if (boundTo(prev) !== node) {
    throw new StratusError('STRATUS_ERR_FORBIDDEN', `node:${node} may only write the status of ${kind.plural} bound to it; ${kind.kind} "${name}" is not`);
  }
  const next = boundTo({ ...prev, status });
  if (next !== undefined && next !== node) {
    throw new StratusError('STRATUS_ERR_FORBIDDEN', `status.node: node:${node} cannot move ${kind.kind} "${name}" to node ${JSON.stringify(next)}; it keeps it or releases it (no node)`);
  }
}

/** Where a watch stream learns that its caller's view widens (api/routes/watch-widen.ts replays what became readable). */
export interface WidenSource {
  /** Whether the view widened after `from` (in `project`, or any): a stream from there would miss objects. */
  missedSince(from: number, project?: string): boolean;
  /** Calls `onWiden(project)` (synchronously, as the store delivers the change) when the view grows; returns the unsubscribe. */
  subscribe(onWiden: (project: string) => void): () => void;
}

/** How node `node`'s watches of `kind` learn that they may read another project: kinds it reads in the projects it hosts. */
export function nodeWidenSource(scope: NodeScope, node: string, kind: Kind): WidenSource | undefined {
  if (!kind.access.node?.hosted) return undefined;
  return {
    missedSince: (from, project) => scope.hostedSince(node, from, project),
    subscribe: (onWiden) => scope.onGrow(node, onWiden),
  };
}
