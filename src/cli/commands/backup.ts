/**
 * Backups of the whole cloud, and moving it from one store to another:
 *
 *   stratus admin backup --out FILE [--store URL]            through the API (cluster admins), or a stopped cloud's store
 *   stratus admin restore FILE (--data-dir DIR | --store URL)  into an empty store, no server running on it
 *   stratus admin migrate --from URL --to URL                a store copied into another, empty one
 *
 * The flags only; what they run (backup-run.ts, with the store) loads only when it runs.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { Cli } from '../context.js';

export function registerBackup(program: Command): void {
  const admin = program.commands.find((c) => c.name() === 'admin') ?? program.command('admin').description('Cluster administration.');
  etcdOptions(admin.command('backup')
    .description('Write a backup of the whole store, at one revision, into a file (cluster admins; the cloud keeps running). Keys bound to leases (leader, heartbeats) are left out.')
    .requiredOption('--out <file>', 'where to write it (mode 0600; a backup that breaks off leaves no file)')
    .option('--store <url>', 'back up this store directly instead of through the API: a stopped cloud\'s (sqlite:///DIR/stratus.db is refused while a server holds it)'))
    .action(async (opts: Record<string, string | undefined>, cmd: Command) => (await import('./backup-run.js')).backup(Cli.of(cmd), opts));
  etcdOptions(bumpOption(admin.command('restore <file>')
    .description('Load a backup into an empty store, with no server running on it; then start a server on it (the secret key file is not in a backup: copy it).')
    .option('--data-dir <dir>', 'the data dir of the server to start on it (its store: DIR/stratus.db)')
    .option('--store <url>', 'the store to load, e.g. etcd://h1:2379,h2:2379,h3:2379')))
    .action(async (file: string, opts: Record<string, string | number | undefined>) => (await import('./backup-run.js')).restore(file, opts));
  etcdOptions(bumpOption(admin.command('migrate')
    .description('Copy every key of a store into another, empty one (e.g. a single server\'s sqlite to etcd), with the servers stopped.')
    .requiredOption('--from <url>', 'the store to copy, e.g. sqlite:///var/lib/stratus/stratus.db')
    .requiredOption('--to <url>', 'the empty store to copy it into, e.g. etcd://h1:2379,h2:2379,h3:2379')))
    .action(async (opts: Record<string, string | number | undefined>) => (await import('./backup-run.js')).migrate(opts));
}

function etcdOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--etcd-cacert <file>', 'etcd: the CA certificate its servers present (TLS)').env('STRATUS_ETCD_CACERT'))
    .addOption(new Option('--etcd-cert <file>', 'etcd: a client certificate (with --etcd-key)').env('STRATUS_ETCD_CERT'))
    .addOption(new Option('--etcd-key <file>', 'etcd: the private key of --etcd-cert').env('STRATUS_ETCD_KEY'));
}

function bumpOption(cmd: Command): Command {
  // its default (store/backup.ts DEFAULT_REVISION_BUMP) is applied where the store loads: not here, where every command starts
  return cmd.addOption(new Option('--bump-revision <n>', 'start the loaded store\'s revision this far past the backup\'s, so that every watch of the old cloud starts over (default 1000000000; 0: the backup\'s own)')
    .argParser(wholeNumber));
}

function wholeNumber(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`"${v}" is not a whole number ≥ 0`);
  return n;
}
