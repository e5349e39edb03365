/**
 * A node's VM disks: the disk-image cache and each VM instance's root disk.
 *
 *   <dataDir>/disk-images/<sha256 hex>.<qcow2|raw>   an image's content, downloaded once per digest,
 *                                                    verified (digest, and qemu-img info: the format
 *                                                    the server found, no backing or data file)
 *   <dataDir>/vm-disks/<instance uid>/root.qcow2     the instance's root disk: a qcow2 overlay on the
 *                                                    cached image, as big as resources.disk (at least
 *                                                    the image's virtual size)
 *
 * The root disk lives as long as the instance is on this node: kept across stops, restarts of its
 * run and of the agent; removed (release) when the instance is deleted or leaves the node, and by
 * sweep() after a restart for instances no longer here. A cached image no root disk uses is
 * removed by release and sweep once it was last used (downloaded, or a root disk made on it) more
 * than `keepUnusedMs` ago: the next VM of the same image within that time needs no download. Nothing half-made is left:
 * files are written under a temporary name and renamed into place, and removed when a step fails.
 * Every host command is an argument array, and every format is given explicitly (-f, -F): a format
 * is never probed from content a member controls.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { DiskFormat } from '../../model/kinds/image.js';
import type { TaskDisk } from '../drivers/index.js';

const run = promisify(execFile);

/** Runs qemu-img with `args`; its stdout. Injected by tests. */
export type QemuImg = (args: string[]) => Promise<string>;

/** qemu-img from PATH, with a timeout (a hostile image must not hang the agent). */
export const systemQemuImg: QemuImg = async (args) => {
  try {
    return (await run('qemu-img', args, { timeout: 120_000, maxBuffer: 4 * 1024 * 1024 })).stdout;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error('qemu-img not found on this node: install qemu-utils (scripts/install-deps.sh)');
    throw new Error(`qemu-img ${args[0]}: ${(err.stderr ?? err.message).trim().split('\n').at(-1)}`);
  }
};

/** An image's content as the server described it. */
export interface DiskImageRef {
  /** "sha256:<hex>". */
  digest: string;
  format: DiskFormat;
  /** Bytes; the root disk is at least this big. */
  virtualSize: number;
  /** For messages: "team-a/debian". */
  name: string;
}

/** In an instance's folder: the file name of the cached image its root disk is an overlay on. */
const BASE_FILE = 'base';
const UID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const DIGEST_RE = /^sha256:([0-9a-f]{64})$/;

export class VmDisks {
  private readonly images: string;
  private readonly roots: string;
  private readonly qemuImg: QemuImg;
  private readonly downloads = new Map<string, Promise<string>>();
  /** Root disks being made and prunes run one at a time: a prune never takes a base a new root disk is about to use. */
  private lock: Promise<unknown> = Promise.resolve();

  constructor(dataDir: string, qemuImg: QemuImg = systemQemuImg, private readonly keepUnusedMs = 3_600_000, private readonly now = () => Date.now()) {
    this.images = join(dataDir, 'disk-images');
    this.roots = join(dataDir, 'vm-disks');
    this.qemuImg = qemuImg;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  /** The instance's root disk, made on first use: an overlay on `image` of `sizeBytes` (at least the image's size). */
  async rootDisk(uid: string, image: DiskImageRef, sizeBytes: number, download: (file: string) => Promise<void>): Promise<TaskDisk> {
    const dir = this.instanceDir(uid);
    const path = join(dir, 'root.qcow2');
    if (await exists(path)) return { path, format: 'qcow2', readOnly: false };
    const base = await this.cached(image, download);
    return this.serial(() => this.overlay(dir, path, base, image, sizeBytes));
  }

  private async overlay(dir: string, path: string, base: string, image: DiskImageRef, sizeBytes: number): Promise<TaskDisk> {
    if (!(await exists(base))) throw new Error(`image ${image.name}: its cached copy went away; it is fetched again on the next try`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.tmp`;
    try {
      const size = Math.max(sizeBytes, image.virtualSize);
      await this.qemuImg(['create', '-q', '-f', 'qcow2', '-F', image.format, '-b', base, tmp, String(size)]);
      await chmod(tmp, 0o600);
      await writeFile(join(dir, BASE_FILE), basename(base));
      await rename(tmp, path);
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`root disk of image ${image.name}: ${(e as Error).message}`);
    }
    return { path, format: 'qcow2', readOnly: false };
  }

  /** Removes the instance's disks on this node, then cached images left unused. Idempotent. */
  async release(uid: string): Promise<void> {
    if (!UID_RE.test(uid)) return;
    await rm(join(this.roots, uid), { recursive: true, force: true });
    await this.prune();
  }

  /** Removes the disks of every instance but `keep` (after a restart: those no longer here), then cached images left unused. Returns the uids removed. */
  async sweep(keep: ReadonlySet<string>): Promise<string[]> {
    const names = await readdir(this.roots).catch(() => [] as string[]);
    const gone = names.filter((n) => !keep.has(n));
    for (const uid of gone) await rm(join(this.roots, uid), { recursive: true, force: true });
    await this.prune();
    return gone;
  }

  /** Removes cached images that no root disk uses and that were last used more than keepUnusedMs ago. Returns their file names. */
  prune(): Promise<string[]> {
    return this.serial(async () => {
      const used = new Set<string>();
      for (const uid of await this.instances()) {
        const base = await readFile(join(this.roots, uid, BASE_FILE), 'utf8').catch(() => undefined);
        if (base) used.add(base);
      }
      const removed: string[] = [];
      for (const name of await readdir(this.images).catch(() => [] as string[])) {
        if (used.has(name) || name.endsWith('.tmp')) continue;
        const st = await stat(join(this.images, name)).catch(() => undefined);
        if (!st || this.now() - st.mtimeMs < this.keepUnusedMs) continue;
        await rm(join(this.images, name), { force: true });
        removed.push(name);
      }
      return removed;
    });
  }

  /** Uids that have a root disk here. */
  async instances(): Promise<string[]> {
    return readdir(this.roots).catch(() => [] as string[]);
  }

  private instanceDir(uid: string): string {
    if (!UID_RE.test(uid)) throw new Error(`instance uid ${JSON.stringify(uid)} is not a plain name`);
    return join(this.roots, uid);
  }

  /** The cached content of `image`, downloaded and verified once per digest (concurrent callers share it). */
  private async cached(image: DiskImageRef, download: (file: string) => Promise<void>): Promise<string> {
    const hex = DIGEST_RE.exec(image.digest)?.[1];
    if (!hex) throw new Error(`image ${image.name} has no content digest`);
    const path = join(this.images, `${hex}.${image.format}`);
    const now = new Date(this.now());
    // used now: its time is when it was last used, which prune() reads
    if (await utimes(path, now, now).then(() => true, () => false)) return path;
    let pending = this.downloads.get(path);
    if (!pending) {
      pending = this.fetch(image, hex, path, download).finally(() => this.downloads.delete(path));
      this.downloads.set(path, pending);
    }
    return pending;
  }

  private async fetch(image: DiskImageRef, hex: string, path: string, download: (file: string) => Promise<void>): Promise<string> {
    await mkdir(this.images, { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
    try {
      await download(tmp);
      const got = await sha256(tmp);
      if (got !== hex) throw new Error(`image ${image.name}: the download's digest is sha256:${got}, not ${image.digest} (re-imported meanwhile? it is tried again)`);
      await this.verify(image, tmp);
      await chmod(tmp, 0o400);
      await rename(tmp, path);
      return path;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** qemu-img's view of the file agrees with the server's: the same format, no backing or external data file. */
  private async verify(image: DiskImageRef, file: string): Promise<void> {
    const info = JSON.parse(await this.qemuImg(['info', '--output=json', '-f', image.format, file])) as QemuImgInfo;
    const problem = infoProblem(info, image);
    if (problem) throw new Error(`image ${image.name} ${problem}; it is not used`);
  }
}

/** What `qemu-img info --output=json` says (the fields read here). */
export interface QemuImgInfo {
  format?: string;
  'virtual-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'format-specific'?: { type?: string; data?: { 'data-file'?: string } };
}

/** Why qemu-img's `info` of an image's content disagrees with what `image` says it is; undefined when it agrees. */
export function infoProblem(info: QemuImgInfo, image: Pick<DiskImageRef, 'format' | 'virtualSize'>): string | undefined {
  if (info.format !== image.format) return `is ${info.format ?? 'of no known format'} for qemu-img, not ${image.format}`;
  if (info['backing-filename'] !== undefined || info['full-backing-filename'] !== undefined) return `names a backing file (${info['backing-filename'] ?? info['full-backing-filename']})`;
  if (info['format-specific']?.data?.['data-file'] !== undefined) return `names an external data file (${info['format-specific'].data['data-file']})`;
  if (info['virtual-size'] !== image.virtualSize) return `has a virtual size of ${info['virtual-size']} bytes for qemu-img, not ${image.virtualSize}`;
  return undefined;
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

function sha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file).on('error', reject).on('data', (d) => hash.update(d)).on('end', () => resolve(hash.digest('hex')));
  });
}
