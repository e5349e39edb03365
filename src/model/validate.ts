/**
 * Compiled schema checks that report problems a person can act on:
 *   spec.resources.memory: "12Qi" is not a size (use e.g. "512Mi", "2Gi", ...)
 *   spec.foo: unknown field (allowed: driver, command, ...)
 * One problem per field path, at most MAX_PROBLEMS.
 */
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { FormatRegistry } from '@sinclair/typebox';
import { showValue, type FieldProblem } from './errors.js';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set('date-time', (v) => RFC3339.test(v) && !Number.isNaN(Date.parse(v)));
}

const MAX_PROBLEMS = 20;

export type Checker = (value: unknown) => FieldProblem[];

/** Compiles `schema`; the returned function is cheap when the value is valid. */
export function compileChecker(schema: TSchema, prefix = ''): Checker {
  const compiled = TypeCompiler.Compile(schema);
  return (value) => {
    if (compiled.Check(value)) return [];
    const problems: FieldProblem[] = [];
    const seen = new Set<string>();
    for (const error of compiled.Errors(value)) {
      const path = joinPath(prefix, error.path);
      if (isCoveredBy(path, seen)) continue;
      seen.add(path);
      problems.push({ path, message: describe(error), value: error.value });
      if (problems.length >= MAX_PROBLEMS) break;
    }
    return problems;
  };
}

/** `/spec/ports/0/port` → `spec.ports[0].port` */
export function joinPath(prefix: string, pointer: string): string {
  let out = prefix;
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}

/** A problem at `path` adds nothing when its path or a parent's was already reported. */
function isCoveredBy(path: string, seen: Set<string>): boolean {
  for (const s of seen) {
    if (path === s || path.startsWith(`${s}.`) || path.startsWith(`${s}[`)) return true;
  }
  return false;
}

function describe(error: ValueError): string {
  const schema = error.schema as TSchema & { errorMessage?: string; properties?: Record<string, unknown> };
  const v = showValue(error.value);
  switch (error.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return 'is required';
    case ValueErrorType.ObjectAdditionalProperties: {
      const allowed = Object.keys(schema.properties ?? {});
      return allowed.length > 0 ? `unknown field (allowed: ${allowed.join(', ')})` : 'unknown field';
    }
    default:
      break;
  }
  if (error.value === undefined) return 'is required';
  if (schema.errorMessage) return `${v} ${schema.errorMessage}`;
  switch (error.type) {
    case ValueErrorType.String: return `${v} is not a string`;
    case ValueErrorType.Integer: return `${v} is not an integer`;
    case ValueErrorType.Number: return `${v} is not a number`;
    case ValueErrorType.Boolean: return `${v} is not true or false`;
    case ValueErrorType.Object: return `${v} is not an object`;
    case ValueErrorType.Array: return `${v} is not a list`;
    case ValueErrorType.StringPattern: return `${v} does not match the pattern ${(schema as { pattern?: string }).pattern}`;
    case ValueErrorType.StringMaxLength: return `${v} is longer than ${(schema as { maxLength?: number }).maxLength} characters`;
    case ValueErrorType.StringMinLength: return `${v} is shorter than ${(schema as { minLength?: number }).minLength} characters`;
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.IntegerMinimum: return `${v} is less than the minimum ${(schema as { minimum?: number }).minimum}`;
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMaximum: return `${v} is more than the maximum ${(schema as { maximum?: number }).maximum}`;
    case ValueErrorType.ArrayMaxItems: return `has more than ${(schema as { maxItems?: number }).maxItems} items`;
    case ValueErrorType.ArrayMinItems: return `has fewer than ${(schema as { minItems?: number }).minItems} items`;
    case ValueErrorType.Literal: return `${v} must be ${showValue((schema as { const?: unknown }).const)}`;
    case ValueErrorType.StringFormat: return `${v} is not in the ${(schema as { format?: string }).format} format`;
    default: return `${v}: ${error.message.toLowerCase()}`;
  }
}
