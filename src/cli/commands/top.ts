/**
 * `stratus top nodes` and `stratus top instances`: what runs use, from the agents' usage reports
 * (api/routes/usage.ts), beside what is allocated and the capacity, as `kubectl top` does.
 *
 *   stratus top nodes                 [-o json|yaml]
 *   stratus top instances [-l sel] [-p project | -A] [-o json|yaml]
 */
import type { Command } from 'commander';
import { Cli } from '../context.js';
import { CliError } from '../errors.js';
import { printLine, table } from '../output.js';
import { yaml } from '../yaml.js';
import { selectorArg } from './resources.js';
import { listInstanceUsage, listNodeUsage } from '../../client/usage.js';
import type { InstanceUsageRow, NodeUsageView } from '../../model/usage.js';

const TOP_FORMATS = ['table', 'json', 'yaml'] as const;

interface TopOpts { output: string; selector?: string; allProjects?: boolean }

export function registerTop(program: Command): void {
  const top = program.command('top').description('What instances and nodes use now (CPU, memory, GPU), from their agents\' reports every few seconds.');
  top.command('nodes')
    .description('Each node: CPU and memory used (by its instances), allocated to them, and its capacity; GPUs; instances.')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (opts: TopOpts, cmd: Command) => {
      const format = topFormat(opts.output);
      const items = await listNodeUsage(Cli.of(cmd).client);
      if (format !== 'table') return printLine(render(format, items));
      if (items.length === 0) return void process.stderr.write('No nodes found.\n');
      printLine(nodeTable(items));
      if (items.every((n) => !n.used)) process.stderr.write('No usage reported yet: agents report every few seconds (stratus agent --usage-interval; is the agent running?).\n');
    });
  top.command('instances')
    .description('Each running instance: CPU and memory used against its limits (the resources it asked for), and GPU.')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .option('-l, --selector <selector>', 'label selector, e.g. app=web,tier!=db')
    .option('-A, --all-projects', 'every project you can read')
    .action(async (opts: TopOpts, cmd: Command) => {
      const format = topFormat(opts.output);
      if (opts.selector) selectorArg(opts.selector);
      const cli = Cli.of(cmd);
      const project = opts.allProjects ? undefined : cli.project;
      const items = await listInstanceUsage(cli.client, { ...(project ? { project } : {}), ...(opts.selector ? { selector: opts.selector } : {}) });
      if (format !== 'table') return printLine(render(format, items));
      const where = project ? ` in project "${project}"` : '';
      if (items.length === 0) return void process.stderr.write(`No running instances found${where}${opts.selector ? ` matching ${opts.selector}` : ''}.\n`);
      printLine(instanceTable(items, project === undefined));
      if (items.every((i) => !i.usage)) process.stderr.write(`No usage reported yet for these instances: agents report every few seconds (stratus agent --usage-interval).\n`);
    });
}

function topFormat(f: string): (typeof TOP_FORMATS)[number] {
  if (!(TOP_FORMATS as readonly string[]).includes(f)) throw new CliError(`-o ${f}: unknown output format (use one of: ${TOP_FORMATS.join(', ')})`, 2);
  return f as (typeof TOP_FORMATS)[number];
}

function render(format: 'json' | 'yaml', items: unknown[]): string {
  return format === 'json' ? JSON.stringify({ items }, null, 2) : yaml().stringify({ items }).trimEnd();
}

const cpu = (m: number) => `${Math.round(m)}m`;
const mem = (mib: number) => `${Math.round(mib)}Mi`;
const pct = (used: number | undefined, of: number) => (used === undefined || of <= 0 ? '-' : `${Math.round((used / of) * 100)}%`);

/** The nodes' table: used / allocated / capacity, and used as a share of capacity. */
export function nodeTable(items: NodeUsageView[]): string {
  const rows = items.map((n) => [
    n.node,
    n.ready ? 'Ready' : 'NotReady',
    n.used ? cpu(n.used.cpu) : '-', `${cpu(n.allocated.cpu)}/${cpu(n.capacity.cpu)}`, pct(n.used?.cpu, n.capacity.cpu),
    n.used ? mem(n.used.memory) : '-', `${mem(n.allocated.memory)}/${mem(n.capacity.memory)}`, pct(n.used?.memory, n.capacity.memory),
    n.capacity.gpus > 0 ? `${n.allocated.gpus}/${n.capacity.gpus}${n.used?.gpuMemory ? ` (${mem(n.used.gpuMemory)})` : ''}` : '-',
    String(n.instances),
  ]);
  return table(['NAME', 'STATUS', 'CPU', 'CPU ALLOC/CAP', 'CPU%', 'MEMORY', 'MEMORY ALLOC/CAP', 'MEMORY%', 'GPU', 'INSTANCES'], rows);
}

/** The instances' table: used against the limit each asked for. */
export function instanceTable(items: InstanceUsageRow[], allProjects: boolean): string {
  const gpu = items.some((i) => i.usage?.gpuMemory !== undefined || i.usage?.gpuUtilization !== undefined);
  const rows = items.map((i) => {
    const u = i.usage;
    return [
      ...(allProjects ? [i.project] : []), i.name, i.node,
      u ? cpu(u.cpu) : '-', cpu(i.requests.cpu), pct(u?.cpu, i.requests.cpu),
      u ? mem(u.memory) : '-', mem(i.requests.memory), pct(u?.memory, i.requests.memory),
      ...(gpu ? [u?.gpuMemory !== undefined ? `${mem(u.gpuMemory)}${u.gpuUtilization !== undefined ? ` ${u.gpuUtilization}%` : ''}` : '-'] : []),
    ];
  });
  return table([...(allProjects ? ['PROJECT'] : []), 'NAME', 'NODE', 'CPU', 'CPU LIMIT', 'CPU%', 'MEMORY', 'MEMORY LIMIT', 'MEMORY%', ...(gpu ? ['GPU'] : [])], rows);
}
