/** plan, apply, stacks and services. */
import type { Command } from 'commander';
import { Cli } from '../context.js';
import { CliError } from '../errors.js';
import { printLine, table, formatObjects } from '../output.js';
import { applyFiles, formatPlan, planFiles, type FileOpts } from '../stack/apply.js';
import { followRollout } from '../stack/follow.js';
import { hasChanges } from '../../model/stack/plan.js';
import { parseDuration, age, plural } from '../../model/format.js';
import { serviceKind, stackKind } from '../../model/kinds/index.js';
import type { Service } from '../../model/kinds/service.js';
import type { StoredObject } from '../../model/kind.js';
import { quantitiesAsStrings } from '../../model/quantity-fields.js';

function collect(v: string, acc: string[] = []): string[] {
  return [...acc, v];
}

function fileOptions(cmd: Command): Command {
  return cmd
    .requiredOption('-f, --filename <file>', 'stack or object file (- for standard input); repeatable', collect)
    .option('--set <key=value>', 'parameter for ${key} in the file; repeatable', collect)
    .option('--stack <name>', 'stack name (default: the file\'s name:, or its base name with --prune)')
    .option('--prune', 'delete objects of the stack that the file no longer has');
}

export function registerStacks(program: Command): void {
  fileOptions(program.command('plan').description('Show what apply would change, object by object and field by field; changes nothing.'))
    .option('--detailed-exitcode', 'exit 2 when there are changes (0: none, 1: error)')
    .action(async (o: FileOpts & { detailedExitcode?: boolean }, cmd: Command) => {
      const plan = await planFiles(Cli.of(cmd), o);
      printLine(formatPlan(plan));
      if (o.detailedExitcode && hasChanges(plan)) process.exitCode = 2;
    });

  waitOptions(fileOptions(program.command('apply').description('Create or update what the files describe, in dependsOn order, and follow the rollouts.')))
    .action(async (o: FileOpts & WaitOpts, cmd: Command) => {
      const res = await applyFiles(Cli.of(cmd), o, { wait: o.wait, timeoutMs: timeoutOf(o) });
      if (!res.changed) return printLine('No changes.');
      if (res.stack) printLine(`stack/${res.stack} applied`);
    });

  const stack = program.command('stack').description('Stacks: objects applied together from one file.');
  stack.command('ls').description('List stacks.').option('-o, --output <format>', 'table, json or yaml', 'table').action(async (o: { output: string }, cmd: Command) => {
    const cli = Cli.of(cmd);
    const { items } = await cli.client.listAll<StoredObject>(cli.collection(stackKind));
    if (items.length === 0 && o.output === 'table') return void process.stderr.write(`No stacks in project "${cli.project}".\n`);
    printLine(formatObjects(stackKind, items, o.output as 'table'));
  });
  stack.command('rm <name>').description('Delete a stack and everything it owns.').action(async (name: string, _o: unknown, cmd: Command) => {
    const cli = Cli.of(cmd);
    const s = await cli.client.request<{ spec: { objects: unknown[] } }>('DELETE', cli.item(stackKind, name));
    printLine(`stack/${name} deleted; ${s.spec.objects.length === 1 ? 'its object is' : `its ${plural(s.spec.objects.length, 'object')} are`} being removed`);
  });

  registerServices(program);
}

function registerServices(program: Command): void {
  const service = program.command('service').description('Replicated services.');
  service.command('scale <name> <replicas>').description('Set the number of replicas.').action(async (name: string, n: string, _o: unknown, cmd: Command) => {
    if (!/^\d+$/.test(n)) throw new CliError(`replicas "${n}" is not a whole number`, 2);
    const a = (await Cli.of(cmd).client.get<Service>(Cli.of(cmd).item(serviceKind, name))).spec.autoscale;
    // the autoscaler's count wins over spec.replicas: say so rather than change nothing
    if (a) throw new CliError(`service "${name}" is autoscaled between ${a.min} and ${a.max} replicas (spec.autoscale); change min and max there, or remove autoscale to set a count`);
    await patchSpec(Cli.of(cmd), name, { replicas: Number(n) });
    printLine(`service/${name} scaled to ${n}`);
  });
  service.command('history <name>').description('Versions of a service, newest last.').action(async (name: string, _o: unknown, cmd: Command) => {
    const svc = await Cli.of(cmd).client.get<Service>(Cli.of(cmd).item(serviceKind, name));
    const rows = (svc.status?.history ?? []).map((h) => [String(h.revision), h.state + (h.revision === svc.status?.revision ? ' (current)' : ''), age(h.createdAt), summary(h.template), h.reason ?? '']);
    printLine(rows.length ? table(['REVISION', 'STATE', 'AGE', 'TEMPLATE', 'REASON'], rows) : `service "${name}" has no rollout history yet`);
  });
  waitOptions(service.command('rollback <name>').description('Go back to an earlier version (default: the one before the current), and follow the rollout.'))
    .option('--to <revision>', 'revision to go back to')
    .action(async (name: string, o: { to?: string } & WaitOpts, cmd: Command) => {
      const cli = Cli.of(cmd);
      const timeoutMs = timeoutOf(o);
      const svc = await cli.client.get<Service>(cli.item(serviceKind, name));
      const history = svc.status?.history ?? [];
      const target = o.to ? history.find((h) => String(h.revision) === o.to) : [...history].reverse().find((h) => h.revision !== svc.status?.revision && h.state !== 'failed');
      if (!target) throw new CliError(o.to ? `service "${name}" has no revision ${o.to} (have: ${history.map((h) => h.revision).join(', ') || 'none'})` : `service "${name}" has no earlier good version to go back to`);
      // A PUT, not a merge patch: the old template replaces the current one field for field
      // (its stored quantities as strings, which parse back to the same values).
      const spec = quantitiesAsStrings(serviceKind.spec, { ...svc.spec, template: target.template });
      const applied = await cli.client.request<StoredObject>('PUT', cli.item(serviceKind, name), { body: { kind: 'service', metadata: { name, revision: svc.metadata.revision, labels: svc.metadata.labels }, spec } });
      printLine(`service/${name} rolling back to revision ${target.revision}`);
      if (o.wait) await followRollout(cli, applied, timeoutMs);
    });
  waitOptions(service.command('restart <name>').description('Replace every replica, a few at a time, with the same version, and follow the rollout.'))
    .action(async (name: string, o: WaitOpts, cmd: Command) => {
      const cli = Cli.of(cmd);
      const timeoutMs = timeoutOf(o);
      const svc = await cli.client.get<Service>(cli.item(serviceKind, name));
      const annotations = { ...svc.spec.template.metadata?.annotations, 'stratus.io/restarted-at': new Date().toISOString() };
      const applied = await patchSpec(cli, name, { template: { metadata: { ...svc.spec.template.metadata, annotations } } });
      printLine(`service/${name} restarting its replicas`);
      if (o.wait) await followRollout(cli, applied, timeoutMs);
    });
}

interface WaitOpts { wait: boolean; timeout: string }

/** --no-wait and --timeout, as apply has them. */
function waitOptions(cmd: Command): Command {
  return cmd.option('--no-wait', 'do not wait for the rollout to finish').option('--timeout <duration>', 'how long to wait for the rollout', '5m');
}

function timeoutOf(o: WaitOpts): number {
  const ms = parseDuration(o.timeout);
  if (ms === undefined) throw new CliError(`--timeout ${o.timeout}: not a duration (e.g. 90s, 5m)`, 2);
  return ms;
}

async function patchSpec(cli: Cli, name: string, spec: Record<string, unknown>): Promise<StoredObject> {
  return cli.client.request<StoredObject>('PATCH', cli.item(serviceKind, name), { body: { spec }, contentType: 'application/merge-patch+json' });
}

function summary(t: unknown): string {
  const s = (t as { spec?: { command?: string[]; image?: string } } | undefined)?.spec;
  const text = s?.image ? `${s.image} ${(s.command ?? []).join(' ')}` : (s?.command ?? []).join(' ');
  return text.length > 50 ? `${text.slice(0, 47)}...` : text;
}
