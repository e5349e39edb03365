/** Commands about running workloads: logs, images (root filesystems and disks). */
import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { closeSync, createReadStream, openSync, readdirSync, readSync, statSync, type Stats } from 'node:fs';
import { archiveProblem, ARCHIVE_HEAD_BYTES } from '../../model/image-archive.js';
import { diskImageOf, rawLengthProblem, DISK_HEAD_BYTES } from '../../model/disk-image.js';
import { IMAGE_TYPES, type ImageSpec, type ImageType } from '../../model/kinds/image.js';
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

  const image = program.command('image').description('Images: root filesystems for containers, disks for virtual machines.');
  image.command('import <name> <path>')
    .description('Create or update an image: a root filesystem (a directory or a tar archive), or with --type disk a qcow2 or raw disk; PATH - reads stdin.')
    .option('--type <type>', 'rootfs (default for a new image) or disk')
    .option('--entrypoint <args...>', 'program run when an instance gives no command (rootfs)')
    .option('--description <text>')
    .action(async (name: string, path: string, o: { type?: string; entrypoint?: string[]; description?: string }, cmd: Command) => {
      const cli = Cli.of(cmd);
      checkName('image', name);
      if (o.type !== undefined && !(IMAGE_TYPES as readonly string[]).includes(o.type)) throw new CliError(`--type ${o.type}: use ${IMAGE_TYPES.join(' or ')}`, 2);
      if (o.type === 'disk' && o.entrypoint) throw new CliError('--entrypoint: a disk image boots its own system; leave it out with --type disk', 2);
      const st = path === '-' ? undefined : o.type === 'disk' ? diskFile(path) : rootFilesystem(path);
      const spec = { ...(o.type ? { type: o.type as ImageType } : {}), ...(o.entrypoint ? { entrypoint: o.entrypoint } : {}), ...(o.description ? { description: o.description } : {}) };
      await ensureImage(cli, name, spec);
      const body: Readable = path === '-' ? process.stdin : st!.isDirectory() ? tarOf(path) : createReadStream(path);
      const { status } = await uploadImage(cli.client, cli.project, name, body);
      const disk = status?.format ? `, ${status.format}, virtual size ${formatBytes(status.virtualSize ?? 0)}` : '';
      printLine(`image/${name} imported (${Math.ceil((status?.size ?? 0) / 1024)} KiB${disk}, ${(status?.digest ?? '').slice(0, 19)})`);
    });
}

/** Creates the image, or changes the spec fields given of the one there (its type is fixed: the API names spec.type). */
async function ensureImage(cli: Cli, name: string, spec: ImageSpec): Promise<void> {
  const images = cli.resources(imageKind);
  try {
    await images.get(name);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
    await images.create({ metadata: { name }, spec });
    return;
  }
  if (Object.keys(spec).length) await images.patch(name, { spec });
}

/** A virtual size: "512 KiB", "1.5 MiB", "2.0 GiB". */
function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${Math.ceil(n / 1024)} KiB`;
}

/** The first `bytes` of a file. */
function headOf(path: string, bytes: number): Buffer {
  const head = Buffer.alloc(bytes);
  const fd = openSync(path, 'r');
  try {
    return head.subarray(0, readSync(fd, head, 0, head.length, 0));
  } finally {
    closeSync(fd);
  }
}

/** Checks that `path` is a qcow2 or raw disk image (model/disk-image.ts) before anything is created; its stat. */
function diskFile(path: string): Stats {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw new CliError(`${path}: no such file or directory`);
  if (!st.isFile()) throw new CliError(`${path}: not a file; a disk image is a qcow2 or raw file`);
  const head = diskImageOf(headOf(path, DISK_HEAD_BYTES));
  const problem = 'problem' in head ? head.problem : head.format === 'raw' ? rawLengthProblem(st.size) : undefined;
  if (problem) throw new CliError(`${path} ${problem}`);
  return st;
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
  const head = headOf(path, ARCHIVE_HEAD_BYTES);
  const problem = archiveProblem(head);
  if (!problem) return st;
  const disk = diskImageOf(head);
  throw new CliError(`${path} ${problem}${'format' in disk && disk.format === 'qcow2' ? '; it is a qcow2 disk image: add --type disk' : ''}`);
}

/** A tar stream of a directory's contents. */
function tarOf(dir: string): Readable {
  const tar = spawn('tar', ['-C', dir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return tar.stdout;
}
