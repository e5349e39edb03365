/**
 * `stratus sim plan --nodes FILE --tasks FILE [--unlimited] [--no-compaction] [--json]`: how many
 * machines of each kind the workload needs (machines.ts), beside the lower bounds (bounds.ts),
 * with the ratio needed ÷ bound. The target (≤ 1.05 × the bound) counts as met only when every
 * task was placed.
 */
import { readFile } from 'node:fs/promises';
import { parseNodes, parseTasks } from '../sim/trace.js';
import type { Bound } from './bounds.js';
import { planMachines, type MachinePlan } from './machines.js';

export const TARGET_RATIO = 1.05;

export interface SimPlanOptions {
  nodes: string;
  tasks: string;
  unlimited: boolean;
  compaction: boolean;
  /** Task orders to try (see machines.ts); default 4. */
  tries?: number;
  json: boolean;
}

const fmt = (n: number) => (Number.isFinite(n) ? n.toLocaleString('en-US') : '∞');

function boundText(b: Bound): string {
  return `${fmt(b.machines)} (${b.binding}; CPU ${fmt(b.byResource.cpu)}, memory ${fmt(b.byResource.memory)}, GPU ${fmt(b.byResource.gpu)})`;
}

/** Whether the plan meets the target: every task placed and used ≤ 1.05 × the bound. */
export function meetsTarget(p: MachinePlan): boolean {
  return p.unplaced === 0 && p.ratio <= TARGET_RATIO;
}

function printText(p: MachinePlan, o: SimPlanOptions, out: NodeJS.WritableStream): void {
  const w = (s: string) => out.write(`${s}\n`);
  w(`Plan for ${fmt(p.tasks)} tasks on machine kinds of ${o.nodes} (${o.unlimited ? 'unlimited machines of each kind' : 'at most as many of each kind as the file lists'}), default policy, all tasks at once.`);
  w('');
  const rows = p.kinds.filter((k) => k.used > 0 || k.tasks > 0);
  const head = ['KIND', 'AVAILABLE', 'USED', 'TASKS', 'BOUND (its tasks)', 'RATIO'];
  const cells = rows.map((k) => [k.kind.name, fmt(k.kind.available), fmt(k.used), fmt(k.tasks), boundText(k.bound), (k.used / k.bound.machines).toFixed(3)]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  for (const r of [head, ...cells]) w(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  w('');
  w(`Machines needed: ${fmt(p.used)} (${p.strategy}: opened ${fmt(p.opened)}, compaction emptied ${fmt(p.compacted)})`);
  w(`Lower bound:     ${boundText(p.bound)} — the fewest machines, largest first among those available, whose capacity reaches the total request, per resource (GPU: also per set of GPU models tasks are bound to); other constraints ignored`);
  w(`Ratio:           ${p.ratio.toFixed(3)} (target ≤ ${TARGET_RATIO})`);
  if (p.unplaced > 0) w(`Unplaced:        ${fmt(p.unplaced)} of ${fmt(p.tasks)} tasks fit on no machine left: the target is not met`);
  else w(`Target:          ${meetsTarget(p) ? 'met' : 'not met'}`);
  if (p.gpuCapacity > 0) w(`GPU allocation:  ${((100 * p.gpuPlaced) / p.gpuCapacity).toFixed(2)} % (GPU asked by the placed tasks ÷ GPU of the machines used)`);
  w(`Planning time:   ${(p.wallMs / 1000).toFixed(2)} s for ${p.tried.length} tries (best kept): ${p.tried.map((t) => `${t.label} ${fmt(t.used)}${t.unplaced > 0 ? ` (${fmt(t.unplaced)} unplaced)` : ''}`).join('; ')}`);
}

function toJson(p: MachinePlan, o: SimPlanOptions) {
  const num = (n: number) => (Number.isFinite(n) ? n : null);
  const bound = (b: Bound) => ({ machines: num(b.machines), binding: b.binding, cpu: num(b.byResource.cpu), memory: num(b.byResource.memory), gpu: num(b.byResource.gpu) });
  return {
    nodes: o.nodes,
    tasks: o.tasks,
    unlimited: o.unlimited,
    kinds: p.kinds.map((k) => ({ kind: k.kind.name, cpuMilli: k.kind.size.cpu, memoryMiB: k.kind.size.memory, gpus: k.kind.gpus, model: k.kind.model || null, available: num(k.kind.available), used: k.used, tasks: k.tasks, bound: bound(k.bound), ratio: k.used === 0 ? null : k.used / k.bound.machines })),
    taskCount: p.tasks,
    placed: p.placed,
    unplaced: p.unplaced,
    gpuPlacedMilli: p.gpuPlaced,
    gpuCapacityMilli: p.gpuCapacity,
    used: p.used,
    opened: p.opened,
    compacted: p.compacted,
    strategy: p.strategy,
    tried: p.tried,
    bound: bound(p.bound),
    ratio: p.ratio,
    target: TARGET_RATIO,
    met: meetsTarget(p),
    wallMs: Math.round(p.wallMs),
  };
}

/** Runs the plan and prints it. Returns 0, or 1 with a one-line error when the input is wrong. */
export async function simPlanCommand(o: SimPlanOptions, out: NodeJS.WritableStream): Promise<number> {
  try {
    const nodes = parseNodes(await readFile(o.nodes, 'utf8'), o.nodes);
    const tasks = parseTasks(await readFile(o.tasks, 'utf8'), o.tasks);
    const plan = planMachines(nodes, tasks, { unlimited: o.unlimited, noCompaction: !o.compaction, ...(o.tries !== undefined ? { tries: o.tries } : {}) });
    if (o.json) out.write(JSON.stringify(toJson(plan, o), null, 2) + '\n');
    else printText(plan, o, out);
    return 0;
  } catch (e) {
    out.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
