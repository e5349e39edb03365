/**
 * Service autoscaling end to end: a real server with its embedded agent (usage reports every
 * second), a service whose replicas burn CPU on every request under a 100m CPU limit, and load
 * from autocannon on loopback, bounded in time. It scales from 1 to at least 2 replicas while the
 * load runs and back to 1 after it, while a light load keeps going through the scale-down, with
 * no failed request; a scale-up the project's quota cannot hold says so. Host networking (the
 * service answers on its host port on 127.0.0.1, balanced by the agent), and with the overlay
 * (the service's address, kernel DNAT) when this machine's network namespace is free for it,
 * where the service scales on connections per second (the kernel's per-service counters).
 * Root only, as the other tests that run workloads sandboxed.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import autocannon from 'autocannon';
import { startTestServer, client, overlayNetworking, type TestServer } from './helpers/server.js';
import { until } from './helpers/processes.js';
import { cliRunner } from './helpers/cli.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = process.getuid?.() === 0;

/** The replica: BURN_MS of CPU per request; on SIGTERM it stops listening and exits once its open connections are done. */
const REPLICA = `
const http = require('http');
const srv = http.createServer((req, res) => {
  const end = Date.now() + Number(process.env.BURN_MS); while (Date.now() < end) {}
  res.end('ok ' + process.env.STRATUS_INSTANCE + '\\n');
});
srv.listen(Number(process.env.PORT || 8080));
process.on('SIGTERM', () => srv.close(() => process.exit(0)));
`;

type Api = ReturnType<typeof client>;
interface Autoscale { desiredReplicas: number; current?: number; reason?: string; blocked?: string; decisions?: { from: number; to: number; reason: string }[] }
interface Svc { spec: { replicas: number }; status?: { ready?: number; address?: string; hostPorts?: { port: number; hostPort: number }[]; autoscale?: Autoscale } }

/** A service of 1 replica (100m CPU, `burnMs` of CPU per request) autoscaled between 1 and `max` on `metric`, short cooldowns and window. */
function serviceBody(name: string, metric: string, target: number, max: number, burnMs = 10) {
  return {
    kind: 'service', metadata: { name },
    spec: {
      replicas: 1,
      template: {
        spec: {
          driver: 'process', command: [process.execPath, '-e', REPLICA], env: { BURN_MS: String(burnMs) }, resources: { cpu: '100m', memory: '64Mi' }, gracePeriod: 5,
          ports: [{ port: 8080 }], health: { http: { port: 8080, path: '/' }, interval: 2, timeout: 2 },
        },
      },
      ports: [{ port: 80, targetPort: 8080 }],
      update: { drainSeconds: 3 },
      autoscale: { min: 1, max, metric, target, scaleUpCooldown: '2s', scaleDownCooldown: '5s', window: '5s' },
    },
  };
}

const getSvc = async (api: Api, name: string): Promise<Svc> => (await api('GET', `/v1/projects/default/services/${name}`)).body as Svc;
const replicaCount = async (api: Api, name: string): Promise<number> => {
  const items = (await api('GET', `/v1/projects/default/instances?selector=stratus.io%2Fservice%3D${name}`)).body.items as { status?: { phase?: string } }[];
  return items.filter((i) => !['Succeeded', 'Failed'].includes(i.status?.phase ?? '')).length;
};

/** Until `url` answers: the node's balancer has the ready replica (its view follows the API's by a watch). */
async function answers(url: string): Promise<void> {
  await until(`${url} answers`, () => fetch(url, { signal: AbortSignal.timeout(3000) }).then((r) => r.status, () => 0), (status) => status === 200, 30_000);
}

interface Tally { ok: number; errors: number; timeouts: number; non2xx: number; why: string[] }

/**
 * Load on `url` in bursts of one second of autocannon (`connections` keep-alive connections, at
 * most `rate` requests a second in all, else as fast as answered), until `done()` or `maxMs`. Each
 * burst opens new connections, which the balancers spread over the replicas ready then, and none
 * lives longer than a second: shorter than the replicas' drain (drainSeconds 3), which is what a
 * scale-down promises such clients.
 */
async function loadUntil(url: string, connections: number, rate: number | undefined, done: () => Promise<boolean>, maxMs: number): Promise<Tally> {
  const t: Tally = { ok: 0, errors: 0, timeouts: 0, non2xx: 0, why: [] };
  const end = Date.now() + maxMs;
  do {
    const run = autocannon({ url, connections, duration: 1, ...(rate ? { overallRate: rate } : {}) }) as unknown as PromiseLike<autocannon.Result> & NodeJS.EventEmitter;
    run.on('reqError', (e: Error) => t.why.includes(e.message) || t.why.push(e.message));
    const r = await run;
    Object.assign(t, { ok: t.ok + r['2xx'], errors: t.errors + r.errors, timeouts: t.timeouts + r.timeouts, non2xx: t.non2xx + r.non2xx });
  } while (!(await done()) && Date.now() < end);
  return t;
}

const failed = (t: Tally) => ({ errors: t.errors, timeouts: t.timeouts, non2xx: t.non2xx, why: t.why });

/**
 * Heavy load (`heavy`: connections per burst and requests a second, undefined: as fast as
 * answered) until the service has ≥ 2 ready replicas, then a light load (2 connections, 2 requests
 * a second) through the scale-down back to 1; both without a failed request.
 */
async function scalesUpAndDown(s: TestServer, api: Api, name: string, url: string, heavyLoad: { connections: number; rate?: number }): Promise<void> {
  await answers(url);
  const scaled = async () => ((await getSvc(api, name)).status?.ready ?? 0) >= 2;
  const heavy = await loadUntil(url, heavyLoad.connections, heavyLoad.rate, scaled, 40_000);
  const up = await getSvc(api, name);
  expect(up.status?.ready, `${JSON.stringify(up.status?.autoscale)}\n${s.output().slice(-3000)}`).toBeGreaterThanOrEqual(2);
  expect(up.spec.replicas).toBe(1); // the user's count stays; the autoscaler's is status.autoscale
  expect(up.status!.autoscale!.decisions!.some((d) => d.to > d.from)).toBe(true);
  expect(heavy.ok).toBeGreaterThan(0);
  expect(failed(heavy)).toEqual({ errors: 0, timeouts: 0, non2xx: 0, why: [] });
  // a light load (well under the target on one replica: 2 requests a second, about 20 % of 100m at
  // 10 ms each; 4 a second measured 27.75 % on each of 2 replicas on a loaded CI machine, which
  // rightly kept 2) keeps going while the extra replicas drain
  const one = async () => (await getSvc(api, name)).status?.autoscale?.desiredReplicas === 1 && (await replicaCount(api, name)) === 1;
  const light = await loadUntil(url, 2, 2, one, 60_000);
  const down = await getSvc(api, name);
  expect(await replicaCount(api, name), `${JSON.stringify(down.status?.autoscale)}\n${s.output().slice(-3000)}`).toBe(1);
  expect(down.status!.autoscale!.decisions!.some((d) => d.to < d.from)).toBe(true);
  expect(light.ok).toBeGreaterThan(0);
  expect(failed(light)).toEqual({ errors: 0, timeouts: 0, non2xx: 0, why: [] });
}

describe.skipIf(!root)('service autoscaling, host networking', () => {
  const node = `as-${process.pid}`;
  const base = 41000 + (process.pid % 1000) * 8; // a node-port range of its own
  let s: TestServer;
  let api: Api;

  beforeAll(async () => {
    s = await startTestServer({ agent: true, args: ['--node-name', node, '--network', 'host', '--node-port-range', `${base}-${base + 7}`, '--capacity', 'cpu=16,memory=16Gi', '--usage-interval', '1s'] });
    api = client(s.url, s.token);
    await until('node Ready', () => api('GET', `/v1/nodes/${node}`).then((r) => r.body), (n) => n.status?.phase === 'Ready');
  }, 60_000);

  afterAll(async () => {
    for (const n of ['web', 'capped']) await api?.('DELETE', `/v1/projects/default/services/${n}`).catch(() => undefined);
    await until('replicas gone', () => api('GET', '/v1/projects/default/instances').then((r) => r.body.items.length), (n) => n === 0, 30_000).catch(() => undefined);
    await s?.stop();
    s?.cleanup();
  }, 60_000);

  it('scales 1 → N on CPU under load and back to 1 after it, no request failing', async () => {
    expect((await api('POST', '/v1/projects/default/services', serviceBody('web', 'cpu', 50, 3))).status).toBe(201);
    const svc = await until('web ready on its host port', () => getSvc(api, 'web'), (v) => (v.status?.ready ?? 0) >= 1 && Boolean(v.status?.hostPorts?.length), 60_000, () => s.output().slice(-2000));
    // 2 connections asking as fast as answered keep one replica's 100m busy: 100% against 50%
    await scalesUpAndDown(s, api, 'web', `http://127.0.0.1:${svc.status!.hostPorts![0]!.hostPort}/`, { connections: 2 });
    // a count set by hand would change nothing: the CLI says so
    const dir = mkdtempSync(join(tmpdir(), 'stratus-autoscale-'));
    try {
      const scaled = await cliRunner(join(dir, 'cli.json'), { STRATUS_SERVER: s.url, STRATUS_TOKEN: s.token })(['service', 'scale', 'web', '3']);
      expect(scaled.code).not.toBe(0);
      expect(scaled.stderr).toContain('service "web" is autoscaled between 1 and 3 replicas (spec.autoscale)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);

  it('a scale-up the project\'s quota cannot hold stops at what fits, and says why', async () => {
    // room for the replicas of web (1 left) and 2 of capped: 3 × 100m
    expect((await api('PATCH', '/v1/projects/default', { spec: { quotas: { cpu: '300m' } } }, { 'content-type': 'application/merge-patch+json' })).status).toBe(200);
    try {
      expect((await api('POST', '/v1/projects/default/services', serviceBody('capped', 'cpu', 20, 5))).status).toBe(201);
      const svc = await until('capped ready on its host port', () => getSvc(api, 'capped'), (v) => (v.status?.ready ?? 0) >= 1 && Boolean(v.status?.hostPorts?.length), 60_000);
      await answers(`http://127.0.0.1:${svc.status!.hostPorts![0]!.hostPort}/`);
      const isBlocked = async () => Boolean((await getSvc(api, 'capped')).status?.autoscale?.blocked);
      await loadUntil(`http://127.0.0.1:${svc.status!.hostPorts![0]!.hostPort}/`, 4, undefined, isBlocked, 30_000);
      const blocked = await getSvc(api, 'capped');
      expect(blocked.status!.autoscale!.blocked, s.output().slice(-2000)).toMatch(/^scale-up to \d blocked by project "default" quota: cpu: .* > 300m allowed \(room for \d more\); keeping \d$/);
      expect(blocked.status!.autoscale!.desiredReplicas).toBeLessThanOrEqual(2);
      type Ev = { spec: { reason: string; message: string } };
      await until('a ScaleBlocked event', async () => (await api('GET', '/v1/projects/default/events')).body.items as Ev[], (es) => es.some((e) => e.spec.reason === 'ScaleBlocked' && /quota/.test(e.spec.message)));
    } finally {
      await api('PATCH', '/v1/projects/default', { spec: { quotas: null } }, { 'content-type': 'application/merge-patch+json' });
    }
  }, 120_000);
});

describe.skipIf(!root)('service autoscaling, overlay networking (kernel DNAT, connection counters)', () => {
  const node = `aso-${process.pid}`;
  let s: TestServer;
  let api: Api;

  beforeAll(async () => {
    s = await startTestServer({ agent: true, args: ['--node-name', node, '--capacity', 'cpu=16,memory=16Gi', '--usage-interval', '1s'] });
    api = client(s.url, s.token);
    await until('node Ready', () => api('GET', `/v1/nodes/${node}`).then((r) => r.body), (n) => n.status?.phase === 'Ready');
    await overlayNetworking(api, node); // the service answers at its overlay address
  }, 360_000);

  afterAll(async () => {
    await api?.('DELETE', '/v1/projects/default/services/conn').catch(() => undefined);
    await until('replicas gone', () => api('GET', '/v1/projects/default/instances').then((r) => r.body.items.length), (n) => n === 0, 30_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 2000)); // the agent takes its network down after the last instance
    await s?.stop();
    s?.cleanup();
  }, 60_000);

  it('scales 1 → N on connections per second through the service address and back to 1, no request failing', async () => {
    // bursts of 20 new connections a second (one request each) against a target of 5 per replica; 1 ms of CPU each
    expect((await api('POST', '/v1/projects/default/services', serviceBody('conn', 'connections-per-second', 5, 3, 1))).status).toBe(201);
    const svc = await until('conn ready at its address', () => getSvc(api, 'conn'), (v) => (v.status?.ready ?? 0) >= 1 && Boolean(v.status?.address), 60_000, () => s.output().slice(-2000));
    await scalesUpAndDown(s, api, 'conn', `http://${svc.status!.address}/`, { connections: 20, rate: 20 });
    expect((await getSvc(api, 'conn')).status!.autoscale!.decisions!.find((d) => d.to > d.from)!.reason).toMatch(/^average [\d.]+ against target 5 /);
  }, 150_000);
});
