/** event: what happened to an object and why. Written by the platform, read by everyone. */
import { Type, type Static } from '@sinclair/typebox';
import { defineKind, type StoredObject } from '../kind.js';
import { StringEnum, Strict, Timestamp } from '../schema.js';
import { age } from '../format.js';

export const EventSpecSchema = Type.Object(
  {
    type: StringEnum(['Normal', 'Warning']),
    reason: Type.String({ maxLength: 128, description: 'CamelCase, e.g. Scheduled, Preempted, OOMKilled.' }),
    message: Type.String({ maxLength: 4096 }),
    object: Type.Object({ kind: Type.String(), name: Type.String() }, { ...Strict, description: 'The object this event is about.' }),
    source: Type.Optional(Type.String({ description: 'Component that reported it: scheduler, agent/NODE, ...' })),
    count: Type.Optional(Type.Integer({ minimum: 1, description: 'How many times it happened (repeats are folded).' })),
    firstTime: Type.Optional(Timestamp('First occurrence.')),
    lastTime: Type.Optional(Timestamp('Last occurrence.')),
  },
  Strict,
);

export type EventSpec = Static<typeof EventSpecSchema>;

/** Labels of every event: the kind and name of its object, so `describe` can select them. */
export const OBJECT_KIND_LABEL = 'stratus.io/object-kind';
export const OBJECT_NAME_LABEL = 'stratus.io/object-name';
/** The project that holds the events of cluster objects (nodes). */
export const SYSTEM_PROJECT = 'system';
export type StratusEvent = StoredObject<EventSpec, Record<string, never>>;

export const eventKind = defineKind({
  kind: 'event',
  plural: 'events',
  title: 'Event',
  aliases: ['ev'],
  scope: 'project',
  description: 'Something that happened to an object, and why. Kept for a limited time.',
  spec: EventSpecSchema,
  status: Type.Object({}, Strict),
  verbs: ['get', 'list', 'watch'],
  writers: 'platform',
  lifecycle: { transient: true },
  columns: [
    { header: 'LAST', get: (o) => age((o as StratusEvent).spec.lastTime ?? o.metadata.createdAt) },
    { header: 'TYPE', get: (o) => (o as StratusEvent).spec.type },
    { header: 'REASON', get: (o) => (o as StratusEvent).spec.reason },
    { header: 'OBJECT', get: (o) => `${(o as StratusEvent).spec.object.kind}/${(o as StratusEvent).spec.object.name}` },
    { header: 'MESSAGE', get: (o) => (o as StratusEvent).spec.message },
  ],
});
