/**
 * The web examples with host networking (`--network host`: what a node without root or nftables
 * gets too): each replica listens on the host port it is given ($PORT), health checks probe it
 * there, and the service answers on its host port (service.status.hostPorts) on 127.0.0.1.
 * Root only, as test/examples.test.ts: without it the process driver runs nothing sandboxed.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, client, ROOT, type TestServer } from './helpers/server.js';
import { cliRunner, type CliResult } from './helpers/cli.js';
import { until } from './helpers/processes.js';

const root = process.getuid?.() === 0;
const has = (cmd: string) => { try { execFileSync('sh', ['-c', 'command -v "$1"', 'sh', cmd]); return true; } catch { return false; } };
const node = `exh-${process.pid}`;
// a node-port range of its own: other test servers on this machine balance their services too
const base = 40000 + (process.pid % 1000) * 16;
let server: TestServer;
let api: ReturnType<typeof client>;
let run: (args: string[]) => Promise<CliResult>;
let dir: string;
const example = (name: string) => join(ROOT, 'examples', name, 'stack.yaml');

interface HostPort { port: number; protocol: string; hostPort: number }

async function httpGet(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return res.text();
}

/** The service once Available, with the host port of its port 80. */
async function available(name: string): Promise<{ hostPort: number; replicas: number }> {
  const svc = await until(`service ${name} Available with host ports`, () => api('GET', `/v1/projects/default/services/${name}`).then((r) => r.body), (s) => s.status?.phase === 'Available' && Boolean(s.status.hostPorts?.length), 90_000, () => server.output().slice(-2000));
  const hostPort = (svc.status.hostPorts as HostPort[]).find((h) => h.port === 80 && h.protocol === 'tcp')!.hostPort;
  expect(hostPort).toBeGreaterThanOrEqual(base);
  expect(hostPort).toBeLessThan(base + 16);
  return { hostPort, replicas: svc.spec.replicas };
}

beforeAll(async () => {
  if (!root) return;
  dir = mkdtempSync(join(tmpdir(), 'stratus-examples-host-'));
  server = await startTestServer({ agent: true, args: ['--node-name', node, '--network', 'host', '--node-port-range', `${base}-${base + 15}`, '--capacity', 'cpu=16,memory=16Gi'] });
  api = client(server.url, server.token);
  run = cliRunner(join(dir, 'cli.json'), { STRATUS_SERVER: server.url, STRATUS_TOKEN: server.token });
  await until('node Ready', () => api('GET', `/v1/nodes/${node}`).then((r) => r.body), (n) => n.status?.phase === 'Ready');
}, 60_000);

afterAll(async () => {
  if (!root) return;
  for (const s of ['static-web', 'web-redis']) await run(['stack', 'rm', s]).catch(() => undefined);
  await until('instances gone', () => api('GET', '/v1/projects/default/instances').then((r) => r.body.items.length), (n) => n === 0).catch(() => undefined);
  await server.stop();
  server.cleanup();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe.skipIf(!root)('examples with host networking', () => {
  it('the node says it runs instances with host networking, and why (its status, describe node)', async () => {
    const n = (await api('GET', `/v1/nodes/${node}`)).body;
    expect(n.status.conditions.find((c: { type: string }) => c.type === 'Networking')).toMatchObject({ reason: 'host', message: 'host networking: chosen with --network host' });
    const described = await run(['describe', 'node', node]);
    expect(described.stdout).toMatch(/Networking[\s\S]*host networking: chosen with --network host/);
  });

  it('static-web becomes ready: each replica on its own host port, the service answering from all three on 127.0.0.1', async () => {
    const res = await run(['apply', '-f', example('static-web')]);
    expect(res.code, res.stderr).toBe(0);
    const { hostPort } = await available('site');
    const replicas = (await api('GET', '/v1/projects/default/instances?selector=stratus.io%2Fservice%3Dsite')).body.items as { status: { hostNetwork?: { ports: HostPort[] } } }[];
    const ports = replicas.map((i) => i.status.hostNetwork?.ports[0]?.hostPort);
    expect(ports.every((p) => typeof p === 'number')).toBe(true);
    expect(new Set(ports).size).toBe(3); // no two replicas fight over 8080
    const seen = new Set<string>();
    for (let i = 0; i < 60 && seen.size < 3; i++) {
      const m = /^hello from Stratus \(replica (site-\w+)\)$/m.exec(await httpGet(`http://127.0.0.1:${hostPort}/`).catch(() => ''));
      if (m) seen.add(m[1]!);
    }
    expect(seen.size).toBe(3);
    const wide = await run(['get', 'services', '-o', 'wide']);
    expect(wide.stdout).toContain(`80:${hostPort}/tcp`);
  });

  it.skipIf(!has('redis-server'))('web-redis becomes ready: web finds Redis at its service\'s host port and counts visits', async () => {
    const res = await run(['apply', '-f', example('web-redis')]);
    expect(res.code, res.stderr).toBe(0);
    const { hostPort } = await available('web');
    const url = `http://127.0.0.1:${hostPort}/`;
    const first = await until('a visit counted', () => httpGet(url).catch((e: Error) => e.message), (b) => /^visits: \d+/.test(b));
    const n = Number(/visits: (\d+)/.exec(first)![1]);
    expect(await httpGet(url)).toMatch(new RegExp(`^visits: ${n + 1} \\(served by web-`));
  });
});
