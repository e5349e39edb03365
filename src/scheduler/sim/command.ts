/**
 * `stratus sim replay --nodes FILE --tasks FILE --policy P --seeds 42-51 [--workload online|trace]
 * [--json] [--csv FILE]`: replays a trace under one policy, the default, or all of them, and
 * prints the GPU allocation at 90 %, 100 % and 130 % arrived workload, failed tasks and wall
 * time, per seed and as the mean. A checkpoint a run never reached has no value: "not reached"
 * in the text, null in the JSON, and a mean over fewer seeds (said so).
 */
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { POLICIES, type PolicyName } from '../../model/kinds/instance.js';
import type { PolicyChoice } from '../engine/types.js';
import { CsvError } from './csv.js';
import { allocationAt, replay, type ReplayResult, type WorkloadSource } from './replay.js';
import { parseNodes, parseTasks, type TraceNode, type TraceTask } from './trace.js';

export interface SimReplayOptions {
  nodes: string;
  tasks: string;
  /** A policy name, 'default' (the cluster default: fgd with GPUs), or 'all'. */
  policy: string;
  seeds: number[];
  /** FGD's target workload: learned from the arrivals (default) or from the task list (the paper). */
  workload?: WorkloadSource;
  json: boolean;
  /** Write the full curve (one row per arrival) here. */
  csv?: string;
}

export const CHECKPOINTS = [90, 100, 130] as const;

/** Parses "42-51", "42,43", "42-44,50" into seeds. Throws an Error saying what is wrong. */
export function parseSeeds(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',').map((p) => p.trim())) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`seeds: ${JSON.stringify(part)} is not a seed or a range (use e.g. "42-51" or "42,43")`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw new Error(`seeds: the range ${part} runs backwards (use ${to}-${from})`);
    if (to - from >= 10_000) throw new Error(`seeds: the range ${part} has more than 10,000 seeds`);
    for (let s = from; s <= to; s++) out.push(s);
  }
  return out;
}

type Checkpoint = (typeof CHECKPOINTS)[number];

interface Run {
  readonly seed: number;
  readonly result: ReplayResult;
  /** null: the run never reached the checkpoint. */
  readonly allocation: Record<Checkpoint, number | null>;
}

interface PolicyRuns {
  readonly label: string;
  readonly choice: PolicyChoice;
  readonly runs: Run[];
}

function policiesFor(name: string): { label: string; choice: PolicyChoice }[] {
  if (name === 'all') return POLICIES.map((p) => ({ label: p, choice: p }));
  if (name === 'default') return [{ label: 'default', choice: 'auto' }];
  if ((POLICIES as readonly string[]).includes(name)) return [{ label: name, choice: name as PolicyName }];
  throw new Error(`policy: ${JSON.stringify(name)} is not one of ${[...POLICIES, 'default', 'all'].join(', ')}`);
}

function runOne(nodes: readonly TraceNode[], tasks: readonly TraceTask[], choice: PolicyChoice, seed: number, workload: WorkloadSource): Run {
  const result = replay(nodes, tasks, { policy: choice, seed, workload });
  const allocation = { 90: null, 100: null, 130: null } as Record<Checkpoint, number | null>;
  for (const c of CHECKPOINTS) allocation[c] = allocationAt(result, c) ?? null;
  return { seed, result, allocation };
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
const fmt = new Intl.NumberFormat('en-US');
const pct = (x: number | null) => (x === null ? 'not reached' : x.toFixed(2));

/** Means over seeds; a checkpoint's mean covers the runs that reached it (null when none did). */
function summary(p: PolicyRuns) {
  const runs = p.runs;
  const at = (c: Checkpoint) => {
    const xs = runs.flatMap((r) => (r.allocation[c] === null ? [] : [r.allocation[c]]));
    return { value: xs.length > 0 ? mean(xs) : null, runs: xs.length };
  };
  return {
    allocation: Object.fromEntries(CHECKPOINTS.map((c) => [c, at(c).value])) as Record<Checkpoint, number | null>,
    reachedBy: Object.fromEntries(CHECKPOINTS.map((c) => [c, at(c).runs])) as Record<Checkpoint, number>,
    failed: mean(runs.map((r) => r.result.failed)),
    wallMs: mean(runs.map((r) => r.result.wallMs)),
  };
}

function printText(all: PolicyRuns[], opts: SimReplayOptions, nodes: readonly TraceNode[], tasks: readonly TraceTask[], out: NodeJS.WritableStream): void {
  const gpus = nodes.reduce((s, n) => s + n.gpus, 0);
  out.write(`Replay of ${fmt.format(tasks.length)} tasks (GPU request tuned to 1.3× capacity) on ${fmt.format(nodes.length)} nodes (${fmt.format(gpus)} GPUs), seeds ${opts.seeds.join(',')}\n`);
  out.write(`FGD target workload: ${opts.workload === 'trace' ? 'from the task list (the paper)' : 'learned from the arrivals (the live scheduler)'}\n`);
  out.write('GPU allocation (%) when the arrived workload reaches 90 %, 100 % and 130 % of GPU capacity\n\n');
  const row = (cells: string[]) => out.write(cells.map((c, i) => (i < 2 ? c.padEnd(i === 0 ? 15 : 6) : c.padStart(i === 6 ? 9 : i === 5 ? 8 : 13))).join(' ') + '\n');
  row(['policy', 'seed', '@90', '@100', '@130', 'failed', 'wall']);
  let partial = false;
  for (const p of all) {
    for (const r of p.runs) {
      row([p.label, String(r.seed), ...CHECKPOINTS.map((c) => pct(r.allocation[c])), fmt.format(r.result.failed), `${(r.result.wallMs / 1000).toFixed(2)}s`]);
    }
    const s = summary(p);
    const cell = (c: Checkpoint) => {
      if (s.reachedBy[c] === p.runs.length || s.allocation[c] === null) return pct(s.allocation[c]);
      partial = true;
      return `${pct(s.allocation[c])} (${s.reachedBy[c]}/${p.runs.length})`;
    };
    row([p.label, 'mean', ...CHECKPOINTS.map(cell), fmt.format(Math.round(s.failed)), `${(s.wallMs / 1000).toFixed(2)}s`]);
    out.write('\n');
  }
  if (partial) out.write('(k/n): the mean of the k runs of n that reached the checkpoint\n');
  out.write('Exact figures differ from the paper (its runs use Go\'s random generator); compare means over seeds 42–51.\n');
}

function toJson(all: PolicyRuns[], opts: SimReplayOptions, nodes: readonly TraceNode[], tasks: readonly TraceTask[]) {
  return {
    nodes: { file: opts.nodes, count: nodes.length, gpus: nodes.reduce((s, n) => s + n.gpus, 0) },
    tasks: { file: opts.tasks, count: tasks.length },
    seeds: opts.seeds,
    tuning: 1.3,
    workload: opts.workload ?? 'online',
    policies: all.map((p) => ({
      policy: p.label,
      runs: p.runs.map((r) => ({
        seed: r.seed,
        arrivals: r.result.arrivals,
        appended: r.result.appended,
        removed: r.result.removed,
        maxArrived: r.result.arrived[r.result.arrivals - 1] ?? 0,
        allocation: r.allocation,
        failed: r.result.failed,
        wallMs: Math.round(r.result.wallMs),
      })),
      mean: summary(p),
    })),
  };
}

async function writeCurve(file: string, all: PolicyRuns[]): Promise<void> {
  const stream = createWriteStream(file);
  const write = async (line: string) => {
    if (!stream.write(line)) await once(stream, 'drain');
  };
  await write('policy,seed,arrival,arrived_pct,allocated_pct\n');
  for (const p of all) {
    for (const r of p.runs) {
      for (let i = 0; i < r.result.arrivals; i++) {
        await write(`${p.label},${r.seed},${i + 1},${r.result.arrived[i]!.toFixed(4)},${r.result.allocated[i]!.toFixed(4)}\n`);
      }
    }
  }
  stream.end();
  await once(stream, 'finish');
}

/** Runs the replays and prints the report. Returns 0, or 1 with a message when the input is wrong. */
export async function simReplayCommand(opts: SimReplayOptions, out: NodeJS.WritableStream): Promise<number> {
  try {
    const policies = policiesFor(opts.policy);
    if (opts.seeds.length === 0) throw new Error('seeds: none given (use e.g. --seeds 42-51)');
    const nodes = parseNodes(await readFile(opts.nodes, 'utf8'), opts.nodes);
    const tasks = parseTasks(await readFile(opts.tasks, 'utf8'), opts.tasks);
    const all: PolicyRuns[] = policies.map(({ label, choice }) => ({
      label,
      choice,
      runs: opts.seeds.map((seed) => runOne(nodes, tasks, choice, seed, opts.workload ?? 'online')),
    }));
    if (opts.json) out.write(JSON.stringify(toJson(all, opts, nodes, tasks), null, 2) + '\n');
    else printText(all, opts, nodes, tasks, out);
    if (opts.csv) await writeCurve(opts.csv, all);
    return 0;
  } catch (e) {
    const message = e instanceof CsvError || e instanceof Error ? e.message : String(e);
    out.write(`error: ${message}\n`);
    return 1;
  }
}
