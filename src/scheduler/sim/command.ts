/**
 * `stratus sim replay --nodes FILE --tasks FILE --policy P --seeds 42-51 [--json] [--csv FILE]`:
 * replays a trace under one policy, the default, or all of them, and prints the GPU allocation
 * at 90 %, 100 % and 130 % arrived workload, failed tasks and wall time, per seed and as the mean.
 */
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { POLICIES, type PolicyName } from '../../model/kinds/instance.js';
import type { PolicyChoice } from '../engine/types.js';
import { CsvError } from './csv.js';
import { allocationAt, replay, type ReplayResult } from './replay.js';
import { parseNodes, parseTasks, type TraceNode, type TraceTask } from './trace.js';

export interface SimReplayOptions {
  nodes: string;
  tasks: string;
  /** A policy name, 'default' (the cluster default: fgd with GPUs), or 'all'. */
  policy: string;
  seeds: number[];
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

interface Run {
  readonly seed: number;
  readonly result: ReplayResult;
  readonly allocation: Record<(typeof CHECKPOINTS)[number], number>;
  readonly reached: Record<(typeof CHECKPOINTS)[number], boolean>;
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

function runOne(nodes: readonly TraceNode[], tasks: readonly TraceTask[], choice: PolicyChoice, seed: number): Run {
  const result = replay(nodes, tasks, { policy: choice, seed });
  const allocation = { 90: 0, 100: 0, 130: 0 };
  const reached = { 90: false, 100: false, 130: false };
  for (const pct of CHECKPOINTS) {
    const a = allocationAt(result, pct);
    allocation[pct] = a.value;
    reached[pct] = a.reached;
  }
  return { seed, result, allocation, reached };
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
const fmt = new Intl.NumberFormat('en-US');
const pct = (x: number) => x.toFixed(2);

function summary(p: PolicyRuns) {
  const runs = p.runs;
  return {
    allocation: Object.fromEntries(CHECKPOINTS.map((c) => [c, mean(runs.map((r) => r.allocation[c]))])),
    failed: mean(runs.map((r) => r.result.failed)),
    wallMs: mean(runs.map((r) => r.result.wallMs)),
  };
}

function printText(all: PolicyRuns[], nodes: readonly TraceNode[], tasks: readonly TraceTask[], seeds: number[], out: NodeJS.WritableStream): void {
  const gpus = nodes.reduce((s, n) => s + n.gpus, 0);
  out.write(`Replay of ${fmt.format(tasks.length)} tasks (inflated to 1.3×) on ${fmt.format(nodes.length)} nodes (${fmt.format(gpus)} GPUs), seeds ${seeds.join(',')}\n`);
  out.write('GPU allocation (%) when the arrived workload reaches 90 %, 100 % and 130 % of GPU capacity\n\n');
  const row = (cells: string[]) => out.write(cells.map((c, i) => (i < 2 ? c.padEnd(i === 0 ? 15 : 6) : c.padStart(i === 6 ? 9 : 8))).join(' ') + '\n');
  row(['policy', 'seed', '@90', '@100', '@130', 'failed', 'wall']);
  let short = 0;
  for (const p of all) {
    for (const r of p.runs) {
      if (!r.reached[130]) short = Math.max(short, r.result.arrived[r.result.arrivals - 1] ?? 0);
      const star = r.reached[130] ? '' : '*';
      row([p.label, String(r.seed), pct(r.allocation[90]), pct(r.allocation[100]), pct(r.allocation[130]) + star, fmt.format(r.result.failed), `${(r.result.wallMs / 1000).toFixed(2)}s`]);
    }
    const s = summary(p);
    row([p.label, 'mean', pct(s.allocation[90]!), pct(s.allocation[100]!), pct(s.allocation[130]!), fmt.format(Math.round(s.failed)), `${(s.wallMs / 1000).toFixed(2)}s`]);
    out.write('\n');
  }
  if (short > 0) out.write(`* arrivals stopped short of 130 % (at most ${short.toFixed(1)} %): the final allocation is shown\n`);
  out.write('Exact figures differ from the paper (its runs use Go\'s random generator); compare means over seeds 42–51.\n');
}

function toJson(all: PolicyRuns[], opts: SimReplayOptions, nodes: readonly TraceNode[], tasks: readonly TraceTask[]) {
  return {
    nodes: { file: opts.nodes, count: nodes.length, gpus: nodes.reduce((s, n) => s + n.gpus, 0) },
    tasks: { file: opts.tasks, count: tasks.length },
    seeds: opts.seeds,
    inflation: 1.3,
    policies: all.map((p) => ({
      policy: p.label,
      runs: p.runs.map((r) => ({
        seed: r.seed,
        arrivals: r.result.arrivals,
        maxArrived: r.result.arrived[r.result.arrivals - 1] ?? 0,
        allocation: r.allocation,
        reached: r.reached,
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
      runs: opts.seeds.map((seed) => runOne(nodes, tasks, choice, seed)),
    }));
    if (opts.json) out.write(JSON.stringify(toJson(all, opts, nodes, tasks), null, 2) + '\n');
    else printText(all, nodes, tasks, opts.seeds, out);
    if (opts.csv) await writeCurve(opts.csv, all);
    return 0;
  } catch (e) {
    const message = e instanceof CsvError || e instanceof Error ? e.message : String(e);
    out.write(`error: ${message}\n`);
    return 1;
  }
}
