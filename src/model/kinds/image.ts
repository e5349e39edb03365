/**
 * image: a root filesystem for containers (`type: rootfs`, a tar archive) or a disk for VMs
 * (`type: disk`, qcow2 or raw). The object holds how to run it; its content is uploaded with
 * PUT .../content and kept by digest. The type is fixed once the image exists.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineKind, type StoredObject } from '../kind.js';
import { StringEnum, Strict, Timestamp } from '../schema.js';
import { age } from '../format.js';
import { formatMebibytes } from '../quantity.js';
import type { FieldProblem } from '../errors.js';

export const IMAGE_TYPES = ['rootfs', 'disk'] as const;
export type ImageType = (typeof IMAGE_TYPES)[number];
export const DISK_FORMATS = ['qcow2', 'raw'] as const;
export type DiskFormat = (typeof DISK_FORMATS)[number];

export const ImageSpecSchema = Type.Object(
  {
    type: Type.Optional(StringEnum(IMAGE_TYPES, { description: 'rootfs (default): a root filesystem for container instances, uploaded as a tar archive; disk: a bootable disk for vm instances, uploaded as qcow2 or raw.' })),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
    entrypoint: Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 256, description: 'Program run when an instance gives no command.' })),
    cmd: Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 256, description: 'Default arguments of the entrypoint.' })),
    env: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 32768 }), { description: 'Environment of every instance of the image.' })),
    workdir: Type.Optional(Type.String({ pattern: '^/', description: 'Working directory inside the image.' })),
  },
  Strict,
);

export const ImageStatusSchema = Type.Object(
  {
    phase: StringEnum(['Empty', 'Ready']),
    digest: Type.Optional(Type.String({ pattern: '^sha256:[0-9a-f]{64}$' })),
    size: Type.Optional(Type.Integer({ minimum: 0, description: 'Bytes of the uploaded content.' })),
    format: Type.Optional(StringEnum(DISK_FORMATS, { description: 'Disk images: the format the upload was found to be in.' })),
    virtualSize: Type.Optional(Type.Integer({ minimum: 0, description: 'Disk images: bytes of the disk the guest sees (a root disk is at least this big).' })),
    uploadedAt: Type.Optional(Timestamp('When the content was uploaded.')),
  },
  Strict,
);

export type ImageSpec = Static<typeof ImageSpecSchema>;
export type Image = StoredObject<ImageSpec, Static<typeof ImageStatusSchema>>;

/** The project whose images every project may use ("system/busybox"). */
export const SHARED_IMAGE_PROJECT = 'system';

/** What an instance's `spec.image` names, in `project`: "web" → the project's own, "system/busybox" → that project's. */
export function imageRefOf(ref: string, project: string): { project: string; name: string } {
  const slash = ref.indexOf('/');
  return slash < 0 ? { project, name: ref } : { project: ref.slice(0, slash), name: ref.slice(slash + 1) };
}

/** An image's type; images written before types existed are root filesystems. */
export function imageType(image: Pick<Image, 'spec'>): ImageType {
  return image.spec.type ?? 'rootfs';
}

/** The type is fixed: a disk image's content means nothing as a root filesystem, and back. */
function imageUpdateProblems(prev: ImageSpec, next: ImageSpec): FieldProblem[] {
  const [a, b] = [prev.type ?? 'rootfs', next.type ?? 'rootfs'];
  return a === b ? [] : [{ path: 'spec.type', message: `cannot change from ${a} to ${b} once the image exists; delete it and import it again with --type ${b}`, value: b }];
}

/** Container run settings mean nothing for a disk image. */
function normalizeImageSpec(spec: ImageSpec, problems: FieldProblem[]): ImageSpec {
  if ((spec.type ?? 'rootfs') !== 'disk') return spec;
  for (const field of ['entrypoint', 'cmd', 'env', 'workdir'] as const) {
    if (spec[field] !== undefined) problems.push({ path: `spec.${field}`, message: 'applies to rootfs images only (a disk image boots its own system); remove it' });
  }
  return spec;
}

function size(bytes: number | undefined): string {
  if (bytes === undefined) return '';
  if (bytes >= 1073741824) return `${(bytes / 1073741824).toFixed(1)}Gi`;
  return bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)}Mi` : `${Math.ceil(bytes / 1024)}Ki`;
}

export const imageKind = defineKind({
  kind: 'image',
  plural: 'images',
  title: 'Image',
  aliases: ['img'],
  scope: 'project',
  description: 'A root filesystem that container instances run from, or a disk that vm instances boot from; upload its content with `stratus image import`.',
  spec: ImageSpecSchema,
  status: ImageStatusSchema,
  normalize: normalizeImageSpec,
  checkUpdate: imageUpdateProblems,
  initialStatus: () => ({ phase: 'Empty' as const }),
  access: { node: { referenced: true } },
  admission: ['image-not-in-use'],
  stack: { section: 'images' },
  columns: [
    { header: 'NAME', get: (o) => o.metadata.name },
    { header: 'TYPE', get: (o) => { const i = o as Image; return imageType(i) === 'disk' && i.status?.format ? `disk/${i.status.format}` : imageType(i); } },
    { header: 'STATUS', get: (o) => (o as Image).status?.phase ?? 'Empty' },
    { header: 'SIZE', get: (o) => size((o as Image).status?.size) },
    { header: 'VIRTUAL', get: (o) => size((o as Image).status?.virtualSize), wide: true },
    { header: 'DIGEST', get: (o) => ((o as Image).status?.digest ?? '').slice(0, 19) },
    { header: 'AGE', get: (o) => age(o.metadata.createdAt) },
  ],
});

/**
 * Why a vm's `resources.disk` (MiB) cannot hold its image's `virtualSize` (bytes). The root disk is
 * exactly resources.disk, which the scheduler and the disk quota count: a disk left out (0) is
 * refused too, or a tiny upload claiming a huge virtual size would take node disk nobody counts.
 */
export function rootDiskProblem(disk: number, image: string, virtualSize: number): string {
  const need = formatMebibytes(Math.ceil(virtualSize / 1048576));
  return disk === 0
    ? `a vm needs its root disk's size: ask for at least ${need} (image "${image}"'s virtual size); the scheduler and the disk quota count it`
    : `${formatMebibytes(disk)} is smaller than image "${image}" (a ${need} disk); ask for at least ${need}`;
}