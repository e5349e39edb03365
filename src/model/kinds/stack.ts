/**
 * stack: a set of objects applied together from one file (`stratus apply -f stack.yaml`), pruned
 * together (`--prune`) and removed together (`stratus stack rm`). Its objects carry the label
 * stratus.io/stack=<name>; deleting the stack deletes them.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineKind, type StoredObject } from '../kind.js';
import { DnsLabel, StringEnum, Strict, Timestamp } from '../schema.js';
import { age } from '../format.js';

export const STACK_LABEL = 'stratus.io/stack';
/** When `stratus apply` last applied the stack (it stamps each apply; status.appliedAt shows it). */
export const APPLIED_ANNOTATION = 'stratus.io/applied-at';

export const StackSpecSchema = Type.Object(
  {
    description: Type.Optional(Type.String({ maxLength: 4096 })),
    source: Type.Optional(Type.String({ maxLength: 1024, description: 'The file it was applied from.' })),
    parameters: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), { description: 'Values substituted for ${name} in the file.' })),
    objects: Type.Array(Type.Object({ kind: Type.String(), name: DnsLabel() }, Strict), { maxItems: 10000, description: 'What the stack owns.' }),
  },
  Strict,
);

export const StackStatusSchema = Type.Object(
  {
    phase: Type.Optional(StringEnum(['Applying', 'Applied', 'Failed'], { description: 'Applied: every service it owns is available; Failed: one is degraded; else Applying.' })),
    message: Type.Optional(Type.String()),
    appliedAt: Type.Optional(Timestamp('When it was last applied (the stratus.io/applied-at annotation apply writes).')),
  },
  Strict,
);

export type StackSpec = Static<typeof StackSpecSchema>;
export type Stack = StoredObject<StackSpec, Static<typeof StackStatusSchema>>;

export const stackKind = defineKind({
  kind: 'stack',
  plural: 'stacks',
  title: 'Stack',
  aliases: ['st'],
  scope: 'project',
  description: 'Objects applied together from one file; deleting the stack deletes them.',
  spec: StackSpecSchema,
  status: StackStatusSchema,
  // Its objects carry its label; deleting it deletes them (controllers/stacks.ts).
  lifecycle: { owns: ['*'] },
  columns: [
    { header: 'NAME', get: (o) => o.metadata.name },
    { header: 'OBJECTS', get: (o) => String((o as Stack).spec.objects.length) },
    { header: 'SOURCE', get: (o) => (o as Stack).spec.source ?? '' },
    { header: 'STATUS', get: (o) => (o as Stack).status?.phase ?? '' },
    { header: 'APPLIED', get: (o) => age((o as Stack).status?.appliedAt) },
    { header: 'AGE', get: (o) => age(o.metadata.createdAt) },
  ],
});
