/**
 * `stratus cp SRC DEST`: copies files and directories between this machine and an instance, one
 * side written INSTANCE:PATH. Tar over exec (the instance's own `tar` and `sh`, as kubectl cp):
 *
 *   up    local ─pack (tar.ts)─▶ exec -i: tar -xf - -C DIR        (DIR: DEST if it is a directory
 *                                                                  there, else DEST's parent)
 *   down  exec: tar -cf - -C PARENT NAME ─▶ unpack (tar.ts) into DEST (or DEST's parent, renamed)
 *
 * Like cp: into DEST when it is an existing directory, else as DEST.
 */
import type { Command } from 'commander';
import { statSync } from 'node:fs';
import { basename, dirname, posix } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { Cli } from '../context.js';
import { CliError } from '../errors.js';
import { exitCodeOf, runRemote } from './exec.js';
import type { unpack as Unpack } from '../tar.js';

/** `name:path` with a DNS-label instance name; a local path otherwise (./a:b and /a:b are local). */
export function parseSpec(arg: string): { instance?: string; path: string } {
  const m = /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?):(.+)$/.exec(arg);
  return m ? { instance: m[1]!, path: m[3]! } : { path: arg };
}

export function registerCp(program: Command): void {
  program
    .command('cp <src> <dest>')
    .description('Copy files and directories to or from an instance: stratus cp ./site web-1:/work/www, stratus cp web-1:/work/out.log .')
    .action(async (srcArg: string, destArg: string, _o: unknown, cmd: Command) => {
      const cli = Cli.of(cmd);
      const [src, dest] = [parseSpec(srcArg), parseSpec(destArg)];
      if (src.instance && dest.instance) throw new CliError('cp copies between this machine and an instance: one of SRC and DEST must be a local path', 2);
      if (!src.instance && !dest.instance) throw new CliError('cp needs INSTANCE:PATH on one side (e.g. web-1:/work/file)', 2);
      process.exitCode = dest.instance ? await upload(cli, src.path, dest.instance, dest.path) : await download(cli, src.instance!, src.path, dest.path);
    });
}

const warn = (msg: string) => process.stderr.write(`warning: ${msg}\n`);

async function upload(cli: Cli, local: string, instance: string, remote: string): Promise<number> {
  if (!statSync(local, { throwIfNoEntry: false })) throw new CliError(`${local}: no such file or directory`);
  const isDir = await remoteIsDir(cli, instance, remote);
  const dir = isDir ? remote : posix.dirname(remote);
  const top = isDir ? basename(local.replace(/\/+$/, '')) : posix.basename(remote);
  if (!top || top === '..' || top === '.') throw new CliError(`${local} -> ${remote}: cannot tell which name to give the copy; name the destination`, 2);
  const { pack } = await import('../tar.js');
  const status = await runRemote(cli, instance, ['tar', '-xf', '-', '-C', dir], { stdin: pack(local, top, warn), stdout: process.stdout, stderr: process.stderr });
  if (status.error) throw new CliError(status.error.message);
  return exitCodeOf(status);
}

async function download(cli: Cli, instance: string, remote: string, local: string): Promise<number> {
  const name = posix.basename(remote.replace(/\/+$/, ''));
  if (!name || name === '..' || name === '.') throw new CliError(`${instance}:${remote}: name a file or directory to copy`, 2);
  const st = statSync(local, { throwIfNoEntry: false });
  const [root, top] = st?.isDirectory() ? [local, name] : [dirname(local), basename(local)];
  if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) throw new CliError(`${root}: no such directory`);
  const { sink, unpacked } = unpackSink(await import('../tar.js'), root, top);
  const status = await runRemote(cli, instance, ['tar', '-cf', '-', '-C', posix.dirname(remote), name], { stdout: sink, stderr: process.stderr });
  sink.end();
  await finished(sink);
  const written = await unpacked.catch((e: Error) => {
    throw new CliError(`copying ${instance}:${remote}: ${e.message}`);
  });
  if (status.error) throw new CliError(status.error.message);
  const code = exitCodeOf(status);
  if (code === 0 && written === 0) throw new CliError(`${instance}:${remote}: nothing was copied`);
  return code;
}

/**
 * A writable that feeds `unpack`; once unpacking failed it takes everything without keeping it,
 * so the remote side can finish (the failure is reported from `unpacked`).
 */
function unpackSink({ unpack }: { unpack: typeof Unpack }, root: string, top: string): { sink: Writable; unpacked: Promise<number> } {
  const tar = new PassThrough();
  let failed = false;
  let waiting: (() => void) | undefined;
  const unpacked = unpack(tar, root, top, warn);
  unpacked.catch(() => {
    failed = true;
    waiting?.();
  });
  const sink = new Writable({
    write: (chunk: Buffer, _enc, done) => {
      if (failed || tar.write(chunk)) return done();
      waiting = () => {
        waiting = undefined;
        done();
      };
      tar.once('drain', () => waiting?.());
    },
    final: (done) => {
      tar.end();
      done();
    },
  });
  return { sink, unpacked };
}

/** Whether `path` is a directory in the instance (one exec of its sh). */
async function remoteIsDir(cli: Cli, instance: string, path: string): Promise<boolean> {
  let out = '';
  const stdout = new Writable({ write: (chunk: Buffer, _e, done) => void ((out += chunk.toString()), done()) });
  const status = await runRemote(cli, instance, ['sh', '-c', 'if [ -d "$1" ]; then echo dir; fi', 'sh', path], { stdout, stderr: process.stderr });
  if (status.error) throw new CliError(status.error.message);
  if (status.exitCode !== 0) throw new CliError(`cannot look at ${instance}:${path} (sh exited with ${exitCodeOf(status)}): cp needs sh and tar in the instance`);
  return out.trim() === 'dir';
}
