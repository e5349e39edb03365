/**
 * Secrets: create, set (change or remove keys), reveal, delete, and the cluster's secret key.
 * `stratus get secrets` and `stratus describe secret NAME` show key names only (generic verbs).
 *
 *   stratus secret create db --from-literal user=app --from-file password=./pw.txt
 *   stratus secret set db password=new-value --remove user
 *   stratus secret get db --reveal [--key password] [-o yaml|json]
 *   stratus admin rotate-secret-key
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { yaml } from '../yaml.js';
import { Cli, checkName } from '../context.js';
import { CliError } from '../errors.js';
import { printLine } from '../output.js';
import { secretKind } from '../../model/kinds/index.js';
import { plural } from '../../model/format.js';
import { secretKeyProblem } from '../../model/secret-refs.js';
import type { StoredObject } from '../../model/kind.js';
import { revealSecret, rotateSecretKeys } from '../../client/routes.js';

type Values = { data: Record<string, string>; binaryData: Record<string, string> };

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerSecrets(program: Command): void {
  const secret = program.command('secret').description('Secrets: values encrypted at rest, used by instances as env variables or files.');
  secret.command('create <name>')
    .description('Create a secret. Values on the command line land in your shell history: prefer --from-file (- reads standard input).')
    .option('--from-literal <key=value>', 'a key and its value (repeatable)', collect)
    .option('--from-file <[key=]path>', 'a key and the file holding its value; the key defaults to the file name (repeatable)', collect)
    .option('-l, --label <key=value>', 'a label (repeatable)', collect)
    .action(async (name: string, o: { fromLiteral?: string[]; fromFile?: string[]; label?: string[] }, cmd: Command) => {
      const cli = Cli.of(cmd);
      const values = readValues(o.fromLiteral ?? [], o.fromFile ?? []);
      const labels = Object.fromEntries((o.label ?? []).map((l) => pair(l, '--label')));
      await cli.client.request('POST', cli.collection(secretKind), { body: { kind: 'secret', metadata: { name, ...(o.label ? { labels } : {}) }, spec: specOf(values) } });
      printLine(`secret/${name} created (${plural(count(values), 'key')})`);
    });

  secret.command('set <name> [pairs...]')
    .description('Set keys of a secret (KEY=VALUE, or --from-file), or remove them (--remove). Services using it roll out the new values.')
    .option('--from-file <[key=]path>', 'a key and the file holding its value (repeatable)', collect)
    .option('--remove <key>', 'remove a key (repeatable)', collect)
    .action(async (name: string, pairs: string[], o: { fromFile?: string[]; remove?: string[] }, cmd: Command) => {
      const cli = Cli.of(cmd);
      const values = readValues(pairs, o.fromFile ?? []);
      if (count(values) === 0 && !o.remove?.length) throw new CliError('usage: stratus secret set NAME KEY=VALUE... [--from-file KEY=PATH] [--remove KEY]', 2);
      const removed = Object.fromEntries((o.remove ?? []).map((k) => [k, null]));
      const spec = { data: { ...values.data, ...removed }, ...(Object.keys(values.binaryData).length ? { binaryData: values.binaryData } : {}) };
      const res = await cli.client.request<StoredObject<{ keys: Record<string, number> }>>('PATCH', cli.item(secretKind, name), { body: { spec }, contentType: 'application/merge-patch+json' });
      printLine(`secret/${name} updated (generation ${res.metadata.generation}; keys: ${Object.keys(res.spec.keys).join(', ') || 'none'})`);
    });

  secret.command('get <name>')
    .description('Show a secret\'s values (with --reveal; members and up; the read is audited).')
    .option('--reveal', 'print the values')
    .option('--key <key>', 'print only this key\'s value, as is (for scripts)')
    .option('-o, --output <format>', 'yaml or json (an object you can apply again)', 'yaml')
    .action(async (name: string, o: { reveal?: boolean; key?: string; output: string }, cmd: Command) => {
      const cli = Cli.of(cmd);
      if (!o.reveal) throw new CliError(`values are shown only with --reveal (the read is audited); \`stratus describe secret ${name}\` shows its keys`, 2);
      if (o.output !== 'yaml' && o.output !== 'json') throw new CliError(`-o ${o.output}: use yaml or json`, 2);
      const obj = await revealSecret<Partial<Values>>(cli.client, cli.project, checkName('secret', name));
      if (o.key !== undefined) return void process.stdout.write(valueOf(obj, o.key, name));
      const out = { kind: 'secret', metadata: { name: obj.metadata.name, ...(obj.metadata.labels ? { labels: obj.metadata.labels } : {}) }, spec: { ...(obj.spec.data ? { data: obj.spec.data } : {}), ...(obj.spec.binaryData ? { binaryData: obj.spec.binaryData } : {}) } };
      printLine(o.output === 'json' ? JSON.stringify(out, null, 2) : yaml().stringify(out).trimEnd());
    });

  secret.command('delete <names...>').description('Delete secrets (refused while an instance or service uses one).').action(async (names: string[], _o: unknown, cmd: Command) => {
    const cli = Cli.of(cmd);
    for (const n of names) {
      await cli.client.request('DELETE', cli.item(secretKind, n));
      printLine(`secret/${n} deleted`);
    }
  });

  const admin = program.commands.find((c) => c.name() === 'admin') ?? program.command('admin').description('Cluster administration.');
  admin.command('rotate-secret-key')
    .description('Rotate the key that encrypts secrets (cluster admins): a new key seals every value again, then the old key is dropped.')
    .action(async (_o: unknown, cmd: Command) => {
      const res = await rotateSecretKeys(Cli.of(cmd).client);
      printLine(`secret key rotated: ${res.active} is active; ${res.resealed} secrets sealed again; retired: ${res.retired.join(', ') || 'none'}`);
      if (res.kept.length) printLine(`still in use (run again to retire): ${res.kept.join(', ')}`);
    });
}

/** Values from KEY=VALUE pairs and [KEY=]PATH files: text goes under data, other bytes under binaryData. */
function readValues(literals: string[], files: string[]): Values {
  const out: Values = { data: {}, binaryData: {} };
  const put = (key: string, bytes: Buffer, flag: string) => {
    const bad = secretKeyProblem(key);
    if (bad) throw new CliError(`${flag}: ${bad}`, 2);
    if (key in out.data || key in out.binaryData) throw new CliError(`${flag}: key "${key}" is given twice`, 2);
    const text = bytes.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(bytes)) out.data[key] = text;
    else out.binaryData[key] = bytes.toString('base64');
  };
  for (const l of literals) {
    const [k, v] = pair(l, 'KEY=VALUE');
    put(k, Buffer.from(v, 'utf8'), 'KEY=VALUE');
  }
  for (const f of files) {
    const eq = f.indexOf('=');
    const [key, path] = eq > 0 ? [f.slice(0, eq), f.slice(eq + 1)] : [basename(f), f];
    put(key, readBytes(path), '--from-file');
  }
  return out;
}

function readBytes(path: string): Buffer {
  try {
    return readFileSync(path === '-' ? 0 : path);
  } catch (e) {
    throw new CliError(`--from-file: cannot read ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

/** "k=v" → [k, v]; the message never repeats the value. */
function pair(text: string, what: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new CliError(`${what}: expected KEY=VALUE, got an argument without "=" after a key`, 2);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

function specOf(v: Values) {
  return { ...(Object.keys(v.data).length ? { data: v.data } : {}), ...(Object.keys(v.binaryData).length ? { binaryData: v.binaryData } : {}) };
}

function count(v: Values): number {
  return Object.keys(v.data).length + Object.keys(v.binaryData).length;
}

function valueOf(obj: StoredObject<Partial<Values>>, key: string, name: string): Buffer {
  const text = obj.spec.data?.[key];
  if (text !== undefined) return Buffer.from(text, 'utf8');
  const b64 = obj.spec.binaryData?.[key];
  if (b64 !== undefined) return Buffer.from(b64, 'base64');
  throw new CliError(`secret "${name}" has no key "${key}"`);
}
