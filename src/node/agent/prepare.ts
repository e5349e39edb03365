/**
 * What a run needs besides the spec: the environment the platform adds, for containers a
 * local copy of the image (downloaded once per digest, shared by every instance that uses it),
 * for VMs their root disk (disks.ts), and its volumes attached (volumes-attach.ts).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApiClient } from '../../client/index.js';
import type { ImageStore, TaskDisk } from '../drivers/index.js';
import type { Instance } from '../../model/kinds/instance.js';
import { imageRefOf, imageType, rootDiskProblem, SHARED_IMAGE_PROJECT, type Image } from '../../model/kinds/image.js';
import { imageKind } from '../../model/kinds/index.js';
import { downloadImage } from '../../client/routes.js';
import type { PreparedRun } from './runner.js';
import { resolveSecrets } from './secrets.js';
import type { GpuShares } from './gpu.js';
import type { NodeVolumes } from './volumes.js';
import { attachVolumes } from './volumes-attach.js';
import type { VmDisks } from './disks.js';

export interface PrepareContext {
  api: ApiClient;
  images: ImageStore;
  node: string;
  dataDir: string;
  /** GPU device nodes and MPS for GPU shares (gpu.ts); without it no GPU device is granted. */
  gpu?: GpuShares;
  /** The node's volumes (volumes.ts); without it an instance with spec.volumes does not start, saying so. */
  volumes?: NodeVolumes;
  /** The node's VM disks (disks.ts); without it a vm instance does not start, saying so. */
  disks?: VmDisks;
}


const downloads = new Map<string, Promise<string>>();

/** The platform's part of a run: spec with local names, env, and the files, mounts and devices it grants. */
export type PreparedBase = Pick<PreparedRun, 'spec' | 'env' | 'files' | 'mounts' | 'devices' | 'disks'>;

export async function prepareInstance(inst: Instance, ctx: PrepareContext): Promise<PreparedBase> {
  const env: Record<string, string> = {
    STRATUS_PROJECT: inst.metadata.project!,
    STRATUS_INSTANCE: inst.metadata.name,
    STRATUS_INSTANCE_UID: inst.metadata.uid,
    STRATUS_NODE: ctx.node,
  };
  const gpus = inst.status?.allocation?.gpus;
  if (gpus?.length) {
    env.CUDA_VISIBLE_DEVICES = gpus.map((g) => g.index).join(',');
    env.NVIDIA_VISIBLE_DEVICES = env.CUDA_VISIBLE_DEVICES;
  }
  const gpu = (await ctx.gpu?.attachments(inst)) ?? {};
  Object.assign(env, gpu.env);
  // Secret references become plain env values and files here: drivers only see strings.
  const { spec, files } = await resolveSecrets(inst, ctx.api);
  const image = spec.driver === 'container' ? await localImage(inst, ctx) : undefined;
  const root = spec.driver === 'vm' ? await vmRootDisk(inst, ctx) : undefined;
  // last of what can fail here; what it attaches stays with the instance until it finishes or leaves (runner: stopped/removed)
  const vols = await attachVolumes(inst, ctx.api, ctx.node, ctx.volumes);
  const mounts = [...(gpu.mounts ?? []), ...vols.mounts];
  const devices = [...(gpu.devices ?? []), ...vols.devices];
  const granted = { ...(files.length > 0 ? { files } : {}), ...(mounts.length ? { mounts } : {}), ...(devices.length ? { devices } : {}), ...(root || vols.disks.length ? { disks: [...(root ? [root] : []), ...vols.disks] } : {}) };
  return { spec: image ? { ...spec, image } : spec, env, ...granted };
}

/** "web" → the project's image; "system/busybox" → a shared one. Others' images are refused. */
export function imageRef(inst: Instance): { project: string; name: string } {
  const ref = imageRefOf(inst.spec.image ?? '', inst.metadata.project!);
  if (ref.project !== inst.metadata.project && ref.project !== SHARED_IMAGE_PROJECT) {
    throw new Error(`image "${inst.spec.image}" belongs to project "${ref.project}"; use an image of project "${inst.metadata.project}" or a shared one in "${SHARED_IMAGE_PROJECT}"`);
  }
  return ref;
}

/**
 * A vm's root disk: its overlay on the node's copy of its disk image (disks.ts), as big as
 * spec.resources.disk (MiB), which must hold the image. Made once, kept while the instance is on this node.
 */
async function vmRootDisk(inst: Instance, ctx: PrepareContext): Promise<TaskDisk> {
  if (!ctx.disks) throw new Error(`node ${ctx.node} keeps no VM disks (no data directory for them)`);
  const ref = imageRef(inst);
  const image = await ctx.api.resources<Image>(imageKind, ref.project).get(ref.name);
  const name = `${ref.project}/${ref.name}`;
  if (imageType(image) !== 'disk') throw new Error(`spec.image: image "${name}" is a ${imageType(image)} image; a vm boots a disk image (stratus image import NAME DISK.qcow2 --type disk)`);
  const { digest, format, virtualSize } = image.status ?? {};
  if (!digest || !format || virtualSize === undefined) throw new Error(`image "${name}" has no content yet (stratus image import ${ref.name} DISK.qcow2 --type disk)`);
  // Never bigger than what the scheduler and the quota counted (admission refuses this too, but an
  // image created or replaced after the instance was admitted is seen first here).
  const disk = inst.spec.resources?.disk ?? 0;
  if (disk * 1024 * 1024 < virtualSize) throw new Error(`spec.resources.disk: ${rootDiskProblem(disk, name, virtualSize)}`);
  const size = disk * 1024 * 1024;
  return ctx.disks.rootDisk(inst.metadata.uid, { digest, format, virtualSize, name }, size, (file) => downloadImage(ctx.api, ref.project, ref.name, file));
}

async function localImage(inst: Instance, ctx: PrepareContext): Promise<string> {
  const ref = imageRef(inst);
  const image = await ctx.api.resources<Image>(imageKind, ref.project).get(ref.name);
  const digest = image.status?.digest;
  if (!digest) throw new Error(`image "${ref.project}/${ref.name}" has no content yet (stratus image import ${ref.name} PATH)`);
  const local = `${ref.project}/${ref.name}:${digest.slice(7, 19)}`;
  if (await ctx.images.resolve(local)) return local;
  let pending = downloads.get(local);
  if (!pending) {
    pending = download(ctx, ref, local, image).finally(() => downloads.delete(local));
    downloads.set(local, pending);
  }
  return pending;
}

async function download(ctx: PrepareContext, ref: { project: string; name: string }, local: string, image: Image): Promise<string> {
  const file = join(ctx.dataDir, `download-${process.pid}-${Date.now()}.tar`);
  try {
    await downloadImage(ctx.api, ref.project, ref.name, file);
    await ctx.images.importImage(local, file, {
      ...(image.spec.entrypoint ? { entrypoint: image.spec.entrypoint } : {}),
      ...(image.spec.cmd ? { cmd: image.spec.cmd } : {}),
      ...(image.spec.env ? { env: image.spec.env } : {}),
      ...(image.spec.workdir ? { workdir: image.spec.workdir } : {}),
    });
    return local;
  } finally {
    await rm(file, { force: true });
  }
}
