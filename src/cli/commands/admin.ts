/** Tenancy and identity: projects, members, users, tokens, and the audit trail. */
import type { Command } from 'commander';
import { Cli } from '../context.js';
import { CliError } from '../errors.js';
import { printLine, table } from '../output.js';
import { projectKind, tokenKind, userKind } from '../../model/kinds/index.js';
import { formatObjects, checkFormat } from '../output.js';
import type { Token } from '../../model/kinds/token.js';
import { createToken, listAudit, listMembers, removeMember, revokeToken, setMember, type RoleName } from '../../client/routes.js';
import { QUOTAS, QuotasSchema } from '../../model/kinds/project.js';
import { deleteProjectCascade } from '../project-delete.js';

const ROLES: readonly string[] = ['admin', 'member', 'viewer'] satisfies RoleName[];

function role(r: string): RoleName {
  if (!ROLES.includes(r)) throw new CliError(`--role ${r}: use one of ${ROLES.join(', ')}`, 2);
  return r as RoleName;
}

const QUOTA_NAMES: readonly string[] = QUOTAS.map((q) => q.name);
/** Quotas that count objects (instances, volumes): integers in the schema, sent as numbers. */
const isCount = (name: string) => (QuotasSchema.properties as Record<string, { type?: string }>)[name]?.type === 'integer';

/** Parses "cpu=8,memory=32Gi,gpu=2,instances=50,volumes=10,storage=1Ti" into a quota object (every project quota: QUOTAS). */
function quotas(text: string | undefined): Record<string, string | number> | undefined {
  if (!text) return undefined;
  const out: Record<string, string | number> = {};
  for (const part of text.split(',')) {
    const [k, v] = part.split('=');
    if (!k || v === undefined || !QUOTA_NAMES.includes(k)) {
      throw new CliError(`--quota ${JSON.stringify(part)}: use key=value with keys ${QUOTA_NAMES.join(', ')}`, 2);
    }
    out[k] = isCount(k) ? Number(v) : v;
  }
  return out;
}

export function registerAdmin(program: Command): void {
  const project = program.command('project').description('Projects (tenants) and their members.');
  project.command('create <name>')
    .description('Create a project (cluster admins).')
    .option('--display-name <text>')
    .option('--quota <list>', 'quotas, e.g. cpu=8,memory=32Gi,gpu=2,instances=50,volumes=10,storage=1Ti')
    .action(async (name: string, opts: { displayName?: string; quota?: string }, cmd: Command) => {
      const cli = Cli.of(cmd);
      const q = quotas(opts.quota);
      const spec = { ...(opts.displayName ? { displayName: opts.displayName } : {}), ...(q ? { quotas: q } : {}) };
      await cli.client.resources(projectKind).create({ metadata: { name }, spec });
      printLine(`project/${name} created`);
    });
  project.command('delete <name>')
    .description('Delete a project (cluster admins); with --cascade, everything in it first.')
    .option('--cascade', 'delete the project\'s instances, services, networks and other objects first')
    .action(async (name: string, opts: { cascade?: boolean }, cmd: Command) => {
      // --cascade: the server deletes in the background (a controller); this waits until it is gone.
      if (opts.cascade) await deleteProjectCascade(Cli.of(cmd), name);
      else await Cli.of(cmd).client.resources(projectKind).delete(name);
      printLine(`project/${name} deleted`);
    });
  project.command('members <name>').description('List the members of a project.').action(async (name: string, _o: unknown, cmd: Command) => {
    const members = await listMembers(Cli.of(cmd).client, name);
    printLine(members.length ? table(['USER', 'ROLE'], members.map((m) => [m.user, m.role])) : `project "${name}" has no members (cluster admins can always act in it)`);
  });
  project.command('add-member <project> <user>').description('Give a user a role in a project (project admins).')
    .requiredOption('--role <role>', 'admin, member or viewer')
    .action(async (p: string, user: string, opts: { role: string }, cmd: Command) => {
      await setMember(Cli.of(cmd).client, p, user, role(opts.role));
      printLine(`${user} is now ${opts.role} in project ${p}`);
    });
  project.command('remove-member <project> <user>').description('Remove a user from a project.').action(async (p: string, user: string, _o: unknown, cmd: Command) => {
    await removeMember(Cli.of(cmd).client, p, user);
    printLine(`${user} removed from project ${p}`);
  });

  const user = program.command('user').description('Users (cluster admins).');
  user.command('create <name>')
    .option('--display-name <text>')
    .option('--email <address>')
    .option('--cluster-admin', 'give cluster admin rights')
    .option('--role <project:role...>', 'roles, e.g. team-a:member')
    .action(async (name: string, opts: { displayName?: string; email?: string; clusterAdmin?: boolean; role?: string[] }, cmd: Command) => {
      const roles = (opts.role ?? []).map((r) => {
        const [p, rr] = r.split(':');
        if (!p || !rr) throw new CliError(`--role ${r}: use PROJECT:ROLE, e.g. team-a:member`, 2);
        return { project: p, role: role(rr) };
      });
      const spec = { ...(opts.displayName ? { displayName: opts.displayName } : {}), ...(opts.email ? { email: opts.email } : {}), ...(opts.clusterAdmin ? { clusterAdmin: true } : {}), ...(roles.length ? { roles } : {}) };
      await Cli.of(cmd).client.resources(userKind).create({ metadata: { name }, spec });
      printLine(`user/${name} created`);
    });

  const token = program.command('token').description('API tokens.');
  token.command('create')
    .description('Create a token; its secret is printed once. With --project and --role, a robot token limited to that role.')
    .option('--name <name>', 'token name (default: generated)')
    .option('--role <role>', 'role in --project: admin, member or viewer')
    .option('--user <user>', 'act for this user (cluster admins; default: yourself when no --role)')
    .option('--cluster-admin', 'cluster admin rights (cluster admins only)')
    .option('--expires-in <duration>', 'lifetime, e.g. 12h, 30d')
    .option('--description <text>')
    .option('-o, --output <format>', 'secret (just the token) or json', 'secret')
    .action(async (opts: { name?: string; role?: string; user?: string; clusterAdmin?: boolean; expiresIn?: string; description?: string; output: string }, cmd: Command) => {
      const cli = Cli.of(cmd);
      const explicitProject = cli.flags.project;
      if (opts.role && !explicitProject) throw new CliError('--role needs --project (the project the role is in)', 2);
      const body = {
        ...(opts.name ? { name: opts.name } : {}),
        ...(opts.user ? { user: opts.user } : {}),
        ...(opts.role && explicitProject ? { roles: [{ project: explicitProject, role: role(opts.role) }] } : {}),
        ...(opts.clusterAdmin ? { clusterAdmin: true } : {}),
        ...(opts.expiresIn ? { expiresIn: opts.expiresIn } : {}),
        ...(opts.description ? { description: opts.description } : {}),
      };
      const res = await createToken(cli.client, body);
      if (opts.output === 'json') return printLine(JSON.stringify(res, null, 2));
      process.stderr.write(`token/${res.token.metadata.name} created; its secret is shown only now:\n`);
      printLine(res.secret);
    });
  token.command('ls').description('Tokens you can see; with -p, those with a role in that project.').option('-o, --output <format>', 'table, json or yaml', 'table').action(async (opts: { output: string }, cmd: Command) => {
    const cli = Cli.of(cmd);
    const project = cli.flags.project;
    const { items } = await cli.client.resources<Token>(tokenKind).list();
    const shown = project ? items.filter((t) => t.spec.roles?.some((r) => r.project === project)) : items;
    if (shown.length === 0 && opts.output === 'table') return void process.stderr.write(`No tokens${project ? ` with a role in project "${project}"` : ''}.\n`);
    printLine(formatObjects(tokenKind, shown, checkFormat(opts.output)));
  });
  token.command('revoke <names...>').description('Revoke tokens; their secrets stop working at once.').action(async (names: string[], _o: unknown, cmd: Command) => {
    const cli = Cli.of(cmd);
    for (const n of names) {
      await revokeToken(cli.client, n);
      printLine(`token/${n} revoked`);
    }
  });

  program.command('audit')
    .description('The audit trail, newest first (cluster admins; project admins with -p).')
    .option('--limit <n>', 'entries', '50')
    .option('--actor <id>', 'only this actor, e.g. user:alice or token:ci')
    .option('--token-name <name>', 'only what this token did (its name, as in the TOKEN column)')
    .option('--kind <kind>')
    .option('--failed', 'only refused requests')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (opts: { limit: string; actor?: string; tokenName?: string; kind?: string; failed?: boolean; output: string }, cmd: Command) => {
      const cli = Cli.of(cmd);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new CliError(`--limit ${opts.limit}: not a positive integer`, 2);
      const res = await listAudit(cli.client, {
        limit, actor: opts.actor, token: opts.tokenName, kind: opts.kind, failed: opts.failed, project: cli.flags.project,
      });
      if (opts.output === 'json') return printLine(JSON.stringify(res.items, null, 2));
      const rows = res.items.map((e) => [String(e.time), String(e.actor), String(e.token ?? ''), String(e.action), [e.kind, e.project, e.name].filter(Boolean).join('/'), String(e.status), String(e.code ?? '')]);
      printLine(table(['TIME', 'ACTOR', 'TOKEN', 'ACTION', 'OBJECT', 'STATUS', 'CODE'], rows));
    });

}
