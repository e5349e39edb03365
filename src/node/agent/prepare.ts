/**
 * What a run needs besides the spec: the environment the platform adds, and for containers a
 * local copy of the image (downloaded once per digest, shared by every instance that uses it).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApiClient } from '../../client/index.js';
import type { ImageStore } from '../drivers/index.js';
import type { Instance } from '../../model/kinds/instance.js';
import type { Image } from '../../model/kinds/image.js';
import { imageKind } from '../../model/kinds/index.js';
import { downloadImage } from '../../client/routes.js';
import type { PreparedRun } from './runner.js';
import { resolveSecrets } from './secrets.js';
import type { GpuShares } from './gpu.js';

export interface PrepareContext {
  api: ApiClient;
  images: ImageStore;
  node: string;
  dataDir: string;
  /** GPU device nodes and MPS for GPU shares (gpu.ts); without it no GPU device is granted. */
  gpu?: GpuShares;
}

/** Projects whose images every project may use. */
export const SHARED_IMAGE_PROJECT = 'system';

const downloads = new Map<string, Promise<string>>();

/** The platform's part of a run: spec with local names, env, and the files, mounts and devices it grants. */
export type PreparedBase = Pick<PreparedRun, 'spec' | 'env' | 'files' | 'mounts' | 'devices'>;

export async function prepareInstance(inst: Instance, ctx: PrepareContext): Promise<PreparedBase> {
  // Volumes exist as objects (model/kinds/volume.ts); nothing provisions or attaches them yet.
  if (inst.spec.volumes?.length) throw new Error(`spec.volumes: node ${ctx.node} cannot attach volumes yet (no volume driver); run it without spec.volumes`);
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
  const granted = { ...(files.length > 0 ? { files } : {}), ...(gpu.mounts?.length ? { mounts: gpu.mounts } : {}), ...(gpu.devices?.length ? { devices: gpu.devices } : {}) };
  if (spec.driver !== 'container') return { spec, env, ...granted };
  const local = await localImage(inst, ctx);
  return { spec: { ...spec, image: local }, env, ...granted };
}

/** "web" → the project's image; "system/busybox" → a shared one. Others' images are refused. */
export function imageRef(inst: Instance): { project: string; name: string } {
  const ref = inst.spec.image ?? '';
  const [a, b] = ref.includes('/') ? ref.split('/', 2) : [inst.metadata.project!, ref];
  if (a !== inst.metadata.project && a !== SHARED_IMAGE_PROJECT) {
    throw new Error(`image "${ref}" belongs to project "${a}"; use an image of project "${inst.metadata.project}" or a shared one in "${SHARED_IMAGE_PROJECT}"`);
  }
  return { project: a!, name: b! };
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
