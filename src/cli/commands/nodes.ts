/** Node lifecycle: join tokens, cordon, uncordon, drain, delete. */
import type { Command } from 'commander';
import { Cli } from '../context.js';
import { printLine } from '../output.js';

export function registerNodes(program: Command): void {
  const node = program.command('node').description('Machines of the cluster.');
  node.command('join-token')
    .description('Join tokens for `stratus agent --join-token` (cluster admins).')
    .command('create')
    .option('--expires-in <duration>', 'lifetime', '24h')
    .option('--description <text>')
    .action(async (opts: { expiresIn: string; description?: string }, cmd: Command) => {
      const res = await Cli.of(cmd).client.request<{ token: { metadata: { name: string } }; secret: string }>('POST', '/v1/join-tokens', {
        body: { expiresIn: opts.expiresIn, ...(opts.description ? { description: opts.description } : {}) },
      });
      process.stderr.write(`join token ${res.token.metadata.name} created (expires in ${opts.expiresIn}); shown only now:\n`);
      printLine(res.secret);
    });
  const patch = (name: string, cmd: Command, spec: Record<string, unknown>, said: string) =>
    Cli.of(cmd).client.request('PATCH', `/v1/nodes/${encodeURIComponent(name)}`, { body: { spec }, contentType: 'application/merge-patch+json' }).then(() => printLine(`node/${name} ${said}`));
  node.command('cordon <name>').description('Place no new instances on the node.').action((name: string, _o: unknown, cmd: Command) => patch(name, cmd, { unschedulable: true }, 'cordoned'));
  node.command('uncordon <name>').description('Allow new instances on the node again.').action((name: string, _o: unknown, cmd: Command) => patch(name, cmd, { unschedulable: null, draining: null }, 'uncordoned'));
  node.command('drain <name>').description('Cordon the node and move its instances elsewhere, each stopped within its grace period.')
    .action((name: string, _o: unknown, cmd: Command) => patch(name, cmd, { unschedulable: true, draining: true }, 'draining (its instances move to other nodes)'));
  node.command('delete <name>')
    .description('Delete a node. One that still has instances needs a drain first, or --force. A live agent registers its node again; revoke its credential (stratus token revoke node-NAME) to keep it out.')
    .option('--force', 'delete although instances run on it: they are released at once (restart-always ones are placed again, the others are Lost)')
    .action(async (name: string, opts: { force?: boolean }, cmd: Command) => {
      await Cli.of(cmd).client.request('DELETE', `/v1/nodes/${encodeURIComponent(name)}`, { query: { force: opts.force === true ? true : undefined } });
      printLine(`node/${name} deleted${opts.force ? ' (its instances, if any, are released)' : ''}`);
    });
}
