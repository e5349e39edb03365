/**
 * The host commands behind a node's volumes (volumes.ts): sparse files, ext4, loop devices,
 * mounts, online growth and frozen copies. Argument arrays only, never a shell string; each
 * resolves when the command succeeded and throws an Error naming the command and its stderr.
 */
import { open, readFile, rm, stat } from 'node:fs/promises';
import { runCollect, DEFAULT_PATH } from '../drivers/commands.js';

const ENV = { PATH: DEFAULT_PATH, LC_ALL: 'C' };
/** Long enough for mkfs and resize2fs of a large, sparse file; a hung mount is not waited on forever. */
const TIMEOUT_MS = 120_000;

/** Runs argv; resolves with its stdout, throws with its stderr when it exits non-zero. */
export async function host(argv: string[]): Promise<string> {
  const r = await runCollect(argv, { env: ENV }, { timeoutMs: TIMEOUT_MS });
  if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${(r.stderr || r.stdout).trim() || `exit ${r.code ?? r.signal}`}`);
  return r.stdout;
}

/** Makes `file` `mib` MiB long without writing data (sparse); never shortens it. */
export async function growFile(file: string, mib: number): Promise<void> {
  const fh = await open(file, 'a', 0o600);
  try {
    const { size } = await fh.stat();
    if (size < mib * 1024 * 1024) await fh.truncate(mib * 1024 * 1024);
  } finally {
    await fh.close();
  }
}

/** A new sparse ext4 image of `mib` MiB whose root directory belongs to `owner`; nothing is left when it fails. */
export async function makeExt4(file: string, mib: number, owner: { uid: number; gid: number }): Promise<void> {
  try {
    await growFile(file, mib);
    await host(['mkfs.ext4', '-F', '-q', '-m', '0', '-E', `root_owner=${owner.uid}:${owner.gid},lazy_itable_init=1`, file]);
  } catch (e) {
    await rm(file, { force: true });
    throw e;
  }
}

/** Where `dir` is mounted from, per /proc/self/mountinfo (the source, e.g. /dev/loop3), or undefined. */
export async function mountSource(dir: string): Promise<string | undefined> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of info.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep > 4 && unescapeMount(f[4]!) === dir) return unescapeMount(f[sep + 2] ?? '');
  }
  return undefined;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Mounts the ext4 image `file` at `dir` (nosuid, nodev) through a loop device that reads and
 * writes its file with direct I/O (no second copy of the data in the node's page cache). The
 * loop device stays until `detachLoops(file)`; none is left when the mount fails.
 */
export async function mountImage(file: string, dir: string, readOnly: boolean): Promise<void> {
  const dev = await attachLoop(file, readOnly);
  try {
    await host(['mount', '-t', 'ext4', '-o', `nosuid,nodev,noatime${readOnly ? ',ro' : ''}`, dev, dir]);
  } catch (e) {
    await detachLoops(file);
    throw e;
  }
}

/** Unmounts `dir` if mounted (lazily when busy, so a stuck reader never keeps it). */
export async function unmount(dir: string): Promise<void> {
  if (!(await mountSource(dir))) return;
  try {
    await host(['umount', dir]);
  } catch {
    await host(['umount', '-l', dir]);
  }
}

/** The loop devices backed by `file` (`losetup -j`). */
export async function loopsOf(file: string): Promise<string[]> {
  const out = await host(['losetup', '-j', file, '-O', 'NAME', '-n']).catch(() => '');
  return out.split('\n').map((l) => l.trim()).filter(Boolean);
}

/** A loop device for `file` (an existing one when there is one), as its /dev path; direct I/O to the file where its filesystem allows. */
export async function attachLoop(file: string, readOnly: boolean): Promise<string> {
  const existing = await loopsOf(file);
  if (existing[0]) return existing[0];
  return (await host(['losetup', '--find', '--show', '--direct-io=on', ...(readOnly ? ['--read-only'] : []), file])).trim();
}

export async function detachLoops(file: string): Promise<void> {
  for (const dev of await loopsOf(file)) await host(['losetup', '-d', dev]).catch(() => undefined);
}

/**
 * Grows the filesystem of `file` to fill it: online (resize2fs on the mounted loop device, after
 * the loop device has read the new size) when `loop` is given, else offline (e2fsck first).
 * Online growth needs the kernel's resize ioctl (CAP_SYS_RESOURCE; some containers refuse it):
 * resolves false when it was refused, and the filesystem grows offline at its next mount.
 */
export async function growExt4(file: string, loop: string | undefined): Promise<boolean> {
  if (loop) {
    await host(['losetup', '-c', loop]);
    return host(['resize2fs', loop]).then(() => true, () => false);
  }
  // e2fsck exits 1 when it fixed something, which is fine before a resize
  const fsck = await runCollect(['e2fsck', '-f', '-p', file], { env: ENV }, { timeoutMs: TIMEOUT_MS });
  if (fsck.code !== 0 && fsck.code !== 1) throw new Error(`e2fsck -f -p ${file}: ${fsck.stderr.trim() || `exit ${fsck.code ?? fsck.signal}`}`);
  await host(['resize2fs', file]);
  return true;
}

/** Whether the ext4 filesystem in `file` is smaller than the file (grown while mounted, online growth refused). */
export async function ext4Smaller(file: string): Promise<boolean> {
  const out = await host(['dumpe2fs', '-h', file]);
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(out)?.[1] ?? NaN);
  const bytes = field('Block count') * field('Block size');
  const { size } = await stat(file);
  return bytes + field('Block size') * 8 * field('Block size') <= size; // short by more than one block group
}

/**
 * Copies `from` to `to` keeping holes (a sparse copy; a reflink where the filesystem has them).
 * `freeze`: a mountpoint frozen for the copy, so a mounted filesystem is copied consistent.
 * Nothing is left at `to` when it fails.
 */
export async function copyImage(from: string, to: string, freeze?: string): Promise<void> {
  const tmp = `${to}.partial`;
  if (freeze) await host(['fsfreeze', '-f', freeze]);
  try {
    await host(['cp', '--sparse=always', '--reflink=auto', from, tmp]);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  } finally {
    if (freeze) await host(['fsfreeze', '-u', freeze]);
  }
  await host(['mv', '-f', tmp, to]);
}
