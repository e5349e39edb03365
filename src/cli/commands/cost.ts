/**
 * `stratus cost`: what runs cost, from the meter records and the price lists (api/routes/costs.ts).
 *
 *   stratus cost report [--project P] [--since 2026-12-01] [--until ...] [--by project|service|instance|node-pool|label:team] [-o table|json|csv]
 *   stratus cost export --format focus [--project P] [--since ...] [--until ...] [-o file]
 *
 * Without --project: every project you can read (cluster admins: all, with the idle cost of the
 * node pools). The table shows the charged cost (max of reserved and used, per resource and
 * hour), beside the cost of what was reserved and of what was used, and the efficiency.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Cli, checkName } from '../context.js';
import { CliError } from '../errors.js';
import { printLine, table } from '../output.js';
import { costFocusCsv, costReport } from '../../client/costs.js';
import { toCsv } from '../../model/csv.js';
import type { CostReport, CostRow } from '../../model/cost.js';

const REPORT_FORMATS = ['table', 'json', 'csv'] as const;

interface ReportOpts { since?: string; until?: string; by: string; output: string }
interface ExportOpts { since?: string; until?: string; format: string; output?: string }

export function registerCost(program: Command): void {
  const cost = program.command('cost').description('What instances and volumes cost, from the meter records and the price lists (kind price-list); budgets are kind budget.');
  cost.command('report')
    .description('Cost by reservation, by usage and charged (the larger of the two per resource and hour), grouped; efficiency = used ÷ reserved. Without --project: every project you can read.')
    .option('--since <date>', 'start: 2026-12-01 (UTC) or an RFC 3339 time (default: the start of this month)')
    .option('--until <date>', 'end, exclusive (default: the end of the current hour)')
    .option('--by <group>', 'project, service, instance, node-pool or label:<key>', 'project')
    .option('-o, --output <format>', 'table, json or csv', 'table')
    .action(async (opts: ReportOpts, cmd: Command) => {
      if (!(REPORT_FORMATS as readonly string[]).includes(opts.output)) throw new CliError(`-o ${opts.output}: unknown output format (use one of: ${REPORT_FORMATS.join(', ')})`, 2);
      const cli = Cli.of(cmd);
      const project = cli.flags.project === undefined ? undefined : checkName('project', cli.flags.project);
      const report = await costReport(cli.client, { project, since: opts.since, until: opts.until, by: opts.by });
      if (opts.output === 'json') return printLine(JSON.stringify(report, null, 2));
      if (opts.output === 'csv') return void process.stdout.write(reportCsv(report));
      printLine(reportTable(report));
      if (report.unpricedHours > 0) process.stderr.write(`${report.unpricedHours.toFixed(1)} instance- and volume-hours before the first price list are priced at 0 (stratus get price-lists).\n`);
    });
  cost.command('export')
    .description('Writes the FinOps Foundation FOCUS columns as CSV (one row per instance-hour and resource): cells starting with = + - @ get a leading \' so spreadsheets do not run them.')
    .requiredOption('--format <format>', 'focus')
    .option('--since <date>', 'start (default: the start of this month)')
    .option('--until <date>', 'end, exclusive (default: the end of the current hour)')
    .option('-o, --output <file>', 'write to this file (default: standard output)')
    .action(async (opts: ExportOpts, cmd: Command) => {
      if (opts.format !== 'focus') throw new CliError(`--format ${opts.format}: unknown export format (use focus)`, 2);
      const cli = Cli.of(cmd);
      const project = cli.flags.project === undefined ? undefined : checkName('project', cli.flags.project);
      const csv = await costFocusCsv(cli.client, { project, since: opts.since, until: opts.until });
      if (!opts.output) return void process.stdout.write(csv);
      writeFileSync(opts.output, csv);
      process.stderr.write(`Wrote ${Math.max(0, csv.split('\r\n').length - 2)} rows to ${opts.output}.\n`);
    });
}

const money = (v: number) => v.toFixed(2);
const pct = (v: number | undefined) => (v === undefined ? '-' : `${Math.round(v * 100)}%`);

function cells(r: CostRow): string[] {
  return [r.key, r.instanceHours.toFixed(1), money(r.total.reserved), money(r.total.usage), money(r.total.charged), money(r.cpu.charged), money(r.memory.charged), money(r.gpu.charged), money(r.volume), pct(r.efficiency.cpu), pct(r.efficiency.memory)];
}

/** The rows, a TOTAL line, then (cluster admins) the idle cost per node pool. */
export function reportTable(r: CostReport): string {
  const currency = r.currency ?? '';
  const head = [`${r.by.toUpperCase()}`, 'INST-HOURS', `RESERVED ${currency}`.trim(), `USAGE ${currency}`.trim(), `CHARGED ${currency}`.trim(), 'CPU', 'MEMORY', 'GPU', 'VOLUMES', 'CPU EFF', 'MEM EFF'];
  const lines = [`Costs ${r.since} → ${r.until}${r.currency ? ` in ${r.currency}` : ' (no price list)'}`];
  lines.push(table(head, [...r.rows.map(cells), cells({ ...r.total, key: 'TOTAL' })]));
  if (r.idle?.length) {
    lines.push('', 'Idle (capacity nobody reserved), by node pool:');
    lines.push(table(['POOL', 'CPU', 'MEMORY', 'GPU', `IDLE ${currency}`.trim()], r.idle.map((i) => [i.pool, money(i.cpu), money(i.memory), money(i.gpu), money(i.total)])));
  }
  return lines.join('\n');
}

/** The rows as CSV (csv.ts quoting: a label value cannot break it). */
export function reportCsv(r: CostReport): string {
  const header = [r.by, 'currency', 'instanceHours', 'reserved', 'usage', 'charged', 'cpu', 'memory', 'gpu', 'instance', 'volume', 'cpuEfficiency', 'memoryEfficiency'];
  return toCsv(header, r.rows.map((x) => [x.key, r.currency, x.instanceHours, x.total.reserved, x.total.usage, x.total.charged, x.cpu.charged, x.memory.charged, x.gpu.charged, x.instance, x.volume, x.efficiency.cpu, x.efficiency.memory]));
}
