/**
 * A real Prometheus (Debian's `prometheus`, on loopback, scraping every second with the
 * --metrics-token-file secret as its bearer credentials file) scrapes a real `stratus server`
 * whose embedded agent runs a CPU-burning process instance; PromQL through Prometheus's HTTP API
 * returns that instance's CPU usage rate, from both the usage reports (stratus_instance_*) and the
 * agent's cgroup reads (stratus_agent_instance_*), in one scrape of the server.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, client, type TestServer } from './helpers/server.js';
import { freePort, until } from './helpers/processes.js';
import { hasCommand, teardownTenants } from './helpers/tenants.js';

const missing = hasCommand('prometheus') ? undefined : 'prometheus is not installed (scripts/install-deps.sh --test installs it): skipping the Prometheus scrape test';
if (missing) console.warn(missing);
const SECRET = 'prometheus-test-scrape-secret-0123';

describe.skipIf(missing !== undefined)('a real Prometheus scraping a cloud', () => {
  let dir: string;
  let server: TestServer;
  let admin: ReturnType<typeof client>;
  let prom: ChildProcess;
  let promUrl: string;
  let promOut = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stratus-prometheus-'));
    const tokenFile = join(dir, 'scrape-token');
    writeFileSync(tokenFile, SECRET, { mode: 0o600 });
    server = await startTestServer({ agent: true, args: ['--metrics-token-file', tokenFile, '--network', 'host', '--heartbeat', '500ms'] });
    admin = client(server.url, server.token);
    const target = new URL(server.url).host;
    writeFileSync(join(dir, 'prometheus.yml'), [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: stratus',
      '    metrics_path: /metrics',
      '    authorization:',
      '      type: Bearer',
      `      credentials_file: ${tokenFile}`,
      '    static_configs:',
      `      - targets: ['${target}']`,
      '',
    ].join('\n'));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    prom.stdout!.on('data', (d: Buffer) => (promOut += d.toString()));
    prom.stderr!.on('data', (d: Buffer) => (promOut += d.toString()));
    await until('prometheus is ready', async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.status, (s) => s === 200, 30_000, () => promOut.slice(-2000));
  }, 60_000);

  afterAll(async () => {
    if (prom && prom.exitCode === null) {
      const exited = new Promise((r) => prom.once('exit', r));
      prom.kill('SIGTERM');
      await exited;
    }
    if (server) await teardownTenants(server, admin, ['burn'], dir);
  }, 60_000);

  /** The first sample's value of an instant PromQL query, or undefined when it has none. */
  async function query(promql: string): Promise<number | undefined> {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; data: { result: { value: [number, string] }[] } };
    expect(body.status).toBe('success');
    const v = body.data.result[0]?.value[1];
    return v === undefined ? undefined : Number(v);
  }

  it('returns the CPU usage rate of a CPU-burning instance through PromQL', async () => {
    expect((await admin('POST', '/v1/projects', { metadata: { name: 'burn' }, spec: {} })).status).toBe(201);
    const spec = { driver: 'process', command: ['sh', '-c', 'while :; do :; done'], resources: { cpu: '500m', memory: '64Mi' } };
    expect((await admin('POST', '/v1/projects/burn/instances', { kind: 'instance', metadata: { name: 'spin' }, spec })).status).toBe(201);
    const show = () => `${promOut.slice(-1500)}\n--- server\n${server.output().slice(-1500)}`;
    expect(await until('the target is up', () => query('up{job="stratus"}'), (v) => v === 1, 30_000, show)).toBe(1);
    // the usage reports come every 5 s: a 15 s window holds at least two of them
    const reported = await until('the reported CPU rate', () => query('rate(stratus_instance_cpu_seconds_total{project="burn",name="spin"}[15s])'), (v) => v !== undefined && v > 0, 60_000, show);
    expect(reported).toBeGreaterThan(0);
    const measured = await until('the agent-measured CPU rate', () => query('rate(stratus_agent_instance_cpu_seconds_total{project="burn",name="spin"}[5s])'), (v) => v !== undefined && v > 0, 30_000, show);
    expect(measured).toBeGreaterThan(0);
    expect(await query('stratus_node_allocated{resource="cpu"}')).toBe(0.5);
  }, 120_000);
});
