/**
 * GET /metrics on the agent's listener (logs-server.ts), served only when the agent was given
 * --metrics-token-file: instances in host networking can reach that listener, so the answer
 * needs the scrape secret (constant-time compare). 401 without it or with another, with the
 * API's error body; 405 for other methods.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sameSecret } from './metrics-token.js';

export interface MetricsEndpoint {
  /** The bearer secret a scrape must send. */
  token: string;
  metrics(): Promise<string>;
  contentType: string;
}

export async function serveMetrics(req: IncomingMessage, res: ServerResponse, endpoint: MetricsEndpoint): Promise<void> {
  if (req.method !== 'GET') return fail(res, 405, 'STRATUS_ERR_METHOD_NOT_ALLOWED', `${req.method} /metrics: only GET`);
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (!m) return fail(res, 401, 'STRATUS_ERR_UNAUTHENTICATED', 'no credentials: send "Authorization: Bearer <the --metrics-token-file secret>"');
  if (!sameSecret(m[1]!, endpoint.token)) return fail(res, 401, 'STRATUS_ERR_UNAUTHENTICATED', 'the token is not this agent\'s metrics token');
  try {
    const text = await endpoint.metrics();
    res.writeHead(200, { 'content-type': endpoint.contentType });
    res.end(text);
  } catch (e) {
    fail(res, 500, 'STRATUS_ERR_INTERNAL', `could not collect the metrics: ${(e as Error).message}`);
  }
}

function fail(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { code, status, message } }));
}
