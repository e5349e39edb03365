/**
 * Images for the container driver: a root filesystem, imported from a directory or a tar archive
 * into a content directory of the image store, and a builder for a tiny busybox image.
 *
 *   <root>/names/<name>.json   { name, content, importedAt, source, config }
 *   <root>/content/<id>/       the root filesystem (lower layer of each container's overlay)
 */
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, open, readFile, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { readJson, writeJsonAtomic } from './supervisor.js';

const run = promisify(execFile);

/** What an image says about running it (a tarball of a rootfs has no metadata, so this comes from the importer). */
export interface ImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: Record<string, string>;
  workdir?: string;
}

export interface ImageInfo {
  name: string;
  /** Absolute path of the root filesystem. */
  dir: string;
  importedAt: string;
  source: string;
  config: ImageConfig;
}

const NAME = /^[a-z0-9][a-z0-9._/-]{0,199}(:[A-Za-z0-9._-]{1,52})?$/;

export class ImageStore {
  constructor(readonly root: string) {}

  /**
   * Imports a root filesystem (a directory, or a tar archive — compressed ones too) under `name`,
   * replacing an earlier image of that name. Atomic: readers see the old or the new image.
   */
  async importImage(name: string, source: string, config: ImageConfig = {}): Promise<ImageInfo> {
    if (!NAME.test(name)) throw new Error(`image name "${name}" must match ${NAME.source} (e.g. "busybox" or "tools/web:1.2")`);
    const st = await stat(source).catch(() => undefined);
    if (!st) throw new Error(`image source ${source} does not exist; pass a directory or a tar archive`);
    const id = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    const tmp = join(this.root, 'tmp', id);
    await mkdir(tmp, { recursive: true });
    try {
      if (st.isDirectory()) await run('cp', ['-a', '--', `${source}/.`, tmp]);
      else await run('tar', ['-xf', source, '-C', tmp, '--numeric-owner', '--delay-directory-restore']);
      const content = join(this.root, 'content', id);
      await mkdir(join(this.root, 'content'), { recursive: true });
      await rename(tmp, content);
      const previous = await this.resolve(name);
      const info: ImageInfo = { name, dir: content, importedAt: new Date().toISOString(), source, config };
      await mkdir(join(this.root, 'names'), { recursive: true });
      await writeJsonAtomic(this.nameFile(name), info);
      if (previous && previous.dir !== content) await this.removeContentIfUnused(previous.dir);
      return info;
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      const err = e as Error & { stderr?: string };
      throw new Error(`cannot import image ${name} from ${source}: ${err.stderr?.trim() || err.message}`);
    }
  }

  async resolve(name: string): Promise<ImageInfo | undefined> {
    if (!NAME.test(name)) return undefined;
    return readJson<ImageInfo>(this.nameFile(name));
  }

  async list(): Promise<ImageInfo[]> {
    const files = await readdir(join(this.root, 'names')).catch(() => [] as string[]);
    const infos = await Promise.all(files.filter((f) => f.endsWith('.json')).map((f) => readJson<ImageInfo>(join(this.root, 'names', f))));
    return infos.filter((i): i is ImageInfo => i !== undefined);
  }

  /** Forgets `name` and deletes its content unless a running container's overlay still uses it. */
  async removeImage(name: string): Promise<void> {
    const info = await this.resolve(name);
    if (!info) return;
    await rm(this.nameFile(name), { force: true });
    await this.removeContentIfUnused(info.dir);
  }

  private nameFile(name: string): string {
    return join(this.root, 'names', `${encodeURIComponent(name)}.json`);
  }

  private async removeContentIfUnused(dir: string): Promise<void> {
    const mounts = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
    const shifted = join(this.root, 'shifted');
    // Copies of this content with ids moved into a project's range (idshift.ts), one per range.
    const copies = (await readdir(shifted).catch(() => [] as string[])).filter((n) => n.startsWith(`${basename(dir)}@`)).map((n) => join(shifted, n));
    for (const d of [dir, ...copies]) {
      if (mounts.includes(`lowerdir=${d},`)) continue; // still the lower layer of a container; left for a later removal
      await rm(d, { recursive: true, force: true });
    }
  }
}

/** True when `file` is an ELF executable without an interpreter (statically linked). */
export async function isStaticElf(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(64);
    await fh.read(head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46) return false;
    const is64 = head[4] === 2;
    const le = head[5] === 1;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const phoff = is64 ? Number(le ? head.readBigUInt64LE(0x20) : head.readBigUInt64BE(0x20)) : u32(head, 0x1c);
    const phentsize = u16(head, is64 ? 0x36 : 0x2a);
    const phnum = u16(head, is64 ? 0x38 : 0x2c);
    const table = Buffer.alloc(phentsize * phnum);
    await fh.read(table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) if (u32(table, i * phentsize) === 3 /* PT_INTERP */) return false;
    return true;
  } finally {
    await fh.close();
  }
}

const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];

/**
 * Builds a minimal root filesystem in `dir`: a statically linked busybox (Debian's busybox-static,
 * see scripts/install-deps.sh) with a symlink per applet (sh, httpd, sleep, ...), /etc/passwd and
 * the usual empty mountpoints. Returns the applets linked.
 */
export async function buildBusyboxRootfs(dir: string, options: { busybox?: string } = {}): Promise<{ dir: string; applets: string[] }> {
  let busybox = options.busybox;
  if (!busybox) {
    for (const c of BUSYBOX_CANDIDATES) if (await stat(c).then((s) => s.isFile(), () => false)) busybox = c;
  }
  if (!busybox) throw new Error(`busybox not found (looked at ${BUSYBOX_CANDIDATES.join(', ')}); install busybox-static (scripts/install-deps.sh)`);
  if (!(await isStaticElf(busybox))) throw new Error(`${busybox} is dynamically linked and would not run in an empty rootfs; install busybox-static`);
  const { stdout } = await run(busybox, ['--list']);
  const applets = stdout.split('\n').map((s) => s.trim()).filter((s) => /^[a-z0-9_.[-]+$/.test(s) && s !== 'busybox');
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'home', 'var/www', 'var/tmp']) {
    await mkdir(join(dir, d), { recursive: true });
  }
  await chmod(join(dir, 'tmp'), 0o1777);
  await copyFile(busybox, join(dir, 'bin/busybox'));
  await chmod(join(dir, 'bin/busybox'), 0o755);
  for (const a of applets) await symlink('busybox', join(dir, 'bin', a)).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  await writeFile(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  await writeFile(join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  return { dir, applets };
}
