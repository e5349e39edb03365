/**
 * volume: persistent storage of a project, of a size, as a block device or a filesystem,
 * on one node (local storage): `spec.node`, or the node of the first instance that uses it
 * (`status.node`, set by controllers/volumes.ts). Instances name the volumes they use
 * (`spec.volumes`); the scheduler places them on the volume's node; the agent there provisions
 * the volume on first use and attaches it (node/agent/volumes.ts). Snapshots: kinds/snapshot.ts.
 *
 * Everything else about a volume comes from this description: its routes and OpenAPI schema,
 * `stratus get/describe volumes`, the `volumes:` section of stack files, who may read it (members
 * of its project; a node only while an instance bound to it uses the volume), its admission (the
 * project's `volumes` and `storage` quotas; no delete while an instance or service uses it).
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineKind, type StoredObject } from '../kind.js';
import { DnsLabel, SizeQuantity, StringEnum, Strict } from '../schema.js';
import { quantity } from '../resources.js';
import { formatMebibytes, parseMebibytes } from '../quantity.js';
import type { FieldProblem } from '../errors.js';
import { age } from '../format.js';

export const VOLUME_TYPES = ['filesystem', 'block'] as const;
export const VOLUME_PHASES = ['Pending', 'Available', 'Attached', 'Failed'] as const;

export const VolumeSpecSchema = Type.Object(
  {
    size: SizeQuantity('How large the volume is. It may grow, never shrink.'),
    type: Type.Optional(StringEnum(VOLUME_TYPES, { description: 'filesystem (default): mounted at a path of the instance; block: a raw device.' })),
    node: Type.Optional(DnsLabel({ description: 'The node the volume lives on (local storage); instances that use it run there. Unset: where the platform puts it.' })),
  },
  Strict,
);

export const VolumeStatusSchema = Type.Object(
  {
    phase: StringEnum(VOLUME_PHASES, { description: 'Pending: on no node yet; Available: on its node, free; Attached to an instance; Failed.' }),
    message: Type.Optional(Type.String({ maxLength: 4096 })),
    node: Type.Optional(DnsLabel({ description: 'The node it lives on: spec.node, or the node of the first instance that used it.' })),
    attachedTo: Type.Optional(DnsLabel({ description: 'The instance that uses it now.' })),
  },
  Strict,
);

export type VolumeSpec = { size: number; type: (typeof VOLUME_TYPES)[number]; node?: string };
export type Volume = StoredObject<VolumeSpec, Static<typeof VolumeStatusSchema>>;

function normalizeVolume(spec: Static<typeof VolumeSpecSchema>, problems: FieldProblem[]): VolumeSpec {
  const size = quantity(spec.size, 0, parseMebibytes, 'spec.size', problems);
  if (size === 0 && problems.length === 0) problems.push({ path: 'spec.size', message: 'must be more than 0 (e.g. "10Gi")', value: spec.size });
  return { ...spec, size, type: spec.type ?? 'filesystem' };
}

/** The size may grow; the type and the node are fixed once the volume exists. */
function volumeUpdateProblems(prev: VolumeSpec, next: VolumeSpec): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (next.size < prev.size) problems.push({ path: 'spec.size', message: `cannot shrink (from ${formatMebibytes(prev.size)} to ${formatMebibytes(next.size)}); a volume only grows`, value: formatMebibytes(next.size) });
  if (next.type !== prev.type) problems.push({ path: 'spec.type', message: `cannot be changed once the volume exists (it is ${prev.type})`, value: next.type });
  if (next.node !== prev.node) problems.push({ path: 'spec.node', message: `cannot be changed once the volume exists (${prev.node ? `it lives on ${prev.node}` : 'it names no node'})`, value: next.node });
  return problems;
}

const v = (o: StoredObject<never, never>) => o as unknown as Volume;

export const volumeKind = defineKind({
  kind: 'volume',
  plural: 'volumes',
  title: 'Volume',
  aliases: ['vol'],
  scope: 'project',
  description: 'Persistent storage of a project: a block device or a filesystem that instances use.',
  spec: VolumeSpecSchema,
  status: VolumeStatusSchema,
  normalize: (spec, problems) => normalizeVolume(spec, problems) as unknown as Static<typeof VolumeSpecSchema>,
  checkUpdate: (prev, next) => volumeUpdateProblems(prev as unknown as VolumeSpec, next as unknown as VolumeSpec),
  initialStatus: () => ({ phase: 'Pending' as const, message: 'provisioned on the node of the first instance that uses it' }),
  access: { node: { referenced: true } },
  admission: ['quota', 'not-in-use'],
  quota: { usage: (o) => ({ volumes: 1, storage: (o.spec as VolumeSpec).size }) },
  stack: { section: 'volumes', first: true },
  columns: [
    { header: 'NAME', get: (o) => o.metadata.name },
    { header: 'TYPE', get: (o) => v(o).spec.type },
    { header: 'SIZE', get: (o) => formatMebibytes(v(o).spec.size) },
    { header: 'NODE', get: (o) => v(o).spec.node ?? v(o).status?.node ?? '' },
    { header: 'PHASE', get: (o) => v(o).status?.phase ?? '' },
    { header: 'AGE', get: (o) => age(o.metadata.createdAt) },
  ],
});

/**
 * Why a vm may not use a filesystem volume: the guest would write the volume's bytes raw, and this
 * node mounts filesystem volumes with its own kernel (for the next process or container that uses
 * it); a crafted ext4 image is an attack on that kernel. VMs take block volumes, which the node
 * never mounts.
 */
export function vmFilesystemProblem(volume: string): string {
  return `volume "${volume}" is a filesystem volume; a vm takes block volumes (type: block) as virtio disks, since the node mounts filesystem volumes itself and will not mount one a guest has written raw`;
}

/**
 * Why `path` cannot be where a process or container sees a block volume, or undefined: the device
 * node is made in the instance's own /dev (a private tmpfs), so the path is a name under /dev.
 */
export function blockPathProblem(path: string): string | undefined {
  return /^\/dev\/[A-Za-z0-9][A-Za-z0-9._-]*$/.test(path) ? undefined : `${JSON.stringify(path)}: a block volume is a device node; give a name under /dev (e.g. /dev/data)`;
}
