/**
 * What `stratus admin backup | restore | migrate` run (their flags: backup.ts). The file format,
 * its checks and the loading are store/backup.ts's; this file opens stores from URLs, writes a
 * backup file whole or not at all, and says what happened in a line or two.
 */
import { closeSync, createWriteStream, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { openBackend, type Backend } from '../../store/index.js';
import { BackupInvalid, TargetNotEmpty, backupOf, copyStore, loadBackup, verifyBackup, DEFAULT_REVISION_BUMP, type BackupSummary } from '../../store/backup.js';
import { privateDir } from '../../store/private.js';
import { SECRET_KEY_FILE } from '../../policy/secret-box.js';
import { storeOptions, storeUrlOf } from '../../server/main.js';
import { downloadBackup } from '../../client/routes.js';
import { VERSION } from '../../version.js';
import { ApiError, CliError, ConnectionError } from '../errors.js';
import { printLine } from '../output.js';
import type { Cli } from '../context.js';

type Opts = Record<string, string | number | undefined>;

/** `admin backup --out FILE [--store URL]`: through the API of the current context, or from a store. */
export async function backup(cli: Cli, opts: Opts): Promise<void> {
  checkEtcdFlags(opts, [opts.store]);
  const out = resolve(String(opts.out));
  const store = opts.store === undefined ? undefined : String(opts.store);
  const summary = await writeWhole(out, store ? `the backup of ${store}` : `the backup from ${cli.client.server}`, async (tmp) => {
    if (!store) {
      return downloadBackup(cli.client, tmp).catch((e: Error) => {
        if (e instanceof ApiError || e instanceof ConnectionError) throw e;
        throw new CliError(`no backup written: the download from ${cli.client.server} broke off (${e.message})`);
      });
    }
    const source = await openStore(store, '--store', opts, true);
    try {
      const { chunks } = await backupOf(source, { createdAt: new Date().toISOString(), serverVersion: VERSION });
      await pipeline(Readable.from(chunks), createWriteStream(tmp));
    } finally {
      await source.close();
    }
  });
  printLine(`backup of revision ${summary.header.revision}: ${summary.keys} keys, ${statSync(out).size} bytes -> ${String(opts.out)}`);
}

/** `admin restore FILE (--data-dir DIR | --store URL)`: the file is checked whole before the target is opened. */
export async function restore(file: string, opts: Opts): Promise<void> {
  const dataDir = opts.dataDir === undefined ? undefined : resolve(String(opts.dataDir));
  if ((dataDir === undefined) === (opts.store === undefined)) throw new CliError('restore into one of --data-dir DIR (a server\'s data dir) or --store URL', 2);
  checkEtcdFlags(opts, [opts.store]);
  const url = dataDir ? storeUrlOf({ dataDir }) : String(opts.store);
  const where = dataDir ? join(dataDir, 'stratus.db') : url;
  const summary = await verifyBackup(file).catch(refused('not restored', where));
  if (dataDir) privateDir(dataDir);
  const target = await openStore(url, dataDir ? '--data-dir' : '--store', opts, false, 'not restored');
  let loaded;
  try {
    loaded = await loadBackup(file, summary, target, bumpOf(opts)).catch(refused('not restored', where));
  } finally {
    await target.close();
  }
  printLine(`restored revision ${loaded.revision} (a backup of a ${summary.header.backend} store, taken ${summary.header.createdAt}): ${loaded.keys} keys into ${where}; the store's revision is now ${loaded.storeRevision}`);
  for (const line of afterRestore(dataDir)) printLine(line);
}

/** `admin migrate --from URL --to URL`: one store's keys (at one revision) into another, empty one. */
export async function migrate(opts: Opts): Promise<void> {
  const from = String(opts.from);
  const to = String(opts.to);
  if (from === to) throw new CliError('--from and --to name the same store', 2);
  checkEtcdFlags(opts, [from, to]);
  const source = await openStore(from, '--from', opts, true);
  let loaded;
  try {
    const target = await openStore(to, '--to', opts, false);
    try {
      loaded = await copyStore(source, target, bumpOf(opts)).catch(refused('not migrated', to));
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
  printLine(`migrated revision ${loaded.revision}: ${loaded.keys} keys from ${from} to ${to}; the store's revision is now ${loaded.storeRevision}`);
  printLine(`Servers on ${to} need the secret key file (${SECRET_KEY_FILE}) of the servers of ${from}, and its image contents (blobs/): copy them into their data dirs before starting them.`);
}

/** What a restore does not bring back: the secret key file and the image contents, kept beside the store. */
function afterRestore(dataDir: string | undefined): string[] {
  const blobs = 'Image contents are not in a backup either: copy the blobs/ folder of the old data dir';
  if (!dataDir) {
    return [
      `Secret values are sealed with the secret key file of the cloud the backup was taken from (${SECRET_KEY_FILE} in its data dir), which a backup does not hold: copy it into the data dir of every server that will use this store before starting it.`,
      `${blobs} into theirs.`,
    ];
  }
  const keyFile = join(dataDir, SECRET_KEY_FILE);
  return [
    existsSync(keyFile)
      ? `${keyFile} exists: it must be the secret key file of the cloud the backup was taken from (a server refuses to start with another).`
      : `Secret values are sealed with the secret key file of the cloud the backup was taken from (${SECRET_KEY_FILE} in its data dir), which a backup does not hold: copy it to ${keyFile} (mode 0600) before starting the server (with another key file, or none, it refuses to start or cannot read them).`,
    `${blobs} into ${dataDir}. Then: stratus server --data-dir ${dataDir}`,
  ];
}

/**
 * Writes `out` through a temporary file beside it (mode 0600), checked whole (`name` in the
 * messages) and renamed into place: a backup that breaks off, fails its checks or is interrupted
 * leaves no `out` (and no temporary file).
 */
async function writeWhole(out: string, name: string, write: (tmp: string) => Promise<void>): Promise<BackupSummary> {
  if (existsSync(out) && statSync(out).isDirectory()) throw new CliError(`--out ${out} is a directory; give a file name`, 2);
  const tmp = join(dirname(out), `.${basename(out)}.partial-${process.pid}`);
  try {
    closeSync(openSync(tmp, 'wx', 0o600));
  } catch (e) {
    throw new CliError(`--out ${out}: cannot write there (${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (e as Error).message})`);
  }
  const interrupted = (signal: NodeJS.Signals) => {
    rmSync(tmp, { force: true });
    process.stderr.write(`${signal}: backup stopped; ${out} was not written\n`);
    process.exit(130);
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    await write(tmp);
    const summary = await verifyBackup(tmp, name);
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, out);
    return summary;
  } catch (e) {
    rmSync(tmp, { force: true });
    return refused('no backup written', out)(e);
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
  }
}

/** Turns a refused backup file or a target with keys into one line starting with `what`; other errors pass. */
function refused(what: string, target: string): (e: unknown) => never {
  return (e) => {
    if (e instanceof BackupInvalid) throw new CliError(`${what}: ${e.message}`);
    if (e instanceof TargetNotEmpty) throw new CliError(`${what}: ${target} is not empty: ${e.message}`);
    throw e;
  };
}

/**
 * Opens the store at `spec` (a `flag`'s value); `mustExist`: a sqlite file that is not there is an
 * error, not a new store. A store that does not open is one line starting with `label`.
 */
async function openStore(spec: string, flag: string, opts: Opts, mustExist: boolean, label = `${flag} ${spec}`): Promise<Backend> {
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new CliError(`${flag} ${JSON.stringify(spec)} is not a store URL (use sqlite:///path/to/stratus.db or etcd://host:2379,...)`, 2);
  }
  if (url.protocol === 'memory:') throw new CliError(`${flag} ${JSON.stringify(spec)}: a memory store lives only inside the process that made it; give a sqlite:// or etcd:// URL`, 2);
  if (mustExist && url.protocol === 'sqlite:' && !existsSync(decodeURIComponent(url.pathname))) {
    throw new CliError(`${flag}: there is no Stratus store at ${decodeURIComponent(url.pathname)}`);
  }
  const etcd = { cacert: opts.etcdCacert as string | undefined, cert: opts.etcdCert as string | undefined, key: opts.etcdKey as string | undefined };
  try {
    return await openBackend(spec, storeOptions(spec, { etcd }));
  } catch (e) {
    throw new CliError(`${label}: ${(e as Error).message}`);
  }
}

function bumpOf(opts: Opts): number {
  return opts.bumpRevision === undefined ? DEFAULT_REVISION_BUMP : Number(opts.bumpRevision);
}

/** --etcd-* flags go with an etcd URL, and --etcd-cert with --etcd-key. */
function checkEtcdFlags(opts: Opts, urls: (string | number | undefined)[]): void {
  if (Boolean(opts.etcdCert) !== Boolean(opts.etcdKey)) throw new CliError('--etcd-cert and --etcd-key go together', 2);
  if ((opts.etcdCacert || opts.etcdCert) && !urls.some((u) => /^etcds?:/.test(String(u ?? '')))) {
    throw new CliError('--etcd-cacert/--etcd-cert/--etcd-key need an etcd:// store URL', 2);
  }
}
