/** get, describe, delete: the verbs that work on any kind (apply and plan are in stacks.ts). */
import type { Command } from 'commander';
import type { StoredObject } from '../../model/kind.js';
import { eventKind, kindNames } from '../../model/kinds/index.js';
import { OBJECT_KIND_LABEL, OBJECT_NAME_LABEL, SYSTEM_PROJECT, type StratusEvent } from '../../model/kinds/event.js';
import { Cli, kindArg } from '../context.js';
import { ApiError, CliError } from '../errors.js';
import { checkFormat, formatObjects, formatRow, printLine, table } from '../output.js';
import { readInput } from '../manifest.js';
import { parseStackFile } from '../../model/stack/file.js';
import { describeObject } from '../describe.js';
import { collectionPath, itemPath } from '../../client/paths.js';
import { objectForPeople } from '../../model/quantity-fields.js';
import { plural } from '../../model/format.js';
import { parseSelector, SelectorError } from '../../model/labels.js';
import { deleteProjectCascade } from '../project-delete.js';
import { getServers, SERVER_NAMES } from './cluster.js';

interface GetOpts { output: string; selector?: string; watch?: boolean; allProjects?: boolean }

export function registerResources(program: Command): void {
  program
    .command('get <kind> [names...]')
    .description(`List objects of a kind, or show some by name (events: oldest first). Kinds: ${kindNames().join(', ')}; and servers (the control plane's).`)
    .option('-o, --output <format>', 'table, wide, json, yaml or name', 'table')
    .option('-l, --selector <selector>', 'label selector, e.g. app=web,tier!=db')
    .option('-w, --watch', 'after listing, print changes as they happen')
    .option('-A, --all-projects', 'list across every project you can read')
    .action(async (kindName: string, names: string[], opts: GetOpts, cmd: Command) => {
      const cli = Cli.of(cmd);
      if (SERVER_NAMES.includes(kindName)) return getServers(cli, names, opts.output);
      const kind = kindArg(kindName);
      const format = checkFormat(opts.output);
      const all = Boolean(opts.allProjects) && kind.scope === 'project';
      if (names.length > 0) {
        const items = await Promise.all(names.map((n) => cli.client.get<StoredObject>(cli.item(kind, n))));
        return printLine(formatObjects(kind, items, format, { single: items.length === 1 }));
      }
      if (opts.selector) selectorArg(opts.selector);
      const query: Record<string, string> = opts.selector ? { selector: opts.selector } : {};
      const { items, revision } = await cli.client.listAll<StoredObject>(cli.collection(kind, all), query);
      if (kind === eventKind) items.sort(byEventTime); // oldest first, as kubectl; a watch then adds the newest
      if (items.length === 0 && (format === 'table' || format === 'wide') && !opts.watch) {
        process.stderr.write(`No ${kind.plural} found${kind.scope === 'project' && !all ? ` in project "${cli.project}"` : ''}.\n`);
      } else {
        printLine(formatObjects(kind, items, format, { allProjects: all }));
      }
      if (opts.watch) await follow(cli, kind, all, revision, query, format, items.length > 0);
    });

  program
    .command('describe <kind> <name>')
    .description('Show one object in detail, with its recent events.')
    .action(async (kindName: string, name: string, _opts: unknown, cmd: Command) => {
      const cli = Cli.of(cmd);
      const kind = kindArg(kindName);
      const obj = await cli.client.get<StoredObject>(cli.item(kind, name));
      const project = obj.metadata.project ?? SYSTEM_PROJECT;
      const events = await cli.client.listAll<StoredObject>(collectionPath(eventKind, project), {
        selector: `${OBJECT_KIND_LABEL}=${kind.kind},${OBJECT_NAME_LABEL}=${name}`,
      }).catch(() => ({ items: [] as StoredObject[] }));
      printLine(describeObject(kind, obj, events.items));
    });

  program
    .command('delete [kind] [names...]')
    .description('Delete objects by kind and name, or those in files (-f).')
    .option('-f, --filename <files...>', 'delete the objects these files describe')
    .option('--cascade', 'projects: delete everything they own first')
    .action(async (kindName: string | undefined, names: string[], opts: { filename?: string[]; cascade?: boolean }, cmd: Command) => {
      const cli = Cli.of(cmd);
      const targets: { path: string; label: string }[] = [];
      if (opts.filename) {
        // The same files apply reads (stack files, object documents, resources lists).
        for (const o of opts.filename.flatMap((f) => parseStackFile(readInput(f), f, {}).objects)) {
          const project = (o.body.metadata as { project?: string }).project ?? cli.project;
          targets.push({ path: itemPath(o.kind, o.name, project), label: `${o.kind.kind}/${o.name}` });
        }
      } else {
        if (!kindName || names.length === 0) throw new CliError('usage: stratus delete KIND NAME... (or -f FILE)', 2);
        const kind = kindArg(kindName);
        for (const n of names) targets.push({ path: cli.item(kind, n), label: `${kind.kind}/${n}` });
      }
      let failed = 0;
      for (const t of targets) {
        try {
          // A project's cascade runs in the server's background: wait until it is gone, as `project delete --cascade`.
          if (opts.cascade && t.label.startsWith('project/')) await deleteProjectCascade(cli, t.label.slice('project/'.length));
          else await cli.client.request('DELETE', t.path, { query: opts.cascade ? { cascade: true } : undefined });
          printLine(`${t.label} deleted`);
        } catch (e) {
          if (!(e instanceof CliError || e instanceof ApiError)) throw e;
          failed++;
          process.stderr.write(`error: ${t.label}: ${e.message}${e instanceof ApiError ? ` (${e.code})` : ''}\n`);
        }
      }
      if (failed > 0) throw new CliError(targets.length > 1 ? `${failed} of ${plural(targets.length, 'deletion')} failed` : '');
    });
}

async function follow(cli: Cli, kind: ReturnType<typeof kindArg>, all: boolean, revision: number, query: Record<string, string>, format: ReturnType<typeof checkFormat>, headerShown: boolean): Promise<void> {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const wide = format === 'wide';
  let headerPrinted = headerShown;
  await cli.client.watch(cli.collection(kind, all), revision, query, (msg) => {
    if (!msg.object || (msg.type !== 'put' && msg.type !== 'delete')) return;
    const obj = msg.object as unknown as StoredObject;
    if (format === 'json') return printLine(JSON.stringify({ type: msg.type, object: objectForPeople(kind, obj) }));
    if (format === 'yaml' || format === 'name') return printLine(formatObjects(kind, [obj], format, { single: true }));
    const row = formatRow(kind, obj, wide, all, msg.type === 'delete');
    const cols = kind.columns.filter((c) => wide || !c.wide).map((c) => c.header);
    const text = table([...(all ? ['PROJECT'] : []), ...cols], [row]).split('\n');
    printLine(headerPrinted ? text[1]! : text.join('\n'));
    headerPrinted = true;
  }, controller.signal);
}

/** Events by when they last happened, oldest first. */
function byEventTime(a: StoredObject, b: StoredObject): number {
  const t = (o: StoredObject) => (o as StratusEvent).spec.lastTime ?? o.metadata.createdAt;
  return t(a).localeCompare(t(b)) || a.metadata.name.localeCompare(b.metadata.name);
}

/** -l, checked here: the API would name it query.selector. */
/** Checks a -l selector before it goes to the API: a bad one is one line and exit code 2. */
export function selectorArg(text: string): void {
  try {
    parseSelector(text);
  } catch (e) {
    if (e instanceof SelectorError) throw new CliError(`-l ${JSON.stringify(text)}: ${e.message}`, 2);
    throw e;
  }
}
