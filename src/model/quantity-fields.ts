/**
 * Quantity fields of stored objects, found through their schemas (`x-quantity` on CpuQuantity and
 * SizeQuantity): the store and the API hold canonical integers (millicores, MiB), and what a user
 * writes reads a number as cores (quantity.ts). Anything that sends a stored spec back to be
 * parsed again (a merge patch onto it, `get -o yaml | apply -f -`, a rollback) rewrites its
 * quantities as strings first, so 250 millicores stay "250m" instead of becoming 250 cores.
 */
import type { TSchema } from '@sinclair/typebox';
import type { Kind, StoredObject } from './kind.js';
import { formatQuantity, type QuantityKind } from './quantity.js';

/**
 * Marks a field whose value has the shape of another schema although it is declared loosely
 * (a service's history keeps templates as `unknown`). A symbol: it never reaches /openapi.json.
 */
export const QUANTITY_SHAPE = Symbol('stratus.quantity-shape');

type Schema = TSchema & { [QUANTITY_SHAPE]?: TSchema };

/**
 * A copy of `value` with every canonical integer at a quantity field of `schema` written as its
 * quantity string (250 → "250m", 2048 → "2Gi"). Pure; values that are not numbers stay as they are.
 */
export function quantitiesAsStrings(schema: TSchema | undefined, value: unknown): unknown {
  const s = schema as Schema | undefined;
  if (!s || value === undefined || value === null) return value;
  if (s[QUANTITY_SHAPE]) return quantitiesAsStrings(s[QUANTITY_SHAPE], value);
  const quantity = s['x-quantity'] as QuantityKind | undefined;
  if (quantity) return typeof value === 'number' ? formatQuantity(quantity, value) : value;
  if (Array.isArray(value)) return s.items ? value.map((v) => quantitiesAsStrings(s.items as TSchema, v)) : value;
  if (typeof value !== 'object') return value;
  if (Array.isArray(s.anyOf)) return quantitiesAsStrings((s.anyOf as TSchema[]).find((v) => v.type === 'object'), value);
  const properties = (s.properties ?? {}) as Record<string, TSchema>;
  const patterns = Object.values((s.patternProperties ?? {}) as Record<string, TSchema>);
  const rest = typeof s.additionalProperties === 'object' ? (s.additionalProperties as TSchema) : patterns[0];
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = quantitiesAsStrings(properties[k] ?? rest, v);
  return out;
}

/** An object as people read and write it: spec and status quantities as strings. */
export function objectForPeople<T extends StoredObject>(kind: Kind, obj: T): T {
  const out = { ...obj, spec: quantitiesAsStrings(kind.spec, obj.spec) };
  if (obj.status !== undefined) out.status = quantitiesAsStrings(kind.status, obj.status);
  return out as T;
}
