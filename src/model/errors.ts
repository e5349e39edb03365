/**
 * The one catalog of Stratus errors. Every error a client can see has a stable code here and
 * the HTTP status it maps to. Domain code throws `StratusError`s; only the HTTP layer turns
 * them into responses, and the CLI turns responses back into one readable line.
 */
export const ErrorCatalog = {
  STRATUS_ERR_VALIDATION: { status: 400, title: 'the request is not valid' },
  STRATUS_ERR_STACK_INVALID: { status: 400, title: 'a stack file is not valid, or an object in it would be refused' },
  STRATUS_ERR_BAD_REQUEST: { status: 400, title: 'the request is malformed' },
  STRATUS_ERR_INVALID_JSON: { status: 400, title: 'the body is not valid JSON' },
  STRATUS_ERR_UNAUTHENTICATED: { status: 401, title: 'no valid credentials' },
  STRATUS_ERR_TOKEN_EXPIRED: { status: 401, title: 'the token has expired' },
  STRATUS_ERR_FORBIDDEN: { status: 403, title: 'permission denied' },
  STRATUS_ERR_NOT_FOUND: { status: 404, title: 'no such object' },
  STRATUS_ERR_ROUTE_NOT_FOUND: { status: 404, title: 'no such route' },
  STRATUS_ERR_METHOD_NOT_ALLOWED: { status: 405, title: 'method not allowed' },
  STRATUS_ERR_NOT_ACCEPTABLE: { status: 406, title: 'cannot produce the requested media type' },
  STRATUS_ERR_CONFLICT: { status: 409, title: 'the object changed since it was read' },
  STRATUS_ERR_NOT_RUNNING: { status: 409, title: 'the instance has no workload (yet)' },
  STRATUS_ERR_INVALID_STATE: { status: 409, title: 'the object is not in a state that allows this (e.g. starting an instance that runs)' },
  STRATUS_ERR_ALREADY_EXISTS: { status: 409, title: 'the object already exists' },
  STRATUS_ERR_VOLUME_IN_USE: { status: 409, title: 'the volume is used by another instance (one at a time), or is attached where it must not be' },
  STRATUS_ERR_VOLUME_NOT_READY: { status: 409, title: 'the volume or snapshot has no data on a node yet (no instance has used the volume)' },
  STRATUS_ERR_PROJECT_DELETING: { status: 409, title: 'the project is being deleted: nothing new can be created in it' },
  STRATUS_ERR_LAST_ADMIN: { status: 409, title: 'the last cluster admin cannot be deleted, disabled or demoted' },
  STRATUS_ERR_IMMUTABLE_FIELD: { status: 422, title: 'a field cannot be changed' },
  STRATUS_ERR_REVISION_COMPACTED: { status: 410, title: 'the revision was compacted' },
  STRATUS_ERR_PAYLOAD_TOO_LARGE: { status: 413, title: 'the body is too large' },
  STRATUS_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'unsupported content type' },
  STRATUS_ERR_QUOTA_EXCEEDED: { status: 403, title: 'a project quota would be exceeded' },
  STRATUS_ERR_BUDGET_EXCEEDED: { status: 403, title: 'the project has spent its enforced monthly budget' },
  STRATUS_ERR_DEPENDENCY: { status: 422, title: 'a referenced object is missing or in use' },
  STRATUS_ERR_RATE_LIMITED: { status: 429, title: 'too many requests' },
  STRATUS_ERR_UNAVAILABLE: { status: 503, title: 'the server is not ready' },
  STRATUS_ERR_STORE_UNAVAILABLE: { status: 503, title: 'the store cannot answer now (no quorum, unreachable or too slow); nothing was changed unless the message says it may have been' },
  STRATUS_ERR_INTERNAL: { status: 500, title: 'internal error' },
} as const;

export type ErrorCode = keyof typeof ErrorCatalog;

/** One problem with one field of a request. `path` uses dots: `spec.resources.memory`. */
export interface FieldProblem {
  path: string;
  message: string;
  value?: unknown;
}

export class StratusError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'StratusError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ErrorCatalog[this.code].status;
  }
}

/** A request that failed validation; the message names the first field, `problems` all of them. */
export class ValidationError extends StratusError {
  readonly problems: FieldProblem[];

  constructor(problems: FieldProblem[]) {
    const first = problems[0];
    const message = first ? formatProblem(first) : 'the request is not valid';
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    super('STRATUS_ERR_VALIDATION', message + more, { problems });
    this.problems = problems;
  }
}

export function formatProblem(p: FieldProblem): string {
  return p.path ? `${p.path}: ${p.message}` : p.message;
}

/** Throws a ValidationError for one field. */
export function invalid(path: string, message: string, value?: unknown): never {
  throw new ValidationError([{ path, message, value }]);
}

export function notFound(kind: string, name: string, project?: string): StratusError {
  const where = project ? ` in project "${project}"` : '';
  return new StratusError('STRATUS_ERR_NOT_FOUND', `${kind} "${name}" not found${where}`, { kind, name, project });
}

export function isStratusError(e: unknown): e is StratusError {
  return e instanceof StratusError;
}

/** Short JSON-ish rendering of a value for error messages: strings quoted, long values cut. */
export function showValue(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
