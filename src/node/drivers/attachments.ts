/**
 * What the platform attaches to a task besides its command: files (secrets), host mounts the
 * agent grants (MPS pipes, volumes) and device nodes (GPUs), turned into OCI mounts and devices.
 * None of these come from the user's spec directly: the agent builds them (see Task).
 */
import { chmod, chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';
import { DriverError, type Task } from './driver.js';
import type { OciDevice, OciMount } from './oci.js';

export interface Owner {
  uid: number;
  gid: number;
}

/** True when `path` is `root` or below it. */
export function isWithin(path: string, root: string): boolean {
  return path === root || path.startsWith(root === '/' ? '/' : `${root}/`);
}

function checkTarget(what: string, path: string, readOnlyRoots: readonly string[]): void {
  if (!isAbsolute(path) || normalize(path) !== path || path === '/') throw new DriverError('INVALID_TASK', `${what} "${path}" must be an absolute, normalized path other than /`);
  const under = readOnlyRoots.find((r) => isWithin(path, r));
  if (under) throw new DriverError('INVALID_TASK', `${what} "${path}" is inside ${under}, which the instance sees read-only from the node; choose a path such as /run/secrets/...`);
}

/**
 * Writes the task's files into `dir` (default `<task dir>/files/`; owned by `owner`, their own
 * mode, default 0400) and returns read-only bind mounts that place each at its path. `readOnlyRoots`: paths
 * the workload sees from the host read-only, where no mountpoint can be made.
 */
export async function fileMounts(task: Task, owner: Owner, readOnlyRoots: readonly string[] = [], dir = join(task.dir, 'files')): Promise<OciMount[]> {
  if (!task.files?.length) return [];
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o711 }); // searchable: runc may bind from it as a user namespace's root
  const mounts: OciMount[] = [];
  for (const [i, f] of task.files.entries()) {
    checkTarget('file path', f.path, readOnlyRoots);
    const source = join(dir, String(i));
    await writeFile(source, Buffer.from(f.data, 'base64'), { mode: 0o600 });
    await chown(source, owner.uid, owner.gid);
    await chmod(source, f.mode ?? 0o400);
    mounts.push({ destination: f.path, type: 'bind', source, options: ['bind', 'ro', 'nosuid', 'nodev', 'noexec'] });
  }
  return mounts;
}

/** The host paths the agent granted, as bind mounts. */
export function hostMounts(task: Task, readOnlyRoots: readonly string[] = []): OciMount[] {
  return (task.mounts ?? []).map((m) => {
    checkTarget('mount destination', m.destination, readOnlyRoots);
    if (!isAbsolute(m.source)) throw new DriverError('INVALID_TASK', `mount source "${m.source}" must be an absolute path`);
    return { destination: m.destination, type: 'bind', source: m.source, options: ['rbind', m.readOnly ? 'ro' : 'rw', 'nosuid', 'nodev'] };
  });
}

/** Device nodes to create inside (same major/minor, owner and mode as on the host) and allow in the device cgroup. */
export function taskDevices(task: Task): OciDevice[] {
  return (task.devices ?? []).map((d) => {
    const { source, path } = typeof d === 'string' ? { source: d, path: d } : d;
    if (!isAbsolute(path) || normalize(path) !== path || !path.startsWith('/dev/') || path.length <= 5) throw new DriverError('INVALID_TASK', `device path "${path}" must be an absolute, normalized path under /dev/`);
    const st = statSync(source, { throwIfNoEntry: false });
    if (!st || (!st.isCharacterDevice() && !st.isBlockDevice())) throw new DriverError('START_FAILED', `device ${source} does not exist on this node`);
    // Linux's dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31.
    const rdev = st.rdev;
    const major = (Math.floor(rdev / 256) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
    const minor = (rdev & 0xff) | (Math.floor(rdev / 4096) & ~0xff);
    // The host's owner and mode: a node only root may open on the host stays so inside.
    return { path, type: st.isCharacterDevice() ? 'c' : 'b', major, minor, fileMode: st.mode & 0o777, uid: st.uid, gid: st.gid };
  });
}

/** Attachments a driver may not know how to use; each driver names those it takes. */
const OPTIONAL = ['tap', 'disks'] as const;

/**
 * Refuses a task that carries an attachment `driver` cannot use (INVALID_TASK naming it), so a
 * task meant for another driver never starts without what it was given.
 */
export function refuseUnsupported(task: Task, driver: string, supported: readonly (typeof OPTIONAL)[number][] = []): void {
  for (const a of OPTIONAL) {
    const v = task[a];
    if (v === undefined || (Array.isArray(v) && v.length === 0) || supported.includes(a)) continue;
    throw new DriverError('INVALID_TASK', `the ${driver} driver cannot use a ${a === 'tap' ? 'tap device' : 'disk'} attachment (task ${task.id}); ${a === 'tap' ? 'tap devices' : 'disks'} are for the vm driver`);
  }
}
