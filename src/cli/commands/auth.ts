/** login, logout, whoami, context: where the CLI talks to and as whom. */
import type { Command } from 'commander';
import { ApiClient } from '../../client/index.js';
import { whoami, type Whoami } from '../../client/routes.js';
import { savedServers } from '../../client/failover.js';
import { configPath, loadConfig, saveConfig, serverList } from '../config.js';
import { Cli } from '../context.js';
import { CliError } from '../errors.js';
import { printLine, table } from '../output.js';

export function registerAuth(program: Command): void {
  program
    .command('login')
    .description('Check a server URL (or several servers\' URLs, comma-separated: the CLI fails over between them) and a token, and save them as a context.')
    .option('--name <context>', 'context name (default: derived from the first server)')
    .action(async (opts: { name?: string }, cmd: Command) => {
      const flags = Cli.of(cmd).flags;
      const rawServer = flags.server ?? (process.env.STRATUS_SERVER || undefined);
      const token = flags.token ?? (process.env.STRATUS_TOKEN || undefined);
      if (!rawServer || !token) throw new CliError('login needs --server URL[,URL...] and --token TOKEN (or STRATUS_SERVER and STRATUS_TOKEN)', 2);
      const servers = serverList(rawServer, flags.server ? '--server' : 'STRATUS_SERVER');
      const parsed = new URL(servers[0]!);
      const api = new ApiClient(servers, token);
      const me = await whoami(api);
      const name = opts.name ?? flags.context ?? `${parsed.hostname}-${parsed.port || (parsed.protocol === 'https:' ? 443 : 80)}`;
      // A token that may act in one project only works there: select it, as `openstack` scopes a token.
      const only = onlyProject(me);
      const project = flags.project ?? only;
      const config = loadConfig();
      config.contexts[name] = { server: savedServers(servers), token, ...(project ? { project } : {}) };
      config.current = name;
      saveConfig(config);
      const others = servers.length > 1 ? ` (of ${servers.join(', ')})` : '';
      printLine(`logged in to ${api.server}${others} as ${me.id}${!flags.project && only ? ` in project "${only}" (the only one it may use)` : ''}; saved as context "${name}" in ${configPath()}`);
    });

  program
    .command('logout')
    .description('Forget the current context (the token stays valid; revoke it with `stratus token revoke`).')
    .action(async (_opts: unknown, cmd: Command) => {
      const config = loadConfig();
      const name = Cli.of(cmd).flags.context ?? config.current;
      if (!name || !config.contexts[name]) throw new CliError('not logged in');
      delete config.contexts[name];
      config.current = Object.keys(config.contexts)[0];
      saveConfig(config);
      printLine(`forgot context "${name}"`);
    });

  program
    .command('whoami')
    .description('Who you are, on which server, with which roles.')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (opts: { output: string }, cmd: Command) => {
      const cli = Cli.of(cmd);
      const me = await whoami(cli.client);
      // `server`: the one that answered; `servers`: the context's list, when it has several.
      const servers = cli.ctx.servers;
      if (opts.output === 'json') return printLine(JSON.stringify({ server: cli.client.server, ...(servers.length > 1 ? { servers } : {}), project: cli.project, ...me }, null, 2));
      const roles = me.clusterAdmin ? 'cluster admin' : me.roles.map((r) => `${r.project}:${r.role}`).join(', ') || 'none';
      const others = servers.length > 1 ? ` (of ${servers.join(', ')})` : '';
      printLine([`${me.id} (token ${me.token})`, `server:  ${cli.client.server}${others}`, `project: ${cli.project}`, `roles:   ${roles}`].join('\n'));
    });

  const context = program.command('context').description('Saved contexts.');
  context.command('ls').description('List saved contexts.').action(() => {
    const config = loadConfig();
    const rows = Object.entries(config.contexts).map(([n, c]) => [n === config.current ? '*' : '', n, [c.server].flat().join(','), c.project ?? 'default']);
    printLine(table(['', 'NAME', 'SERVER', 'PROJECT'], rows));
  });
  context.command('use <name>').description('Switch to a saved context.').action((name: string) => {
    const config = loadConfig();
    if (!config.contexts[name]) throw new CliError(`no context "${name}" (have: ${Object.keys(config.contexts).join(', ') || 'none'})`);
    config.current = name;
    saveConfig(config);
    printLine(`now using context "${name}"`);
  });
  context.command('set-project <project>').description('Set the default project of the current context.').action((project: string) => {
    const config = loadConfig();
    const ctx = config.current ? config.contexts[config.current] : undefined;
    if (!ctx) throw new CliError('not logged in');
    ctx.project = project;
    saveConfig(config);
    printLine(`context "${config.current}" now uses project "${project}"`);
  });
}

/** The one project a principal has roles in, if it is not a cluster admin and has exactly one. */
export function onlyProject(me: Pick<Whoami, 'clusterAdmin' | 'roles'>): string | undefined {
  if (me.clusterAdmin) return undefined;
  const projects = [...new Set(me.roles.map((r) => r.project))];
  return projects.length === 1 ? projects[0] : undefined;
}
