/**
 * Schema building blocks shared by all kinds. Every block carries a description (it ends up in
 * /openapi.json and /docs) and, where TypeBox's own message would be vague, an `errorMessage`
 * that the validator shows instead.
 */
import { Type, type TLiteral, type TSchema, type TUnion, type SchemaOptions } from '@sinclair/typebox';
import { CPU_PATTERN, MEBIBYTES_PATTERN } from './quantity.js';
import { DNS_LABEL_PATTERN } from './labels.js';

export const DnsLabel = (options: SchemaOptions = {}) =>
  Type.String({
    minLength: 1,
    maxLength: 63,
    pattern: DNS_LABEL_PATTERN,
    errorMessage: 'is not a DNS label (lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters)',
    ...options,
  });

/** Label map; keys and values are checked in code for precise messages. */
export const LabelMap = (description = 'Labels: key/value pairs used by selectors.') =>
  Type.Record(Type.String(), Type.String(), { description });

/**
 * CPU: cores, as a number (2, 0.5) or a string ("2", "500m"). Stored, and returned by the API, as
 * integer millicores (see quantity.ts; status fields the platform writes are millicores).
 */
export const CpuQuantity = (description: string, written: 'by users' | 'by the platform' = 'by users') =>
  Type.Union([Type.Number({ minimum: 0 }), Type.String({ pattern: CPU_PATTERN })], {
    description: written === 'by users'
      ? `${description} Cores: a number (2, 0.5) or a string ("2", "500m" for half a core). The API returns integer millicores.`
      : `${description} Integer millicores (or a string such as "500m" or "2" for cores).`,
    errorMessage: 'is not a CPU quantity (use e.g. "500m" for half a core, or 2 for two cores)',
    'x-quantity': 'cpu',
  });

/** Memory or disk: a string with a unit ("512Mi", "2Gi"), or a plain number of MiB. Stored, and returned, as MiB. */
export const SizeQuantity = (description: string) =>
  Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: MEBIBYTES_PATTERN })], {
    description: `${description} A size such as "512Mi" or "2Gi"; a plain number is MiB. The API returns integer MiB.`,
    errorMessage: 'is not a size (use e.g. "512Mi" or "2Gi"; a plain number is MiB)',
    'x-quantity': 'mebibytes',
  });

/** A string enum that reports the allowed values when it fails. */
export const StringEnum = <const T extends readonly string[]>(values: T, options: SchemaOptions = {}): TUnion<TLiteral<T[number]>[]> =>
  Type.Union(values.map((v) => Type.Literal(v)), {
    errorMessage: `is not one of: ${values.join(', ')}`,
    ...options,
  }) as unknown as TUnion<TLiteral<T[number]>[]>;

export const Timestamp = (description: string) =>
  Type.String({ format: 'date-time', description, errorMessage: 'is not an RFC 3339 timestamp (e.g. 2026-01-31T12:00:00Z)' });

export const Condition = Type.Object(
  {
    type: Type.String({ description: 'Condition name, e.g. Ready or Scheduled.' }),
    status: StringEnum(['True', 'False', 'Unknown']),
    reason: Type.Optional(Type.String({ description: 'One word, CamelCase, machine-readable.' })),
    message: Type.Optional(Type.String({ description: 'What a person should read.' })),
    lastTransitionTime: Type.Optional(Timestamp('When the status last changed.')),
  },
  { additionalProperties: false },
);

export const Conditions = Type.Array(Condition, { maxItems: 32 });

export const Role = StringEnum(['admin', 'member', 'viewer'], {
  description: 'admin: everything in the project including its members and tokens; member: create and change workloads; viewer: read only.',
});

export const RoleBinding = Type.Object(
  { project: DnsLabel({ description: 'Project the role applies to.' }), role: Role },
  { additionalProperties: false },
);

export const Strict = { additionalProperties: false } as const;

/** Marks a schema optional with a default documented for readers of /docs. */
export const Opt = <T extends TSchema>(schema: T) => Type.Optional(schema);
