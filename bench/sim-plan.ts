/**
 * `stratus sim plan` on the Alibaba openb trace (issue 18, "keep machines few and full"): how
 * many machines of each kind the default task list needs, placed by the live scheduler's engine
 * and default policy, against the lower bound per resource (src/scheduler/plan/bounds.ts), the
 * ratio (target ≤ 1.05, met only when every task is placed) and the planning time.
 *
 *   npx tsx bench/sim-plan.ts [--mix default] [--runs 3] [--tries 4] [--policies auto,bestfit,...] [--json]
 *
 * Node lists: the paper's GPU machines (at most as many of each kind as the list has), the same
 * with the 310 CPU-only machines, and the GPU list's kinds without limit. Only the mixes in
 * ../shared/traces are read. The FGD paper measures GPU allocation in a fixed cluster as random
 * arrivals fill it; the plan's GPU allocation (GPU asked by the placed tasks ÷ GPU of the machines
 * used) is printed beside it for orientation only: the planner sees every task in advance.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { PolicyChoice } from '../src/scheduler/engine/types.js';
import { planMachines, type MachinePlan } from '../src/scheduler/plan/machines.js';
import { meetsTarget } from '../src/scheduler/plan/sim-command.js';
import { parseNodes, parseTasks } from '../src/scheduler/sim/trace.js';

const TRACE = resolve(import.meta.dirname, '..', '..', 'shared', 'traces', 'alibaba-gpu-v2023');
/** The FGD paper's GPU allocation at 100 % arrived workload, default mix (trace README). */
const PAPER_FGD_AT_100 = 95.23;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

const mix = arg('mix', 'default');
const runs = Number(arg('runs', '3'));
const tries = Number(arg('tries', '4'));
const policies = arg('policies', 'auto').split(',') as PolicyChoice[];
const tasks = parseTasks(readFileSync(`${TRACE}/openb_pod_list_${mix}.csv`, 'utf8'), `openb_pod_list_${mix}.csv`);
const lists = [
  { label: 'GPU nodes (1,213), limited', file: 'openb_node_list_gpu_node.csv', unlimited: false },
  { label: 'all nodes (1,523), limited', file: 'openb_node_list_all_node.csv', unlimited: false },
  { label: 'GPU node kinds, unlimited', file: 'openb_node_list_gpu_node.csv', unlimited: true },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (a: number, b: number) => (b > 0 ? `${((100 * a) / b).toFixed(2)} %` : '-');

const rows: { list: string; policy: string; plan: MachinePlan; medianMs: number }[] = [];
for (const l of lists) {
  const nodes = parseNodes(readFileSync(`${TRACE}/${l.file}`, 'utf8'), l.file);
  for (const policy of policies) {
    const plans = Array.from({ length: runs }, () => planMachines(nodes, tasks, { unlimited: l.unlimited, policy, tries }));
    rows.push({ list: l.label, policy, plan: plans[0]!, medianMs: median(plans.map((p) => p.wallMs)) });
  }
}

if (process.argv.includes('--json')) {
  console.log(JSON.stringify(rows.map((r) => ({ list: r.list, policy: r.policy, used: r.plan.used, bound: r.plan.bound, ratio: r.plan.ratio, unplaced: r.plan.unplaced, met: meetsTarget(r.plan), medianMs: r.medianMs, kinds: r.plan.kinds.filter((k) => k.used > 0).map((k) => ({ kind: k.kind.name, used: k.used, bound: k.bound.machines })) })), null, 2));
} else {
  console.log(`sim plan, openb ${mix} (${tasks.length.toLocaleString('en-US')} tasks, all at once), median of ${runs} runs\n`);
  console.log('| node list | policy | machines needed | lower bound (binding) | ratio | unplaced tasks | target ≤ 1.05 | GPU allocation of machines used | GPU of the trace placed | planning time |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const p = r.plan;
    console.log(`| ${r.list} | ${r.policy === 'auto' ? 'default (fgd)' : r.policy} | ${p.used} | ${p.bound.machines} (${p.bound.binding}; CPU ${p.bound.byResource.cpu}, mem ${p.bound.byResource.memory}, GPU ${p.bound.byResource.gpu}) | ${p.ratio.toFixed(3)} | ${p.unplaced} | ${meetsTarget(p) ? 'met' : 'not met'} | ${pct(p.gpuPlaced, p.gpuCapacity)} | ${pct(p.gpuPlaced, tasks.reduce((s, t) => s + t.gpuCount * t.gpuMilli, 0))} | ${(r.medianMs / 1000).toFixed(2)} s |`);
  }
  for (const r of rows.filter((x) => x.policy === policies[0])) {
    console.log(`\n${r.list}: ${r.plan.strategy}; tries: ${r.plan.tried.map((t) => `${t.label} ${t.used}${t.unplaced ? ` (${t.unplaced} unplaced)` : ''}`).join('; ')}`);
    console.log(`\n${r.list}, per kind (machines used / homogeneous bound of the tasks placed there):`);
    console.log('| kind | available | used | tasks | bound (binding) | ratio |');
    console.log('|---|---|---|---|---|---|');
    for (const k of r.plan.kinds.filter((x) => x.used > 0)) console.log(`| ${k.kind.name} | ${Number.isFinite(k.kind.available) ? k.kind.available : '∞'} | ${k.used} | ${k.tasks} | ${k.bound.machines} (${k.bound.binding}) | ${(k.used / k.bound.machines).toFixed(3)} |`);
  }
  console.log(`\nFGD paper, default mix: ${PAPER_FGD_AT_100} % GPU allocation at 100 % arrived workload (random arrivals into the fixed 1,213-node cluster; mean of 10 seeds).`);
}
