/**
 * The web dashboard at /ui (web/, built into web/dist by scripts/build-web.mjs), same origin as
 * the API, so the browser's requests are ordinary API requests carrying the user's token:
 *
 *   GET /ui              → 302 /ui/
 *   GET /ui/assets/<f>   → the bundle's files (content-hashed names: cached for a year, immutable;
 *                          brotli or gzip copies when the browser accepts them)
 *   GET /ui/<anything>   → index.html (the app routes in the browser; revalidated on every load)
 *
 * Public routes (they hold no data: the app logs in with a token and calls /v1). Every answer
 * carries a Content-Security-Policy that allows only this origin's scripts, styles and
 * connections (no inline script, no eval, no framing), plus nosniff and no-referrer. Without a
 * build, the pages answer 503 STRATUS_ERR_UNAVAILABLE saying how to build it.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { StratusError } from '../model/errors.js';

/** The dashboard's build: web/dist beside src/ and dist/ (both two levels below the root). */
export const UI_DIST = resolve(import.meta.dirname, '..', '..', 'web', 'dist');

export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "manifest-src 'self'",
].join('; ');

const HEADERS = {
  'content-security-policy': UI_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

/** The dashboard's routes serving the build in `dist`, as an API plugin. */
export function uiPlugin(dist = UI_DIST): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    await app.register((scope) => routes(scope, dist));
  };
}

async function routes(scope: FastifyInstance, dist: string): Promise<void> {
  scope.addHook('onSend', async (_req, reply) => {
    reply.headers(HEADERS);
  });
  const assets = join(dist, 'assets');
  if (existsSync(assets)) {
    await scope.register(fastifyStatic, {
      root: assets,
      prefix: '/ui/assets/',
      decorateReply: false,
      index: false,
      immutable: true,
      maxAge: '365d',
      cacheControl: true,
      // scripts/build-web.mjs writes .br and .gz copies of the script and stylesheet
      preCompressed: true,
    });
  }
  const config = { permission: 'public' as const };
  const schema = { hide: true };
  scope.get('/ui', { config, schema }, async (_req, reply) => reply.redirect('/ui/', 302));
  scope.get('/ui/', { config, schema }, async (_req, reply) => sendIndex(reply, dist));
  scope.get('/ui/*', { config, schema }, async (_req, reply) => sendIndex(reply, dist));
}

/** The dashboard of this installation's build (src/server/main.ts registers it). */
export const uiRoutes = uiPlugin();

async function sendIndex(reply: FastifyReply, dist: string): Promise<FastifyReply> {
  let html: string;
  try {
    html = await readFile(join(dist, 'index.html'), 'utf8');
  } catch {
    throw new StratusError('STRATUS_ERR_UNAVAILABLE', `the dashboard is not built (no ${join(dist, 'index.html')}): run npm run build`);
  }
  return reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(html);
}
