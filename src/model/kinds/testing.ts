/** Test support for kinds: what validation says of an object. */
import { parseObject, type Kind } from '../kind.js';
import { ValidationError } from '../errors.js';

/** The problems parsing `body` as `kind` finds, as "path: message"; [] when it is valid. */
export function parseProblems(kind: Kind, body: unknown): string[] {
  try {
    parseObject(kind, body);
    return [];
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    return e.problems.map((p) => `${p.path}: ${p.message}`);
  }
}
