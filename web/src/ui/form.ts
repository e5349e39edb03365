/**
 * Forms validate with the kind's own schema and rules (model/kind.ts parseObject: the TypeBox
 * schema, the metadata rules and the kind's normalize), the same code the API runs, and show
 * each problem beside the field it names; an API refusal is shown the same way, its problems
 * (details.problems) placed by their paths, anything else in the form's alert.
 *
 *   const form = createForm();
 *   <Field form={form} path="spec.replicas" label="Replicas">...</Field>
 *   await form.submit(() => validateObject(serviceKind, body), () => api.resources(...).create(body));
 */
import { signal, type Signal } from '@preact/signals';
import type { Kind } from '../../../src/model/kind.js';
import { parseObject } from '../../../src/model/kind.js';
import { ValidationError, type FieldProblem } from '../../../src/model/errors.js';
import { ApiError } from '../api/client.js';

/** The problems with `body` as an object of `kind` (none: the API's schema checks would pass). */
export function validateObject(kind: Kind, body: unknown): FieldProblem[] {
  try {
    parseObject(kind, body);
    return [];
  } catch (e) {
    if (e instanceof ValidationError) return e.problems;
    throw e;
  }
}

export interface FormState {
  /** Messages by field path ("spec.replicas"). */
  fields: Signal<Record<string, string>>;
  /** A message that names no field of the form (shown in the form's alert). */
  general: Signal<string | undefined>;
  busy: Signal<boolean>;
  /**
   * Runs `check` (problems found before sending), then `send`; problems and errors land beside
   * their fields or in `general`. Resolves with send's result, or undefined when refused.
   */
  submit<T>(check: () => FieldProblem[], send: () => Promise<T>): Promise<T | undefined>;
}

/** Splits problems into the ones a field of `known` shows and a sentence for the rest. */
export function placeProblems(problems: FieldProblem[], known: (path: string) => boolean): { fields: Record<string, string>; rest: string[] } {
  const fields: Record<string, string> = {};
  const rest: string[] = [];
  for (const p of problems) {
    const field = fieldFor(p.path, known);
    if (field !== undefined && fields[field] === undefined) fields[field] = p.path === field ? p.message : `${p.path}: ${p.message}`;
    else rest.push(p.path ? `${p.path}: ${p.message}` : p.message);
  }
  return { fields, rest };
}

/** The closest field of the form at or above `path` (spec.ports[0].port → spec.ports when only that is a field). */
function fieldFor(path: string, known: (path: string) => boolean): string | undefined {
  let p = path;
  while (p) {
    if (known(p)) return p;
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    if (cut <= 0) return undefined;
    p = p.slice(0, cut);
  }
  return undefined;
}

/** Problems of an error thrown by the API (or by the form's own code). */
export function problemsOfError(e: unknown): FieldProblem[] {
  if (e instanceof ApiError) {
    if (e.problems.length > 0) return e.problems;
    const m = /^([a-zA-Z][\w.[\]-]*): (.+)$/.exec(e.message);
    return [{ path: m ? m[1]! : '', message: m ? m[2]! : e.message }];
  }
  return [{ path: '', message: (e as Error).message }];
}

/** A form's state; `known(path)` says which paths have a field (default: those registered by <Field>). */
export function createForm(): FormState & { register(path: string): void } {
  const registered = new Set<string>();
  const fields = signal<Record<string, string>>({});
  const general = signal<string | undefined>(undefined);
  const busy = signal(false);
  const show = (problems: FieldProblem[]) => {
    const placed = placeProblems(problems, (p) => registered.has(p));
    fields.value = placed.fields;
    general.value = placed.rest.length ? placed.rest.join('; ') : Object.keys(placed.fields).length ? 'Some fields need attention: see the messages beside them.' : undefined;
  };
  return {
    fields, general, busy,
    register: (path) => registered.add(path),
    async submit(check, send) {
      const problems = check();
      if (problems.length > 0) { show(problems); return undefined; }
      busy.value = true;
      try {
        const out = await send();
        show([]);
        return out;
      } catch (e) {
        show(problemsOfError(e));
        return undefined;
      } finally {
        busy.value = false;
      }
    },
  };
}
