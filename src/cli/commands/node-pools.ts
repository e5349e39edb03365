/**
 * `stratus node-pool ls`: the cluster's node pools (cluster admins): size, min/max, shape,
 * provider and the autoscaler's latest decision and why; `-o wide` lists each pool's recent
 * decisions under the table. Creating one is `stratus apply -f` of a `kind: node-pool` document;
 * get/describe/delete are the generic kind commands (`stratus describe node-pool NAME`).
 */
import type { Command } from 'commander';
import { Cli } from '../context.js';
import { checkFormat, formatObjects, printLine, table } from '../output.js';
import { nodePoolKind } from '../../model/kinds/index.js';
import type { NodePool } from '../../model/kinds/node-pool.js';
import { age } from '../../model/format.js';

export function registerNodePools(program: Command): void {
  const pools = program.command('node-pool').alias('node-pools').description('Node pools: machines the cluster autoscaler adds and removes (cluster admins).');
  pools.command('ls').alias('list')
    .description('Node pools with their size, min/max, shape, provider and the autoscaler\'s latest decision and why.')
    .option('-o, --output <format>', 'table, wide (each pool\'s recent decisions too), json, yaml or name', 'table')
    .action(async (o: { output: string }, cmd: Command) => {
      const cli = Cli.of(cmd);
      const format = checkFormat(o.output);
      const { items } = await cli.client.listAll<NodePool>(cli.collection(nodePoolKind));
      if (items.length === 0 && (format === 'table' || format === 'wide')) {
        process.stderr.write('No node pools found (or you are not a cluster admin).\n');
        return;
      }
      printLine(formatObjects(nodePoolKind, items, format));
      if (format === 'wide') printLine(decisionsTable(items));
    });
}

/** Each pool's recent decisions, newest first. */
function decisionsTable(items: NodePool[]): string {
  const rows = items.flatMap((p) => (p.status?.decisions ?? []).slice(0, 5).map((d) => [p.metadata.name, `${age(d.at)} ago`, `${d.action}${d.count ? ` ${d.count}` : ''}${d.node ? ` ${d.node}` : ''}`, d.reason]));
  return rows.length ? `\n${table(['POOL', 'WHEN', 'DECISION', 'WHY'], rows)}` : '';
}
