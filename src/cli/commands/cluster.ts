/**
 * The control plane as a user sees it: `stratus get servers` (every server sharing the store and
 * which leads) and `stratus cluster status` (those, plus the store's members and health).
 */
import type { Command } from 'commander';
import { Cli } from '../context.js';
import { CliError } from '../errors.js';
import { printLine, table } from '../output.js';
import { yaml } from '../yaml.js';
import { age } from '../../model/format.js';
import { clusterStatus, listServers, type ServerView, type StoreStatus } from '../../client/routes.js';

/** The names `stratus get` takes for servers (not a kind: the API serves them read-only). */
export const SERVER_NAMES = ['server', 'servers'];

function serverRows(servers: ServerView[]): string[][] {
  return servers.map((s) => [s.name, s.url, s.version, s.status.leader ? 'yes' : 'no', age(s.startedAt)]);
}

function storeRows(store: StoreStatus): string[][] {
  return store.members.map((m) => [m.name, m.endpoint, m.healthy ? 'healthy' : `unhealthy${m.error ? `: ${m.error}` : ''}`, m.leader ? 'yes' : 'no', m.version ?? '', m.dbSizeBytes === undefined ? '' : `${(m.dbSizeBytes / 2 ** 20).toFixed(1)} MiB`]);
}

function structured(value: unknown, format: string): string | undefined {
  if (format === 'json') return JSON.stringify(value, null, 2);
  if (format === 'yaml') return yaml().stringify(value).trimEnd();
  return undefined;
}

function checkOutput(format: string): void {
  if (!['table', 'json', 'yaml'].includes(format)) throw new CliError(`-o ${format}: unknown output format (use one of: table, json, yaml)`, 2);
}

/** `stratus get servers [-o json|yaml]`, `stratus get server NAME...`. */
export async function getServers(cli: Cli, names: string[], format: string): Promise<void> {
  checkOutput(format);
  let { items } = await listServers(cli.client);
  if (names.length > 0) {
    const missing = names.filter((n) => !items.some((s) => s.name === n));
    if (missing.length > 0) throw new CliError(`no server named ${missing.map((n) => `"${n}"`).join(', ')} (see: stratus get servers)`);
    items = items.filter((s) => names.includes(s.name));
  }
  printLine(structured(format === 'table' ? undefined : { items }, format) ?? table(['NAME', 'URL', 'VERSION', 'LEADER', 'AGE'], serverRows(items)));
}

export function registerCluster(program: Command): void {
  const cluster = program.command('cluster').description('The control plane: its servers and its store.');
  cluster.command('status')
    .description('Servers (which one leads) and the store\'s members and health (cluster admins).')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (opts: { output: string }, cmd: Command) => {
      checkOutput(opts.output);
      const status = await clusterStatus(Cli.of(cmd).client);
      const out = structured(status, opts.output);
      if (out !== undefined) return printLine(out);
      const leader = status.servers.find((s) => s.status.leader);
      printLine([
        `Servers: ${status.servers.length}, leader: ${leader ? leader.name : 'none (an election is under way)'}`,
        table(['NAME', 'URL', 'VERSION', 'LEADER', 'AGE'], serverRows(status.servers)),
        '',
        `Store: ${status.store.backend} at revision ${status.store.revision}, ${status.store.members.filter((m) => m.healthy).length}/${status.store.members.length} members healthy`,
        table(['MEMBER', 'ENDPOINT', 'HEALTH', 'LEADER', 'VERSION', 'DB SIZE'], storeRows(status.store)),
      ].join('\n'));
    });
}
