import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentMetrics, type RunnerView } from './metrics.js';
import { LogsServer } from './logs-server.js';
import type { Driver, TaskHandle } from '../drivers/index.js';
import type { Instance } from '../../model/kinds/instance.js';

const dir = mkdtempSync(join(tmpdir(), 'stratus-agent-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A cgroup v2 directory as the kernel shows it: 2.5 s of CPU, 30 of 200 periods throttled, 10 MiB of which 2 inactive, 3 tasks. */
function cgroupV2(): string {
  const cg = mkdtempSync(join(dir, 'cg-'));
  writeFileSync(join(cg, 'cpu.stat'), 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 200\nnr_throttled 30\nthrottled_usec 90000\n');
  writeFileSync(join(cg, 'memory.current'), String(10 * 1024 * 1024));
  writeFileSync(join(cg, 'memory.stat'), `anon 1000\ninactive_file ${2 * 1024 * 1024}\n`);
  writeFileSync(join(cg, 'memory.max'), 'max\n');
  writeFileSync(join(cg, 'pids.current'), '3\n');
  return cg;
}

const instance = (name: string, phase: string, labels: Record<string, string> = {}): Instance => ({
  kind: 'instance',
  metadata: { name, project: 'p1', uid: `uid-${name}`, revision: 1, generation: 1, createdAt: new Date(0).toISOString(), labels },
  spec: { driver: 'process', resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'never', gracePeriod: 10 },
  status: { phase: phase as 'Running', node: 'n1' },
} as Instance);

const handle = (state: Record<string, unknown>): TaskHandle => ({ driver: 'process', taskId: 't', pid: 1, startedAt: new Date(0).toISOString(), dir, state } as unknown as TaskHandle);

/** A driver whose stats() says 1.5 s of CPU and 8 MiB (for runs without cgroup paths), counting its calls. */
function statsDriver(): Driver & { calls: number } {
  const d = {
    name: 'mock', calls: 0,
    stats: async () => {
      d.calls++;
      return { at: '', cpu: 5, cpuUsageNs: 1.5e9, memory: 8, memoryBytes: 9 * 1024 * 1024, source: 'mock' as const };
    },
  };
  return d as unknown as Driver & { calls: number };
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('AgentMetrics', () => {
  it('reads each running instance\'s cgroup at scrape time, without calling the driver\'s stats()', async () => {
    const driver = statsDriver();
    const runners: RunnerView[] = [
      { instance: instance('web-1', 'Running', { 'stratus.io/service': 'web' }), handle: handle({ cgroups: { unified: cgroupV2() } }), driver },
      { instance: instance('idle', 'Pending') },
    ];
    const text = await new AgentMetrics(() => runners, { defaults: false }).metrics();
    const l = '{project="p1",name="web-1",service="web"}';
    expect(value(text, `stratus_agent_instance_cpu_seconds_total${l}`)).toBe(2.5);
    expect(value(text, `stratus_agent_instance_cpu_throttled_periods_total${l}`)).toBe(30);
    expect(value(text, `stratus_agent_instance_cpu_periods_total${l}`)).toBe(200);
    expect(value(text, `stratus_agent_instance_memory_usage_bytes${l}`)).toBe(10 * 1024 * 1024);
    expect(value(text, `stratus_agent_instance_memory_working_set_bytes${l}`)).toBe(8 * 1024 * 1024);
    expect(value(text, `stratus_agent_instance_pids${l}`)).toBe(3);
    expect(text).not.toContain('name="idle"');
    expect(value(text, 'stratus_agent_runners{phase="Running"}')).toBe(1);
    expect(value(text, 'stratus_agent_runners{phase="Pending"}')).toBe(1);
    expect(driver.calls).toBe(0);
    expect(text).not.toContain('process_cpu_seconds_total'); // defaults off (embedded: the server has them)
  });

  it('reads a run without cgroup paths through the driver\'s stats()', async () => {
    const driver = statsDriver();
    const text = await new AgentMetrics(() => [{ instance: instance('m', 'Running'), handle: handle({}), driver }]).metrics();
    expect(value(text, 'stratus_agent_instance_cpu_seconds_total{project="p1",name="m",service=""}')).toBe(1.5);
    expect(driver.calls).toBe(1);
    expect(text).toContain('process_cpu_seconds_total');
  });

  it('counts heartbeats, stats rounds and timed driver starts', async () => {
    const m = new AgentMetrics(() => [], { defaults: false });
    m.heartbeat(true);
    m.heartbeat(false);
    m.statsRound(0.01);
    const started = m.timed({ name: 'process', start: async () => handle({}) } as unknown as Driver);
    await started.start({} as never);
    const failing = m.timed({ name: 'process', start: async () => Promise.reject(new Error('no')) } as unknown as Driver);
    await expect(failing.start({} as never)).rejects.toThrow('no');
    const text = await m.metrics();
    expect(value(text, 'stratus_agent_heartbeats_total{result="ok"}')).toBe(1);
    expect(value(text, 'stratus_agent_heartbeats_total{result="failed"}')).toBe(1);
    expect(value(text, 'stratus_agent_stats_round_duration_seconds_count')).toBe(1);
    expect(value(text, 'stratus_agent_driver_start_duration_seconds_count{driver="process",result="ok"}')).toBe(1);
    expect(value(text, 'stratus_agent_driver_start_duration_seconds_count{driver="process",result="error"}')).toBe(1);
  });
});

describe('GET /metrics on the agent\'s listener', () => {
  const noRuns = { find: () => undefined, running: () => undefined };
  const SECRET = 'agent-scrape-secret-0123456789';

  async function serve(withMetrics: boolean): Promise<{ url: string; close: () => Promise<void> }> {
    const m = new AgentMetrics(() => [], { defaults: false });
    const server = new LogsServer('node-credential', noRuns, () => Date.now(), withMetrics ? { token: SECRET, metrics: () => m.metrics(), contentType: m.contentType } : undefined);
    return { url: await server.listen('127.0.0.1', 0), close: () => server.close() };
  }

  it('is 404 when the agent has no --metrics-token-file', async () => {
    const s = await serve(false);
    const res = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${SECRET}` } });
    expect(res.status).toBe(404);
    await s.close();
  });

  it('answers only the secret: 401 without it or with another, with the usual error body', async () => {
    const s = await serve(true);
    const ok = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${SECRET}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('# TYPE stratus_agent_runners gauge');
    for (const headers of [{}, { authorization: `Bearer ${SECRET}x` }, { authorization: 'Bearer node-credential' }] as Record<string, string>[]) {
      const res = await fetch(`${s.url}/metrics`, { headers });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('STRATUS_ERR_UNAUTHENTICATED');
    }
    await s.close();
  });
});
