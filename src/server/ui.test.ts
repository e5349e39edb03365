import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { toErrorResponse } from '../api/errors.js';
import { UI_CSP, uiPlugin } from './ui.js';

let app: FastifyInstance | undefined;
let dir: string | undefined;

afterEach(async () => {
  await app?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  app = dir = undefined;
});

/** An app serving a dashboard build made of `files` (none: no build at all). */
async function serve(files?: Record<string, string>): Promise<FastifyInstance> {
  dir = mkdtempSync(join(tmpdir(), 'stratus-ui-'));
  const dist = join(dir, 'dist');
  if (files) {
    mkdirSync(join(dist, 'assets'), { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dist, name), text);
  }
  app = Fastify();
  app.setErrorHandler((e, _req, reply) => {
    const { status, body } = toErrorResponse(e);
    return reply.code(status).send(body);
  });
  await uiPlugin(dist)(app);
  return app;
}

const BUILD = { 'index.html': '<!doctype html><title>Stratus</title>', 'assets/main-ABC.js': 'console.log(1)' };

describe('the dashboard at /ui', () => {
  it('redirects /ui to /ui/', async () => {
    const res = await (await serve(BUILD)).inject('/ui');
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('/ui/');
  });

  it('answers every path below /ui with index.html, revalidated, under a same-origin-only CSP', async () => {
    const a = await serve(BUILD);
    for (const path of ['/ui/', '/ui/instances', '/ui/projects/p/instances/web']) {
      const res = await a.inject(path);
      expect(res.statusCode, path).toBe(200);
      expect(res.body).toBe(BUILD['index.html']);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.headers['content-security-policy']).toBe(UI_CSP);
      expect(res.headers['x-frame-options']).toBe('DENY');
    }
    expect(UI_CSP).toContain("script-src 'self'");
    expect(UI_CSP).not.toMatch(/unsafe-(inline|eval)/);
  });

  it('serves the hashed assets as immutable, and 404s a missing one', async () => {
    const a = await serve(BUILD);
    const res = await a.inject('/ui/assets/main-ABC.js');
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('console.log(1)');
    expect(res.headers['cache-control']).toContain('immutable');
    expect(res.headers['content-security-policy']).toBe(UI_CSP);
    expect((await a.inject('/ui/assets/nope.js')).statusCode).toBe(404);
  });

  it('sends the build\'s brotli copy to a browser that accepts it', async () => {
    const a = await serve({ ...BUILD, 'assets/main-ABC.js.br': 'BROTLI' });
    const res = await a.inject({ url: '/ui/assets/main-ABC.js', headers: { 'accept-encoding': 'gzip, br' } });
    expect(res.headers['content-encoding']).toBe('br');
    expect(res.body).toBe('BROTLI');
    expect((await a.inject('/ui/assets/main-ABC.js')).body).toBe('console.log(1)');
  });

  it('says how to build the dashboard when there is no build', async () => {
    const res = await (await serve()).inject('/ui/');
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('STRATUS_ERR_UNAVAILABLE');
    expect(res.json().error.message).toMatch(/npm run build/);
  });
});
