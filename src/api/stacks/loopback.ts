/**
 * The API as the caller of a stack request sees it, in process: each read and write of a plan or
 * an apply is a request to this same server (Fastify's inject) with the caller's credentials, as
 * kube-apiserver's loopback client does. So every object of a stack passes exactly what a direct
 * request would: the route's permission for that kind and project, validation, admission, quotas,
 * secrets sealed by their own routes, and an audit record naming the caller's token.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kind, StoredObject } from '../../model/kind.js';
import { ErrorCatalog, StratusError, type ErrorCode } from '../../model/errors.js';
import { collectionPath, itemPath } from '../../client/paths.js';

/** Reads and writes of objects, each checked as the caller. Errors are StratusErrors with the answer's code. */
export interface ObjectApi {
  /** The object, or undefined when there is none (404 with STRATUS_ERR_NOT_FOUND). */
  get(kind: Kind, name: string, project: string): Promise<StoredObject | undefined>;
  /** Every object of a kind in a project that matches `selector`. */
  list(kind: Kind, project: string, selector: string): Promise<StoredObject[]>;
  /** POST (create) or PUT (replace); with dryRun, what would be stored. */
  write(method: 'POST' | 'PUT', kind: Kind, name: string, project: string, body: unknown, dryRun: boolean): Promise<StoredObject>;
  remove(kind: Kind, name: string, project: string): Promise<StoredObject>;
}

/** The API as the caller of `req` sees it. */
export function loopback(app: FastifyInstance, req: FastifyRequest): ObjectApi {
  const headers = { ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), 'content-type': 'application/json' };
  const call = async <T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, query: Record<string, string> = {}, body?: unknown): Promise<T> => {
    const res = await app.inject({ method, url, query, headers, remoteAddress: req.ip, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
    const parsed = res.body ? (JSON.parse(res.body) as unknown) : undefined;
    if (res.statusCode >= 400) throw errorOf(res.statusCode, parsed);
    return parsed as T;
  };
  const item = (kind: Kind, name: string, project: string) => itemPath(kind, name, kind.scope === 'project' ? project : undefined);
  return {
    get: (kind, name, project) => call<StoredObject>('GET', item(kind, name, project)).catch((e: unknown) => {
      if (e instanceof StratusError && e.code === 'STRATUS_ERR_NOT_FOUND') return undefined;
      throw e;
    }),
    list: async (kind, project, selector) => {
      const items: StoredObject[] = [];
      let cont: string | undefined;
      do {
        const page = await call<{ items: StoredObject[]; continue?: string }>('GET', collectionPath(kind, project), { selector, limit: '1000', ...(cont ? { continue: cont } : {}) });
        items.push(...page.items);
        cont = page.continue;
      } while (cont);
      return items;
    },
    write: (method, kind, name, project, body, dryRun) => {
      const url = method === 'POST' ? collectionPath(kind, kind.scope === 'project' ? project : undefined) : item(kind, name, project);
      return call<StoredObject>(method, url, dryRun ? { dryRun: 'true' } : {}, body);
    },
    remove: (kind, name, project) => call<StoredObject>('DELETE', item(kind, name, project)),
  };
}

/** The StratusError an error answer carries (its code, message and details). */
function errorOf(status: number, body: unknown): StratusError {
  const e = (body as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | undefined)?.error;
  const code = (e?.code && e.code in ErrorCatalog ? e.code : status >= 500 ? 'STRATUS_ERR_INTERNAL' : 'STRATUS_ERR_BAD_REQUEST') as ErrorCode;
  return new StratusError(code, e?.message ?? `answered ${status}`, e?.details);
}
