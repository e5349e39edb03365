/** Node lifecycle: join tokens, cordon, uncordon, drain, delete. */
import type { Command } from 'commander';
import { Cli } from '../context.js';
import { CliError } from '../errors.js';
import { printLine } from '../output.js';
import { parseDuration } from '../../model/format.js';
import { DRAINED_ANNOTATION } from '../../model/kinds/node.js';
import { instanceKind, nodeKind } from '../../model/kinds/index.js';
import { createJoinToken } from '../../client/routes.js';
import { FINISHED } from '../../model/lifecycle.js';
import { registerCompact } from './compact.js';

export function registerNodes(program: Command): void {
  const node = program.command('node').description('Machines of the cluster.');
  node.command('join-token')
    .description('Join tokens for `stratus agent --join-token` (cluster admins).')
    .command('create')
    .option('--expires-in <duration>', 'lifetime', '24h')
    .option('--description <text>')
    .action(async (opts: { expiresIn: string; description?: string }, cmd: Command) => {
      const res = await createJoinToken(Cli.of(cmd).client, { expiresIn: opts.expiresIn, ...(opts.description ? { description: opts.description } : {}) });
      process.stderr.write(`join token ${res.token.metadata.name} created (expires in ${opts.expiresIn}); shown only now:\n`);
      printLine(res.secret);
    });
  const patch = (name: string, cmd: Command, body: Record<string, unknown>, said: string) =>
    Cli.of(cmd).resources(nodeKind).patch(name, body).then(() => printLine(`node/${name} ${said}`));
  node.command('cordon <name>').description('Place no new instances on the node.').action((name: string, _o: unknown, cmd: Command) => patch(name, cmd, { spec: { unschedulable: true } }, 'cordoned'));
  node.command('uncordon <name>').description('Allow new instances on the node again (and end a drain).')
    .action((name: string, _o: unknown, cmd: Command) => patch(name, cmd, { metadata: { annotations: { [DRAINED_ANNOTATION]: null } }, spec: { unschedulable: null, draining: null, drainDeadline: null } }, 'uncordoned'));
  node.command('drain <name>')
    .description('Cordon the node and move its instances elsewhere, each stopped within its grace period; a service\'s replicas a few at a time (at most its maxUnavailable, at least one, unavailable at once). Waits until the node is Drained (empty).')
    .option('--timeout <duration>', 'how long to wait for the node to empty', '5m')
    .option('--force', 'stop everything on the node now, ignoring services\' disruption budgets')
    .option('--no-wait', 'start the drain and return')
    .action((name: string, o: { timeout: string; force?: boolean; wait: boolean }, cmd: Command) => drain(Cli.of(cmd), name, o));
  node.command('delete <name>')
    .description('Delete a node. One that still has instances needs a drain first, or --force. A live agent registers its node again; revoke its credential (stratus token revoke node-NAME) to keep it out.')
    .option('--force', 'delete although instances run on it: they are released at once (restart-always ones are placed again, the others are Lost)')
    .action(async (name: string, opts: { force?: boolean }, cmd: Command) => {
      await Cli.of(cmd).resources(nodeKind).delete(name, { force: opts.force === true });
      printLine(`node/${name} deleted${opts.force ? ' (its instances, if any, are released)' : ''}`);
    });
  registerCompact(node);
}

/** `node drain`: cordon and drain, then (unless --no-wait) follow until the node is empty, as kubectl drain does. */
export async function drain(cli: Cli, name: string, o: { timeout: string; force?: boolean; wait: boolean }): Promise<void> {
  const timeoutMs = parseDuration(o.timeout);
  if (timeoutMs === undefined) throw new CliError(`--timeout ${o.timeout}: not a duration (e.g. 90s, 5m)`, 2);
  const nodes = cli.resources(nodeKind);
  await nodes.patch(name, { metadata: { annotations: { [DRAINED_ANNOTATION]: null } }, spec: { unschedulable: true, draining: true, drainDeadline: o.force ? new Date().toISOString() : null } });
  printLine(`node/${name} cordoned; draining${o.force ? ' (forced: everything stops now)' : ''}`);
  if (!o.wait) return;
  const end = Date.now() + timeoutMs;
  let said = '';
  for (;;) {
    const node = await nodes.get(name);
    if (!node.spec.draining) return printLine(`node/${name} drained`);
    const left = await instancesOn(cli, name);
    const line = `${left.length} instance${left.length === 1 ? '' : 's'} left: ${left.slice(0, 5).join(', ')}${left.length > 5 ? ', ...' : ''}`;
    if (line !== said && left.length > 0) process.stderr.write(`${line}\n`);
    said = line;
    if (Date.now() > end) throw new CliError(`node/${name} is not drained after ${o.timeout}: ${line} (it stays cordoned and draining; wait longer, or stratus node drain ${name} --force)`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** project/name of the instances bound to `node` that have not finished. */
async function instancesOn(cli: Cli, node: string): Promise<string[]> {
  const { items } = await cli.resources(instanceKind, true).list();
  return items.filter((i) => i.status?.node === node && !FINISHED.has(i.status.phase)).map((i) => `${i.metadata.project}/${i.metadata.name}`);
}
