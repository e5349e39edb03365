/**
 * Several API servers behind one client. They share one store, so any of them gives the same
 * answers and the same revisions; the client (index.ts) sends each call to the one that last
 * worked and, when it cannot be reached, to the next, each at most once per call:
 *
 *   call ─▶ server that last worked ──connection failure──▶ next server ─▶ ... ─▶ ConnectionError
 *                                                            (only when mayRetry says it is safe)
 *
 * Going on is safe only when the request cannot have been applied: reads (GET, HEAD, watches)
 * always; writes only when nothing was sent (refused, no route, DNS, connect timeout), never after
 * a reset in the middle of a request, which may have reached the store.
 */

/** The 503 of a server cut off from the store: another server may still reach it. */
export const STORE_UNAVAILABLE = 'STRATUS_ERR_STORE_UNAVAILABLE';

/** What the client calls a GET or HEAD that got no answer in time (its own timeout). */
export const ANSWER_TIMEOUT = 'ANSWER_TIMEOUT';

/** Failures before any byte of the request left: connection refused, no route, DNS, connect timeout. */
const NOT_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/** Methods that change nothing: a failure after the request was sent may still go to another server. */
const READS = new Set(['GET', 'HEAD']);

/**
 * Whether a call with `method` that failed with `code` (a network error's code, or
 * STORE_UNAVAILABLE for that 503 answer) may be sent to the next server.
 */
export function mayRetry(method: string, code: string): boolean {
  if (READS.has(method.toUpperCase())) return true;
  return NOT_SENT.has(code);
}

/** A server that could not be reached (or answered STORE_UNAVAILABLE) during one call. */
export interface Failure {
  server: string;
  code: string;
  why: string;
}

/**
 * The code and reason of a network failure: fetch's "fetch failed" or "terminated" TypeError
 * (the cause holds the socket's error), a socket's own error; undefined when `e` is none of those.
 */
export function networkFailure(e: unknown): { code: string; why: string } | undefined {
  if (!(e instanceof Error)) return undefined;
  const cause = (e as { cause?: unknown }).cause as { code?: unknown; message?: unknown; errors?: { code?: unknown }[] } | undefined;
  const own = (e as { code?: unknown }).code;
  const code = [cause?.code, cause?.errors?.[0]?.code, own].find((c): c is string => typeof c === 'string');
  if (!code && !(e instanceof TypeError && cause)) return undefined;
  const message = typeof cause?.message === 'string' && cause.message ? cause.message : e.message;
  return { code: code ?? 'UNKNOWN', why: code === 'ECONNREFUSED' ? 'connection refused' : message };
}

/**
 * The message of a call that reached no server: each server tried with its reason, and whether
 * the others were left out because the request may already have been applied.
 */
export function unreachedMessage(tried: readonly Failure[], stoppedEarly: boolean): string {
  const hint = tried.every((f) => f.code === 'ECONNREFUSED') ? ' (is `stratus server` running?)' : '';
  const rest = stoppedEarly ? '; not sent to another server: the request may have been applied' : '';
  if (tried.length === 1) return `cannot reach the server at ${tried[0]!.server}: ${tried[0]!.why}${hint}${rest}`;
  return `cannot reach the servers at ${tried.map((f) => `${f.server} (${f.why})`).join(', ')}${hint}${rest}`;
}

/**
 * A server list as given to --server ("URL" or "URL1,URL2,...") or saved (a string or a list):
 * the URLs without trailing slashes, duplicates dropped. Throws an Error naming the first entry
 * that is not an http(s) URL.
 */
export function parseServers(value: string | readonly string[]): string[] {
  const entries = typeof value === 'string' ? value.split(',') : [...value];
  const out: string[] = [];
  for (const raw of entries) {
    const text = String(raw).trim();
    if (!text) throw new Error(`an empty server URL in ${JSON.stringify(typeof value === 'string' ? value : value.join(','))} (separate URLs with single commas)`);
    const problem = serverUrlProblem(text);
    if (problem) throw new Error(problem);
    const url = text.replace(/\/+$/, '');
    if (!out.includes(url)) out.push(url);
  }
  if (out.length === 0) throw new Error('no server URL');
  return out;
}

/** How a server list is saved (contexts, agent credentials): one URL as a string, as earlier versions wrote and read it; several as a list. */
export function savedServers(servers: readonly string[]): string | string[] {
  return servers.length === 1 ? servers[0]! : [...servers];
}

function serverUrlProblem(text: string): string | undefined {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (url && (url.protocol === 'http:' || url.protocol === 'https:')) return undefined;
  return `${JSON.stringify(text)} is not a server URL (use e.g. http://127.0.0.1:7070)`;
}
