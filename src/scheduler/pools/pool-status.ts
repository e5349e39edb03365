/**
 * A pool's status from what the cluster shows (pure): its nodes by `spec.pool`, the machines
 * created that have not joined yet (kept from the previous status until the join timeout), and the
 * latest decisions and errors (newest first, repeats folded).
 */
import { DRAINED_ANNOTATION, type Node } from '../../model/kinds/node.js';
import type { NodePool, NodePoolStatus } from '../../model/kinds/node-pool.js';

/** Set on a node the autoscaler is removing (drain, then delete): when it decided, and why. */
export const SCALE_DOWN_ANNOTATION = 'stratus.io/scale-down';

export type PoolNode = NonNullable<NodePoolStatus['nodes']>[number];
type Decision = NonNullable<NodePoolStatus['decisions']>[number];

export interface Reconciled {
  nodes: PoolNode[];
  /** Created machines past the join timeout without a Ready node: to delete. */
  timedOut: PoolNode[];
  /** Entries that became Ready in this pass (their join tokens can go). */
  joined: string[];
}

/** The pool's node entries now. `joinTimeoutMs` bounds how long a created machine may take to be Ready. */
export function reconcileNodes(pool: NodePool, poolNodes: readonly Node[], now: number, joinTimeoutMs: number): Reconciled {
  const prev = new Map((pool.status?.nodes ?? []).map((n) => [n.name, n]));
  const out: Reconciled = { nodes: [], timedOut: [], joined: [] };
  const seen = new Set<string>();
  for (const node of poolNodes) {
    const name = node.metadata.name;
    seen.add(name);
    const before = prev.get(name);
    const phase = phaseOf(node, before, now, joinTimeoutMs);
    if (before?.phase === 'Joining' && phase === 'Ready') out.joined.push(name);
    const entry: PoolNode = { name, phase, ...(before?.machine ? { machine: before.machine } : {}), ...(before?.createdAt ? { createdAt: before.createdAt } : {}) };
    if (before?.phase === 'Joining' && phase === 'NotReady') out.timedOut.push(entry);
    else out.nodes.push(entry);
  }
  for (const before of prev.values()) {
    if (seen.has(before.name) || before.phase !== 'Joining') continue; // removed nodes leave the list
    if (now - Date.parse(before.createdAt ?? new Date(now).toISOString()) > joinTimeoutMs) out.timedOut.push(before);
    else out.nodes.push(before);
  }
  out.nodes.sort((a, b) => a.name.localeCompare(b.name));
  return out;
}

function phaseOf(node: Node, before: PoolNode | undefined, now: number, joinTimeoutMs: number): PoolNode['phase'] {
  const ours = node.metadata.annotations?.[SCALE_DOWN_ANNOTATION] !== undefined;
  if (ours && node.metadata.annotations?.[DRAINED_ANNOTATION] && !node.spec.draining) return 'Deleting';
  if (ours || node.spec.draining) return 'Draining';
  if (node.status?.phase === 'Ready') return 'Ready';
  const joining = before?.phase === 'Joining' && now - Date.parse(before.createdAt ?? '') <= joinTimeoutMs;
  return joining ? 'Joining' : 'NotReady';
}

/** Waiting, blocked or keeping: said again on every pass while it holds. */
export const TRANSIENT: ReadonlySet<string> = new Set(['waiting', 'blocked', 'keep']);

const same = (a: Decision, b: Decision) => a.action === b.action && a.reason === b.reason && a.node === b.node && a.count === b.count;

/**
 * Whether `d` only repeats what `decisions` say: an action (scale-up, scale-down) repeats the
 * newest; a transient decision any of them (two nodes kept for their own reasons, pass after pass,
 * write nothing new).
 */
export function repeats(decisions: readonly Decision[] | undefined, d: Decision): boolean {
  const list = decisions ?? [];
  return TRANSIENT.has(d.action) ? list.some((x) => same(x, d)) : list[0] !== undefined && same(list[0], d);
}

/** `decisions` with `d` in front unless it repeats them (see `repeats`); at most 20. */
export function withDecision(decisions: readonly Decision[] | undefined, d: Decision): Decision[] {
  const list = decisions ?? [];
  if (repeats(list, d)) return [...list];
  return [d, ...list].slice(0, 20);
}

/** `errors` with `message` in front; at most 10. */
export function withError(errors: NodePoolStatus['errors'], at: string, message: string): NonNullable<NodePoolStatus['errors']> {
  return [{ at, message: message.slice(0, 4096) }, ...(errors ?? [])].slice(0, 10);
}

/** Whether two statuses differ in what a person reads (ignores nothing: statuses are small). */
export function statusChanged(a: NodePoolStatus | undefined, b: NodePoolStatus): boolean {
  return JSON.stringify(a ?? {}) !== JSON.stringify(b);
}
