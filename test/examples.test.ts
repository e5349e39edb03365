/** Every example under examples/ is applied on a real one-machine cloud and does what it says. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, client, overlayNetworking, ROOT, type TestServer } from './helpers/server.js';
import { cliRunner, type CliResult } from './helpers/cli.js';

const root = process.getuid?.() === 0;
const has = (cmd: string) => { try { execFileSync('sh', ['-c', 'command -v "$1"', 'sh', cmd]); return true; } catch { return false; } };
let server: TestServer;
let api: ReturnType<typeof client>;
let run: (args: string[]) => Promise<CliResult>;
let dir: string;
const example = (name: string) => join(ROOT, 'examples', name, 'stack.yaml');

async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean, ms = 90_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get().catch(() => undefined as T);
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > end) throw new Error(`condition not met: ${JSON.stringify(v).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function httpGet(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return res.text();
}

beforeAll(async () => {
  if (!root) return;
  dir = mkdtempSync(join(tmpdir(), 'stratus-examples-'));
  server = await startTestServer({ agent: true, args: ['--node-name', `ex-${process.pid}`, '--capacity', 'cpu=16,memory=16Gi'] });
  api = client(server.url, server.token);
  run = cliRunner(join(dir, 'cli.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token });
  await until(() => api('GET', '/v1/nodes').then((r) => r.body.items), (ns: { status?: { phase: string } }[]) => ns.some((n) => n.status?.phase === 'Ready'));
  await overlayNetworking(api, `ex-${process.pid}`); // services answer at their overlay address
}, 420_000);

afterAll(async () => {
  if (!root) return;
  for (const s of ['batch-job', 'static-web', 'web-redis']) await run(['stack', 'rm', s]).catch(() => undefined);
  await until(() => api('GET', '/v1/projects/default/instances').then((r) => r.body.items.length), (n) => n === 0, 30_000).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 2000));
  await server.stop();
  server.cleanup();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe.skipIf(!root)('examples', () => {
  it('batch-job runs to completion and logs its result', async () => {
    const res = await run(['apply', '-f', example('batch-job')]);
    expect(res.code, res.stderr).toBe(0);
    await until(() => api('GET', '/v1/projects/default/instances/primes').then((r) => r.body.status?.phase), (p) => p === 'Succeeded');
    expect((await run(['logs', 'primes'])).stdout).toBe('2262 primes up to 20000\n');
  });

  it('static-web serves from all three replicas behind its address', async () => {
    const res = await run(['apply', '-f', example('static-web')]);
    expect(res.code, res.stderr).toBe(0);
    const svc = await until(() => api('GET', '/v1/projects/default/services/site').then((r) => r.body), (s) => s.status?.phase === 'Available' && Boolean(s.status.address));
    const seen = new Set<string>();
    for (let i = 0; i < 60 && seen.size < 3; i++) {
      const body = await httpGet(`http://${svc.status.address}/`).catch(() => '');
      const m = /^hello from Stratus \(replica (site-\w+)\)$/m.exec(body);
      if (m) seen.add(m[1]!);
    }
    expect(seen.size).toBe(3);
  });

  it.skipIf(!has('redis-server'))('web-redis starts Redis first, then counts visits in it', async () => {
    const res = await run(['apply', '-f', example('web-redis')]);
    expect(res.code, res.stderr).toBe(0);
    const redis = (await api('GET', '/v1/projects/default/services/redis')).body;
    const web = (await api('GET', '/v1/projects/default/services/web')).body;
    expect(Date.parse(web.metadata.createdAt)).toBeGreaterThanOrEqual(Date.parse(redis.status.conditions.find((c: { type: string }) => c.type === 'Available').lastTransitionTime));
    const url = `http://${web.status.address}/`;
    const first = await until(() => httpGet(url), (b) => /^visits: \d+/.test(b));
    const n = Number(/visits: (\d+)/.exec(first)![1]);
    expect(await httpGet(url)).toMatch(new RegExp(`^visits: ${n + 1} \\(served by web-`));
  });
});
