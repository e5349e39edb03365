/** Commands about running workloads: logs, images. */
import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { closeSync, createReadStream, openSync, readdirSync, readSync, statSync, type Stats } from 'node:fs';
import { archiveProblem, ARCHIVE_HEAD_BYTES } from '../../model/image-archive.js';
import type { Readable } from 'node:stream';
import { Cli, checkName } from '../context.js';
import { imageKind } from '../../model/kinds/index.js';
import { streamLogs, uploadImage } from '../../client/routes.js';
import { ApiError, CliError } from '../errors.js';
import { printLine } from '../output.js';

export function registerWorkloads(program: Command): void {
  program
    .command('logs <instance>')
    .description('Print the output of an instance; -f keeps following it.')
    .option('-f, --follow', 'keep printing new output')
    .option('--tail <n>', 'start with the last N lines')
    .option('--stream <name>', 'stdout or stderr (default both)')
    .action(async (name: string, o: { follow?: boolean; tail?: string; stream?: string }, cmd: Command) => {
      const cli = Cli.of(cmd);
      if (o.tail !== undefined && !/^\d+$/.test(o.tail)) throw new CliError(`--tail ${o.tail}: not a number of lines`, 2);
      if (o.stream && o.stream !== 'stdout' && o.stream !== 'stderr') throw new CliError(`--stream ${o.stream}: use stdout or stderr`, 2);
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      const opts = { follow: o.follow, tail: o.tail === undefined ? undefined : Number(o.tail), stream: o.stream as 'stdout' | 'stderr' | undefined };
      await streamLogs(cli.client, cli.project, checkName('instance', name), opts, (chunk) => process.stdout.write(chunk), controller.signal);
    });

  const image = program.command('image').description('Images for container instances.');
  image.command('import <name> <path>')
    .description('Create or update an image from a root filesystem: a directory or a tar archive.')
    .option('--entrypoint <args...>', 'program run when an instance gives no command')
    .option('--description <text>')
    .action(async (name: string, path: string, o: { entrypoint?: string[]; description?: string }, cmd: Command) => {
      const cli = Cli.of(cmd);
      checkName('image', name);
      const st = rootFilesystem(path);
      const images = cli.resources(imageKind);
      const spec = { ...(o.entrypoint ? { entrypoint: o.entrypoint } : {}), ...(o.description ? { description: o.description } : {}) };
      try {
        await images.get(name);
        if (Object.keys(spec).length) await images.patch(name, { spec });
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 404)) throw e;
        await images.create({ metadata: { name }, spec });
      }
      const body: Readable = st.isDirectory() ? tarOf(path) : createReadStream(path);
      const { status } = await uploadImage(cli.client, cli.project, name, body);
      printLine(`image/${name} imported (${Math.ceil((status?.size ?? 0) / 1024)} KiB, ${(status?.digest ?? '').slice(0, 19)})`);
    });
}

/** Checks that `path` is a root filesystem (a directory, a tar or a tar.gz) before anything is created; its stat. */
function rootFilesystem(path: string): Stats {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw new CliError(`${path}: no such file or directory`);
  if (st.isDirectory()) {
    if (readdirSync(path).length === 0) throw new CliError(`${path}: the directory is empty; an image is a root filesystem (bin/, etc/, ...)`);
    return st;
  }
  if (!st.isFile()) throw new CliError(`${path}: not a directory or a file; an image is a root filesystem, as a directory or a tar archive`);
  const head = Buffer.alloc(ARCHIVE_HEAD_BYTES);
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const problem = archiveProblem(head.subarray(0, n));
  if (problem) throw new CliError(`${path} ${problem}`);
  return st;
}

/** A tar stream of a directory's contents. */
function tarOf(dir: string): Readable {
  const tar = spawn('tar', ['-C', dir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return tar.stdout;
}
