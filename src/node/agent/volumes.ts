/**
 * A node's volumes: one sparse file per volume, provisioned on first use, attached to the
 * instances that name it, and copied for snapshots, restores and clones.
 *
 *   <dataDir>/volumes/<project>/<name>.img     the volume (ext4 for type filesystem, raw for block)
 *   <dataDir>/volumes/<project>/<name>.json    whose data it is and who holds it now: {uid, holder: {uid, instance, mode}}
 *   <dataDir>/snapshots/<project>/<name>.img   a snapshot (a sparse copy made with the filesystem frozen)
 *   <mountRoot>/<project>/<name>               where a filesystem volume is loop-mounted, then
 *                                              bound into the instance at its path
 *
 * How an instance gets a volume (attach): process and container instances a filesystem volume as
 * a mount (task.mounts), a block volume as a loop device (task.devices, made at the instance's path under /dev);
 * vm instances any volume as a raw virtio disk (task.disks). One instance holds a volume at a
 * time: a volume held by another instance that still runs here is refused; one held by an
 * instance that ended is taken over. `release(uid)` unmounts and detaches what an instance held;
 * the files stay (data outlives the instance). Every operation on one volume is serialized.
 * A file is the data of one volume object (its uid is recorded): a volume deleted and made again
 * under the same name never sees the old one's data, even when its node kept the file.
 */
import { chmod, chown, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Instance } from '../../model/kinds/instance.js';
import { blockPathProblem, vmFilesystemProblem, type Volume } from '../../model/kinds/volume.js';
import type { TaskDevice, TaskDisk, TaskMount } from '../drivers/index.js';
import { attachLoop, copyImage, detachLoops, ext4Smaller, growExt4, growFile, host, loopsOf, makeExt4, mountImage, mountSource, unmount } from './volumes-host.js';

export type VolumeType = 'filesystem' | 'block';
type Mode = 'mount' | 'device' | 'disk';

interface Holder {
  uid: string;
  instance: string;
  mode: Mode;
}

/** What the node keeps beside a volume's file. */
interface Meta {
  /** The volume object whose data the file is. */
  uid?: string;
  holder?: Holder;
  /** A loop device lent to the holder, with the owner and mode it had before. */
  device?: { path: string; uid: number; gid: number; mode: number };
}

export interface NodeVolumesOptions {
  dataDir: string;
  /** Where filesystem volumes are mounted before being bound into instances. Default /run/stratus/volumes/<hash of dataDir>. */
  mountRoot?: string;
  /** Who owns a new filesystem's root directory: the workload's user on this node (drivers/identity.ts). Default root. */
  ownerOf?: (project: string) => { uid: number; gid: number };
  /** Whether a run of the instance with this uid is alive on this node: what it holds is not taken over. */
  isRunning?: (uid: string) => boolean;
}

/** What an instance gets from its volumes, ready to go into its task. */
export interface VolumeAttachments {
  mounts: TaskMount[];
  /** Block volumes: the loop device, made inside at the instance's path (under /dev). */
  devices: TaskDevice[];
  disks: TaskDisk[];
}

/** A volume operation refused because an instance uses the volume now (the endpoint answers 409). */
export class VolumeBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VolumeBusyError';
  }
}

/** Something named that this node does not have (the endpoint answers 404). */
export class VolumeMissingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VolumeMissingError';
  }
}

export class NodeVolumes {
  readonly mountRoot: string;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly opts: NodeVolumesOptions) {
    this.mountRoot = opts.mountRoot ?? join('/run/stratus/volumes', createHash('sha256').update(opts.dataDir).digest('hex').slice(0, 12));
  }

  file(project: string, name: string): string {
    return join(this.opts.dataDir, 'volumes', project, `${name}.img`);
  }

  snapshotFile(project: string, name: string): string {
    return join(this.opts.dataDir, 'snapshots', project, `${name}.img`);
  }

  mountPoint(project: string, name: string): string {
    return join(this.mountRoot, project, name);
  }

  /**
   * Provisions (first use), grows (a resize while the node was away) and attaches `inst`'s
   * volumes, given their objects. All or nothing: a failure releases what this call attached.
   */
  async attach(inst: Instance, volumes: ReadonlyMap<string, Volume>): Promise<VolumeAttachments> {
    const out: VolumeAttachments = { mounts: [], devices: [], disks: [] };
    const project = inst.metadata.project!;
    try {
      for (const [i, use] of (inst.spec.volumes ?? []).entries()) {
        const vol = volumes.get(use.volume);
        if (!vol) throw new Error(`spec.volumes[${i}].volume: volume "${use.volume}" not found in project "${project}"`);
        const readOnly = use.readOnly ?? false;
        if (inst.spec.driver === 'vm' && vol.spec.type !== 'block') throw new Error(`spec.volumes[${i}].volume: ${vmFilesystemProblem(use.volume)}`);
        const pathProblem = inst.spec.driver !== 'vm' && vol.spec.type === 'block' ? blockPathProblem(use.path) : undefined;
        if (pathProblem) throw new Error(`spec.volumes[${i}].path: ${pathProblem}`);
        const mode: Mode = inst.spec.driver === 'vm' ? 'disk' : vol.spec.type === 'block' ? 'device' : 'mount';
        await this.locked(project, use.volume, async () => {
          await this.take(project, use.volume, { uid: inst.metadata.uid, instance: inst.metadata.name, mode });
          await this.provision(project, use.volume, vol.spec.size, vol.spec.type, vol.metadata.uid);
          const file = this.file(project, use.volume);
          if (mode === 'disk') out.disks.push({ path: file, format: 'raw', readOnly });
          else if (mode === 'device') out.devices.push({ source: await this.device(project, use.volume, readOnly), path: use.path });
          else out.mounts.push({ source: await this.mount(project, use.volume, readOnly), destination: use.path, readOnly });
        });
      }
    } catch (e) {
      await this.release(inst.metadata.uid);
      throw e;
    }
    return out;
  }

  /** Unmounts and detaches every volume the instance `uid` holds on this node. Idempotent; the data stays. */
  async release(uid: string): Promise<void> {
    for (const { project, name } of await this.held()) {
      await this.locked(project, name, async () => {
        const holder = await this.holder(project, name);
        if (holder?.uid !== uid) return;
        await this.detach(project, name);
        await this.setHolder(project, name, undefined);
      });
    }
  }

  /** Copies the volume to snapshot `snapshot`, the filesystem frozen while it is copied when it is mounted. */
  async snapshot(project: string, volume: string, snapshot: string): Promise<{ bytes: number }> {
    return this.locked(project, volume, async () => {
      const file = await this.existing(project, volume);
      const to = this.snapshotFile(project, snapshot);
      await mkdir(join(this.opts.dataDir, 'snapshots', project), { recursive: true, mode: 0o700 });
      const mp = this.mountPoint(project, volume);
      await copyImage(file, to, (await mountSource(mp)) ? mp : undefined);
      return { bytes: (await stat(to)).size };
    });
  }

  /** Puts snapshot `snapshot` back as the volume's content, then grows it to `size` MiB. Refused while an instance runs with it. */
  async restore(project: string, volume: string, snapshot: string, size: number, type: VolumeType): Promise<void> {
    await this.locked(project, volume, async () => {
      await this.refuseHeld(project, volume, 'restored');
      const from = this.snapshotFile(project, snapshot);
      if (!(await exists(from))) throw new VolumeMissingError(`snapshot "${snapshot}" has no data on this node`);
      await this.detach(project, volume);
      await copyImage(from, this.file(project, volume));
      await this.grow(project, volume, size, type);
    });
  }

  /** A new volume `to` (object uid `uid`) with the content of volume `from` (or of its snapshot), `size` MiB. */
  async clone(project: string, from: string, to: string, size: number, type: VolumeType, uid: string, snapshot?: string): Promise<void> {
    const source = snapshot ? this.snapshotFile(project, snapshot) : await this.locked(project, from, () => this.existing(project, from));
    if (!(await exists(source))) throw new VolumeMissingError(`snapshot "${snapshot}" has no data on this node`);
    await this.locked(project, to, async () => {
      await this.dropStale(project, to, uid);
      if (await exists(this.file(project, to))) throw new VolumeBusyError(`volume "${to}" already has data on this node`);
      const mp = this.mountPoint(project, from);
      await copyImage(source, this.file(project, to), !snapshot && (await mountSource(mp)) ? mp : undefined);
      await this.writeMeta(project, to, { uid });
      await this.grow(project, to, size, type);
    });
  }

  /**
   * Grows the volume's file to `size` MiB and its filesystem with it: online when mounted, where
   * the kernel allows it (resolves `online: false` when it did not: it grows at its next mount).
   * A volume never provisioned is left alone (it is made at its full size).
   */
  async resize(project: string, volume: string, size: number, type: VolumeType): Promise<{ online: boolean }> {
    return this.locked(project, volume, async () => ({ online: (await exists(this.file(project, volume))) ? await this.grow(project, volume, size, type) : true }));
  }

  /** Removes a snapshot's data. Idempotent. */
  async removeSnapshot(project: string, snapshot: string): Promise<void> {
    await rm(this.snapshotFile(project, snapshot), { force: true });
  }

  /** Removes a volume's data; refused while an instance runs with it. Idempotent. */
  async remove(project: string, volume: string): Promise<void> {
    await this.locked(project, volume, async () => {
      await this.refuseHeld(project, volume, 'deleted');
      await this.detach(project, volume);
      await rm(this.file(project, volume), { force: true });
      await rm(this.metaFile(project, volume), { force: true });
    });
  }

  // ---------------------------------------------------------------------------------------------

  private async provision(project: string, name: string, size: number, type: VolumeType, uid: string): Promise<void> {
    const file = this.file(project, name);
    await this.dropStale(project, name, uid);
    if (await exists(file)) {
      await this.grow(project, name, size, type); // online growth refused: it grows at the mount that follows
    } else {
      await mkdir(join(this.opts.dataDir, 'volumes', project), { recursive: true, mode: 0o700 });
      if (type === 'block') await growFile(file, size);
      else await makeExt4(file, size, this.opts.ownerOf?.(project) ?? { uid: 0, gid: 0 });
    }
    await this.writeMeta(project, name, { uid }); // a file of before uids were recorded is adopted
  }

  /** Removes the file of an earlier volume of the same name (deleted while its node was away). */
  private async dropStale(project: string, name: string, uid: string): Promise<void> {
    const recorded = (await this.meta(project, name)).uid;
    if (!recorded || recorded === uid) return;
    await this.detach(project, name);
    await rm(this.file(project, name), { force: true });
    await this.writeMeta(project, name, { uid: undefined });
  }

  /** File to `size` MiB, then the filesystem (online through the mount's loop device when mounted); false: online growth refused. */
  private async grow(project: string, name: string, size: number, type: VolumeType): Promise<boolean> {
    const file = this.file(project, name);
    if ((await stat(file)).size >= size * 1024 * 1024) return true;
    await growFile(file, size);
    const loop = (await mountSource(this.mountPoint(project, name))) ?? (await loopsOf(file))[0];
    if (type === 'filesystem') return growExt4(file, loop);
    if (loop) await host(['losetup', '-c', loop]); // a block volume's loop device reads the new size
    return true;
  }

  /**
   * A block volume's loop device, lent to the workload's user (drivers copy the node's owner and
   * mode into the instance); its own owner and mode are recorded and given back at detach.
   */
  private async device(project: string, name: string, readOnly: boolean): Promise<string> {
    const dev = await attachLoop(this.file(project, name), readOnly);
    const owner = this.opts.ownerOf?.(project);
    if (!owner) return dev;
    const st = await stat(dev);
    if ((await this.meta(project, name)).device?.path !== dev) await this.writeMeta(project, name, { device: { path: dev, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 } });
    await chown(dev, owner.uid, owner.gid);
    await chmod(dev, 0o600);
    return dev;
  }

  private async mount(project: string, name: string, readOnly: boolean): Promise<string> {
    const dir = this.mountPoint(project, name);
    if (await mountSource(dir)) return dir;
    const file = this.file(project, name);
    if (await ext4Smaller(file)) await growExt4(file, undefined); // grown while mounted where online growth was refused
    await mkdir(join(this.mountRoot, project), { recursive: true, mode: 0o711 });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await mountImage(file, dir, readOnly);
    return dir;
  }

  private async detach(project: string, name: string): Promise<void> {
    const dir = this.mountPoint(project, name);
    await unmount(dir);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined); // an empty mountpoint (rmdir semantics once unmounted)
    const lent = (await this.meta(project, name)).device;
    if (lent) {
      await chown(lent.path, lent.uid, lent.gid).catch(() => undefined);
      await chmod(lent.path, lent.mode).catch(() => undefined);
      await this.writeMeta(project, name, { device: undefined });
    }
    await detachLoops(this.file(project, name));
  }

  /** Makes `holder` the volume's holder: refused when another instance holds it and still runs here. */
  private async take(project: string, name: string, holder: Holder): Promise<void> {
    const cur = await this.holder(project, name);
    if (cur && cur.uid !== holder.uid) {
      if (this.opts.isRunning?.(cur.uid)) throw new VolumeBusyError(`volume "${name}" is in use by instance "${cur.instance}" on this node`);
      await this.detach(project, name); // an instance that ended: what it left mounted goes
    }
    await this.setHolder(project, name, holder);
  }

  private async refuseHeld(project: string, name: string, what: string): Promise<void> {
    const cur = await this.holder(project, name);
    if (cur && this.opts.isRunning?.(cur.uid)) throw new VolumeBusyError(`volume "${name}" is in use by instance "${cur.instance}"; stop or delete it before the volume is ${what}`);
  }

  private async existing(project: string, name: string): Promise<string> {
    const file = this.file(project, name);
    if (!(await exists(file))) throw new VolumeMissingError(`volume "${name}" has no data on this node (no instance has used it yet)`);
    return file;
  }

  private metaFile(project: string, name: string): string {
    return join(this.opts.dataDir, 'volumes', project, `${name}.json`);
  }

  private async meta(project: string, name: string): Promise<Meta> {
    try {
      return JSON.parse(await readFile(this.metaFile(project, name), 'utf8')) as Meta;
    } catch {
      return {};
    }
  }

  /** Changes the fields of `patch` (undefined: removed), keeps the others. */
  private async writeMeta(project: string, name: string, patch: Partial<Meta>): Promise<void> {
    const next: Meta = { ...(await this.meta(project, name)), ...patch };
    for (const k of Object.keys(next) as (keyof Meta)[]) if (next[k] === undefined) delete next[k];
    await mkdir(join(this.opts.dataDir, 'volumes', project), { recursive: true, mode: 0o700 });
    await writeFile(this.metaFile(project, name), JSON.stringify(next), { mode: 0o600 });
  }

  private async holder(project: string, name: string): Promise<Holder | undefined> {
    return (await this.meta(project, name)).holder;
  }

  private setHolder(project: string, name: string, holder: Holder | undefined): Promise<void> {
    return this.writeMeta(project, name, { holder });
  }

  /** Every volume of this node with a holder file. */
  private async held(): Promise<{ project: string; name: string }[]> {
    const root = join(this.opts.dataDir, 'volumes');
    const out: { project: string; name: string }[] = [];
    for (const project of await readdir(root).catch(() => [] as string[])) {
      for (const f of await readdir(join(root, project)).catch(() => [] as string[])) if (f.endsWith('.json')) out.push({ project, name: f.slice(0, -5) });
    }
    return out;
  }

  /** Runs `fn` after every earlier operation on the same volume. */
  private locked<T>(project: string, name: string, fn: () => Promise<T>): Promise<T> {
    const key = `${project}/${name}`;
    const prev = this.locks.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(key, tail);
    void tail.then(() => this.locks.get(key) === tail && this.locks.delete(key));
    return next;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

