/**
 * `stratus node compact --plan | --apply`: which nodes to drain so that the most nodes end up
 * empty (the server plans with the scheduler's engine: POST /v1/nodes/compact?dryRun=true), and
 * carrying that out: one drain at a time through `node drain` (each service keeps its disruption
 * budget), asking the server for a fresh plan before each and waiting, after each, until every
 * service has its desired replicas Ready again. Drained nodes stay cordoned.
 */
import type { Command } from 'commander';
import { Cli } from '../context.js';
import { CliError } from '../errors.js';
import { printLine } from '../output.js';
import { parseDuration } from '../../model/format.js';
import { isTrue } from '../../model/conditions.js';
import { instanceKind, serviceKind } from '../../model/kinds/index.js';
import { replicasOf, SERVICE_LABEL } from '../../model/kinds/service.js';
import type { CompactionPlan } from '../../model/compaction.js';
import { planCompaction } from '../../client/routes.js';
import { drain } from './nodes.js';

interface CompactOptions {
  plan?: boolean;
  apply?: boolean;
  max?: string;
  timeout: string;
  json?: boolean;
}

export function registerCompact(node: Command): void {
  node.command('compact')
    .description('Empty the most nodes without breaking any constraint: --plan lists the drains (computed by the scheduler\'s engine), --apply carries them out one node at a time, waiting for every service to be Ready again between drains; emptied nodes stay cordoned (cluster admins).')
    .option('--plan', 'print the plan only (the default)')
    .option('--apply', 'drain the planned nodes, one at a time')
    .option('--max <n>', 'drain at most this many nodes')
    .option('--timeout <duration>', 'per drain, and per wait for services to be Ready again', '5m')
    .option('--json', 'print the plan as JSON (with --plan)')
    .action((o: CompactOptions, cmd: Command) => compact(Cli.of(cmd), o));
}

function parseMax(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,6}$/.test(text)) throw new CliError(`--max ${text}: not a whole number`, 2);
  return Number(text);
}

const fetchPlan = (cli: Cli, max: number | undefined): Promise<CompactionPlan> => planCompaction(cli.client, max);

/** The plan as text: what to drain and where each instance would go, then what stays and why. */
export function formatPlan(p: CompactionPlan): string[] {
  const lines = [`${p.before} node${p.before === 1 ? '' : 's'} in use; after the drains: ${p.after}.`];
  if (p.drains.length === 0) lines.push('Nothing to drain: no node can be emptied onto the others.');
  for (const [i, d] of p.drains.entries()) {
    lines.push(`${i + 1}. drain ${d.node} (${d.moves.length} instance${d.moves.length === 1 ? '' : 's'})`);
    for (const m of d.moves) lines.push(`     ${m.key} → ${m.to}`);
  }
  for (const k of p.kept) lines.push(`stays: ${k.node} (${k.instances} instance${k.instances === 1 ? '' : 's'}): ${k.reason}`);
  if (p.empty.length > 0) lines.push(`empty already: ${p.empty.join(', ')}`);
  return lines;
}

async function compact(cli: Cli, o: CompactOptions): Promise<void> {
  if (o.plan && o.apply) throw new CliError('--plan and --apply: give one', 2);
  const max = parseMax(o.max);
  const timeoutMs = parseDuration(o.timeout);
  if (timeoutMs === undefined) throw new CliError(`--timeout ${o.timeout}: not a duration (e.g. 90s, 5m)`, 2);
  const plan = await fetchPlan(cli, max);
  if (!o.apply) {
    if (o.json) return printLine(JSON.stringify(plan, null, 2));
    for (const l of formatPlan(plan)) printLine(l);
    return;
  }
  if (o.json) throw new CliError('--json goes with --plan only', 2);
  const drained: string[] = [];
  for (let done = 0; done < plan.drains.length; done++) {
    const next = done === 0 ? plan : await fetchPlan(cli, 1);
    const d = next.drains[0];
    if (!d) return printLine(`stopping after ${done} drain${done === 1 ? '' : 's'} (${drained.join(', ') || 'none'}): a fresh plan finds no more nodes to empty`);
    await servicesReady(cli, timeoutMs);
    printLine(`draining ${d.node} (${d.moves.length === 1 ? '1 instance moves' : `${d.moves.length} instances move`})`);
    await drain(cli, d.node, { timeout: o.timeout, wait: true });
    drained.push(d.node); // each round re-plans: the node drained may differ from the first plan's
  }
  await servicesReady(cli, timeoutMs);
  printLine(`compacted: ${drained.length} node${drained.length === 1 ? '' : 's'} emptied and cordoned (${drained.join(', ') || 'none'})`);
}

/** Waits until every service has at least its desired replicas Running and Ready. */
async function servicesReady(cli: Cli, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const [{ items: services }, { items: instances }] = await Promise.all([cli.resources(serviceKind, true).list(), cli.resources(instanceKind, true).list()]);
    const short = services.flatMap((s) => {
      const ready = instances.filter((i) => i.metadata.project === s.metadata.project && i.metadata.labels?.[SERVICE_LABEL] === s.metadata.name && i.status?.phase === 'Running' && isTrue(i.status.conditions, 'Ready')).length;
      const want = replicasOf(s);
      return ready < want ? [`${s.metadata.project}/${s.metadata.name} ${ready}/${want} ready`] : [];
    });
    if (short.length === 0) return;
    if (Date.now() > end) throw new CliError(`services are not Ready again after the last drain: ${short.join(', ')} (stopping; the drained nodes stay cordoned)`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
