/**
 * image: a root filesystem for containers (and, later, a disk for VMs). The object holds how to
 * run it; its content — a tar archive — is uploaded with PUT .../content and kept by digest.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineKind, type StoredObject } from '../kind.js';
import { StringEnum, Strict, Timestamp } from '../schema.js';
import { age } from '../format.js';

export const ImageSpecSchema = Type.Object(
  {
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
    size: Type.Optional(Type.Integer({ minimum: 0, description: 'Bytes of the uploaded archive.' })),
    uploadedAt: Type.Optional(Timestamp('When the content was uploaded.')),
  },
  Strict,
);

export type ImageSpec = Static<typeof ImageSpecSchema>;
export type Image = StoredObject<ImageSpec, Static<typeof ImageStatusSchema>>;

function size(bytes: number | undefined): string {
  if (bytes === undefined) return '';
  return bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)}Mi` : `${Math.ceil(bytes / 1024)}Ki`;
}

export const imageKind = defineKind({
  kind: 'image',
  plural: 'images',
  title: 'Image',
  aliases: ['img'],
  scope: 'project',
  description: 'A root filesystem that container instances run from; upload its content with `stratus image import`.',
  spec: ImageSpecSchema,
  status: ImageStatusSchema,
  initialStatus: () => ({ phase: 'Empty' as const }),
  access: { node: { referenced: true } },
  admission: ['image-not-in-use'],
  stack: { section: 'images' },
  columns: [
    { header: 'NAME', get: (o) => o.metadata.name },
    { header: 'STATUS', get: (o) => (o as Image).status?.phase ?? 'Empty' },
    { header: 'SIZE', get: (o) => size((o as Image).status?.size) },
    { header: 'DIGEST', get: (o) => ((o as Image).status?.digest ?? '').slice(0, 19) },
    { header: 'AGE', get: (o) => age(o.metadata.createdAt) },
  ],
});
