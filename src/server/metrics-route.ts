/**
 * GET /metrics on the server: Prometheus text. Metrics name every project's instances, so a
 * project member may not read them: the route answers to a cluster admin's token, or to the
 * bearer secret of `--metrics-token-file` (compared in constant time; it grants /metrics and
 * nothing else). Anything else is 401 (no or unknown credentials) or 403 (a valid token that is
 * not a cluster admin's), with the API's usual error body.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiDeps } from '../api/server.js';
import { bearerToken } from '../api/bearer.js';
import { StratusError } from '../model/errors.js';
import type { ServerMetrics } from './metrics.js';
import { sameSecret } from '../node/agent/metrics-token.js';

export { readMetricsToken } from '../node/agent/metrics-token.js';

/** Who may scrape: the scrape secret, or a cluster admin's token; throws 401/403 otherwise. */
export async function authorizeScrape(req: FastifyRequest, deps: Pick<ApiDeps, 'auth' | 'onAuthenticated'>, secret: string | undefined): Promise<void> {
  const token = bearerToken(req.headers.authorization);
  const scraper = secret !== undefined && sameSecret(token, secret);
  const principal = scraper ? undefined : await deps.auth.authenticate(token);
  // an authenticated connection (Prometheus keeps its one open) is not counted against the per-address limit
  deps.onAuthenticated?.(req);
  if (principal && !principal.clusterAdmin) throw new StratusError('STRATUS_ERR_FORBIDDEN', `only cluster admins (or the --metrics-token-file secret) may read /metrics; ${principal.id} is not one`);
}

/** The API plugin serving `metrics` at GET /metrics. */
export function metricsRoute(metrics: ServerMetrics, secret: string | undefined) {
  return (app: FastifyInstance, deps: ApiDeps): void => {
    app.get('/metrics', {
      schema: { hide: true },
      config: { permission: 'public' },
      preHandler: async (req) => authorizeScrape(req, deps, secret),
    }, async (_req, reply) => {
      const text = await metrics.text();
      return reply.type(metrics.contentType).send(text);
    });
  };
}
