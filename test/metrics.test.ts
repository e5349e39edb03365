/**
 * The server's /metrics (src/server/metrics*.ts): who may read it (a cluster admin, or the
 * --metrics-token-file secret, which grants nothing else; never a project member), and what it
 * says about a real server: API requests by route pattern, store writes, scheduling attempts and
 * pending instances by reason, controller queues, heartbeats, node capacity vs allocation, the
 * usage reports' per-instance series. The shipped Grafana dashboard queries only metrics it serves.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/server/main.js';
import { serverComponents } from '../src/server/components.js';
import { client, ROOT } from './helpers/server.js';
import { until } from './helpers/processes.js';

const TOKEN = 'metrics-test-admin-token-0123456789';
const SCRAPE = 'metrics-test-scrape-secret-abcdef';
let server: RunningServer;
let dir: string;
let admin: ReturnType<typeof client>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-metrics-'));
  writeFileSync(join(dir, 'scrape-token'), `${SCRAPE}\n`, { mode: 0o600 });
  server = await startServer({
    dataDir: dir, port: 0, listen: '127.0.0.1', store: 'memory:', bootstrapToken: TOKEN, metricsTokenFile: join(dir, 'scrape-token'),
    components: serverComponents({ scheduler: true, policy: 'auto' }),
  });
  admin = client(server.url, TOKEN);
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function scrape(token?: string): Promise<{ status: number; text: string; type: string | null }> {
  const res = await fetch(`${server.url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') };
}

/** The value of the series `name{labels}` (labels given as they print, in order), or undefined. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('who may read /metrics', () => {
  it('answers the scrape secret and a cluster admin, in Prometheus text', async () => {
    for (const token of [SCRAPE, TOKEN]) {
      const res = await scrape(token);
      expect(res.status).toBe(200);
      expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(res.text).toContain('# TYPE stratus_api_requests_total counter');
    }
  });

  it('refuses no credentials and a wrong secret (401), and a project member (403), with the usual error body', async () => {
    const none = await scrape();
    expect(none.status).toBe(401);
    expect(JSON.parse(none.text).error.code).toBe('STRATUS_ERR_UNAUTHENTICATED');
    const wrong = await scrape(`${SCRAPE}x`);
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.text).error.code).toBe('STRATUS_ERR_UNAUTHENTICATED');
    expect((await admin('POST', '/v1/projects', { metadata: { name: 'team-a' }, spec: {} })).status).toBe(201);
    const member = await admin('POST', '/v1/tokens', { roles: [{ project: 'team-a', role: 'admin' }] });
    const refused = await scrape(member.body.secret as string);
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.text).error).toMatchObject({ code: 'STRATUS_ERR_FORBIDDEN' });
    expect(JSON.parse(refused.text).error.message).toContain('only cluster admins (or the --metrics-token-file secret) may read /metrics');
  });

  it('the scrape secret grants nothing but /metrics', async () => {
    const res = await client(server.url, SCRAPE)('GET', '/v1/projects');
    expect(res.status).toBe(401);
  });
});

describe('what /metrics says', () => {
  it('counts API requests by route pattern (not raw URL) and times store writes', async () => {
    expect((await admin('POST', '/v1/projects', { metadata: { name: 'm1' }, spec: {} })).status).toBe(201);
    for (const name of ['a', 'b']) expect((await admin('GET', `/v1/projects/m1/instances/${name}`)).status).toBe(404);
    const { text } = await scrape(SCRAPE);
    expect(value(text, 'stratus_api_requests_total{route="/v1/projects/:project/instances/:name",method="GET",code="404"}')).toBeGreaterThanOrEqual(2);
    expect(text).not.toContain('/v1/projects/m1/instances/a');
    expect(value(text, 'stratus_api_request_duration_seconds_count{route="/v1/projects",method="POST"}')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'stratus_store_revision')).toBe(await server.repo.revision());
    expect(value(text, 'stratus_store_txn_duration_seconds_count{result="ok"}')).toBeGreaterThan(0);
    expect(value(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('counts the watch streams open on this server', async () => {
    const controller = new AbortController();
    const res = await fetch(`${server.url}/v1/projects/m1/instances?watch=true`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: controller.signal });
    expect(res.status).toBe(200);
    const open = value((await scrape(SCRAPE)).text, 'stratus_watch_clients');
    controller.abort();
    expect(open).toBe(1);
    expect(await until('the stream is closed', async () => value((await scrape(SCRAPE)).text, 'stratus_watch_clients'), (v) => v === 0, 10_000)).toBe(0);
  });

  it('says what the scheduler tried and why instances wait (no nodes yet), and the controllers\' queues', async () => {
    expect((await admin('POST', '/v1/projects/m1/instances', { kind: 'instance', metadata: { name: 'waits' }, spec: { driver: 'process', command: ['sleep', '1'], resources: { cpu: '250m', memory: '64Mi' } } })).status).toBe(201);
    const text = await until('the instance is tried', async () => (await scrape(SCRAPE)).text, (t) => (value(t, 'stratus_scheduler_pending_instances{reason="NoNodes"}') ?? 0) >= 1, 10_000);
    expect(value(text, 'stratus_scheduler_attempts_total{result="unschedulable"}')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'stratus_scheduler_round_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'stratus_controller_queue_depth{controller="service-controller"}')).toBe(0);
    expect(value(text, 'stratus_controller_queue_depth{controller="project-delete"}')).toBe(0);
  });

  it('counts heartbeats and shows a node\'s capacity, allocatable and what its instances request', async () => {
    const jt = await admin('POST', '/v1/join-tokens', {});
    const joined = await client(server.url, jt.body.secret)('POST', '/v1/nodes/join', { name: 'n1' });
    expect(joined.status).toBe(201);
    const node = client(server.url, joined.body.secret as string);
    const resources = (cpu: number) => ({ cpu, memory: 4096, disk: 10240, gpus: [] });
    const status = { phase: 'Ready', capacity: resources(4000), allocatable: resources(3500), lastHeartbeat: new Date().toISOString(), conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady', message: 'ok' }] };
    expect((await node('PUT', '/v1/nodes/n1/status', status)).status).toBe(200);
    const text = await until('the instance is bound to n1', async () => (await scrape(SCRAPE)).text, (t) => value(t, 'stratus_node_allocated{node="n1",resource="cpu"}') === 0.25, 10_000);
    expect(value(text, 'stratus_agent_heartbeats_received_total{node="n1"}')).toBe(1);
    expect(value(text, 'stratus_node_capacity{node="n1",resource="cpu"}')).toBe(4);
    expect(value(text, 'stratus_node_allocatable{node="n1",resource="cpu"}')).toBe(3.5);
    expect(value(text, 'stratus_node_capacity{node="n1",resource="memory"}')).toBe(4096 * 1024 * 1024);
    expect(value(text, 'stratus_node_allocated{node="n1",resource="memory"}')).toBe(64 * 1024 * 1024);
    expect(value(text, 'stratus_node_allocated{node="n1",resource="instances"}')).toBe(1);
    expect(value(text, 'stratus_scheduler_attempts_total{result="scheduled"}')).toBeGreaterThanOrEqual(1);
  });

  it('drops a deleted node\'s series (node pools add and remove nodes)', async () => {
    const jt = await admin('POST', '/v1/join-tokens', {});
    const joined = await client(server.url, jt.body.secret)('POST', '/v1/nodes/join', { name: 'gone' });
    const resources = { cpu: 1000, memory: 1024, disk: 1024, gpus: [] };
    expect((await client(server.url, joined.body.secret as string)('PUT', '/v1/nodes/gone/status', { phase: 'Ready', capacity: resources, allocatable: resources })).status).toBe(200);
    const before = await until('the node is seen', async () => (await scrape(SCRAPE)).text, (t) => value(t, 'stratus_node_capacity{node="gone",resource="cpu"}') === 1, 10_000);
    expect(value(before, 'stratus_agent_heartbeats_received_total{node="gone"}')).toBe(1);
    expect((await admin('DELETE', '/v1/nodes/gone?force=true')).status).toBeLessThan(300);
    const after = await until('the node is forgotten', async () => (await scrape(SCRAPE)).text, (t) => !t.includes('node="gone"'), 10_000);
    expect(after).not.toContain('node="gone"');
  });

  it('serves each instance\'s latest usage report as stratus_instance_* series labelled project, name, node, service', async () => {
    const inst = (await admin('GET', '/v1/projects/m1/instances/waits')).body;
    server.metrics.attach({ usage: { instances: () => [{ project: 'm1', name: 'waits', node: 'n1', cpuSeconds: 12.5, memory: 100, memoryPeak: 120, pids: 3, netRxBytes: 10, netTxBytes: 20, throttledPeriods: 4, periods: 50, uid: inst.metadata.uid }] } });
    const { text } = await scrape(SCRAPE);
    server.metrics.attach({ usage: server.usage });
    const labels = '{project="m1",name="waits",node="n1",service=""}';
    expect(value(text, `stratus_instance_cpu_seconds_total${labels}`)).toBe(12.5);
    expect(value(text, `stratus_instance_memory_working_set_bytes${labels}`)).toBe(100 * 1024 * 1024);
    expect(value(text, `stratus_instance_memory_peak_bytes${labels}`)).toBe(120 * 1024 * 1024);
    expect(value(text, `stratus_instance_network_transmit_bytes_total${labels}`)).toBe(20);
    expect(value(text, `stratus_instance_cpu_throttled_periods_total${labels}`)).toBe(4);
    expect(text).not.toContain('stratus_instance_gpu_memory_bytes{'); // not reported: no series
  });
});

describe('docs/grafana-dashboard.json', () => {
  it('is valid JSON whose panels query only metrics /metrics serves (server or agent)', async () => {
    const dashboard = JSON.parse(readFileSync(join(ROOT, 'docs', 'grafana-dashboard.json'), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(5);
    const names = new Set(exprs.flatMap((e) => e.match(/\b(stratus_[a-z_]+|process_[a-z_]+)\b/g) ?? []));
    const { text } = await scrape(SCRAPE);
    const served = new Set([...text.matchAll(/^# TYPE (\S+) (\w+)/gm)].flatMap(([, name, type]) => (type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!])));
    // the agent's own series come from an agent's registry (the embedded agent's are in the server's scrape)
    const { AgentMetrics } = await import('../src/node/agent/metrics.js');
    const agentText = await new AgentMetrics(() => []).metrics();
    for (const [, name, type] of agentText.matchAll(/^# TYPE (\S+) (\w+)/gm)) for (const n of type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!]) served.add(n);
    const missing = [...names].filter((n) => !served.has(n));
    expect(missing).toEqual([]);
  });
});
