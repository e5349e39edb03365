/**
 * Image content for containers in user namespaces. Inside a user namespace whose ids 0..65535 are
 * a project's host range, files owned by host root show up as "nobody" and cannot be written even
 * by the container's root; so each (image, range) gets one copy whose owners are moved into the
 * range (uid u → start + u), made on first use and reused as the lower layer of every overlay.
 *
 *   <image store>/shifted/<content id>@<range start>/    removed with the image (images.ts)
 *
 * Ids outside 0..size-1 (none in ordinary images) become the range's "nobody" (65534).
 */
import { execFile } from 'node:child_process';
import { chmod, lchown, lstat, mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { IdRange } from './identity.js';
import type { ImageInfo, ImageStore } from './images.js';

const run = promisify(execFile);
const NOBODY = 65534;
const pending = new Map<string, Promise<string>>();

/** The directory of `image` shifted into `range`, made once (concurrent callers share one copy). */
export function shiftedImage(store: ImageStore, image: ImageInfo, range: IdRange): Promise<string> {
  const id = image.dir.startsWith(join(store.root, 'content') + '/') ? basename(image.dir) : createHash('sha256').update(image.dir).digest('hex').slice(0, 16);
  const target = join(store.root, 'shifted', `${id}@${range.start}`);
  let p = pending.get(target);
  if (!p) {
    p = makeShifted(image.dir, target, range).finally(() => pending.delete(target));
    pending.set(target, p);
  }
  return p;
}

async function makeShifted(source: string, target: string, range: IdRange): Promise<string> {
  if (await stat(target).catch(() => undefined)) return target;
  const tmp = `${target}.tmp-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp, { recursive: true });
  try {
    await run('cp', ['-a', '--', `${source}/.`, tmp]);
    await shiftTree(tmp, range);
    await rename(tmp, target).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e; // made meanwhile by another agent
      await rm(tmp, { recursive: true, force: true });
    });
    return target;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw new Error(`cannot prepare image ${source} for user namespace ids ${range.start}+: ${(e as Error).message}`);
  }
}

/** Moves every owner under `dir` (included) into `range`; keeps setuid/setgid bits, which chown clears. */
export async function shiftTree(dir: string, range: IdRange): Promise<void> {
  const shift = (id: number) => range.start + (id < range.size ? id : NOBODY);
  const walk = async (path: string): Promise<void> => {
    const st = await lstat(path);
    await lchown(path, shift(st.uid), shift(st.gid));
    if (!st.isSymbolicLink() && (st.mode & 0o6000) !== 0) await chmod(path, st.mode & 0o7777);
    if (st.isDirectory()) for (const name of await readdir(path)) await walk(join(path, name));
  };
  await walk(dir);
}

/** Why user namespaces cannot be used here, or undefined when they can. */
export async function userNamespacesUsable(): Promise<string | undefined> {
  if (!(await stat('/proc/self/ns/user').catch(() => undefined))) return 'the kernel has no user namespaces';
  const max = (await readFile('/proc/sys/user/max_user_namespaces', 'utf8').catch(() => '')).trim();
  if (max === '0') return 'user.max_user_namespaces is 0';
  return undefined;
}
