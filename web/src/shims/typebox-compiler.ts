/**
 * `@sinclair/typebox/compiler` for the browser bundle (scripts/build-web.mjs points the import
 * here): `TypeCompiler.Compile` returns a checker with the same Check and Errors, interpreted by
 * TypeBox's Value module instead of generated with `new Function`, which the dashboard's
 * Content-Security-Policy refuses. So model/validate.ts runs unchanged in the browser and a form
 * reports the same problems, in the same words, as the API.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { ValueErrorIterator } from '@sinclair/typebox/errors';

export class TypeCheck<T extends TSchema> {
  constructor(private readonly schema: T) {}

  Check(value: unknown): value is Static<T> {
    return Value.Check(this.schema, value);
  }

  Errors(value: unknown): ValueErrorIterator {
    return Value.Errors(this.schema, value);
  }
}

export const TypeCompiler = {
  Compile<T extends TSchema>(schema: T): TypeCheck<T> {
    return new TypeCheck(schema);
  },
};
