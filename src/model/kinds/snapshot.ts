/**
 * snapshot: a point-in-time copy of a volume, kept on the volume's node. Made by
 * `POST /v1/projects/P/volumes/V/snapshots` (`stratus volume snapshot V --name S`), which creates
 * this object (so quotas, admission and audit are the generic ones) and has the node copy the
 * volume; restores and clones read it (api/routes/volumes.ts). It takes `spec.size` (the volume's
 * size when it was taken) from the project's storage quota, and keeps its volume from being
 * deleted (refs-exist / not-in-use through `references`). A snapshot written directly through the
 * generic route has no data: it stays Pending and cannot be restored.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineKind, type StoredObject } from '../kind.js';
import { DnsLabel, SizeQuantity, StringEnum, Strict } from '../schema.js';
import { quantity } from '../resources.js';
import { formatMebibytes, parseMebibytes } from '../quantity.js';
import type { FieldProblem } from '../errors.js';
import { age } from '../format.js';

export const SNAPSHOT_PHASES = ['Pending', 'Ready', 'Failed'] as const;

export const SnapshotSpecSchema = Type.Object(
  {
    volume: DnsLabel({ description: 'The volume of the project it copies.' }),
    size: SizeQuantity('The volume\'s size when it was taken; counted in the storage quota.'),
  },
  Strict,
);

export const SnapshotStatusSchema = Type.Object(
  {
    phase: StringEnum(SNAPSHOT_PHASES, { description: 'Pending: no data yet; Ready: its data is on its node; Failed.' }),
    message: Type.Optional(Type.String({ maxLength: 4096 })),
    node: Type.Optional(DnsLabel({ description: 'The node that keeps its data (its volume\'s).' })),
    takenAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  Strict,
);

export type SnapshotSpec = { volume: string; size: number };
export type Snapshot = StoredObject<SnapshotSpec, Static<typeof SnapshotStatusSchema>>;

const s = (o: StoredObject<never, never>) => o as unknown as Snapshot;

export const snapshotKind = defineKind({
  kind: 'snapshot',
  plural: 'snapshots',
  title: 'Snapshot',
  aliases: ['snap'],
  scope: 'project',
  description: 'A point-in-time copy of a volume, on the volume\'s node: restore the volume to it, or clone a new volume from it.',
  spec: SnapshotSpecSchema,
  status: SnapshotStatusSchema,
  normalize: (spec, problems: FieldProblem[]) => {
    const size = quantity(spec.size, 0, parseMebibytes, 'spec.size', problems);
    return { ...spec, size } as unknown as Static<typeof SnapshotSpecSchema>;
  },
  checkUpdate: (prev, next) => {
    const [a, b] = [prev as unknown as SnapshotSpec, next as unknown as SnapshotSpec];
    const problems: FieldProblem[] = [];
    if (a.volume !== b.volume) problems.push({ path: 'spec.volume', message: `cannot be changed (the snapshot copies volume "${a.volume}")`, value: b.volume });
    if (a.size !== b.size) problems.push({ path: 'spec.size', message: `cannot be changed (it was ${formatMebibytes(a.size)} when taken)`, value: formatMebibytes(b.size) });
    return problems;
  },
  initialStatus: () => ({ phase: 'Pending' as const, message: 'no data: take snapshots with stratus volume snapshot VOLUME --name NAME' }),
  references: (o) => [{ kind: 'volume', project: o.metadata.project ?? '', name: (o.spec as SnapshotSpec).volume, field: 'spec.volume', mustExist: true }],
  admission: ['quota', 'refs-exist'],
  quota: { usage: (o) => ({ storage: (o.spec as SnapshotSpec).size }) },
  columns: [
    { header: 'NAME', get: (o) => o.metadata.name },
    { header: 'VOLUME', get: (o) => s(o).spec.volume },
    { header: 'SIZE', get: (o) => formatMebibytes(s(o).spec.size) },
    { header: 'NODE', get: (o) => s(o).status?.node ?? '' },
    { header: 'PHASE', get: (o) => s(o).status?.phase ?? '' },
    { header: 'AGE', get: (o) => age(o.metadata.createdAt) },
  ],
});
