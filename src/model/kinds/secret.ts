/**
 * secret: named values of a project (passwords, keys, certificates), encrypted at rest and never
 * echoed. Users write values; the store and every read show only the key names:
 *
 *   written:  spec: {data: {password: "hunter2"}, binaryData: {cert.der: "MIIB..."}}
 *   stored:   spec: {keys: {password: 1, cert.der: 1}}     + an encrypted record elsewhere
 *
 * `data` takes text, `binaryData` base64; both are write-only. `keys` is read-only: each key and
 * the generation of the secret at which its value last changed (so a change of one value is a
 * change of the spec, which rolls the services that use it). Sending `keys` back on an update
 * keeps the listed keys' current values, so `get -o yaml`, edit, `apply` works.
 * The values themselves are handled by the API (src/api/routes/secrets.ts), never by this file.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineKind, type StoredObject } from '../kind.js';
import { Strict } from '../schema.js';
import type { FieldProblem } from '../errors.js';
import { age } from '../format.js';
import { secretKeyProblem } from '../secret-refs.js';

/** Total size of a secret's values (decoded), and its number of keys. */
export const MAX_SECRET_BYTES = 512 * 1024;
export const MAX_SECRET_KEYS = 100;

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const Values = (description: string, value: Record<string, unknown> = {}) =>
  Type.Record(Type.String(), Type.String({ writeOnly: true, ...value }), { writeOnly: true, description });

export const SecretSpecSchema = Type.Object(
  {
    data: Type.Optional(Values('Write-only. Values as text, by key; never returned (except with ?reveal=true to members).')),
    binaryData: Type.Optional(Values('Write-only. Values in base64, by key (for bytes that are not text).')),
    keys: Type.Optional(Type.Record(Type.String(), Type.Integer({ minimum: 1 }), {
      readOnly: true,
      description: 'Read-only: each key, with the generation at which its value last changed. Sent back on update, the keys listed keep their values.',
    })),
  },
  Strict,
);

export const SecretStatusSchema = Type.Object({}, Strict);

export type SecretSpec = Static<typeof SecretSpecSchema>;
/** What the store holds: key names and versions only. */
export type StoredSecretSpec = { keys: Record<string, number> };
export type Secret = StoredObject<StoredSecretSpec, Static<typeof SecretStatusSchema>>;

/** Checks key names, base64, overlaps and sizes. Messages never quote a value. */
export function normalizeSecretSpec(spec: SecretSpec, problems: FieldProblem[]): SecretSpec {
  const seen = new Set<string>();
  let bytes = 0;
  for (const field of ['data', 'binaryData', 'keys'] as const) {
    for (const [key, value] of Object.entries(spec[field] ?? {})) {
      const path = `spec.${field}.${key}`;
      const bad = secretKeyProblem(key);
      if (bad) problems.push({ path, message: bad });
      if (field === 'keys') continue;
      if (seen.has(key)) problems.push({ path, message: 'is given in both data and binaryData; give each key once' });
      seen.add(key);
      if (field === 'binaryData' && !BASE64_RE.test(value as string)) problems.push({ path, message: 'is not base64 (A-Z, a-z, 0-9, "+", "/", "=" padding, no line breaks); put text under data instead' });
      bytes += field === 'data' ? Buffer.byteLength(value as string, 'utf8') : Math.floor(((value as string).length * 3) / 4);
    }
  }
  if (seen.size > MAX_SECRET_KEYS) problems.push({ path: 'spec', message: `has ${seen.size} keys; at most ${MAX_SECRET_KEYS} are allowed` });
  if (bytes > MAX_SECRET_BYTES) problems.push({ path: 'spec', message: `values total ${bytes} bytes; at most ${MAX_SECRET_BYTES} are allowed` });
  return spec;
}

/** The values given in a (normalized) spec, decoded. */
export function valuesOf(spec: SecretSpec): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(spec.data ?? {})) out.set(k, Buffer.from(v, 'utf8'));
  for (const [k, v] of Object.entries(spec.binaryData ?? {})) out.set(k, Buffer.from(v, 'base64'));
  return out;
}

/** Values as a user reads them back: text under data, anything else (not UTF-8) under binaryData. */
export function revealedSpec(values: ReadonlyMap<string, Buffer>): { data?: Record<string, string>; binaryData?: Record<string, string> } {
  const data: Record<string, string> = {};
  const binaryData: Record<string, string> = {};
  for (const [k, v] of [...values].sort(([a], [b]) => a.localeCompare(b))) {
    const text = v.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(v)) data[k] = text;
    else binaryData[k] = v.toString('base64');
  }
  return { ...(Object.keys(data).length ? { data } : {}), ...(Object.keys(binaryData).length ? { binaryData } : {}) };
}

function keyList(o: StoredObject<never, never>): string {
  const keys = Object.keys((o as unknown as Secret).spec.keys ?? {});
  const text = keys.join(',');
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export const secretKind = defineKind({
  kind: 'secret',
  plural: 'secrets',
  title: 'Secret',
  aliases: ['sec'],
  scope: 'project',
  description: 'Encrypted values of a project, used by instances as environment variables or files. Reads show key names only.',
  spec: SecretSpecSchema,
  status: SecretStatusSchema,
  // get, create, update and delete are src/api/routes/secrets.ts: values are sealed and never returned.
  verbs: ['list', 'watch'],
  normalize: normalizeSecretSpec,
  // Nodes may list and watch secrets and see none there: an agent gets the values its instances
  // use through GET .../instances/NAME/secrets (api/routes/secrets.ts).
  access: { node: {} },
  admission: ['secret-not-in-use'],
  stack: { section: 'secrets', first: true },
  columns: [
    { header: 'NAME', get: (o) => o.metadata.name },
    { header: 'KEYS', get: keyList },
    { header: 'AGE', get: (o) => age(o.metadata.createdAt) },
  ],
});

/**
 * The values after a create or a replace with `spec`: the keys listed under `keys` keep their
 * current values, `data` and `binaryData` set theirs, any other key goes. A spec with none of the
 * three keeps every value (a change of labels only).
 */
export function nextValues(current: ReadonlyMap<string, Buffer>, spec: SecretSpec, problems: FieldProblem[]): Map<string, Buffer> {
  if (spec.data === undefined && spec.binaryData === undefined && spec.keys === undefined) return new Map(current);
  const out = new Map<string, Buffer>();
  for (const k of Object.keys(spec.keys ?? {})) {
    const v = current.get(k);
    if (v !== undefined) out.set(k, v);
    else if (!(k in (spec.data ?? {})) && !(k in (spec.binaryData ?? {}))) problems.push({ path: `spec.keys.${k}`, message: 'is not a key of this secret, so it has no value to keep; give its value under data or binaryData' });
  }
  for (const [k, v] of valuesOf(spec)) out.set(k, v);
  return out;
}

/** Versions of the keys of `next`: unchanged values keep theirs, others get `generation` (the write's). */
export function keyVersions(prev: Record<string, number>, current: ReadonlyMap<string, Buffer>, next: ReadonlyMap<string, Buffer>, generation: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of [...next.keys()].sort()) {
    const same = current.get(k)?.equals(next.get(k)!) === true;
    out[k] = same ? prev[k] ?? generation : generation;
  }
  return out;
}

/**
 * A JSON merge patch of a secret's spec as a replacement spec: `data`/`binaryData` entries set
 * values, null (there or under `keys`) removes the key, every other current key is kept.
 */
export function specOfPatch(patch: unknown, currentKeys: readonly string[], problems: FieldProblem[]): SecretSpec {
  if (patch === undefined) return {};
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    problems.push({ path: 'spec', message: 'is not an object (patch data, binaryData or keys)' });
    return {};
  }
  const removed = new Set<string>();
  const given: Record<'data' | 'binaryData', Record<string, string>> = { data: {}, binaryData: {} };
  for (const [field, map] of Object.entries(patch)) {
    if (field !== 'data' && field !== 'binaryData' && field !== 'keys') {
      problems.push({ path: `spec.${field}`, message: 'unknown field (allowed: data, binaryData, keys)' });
      continue;
    }
    if (typeof map !== 'object' || map === null || Array.isArray(map)) {
      problems.push({ path: `spec.${field}`, message: 'is not an object of keys' });
      continue;
    }
    for (const [k, v] of Object.entries(map as Record<string, unknown>)) {
      if (v === null) removed.add(k);
      else if (field !== 'keys' && typeof v === 'string') given[field][k] = v;
      else if (field !== 'keys') problems.push({ path: `spec.${field}.${k}`, message: 'is neither a string nor null (null removes the key)' });
    }
  }
  const keep = currentKeys.filter((k) => !removed.has(k) && !(k in given.data) && !(k in given.binaryData));
  return {
    keys: Object.fromEntries(keep.map((k) => [k, 1])),
    ...(Object.keys(given.data).length ? { data: given.data } : {}),
    ...(Object.keys(given.binaryData).length ? { binaryData: given.binaryData } : {}),
  };
}
