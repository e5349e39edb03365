/**
 * The only place where errors become HTTP responses. Domain errors carry their catalog code;
 * Fastify's own errors (bad JSON, wrong content type, oversized bodies) are mapped to the
 * catalog too, so a client only ever sees STRATUS_ERR_* codes, and never a 5xx for bad input.
 */
import { ErrorCatalog, StratusError, ValidationError, type ErrorCode } from '../model/errors.js';
import { TxnConflict, RevisionCompacted, StoreUnavailable, ValueTooLarge } from '../store/backend.js';

export interface ErrorBody {
  error: { code: ErrorCode; status: number; message: string; details?: Record<string, unknown> };
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'STRATUS_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'STRATUS_ERR_BAD_REQUEST',
  FST_ERR_CTP_BODY_TOO_LARGE: 'STRATUS_ERR_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'STRATUS_ERR_INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'STRATUS_ERR_INVALID_JSON',
  FST_ERR_CTP_EMPTY_TYPE: 'STRATUS_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'STRATUS_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_BAD_URL: 'STRATUS_ERR_BAD_REQUEST',
  FST_ERR_ASYNC_CONSTRAINT: 'STRATUS_ERR_BAD_REQUEST',
  FST_ERR_VALIDATION: 'STRATUS_ERR_VALIDATION',
  FST_ERR_CTP_INVALID_CHARSET: 'STRATUS_ERR_UNSUPPORTED_MEDIA_TYPE',
};

const FRIENDLY: Partial<Record<ErrorCode, string>> = {
  STRATUS_ERR_UNSUPPORTED_MEDIA_TYPE: 'send the body as application/json (or application/merge-patch+json for PATCH)',
  STRATUS_ERR_PAYLOAD_TOO_LARGE: 'the body is larger than the 1 MiB limit',
};

interface FastifyishError extends Error {
  code?: string;
  statusCode?: number;
}

/** Maps any thrown value to a status and a catalog error body. `internal` is true for 5xx. */
export function toErrorResponse(err: unknown): { status: number; body: ErrorBody; internal: boolean } {
  if (err instanceof ValidationError) return respond(err.code, err.message, { problems: err.problems });
  if (err instanceof StratusError) return respond(err.code, err.message, err.details);
  if (err instanceof RevisionCompacted) return respond('STRATUS_ERR_REVISION_COMPACTED', err.message, { compacted: err.compacted });
  if (err instanceof TxnConflict) return respond('STRATUS_ERR_CONFLICT', err.message);
  if (err instanceof StoreUnavailable) return respond('STRATUS_ERR_STORE_UNAVAILABLE', `the store cannot answer now; try again (a write that got this answer may or may not have been applied: read it back): ${err.message}`);
  if (err instanceof ValueTooLarge) return respond('STRATUS_ERR_PAYLOAD_TOO_LARGE', `the object is too large to store: ${err.size} bytes stored, the limit is ${err.limit}`, { size: err.size, limit: err.limit });
  const e = err as FastifyishError;
  if (e instanceof SyntaxError || e?.name === 'SyntaxError') return respond('STRATUS_ERR_INVALID_JSON', `the body is not valid JSON: ${e.message}`);
  const mapped = e?.code ? FASTIFY_CODES[e.code] : undefined;
  if (mapped) return respond(mapped, FRIENDLY[mapped] ?? e.message);
  if (e?.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || /JSON/.test(e?.message ?? '') && (e?.statusCode ?? 0) === 400) {
    return respond('STRATUS_ERR_INVALID_JSON', e.message);
  }
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return respond(e.statusCode === 413 ? 'STRATUS_ERR_PAYLOAD_TOO_LARGE' : e.statusCode === 415 ? 'STRATUS_ERR_UNSUPPORTED_MEDIA_TYPE' : 'STRATUS_ERR_BAD_REQUEST', e.message);
  }
  return { ...respond('STRATUS_ERR_INTERNAL', 'internal error; the server log has the details'), internal: true };
}

function respond(code: ErrorCode, message: string, details?: Record<string, unknown>) {
  const status = ErrorCatalog[code].status;
  const body: ErrorBody = { error: { code, status, message, ...(details ? { details } : {}) } };
  return { status, body, internal: status >= 500 };
}
