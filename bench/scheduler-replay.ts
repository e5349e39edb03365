/**
 * GPU allocation of every policy on every workload mix of the Alibaba trace, under the FGD paper's
 * protocol (src/scheduler/sim/replay.ts), against the paper artifact's published figures
 * (`expected_allocation_at_100.csv`); and the wall time of one replay.
 *
 *   npx tsx bench/scheduler-replay.ts [--mixes all|default,cpu100,...] [--policies LIST]
 *       [--seeds 42-51] [--nodes FILE] [--out FILE.jsonl] [--report FILE.jsonl]
 *
 * A policy entry is `name` or `name:trace` / `name:online` (where FGD's target workload comes
 * from: the task list, as the paper, or the arrivals, as the live scheduler; default online).
 * `default` is the cluster default. Each (mix, policy) line is appended to --out as it finishes,
 * so a long run can be read while it goes; --report prints the tables from such a file.
 *
 * Peer: the paper's Kubernetes-based simulator needs about 10 minutes for one replay (one policy,
 * one seed) on 2 vCPUs (trace README).
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { PolicyName } from '../src/model/kinds/instance.js';
import type { PolicyChoice } from '../src/scheduler/engine/types.js';
import { parseSeeds } from '../src/scheduler/sim/command.js';
import { allocationAt, replay, type WorkloadSource } from '../src/scheduler/sim/replay.js';
import { parseNodes, parseTasks } from '../src/scheduler/sim/trace.js';

const PEER_SECONDS = 600;
const TRACE = resolve(import.meta.dirname, '..', '..', 'shared', 'traces', 'alibaba-gpu-v2023');
const MIXES = ['default', 'cpu100', 'cpu200', 'cpu250', 'gpushare60', 'gpushare80', 'gpuspec10', 'gpuspec20', 'gpuspec25', 'multigpu20', 'multigpu30', 'multigpu40'];
const BASELINES = ['random', 'dotprod', 'gpu-clustering', 'gpu-packing', 'bestfit'];
const DEFAULT_POLICIES = [...BASELINES, 'fgd:trace', 'fgd:online', 'default:trace', 'default:online'];
const CHECKPOINTS = [90, 100, 130] as const;

interface Line {
  mix: string;
  policy: string;
  seeds: number[];
  /** Mean over the seeds that reached the checkpoint; null when none did. */
  at: Record<string, number | null>;
  reached: Record<string, number>;
  failed: number;
  wallS: number[];
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

function paperFigures(): Map<string, Record<string, number>> {
  const [head, ...rows] = readFileSync(`${TRACE}/expected_allocation_at_100.csv`, 'utf8').trim().split('\n');
  const cols = head!.split(',');
  return new Map(rows.map((r) => {
    const cells = r.split(',');
    return [cells[0]!, Object.fromEntries(cols.slice(1).map((c, i) => [c, Number(cells[i + 1])]))];
  }));
}

function runMix(mix: string, policy: string, seeds: number[], nodesFile: string): Line {
  const nodes = parseNodes(readFileSync(nodesFile, 'utf8'), nodesFile);
  const file = `${TRACE}/openb_pod_list_${mix}.csv`;
  const tasks = parseTasks(readFileSync(file, 'utf8'), file);
  const [name, source] = policy.split(':') as [string, WorkloadSource | undefined];
  const choice: PolicyChoice = name === 'default' ? 'auto' : (name as PolicyName);
  const values: Record<string, number[]> = { 90: [], 100: [], 130: [] };
  const wallS: number[] = [];
  let failed = 0;
  for (const seed of seeds) {
    const r = replay(nodes, tasks, { policy: choice, seed, workload: source ?? 'online' });
    for (const c of CHECKPOINTS) {
      const v = allocationAt(r, c);
      if (v !== undefined) values[c]!.push(v);
    }
    failed += r.failed;
    wallS.push(r.wallMs / 1000);
  }
  const at = Object.fromEntries(CHECKPOINTS.map((c) => [c, values[c]!.length > 0 ? mean(values[c]!) : null]));
  const reached = Object.fromEntries(CHECKPOINTS.map((c) => [c, values[c]!.length]));
  return { mix, policy, seeds, at, reached, failed: failed / seeds.length, wallS };
}

const cell = (l: Line, c: number) => (l.at[c] === null ? 'not reached' : `${l.at[c]!.toFixed(2)}${l.reached[c] === l.seeds.length ? '' : ` (${l.reached[c]}/${l.seeds.length})`}`);

/** Markdown: per mix, every policy at the three checkpoints and the paper's @100 beside it. */
function report(lines: Line[]): void {
  const paper = paperFigures();
  const policies = [...new Set(lines.map((l) => l.policy))];
  for (const mix of MIXES) {
    const ls = lines.filter((l) => l.mix === mix);
    if (ls.length === 0) continue;
    console.log(`\n${mix}\n\n| policy | @90 | @100 | @130 | paper @100 | Δ | failed | wall s (median) |\n|---|---|---|---|---|---|---|---|`);
    for (const p of policies) {
      const l = ls.find((x) => x.policy === p);
      if (!l) continue;
      const ref = paper.get(mix)?.[p.split(':')[0]!];
      const delta = ref !== undefined && l.at[100] !== null ? (l.at[100]! - ref).toFixed(2) : '';
      console.log(`| ${p} | ${cell(l, 90)} | ${cell(l, 100)} | ${cell(l, 130)} | ${ref?.toFixed(2) ?? ''} | ${delta} | ${Math.round(l.failed)} | ${median(l.wallS).toFixed(2)} |`);
    }
  }
  const walls = lines.flatMap((l) => l.wallS);
  if (walls.length > 0) console.log(`\nreplay wall time: median ${median(walls).toFixed(2)} s, max ${Math.max(...walls).toFixed(2)} s over ${walls.length} replays, one core (paper simulator ~${PEER_SECONDS} s: ${Math.round(PEER_SECONDS / median(walls))}× faster)`);
}

const reportFile = arg('report', '');
if (reportFile) {
  report(readFileSync(reportFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line));
} else {
  const mixes = arg('mixes', 'default') === 'all' ? MIXES : arg('mixes', 'default').split(',');
  const policies = arg('policies', DEFAULT_POLICIES.join(',')).split(',');
  const seeds = parseSeeds(arg('seeds', '42-51'));
  const nodesFile = arg('nodes', `${TRACE}/openb_node_list_gpu_node.csv`);
  const out = arg('out', '');
  const lines: Line[] = [];
  console.log(`trace replay: mixes ${mixes.join(',')}, seeds ${arg('seeds', '42-51')}, nodes ${nodesFile}`);
  for (const mix of mixes) {
    for (const policy of policies) {
      const l = runMix(mix, policy, seeds, nodesFile);
      lines.push(l);
      if (out) appendFileSync(out, JSON.stringify(l) + '\n');
      console.log(`${mix.padEnd(11)} ${policy.padEnd(16)} ${CHECKPOINTS.map((c) => cell(l, c).padStart(12)).join(' ')}  failed ${Math.round(l.failed)}  ${median(l.wallS).toFixed(2)} s`);
    }
  }
  report(lines);
}
