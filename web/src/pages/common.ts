/**
 * What several pages derive from the live lists: an instance's "why pending" sentence, the
 * phase counts, the allocation of nodes from the instances bound to them. Pure.
 */
import type { Instance } from '../../../src/model/kinds/instance.js';

/** Why an instance waits, in the scheduler's words ("3 of 12 nodes: insufficient memory; ..."), else its status message. */
export function whyPending(i: Instance): string {
  const e = i.status?.explanation;
  if (e && e.nodes > 0 && e.reasons.length > 0) return e.reasons.map((r) => `${r.count} of ${e.nodes} nodes: ${r.reason}`).join('; ');
  if (e && e.nodes === 0) return 'no nodes to consider';
  return i.status?.message ?? i.status?.reason ?? 'waiting for the scheduler';
}

/** How many instances are in each phase, phases in `order` first (those with none left out). */
export function phaseCounts(items: Instance[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const i of items) {
    const p = i.status?.phase ?? 'Pending';
    counts.set(p, (counts.get(p) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** Instances that hold their node's resources (bound and not finished). */
const HOLDING = new Set(['Scheduled', 'Starting', 'Running', 'Stopping']);

export interface Allocated { cpu: number; memory: number; disk: number; gpuMilli: number; instances: number }

/** Resources allocated on each node by the instances bound to it, from the instances the caller reads. */
export function allocationByNode(items: Instance[]): Map<string, Allocated> {
  const out = new Map<string, Allocated>();
  for (const i of items) {
    const node = i.status?.node;
    if (!node || !HOLDING.has(i.status?.phase ?? '')) continue;
    const a = out.get(node) ?? { cpu: 0, memory: 0, disk: 0, gpuMilli: 0, instances: 0 };
    const r = i.spec.resources;
    a.cpu += r?.cpu ?? 0;
    a.memory += r?.memory ?? 0;
    a.disk += r?.disk ?? 0;
    a.gpuMilli += (i.status?.allocation?.gpus ?? []).reduce((s, g) => s + g.milli, 0);
    a.instances++;
    out.set(node, a);
  }
  return out;
}

export interface InstanceFilter { phase?: string; node?: string; q?: string }

/** The instances that pass the phase, node and name filters (the selector is applied by the server). */
export function filterInstances(items: Instance[], f: InstanceFilter): Instance[] {
  const q = f.q?.trim().toLowerCase();
  const node = f.node?.trim();
  return items.filter((i) =>
    (!f.phase || (i.status?.phase ?? 'Pending') === f.phase)
    && (!node || i.status?.node === node)
    && (!q || i.metadata.name.toLowerCase().includes(q)));
}

export type Action = 'Stop' | 'Start' | 'Reboot' | 'Delete';
const RUNNING: ReadonlySet<string> = new Set(['Scheduled', 'Starting', 'Running']);

/** The actions that would not be refused for `i` as it is now. Pure. */
export function actionsFor(i: Instance): Action[] {
  const phase = i.status?.phase ?? 'Pending';
  const out: Action[] = [];
  if (RUNNING.has(phase) && !i.metadata.owner) out.push('Stop');
  if (phase === 'Off') out.push('Start');
  if (phase === 'Running' && i.spec.driver === 'vm') out.push('Reboot');
  out.push('Delete');
  return out;
}

/** An instance's GPU allocation in words, with the model from its node's devices: "GPU 0 (V100M32): whole device, GPU 1 (T4): 25% share". */
export function gpuText(gpus: { index: number; milli: number }[], devices: { index: number; model: string }[] = []): string {
  return gpus.map((g) => {
    const model = devices.find((d) => d.index === g.index)?.model;
    return `GPU ${g.index}${model ? ` (${model})` : ''}: ${g.milli === 1000 ? 'whole device' : `${g.milli / 10}% share`}`;
  }).join(', ');
}
