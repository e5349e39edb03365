/**
 * Metering accuracy end to end (issue 18): a real server, a standalone agent process with the fake
 * `nvidia-smi` first on its PATH, reporting every second. A process instance burns CPU under a
 * 500m limit for BURN_S seconds; another holds half a GPU. Midway the agent is killed (SIGKILL)
 * and started again, and later the server is killed (SIGKILL, no final flush) and started again.
 * At the end the metered records (read from the store with the reader every server uses) must
 * match the cgroup's own CPU counter within 1 %, the wall-clock expectation (0.5 × the burn's own
 * measured duration) within 2 % (less, on a busy machine, 50 ms for each CFS period in which the
 * kernel did not throttle the busy loop, i.e. did not grant it its quota: cpu.stat nr_periods −
 * nr_throttled), and the GPU share's seconds the time it held it.
 *
 * BURN_S is 30 s, not the 60 s: at 500m that is 15 CPU-seconds, so 1 % is 0.15 s, less
 * than a third of what one lost or doubled report interval (1 s here) would add; the criterion
 * still tells a meter that loses or doubles an interval from one that does not.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, client, type TestServer } from './helpers/server.js';
import { agentForgotAll, freePort, sleep, startAgentProcess, until, type AgentProcess } from './helpers/processes.js';
import { fakeGpuTools } from '../src/node/agent/gpu-testing.js';
import { openBackend } from '../src/store/index.js';
import { Records } from '../src/store/records.js';
import { StoreMeterReader } from '../src/runtime/metering-store.js';
import type { InstanceMeter, MeterRecords } from '../src/model/metering.js';

const root = process.getuid?.() === 0;
const BURN_S = 30;
const NODE = `meter-${process.pid % 100000}`;
const P = '/v1/projects/default/instances';
// burns for BURN_S seconds of wall-clock (bash's own clock, microseconds), says when, then sleeps
const BURNER = `s=\${EPOCHREALTIME/./}; end=$((s + ${BURN_S}000000)); while (( \${EPOCHREALTIME/./} < end )); do :; done; echo "burned $s \${EPOCHREALTIME/./}"; exec sleep 3600`;

let work: string;
let port: number;
let server: TestServer;
let agent: AgentProcess;
let joinToken: string;
const api = () => client(server.url, server.token);
const serverArgs = () => ['--port', String(port), '--metering-flush', '2s'];
const startAgent = () => startAgentProcess(server.url, joinToken, join(work, 'agent'), NODE, ['--usage-interval', '1s', '--heartbeat', '1s']);

async function running(name: string): Promise<{ metadata: { uid: string }; status: { pid: number; allocation?: { gpus?: { index: number; milli: number }[] } } }> {
  return until(`${name} running`, async () => (await api()('GET', `${P}/${name}`)).body, (i) => i.status?.phase === 'Running' && i.status.pid !== undefined, 60_000, () => agent?.out() ?? '');
}

/** The CPU seconds the instance's cgroup counted, read as the agent reads them (cgroup v2 cpu.stat usage_usec, else v1 cpuacct.usage). */
function cgroupCpuSeconds(pid: number): number {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').map((l) => l.split(':'));
  const v2 = lines.find((l) => l[0] === '0')?.[2];
  const unified = existsSync('/sys/fs/cgroup/unified') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup';
  const stat = v2 !== undefined ? join(unified, v2, 'cpu.stat') : '';
  if (stat && existsSync(stat)) {
    const usec = /^usage_usec (\d+)$/m.exec(readFileSync(stat, 'utf8'));
    if (usec && Number(usec[1]) > 0) return Number(usec[1]) / 1e6;
  }
  const v1 = lines.find((l) => l[1]!.split(',').includes('cpuacct'))![2]!;
  const dir = readdirCpuacct();
  return Number(readFileSync(join(dir, v1, 'cpuacct.usage'), 'utf8').trim()) / 1e9;
}
/**
 * CPU time the kernel's own accounting shows the burner did not get for other work than its quota:
 * a busy loop that was not throttled in a CFS period did not get its quota in it (another task had
 * the CPU), so 0.5 × wall overstates what it could use by at most a quota (50 ms) per such period.
 * From cpu.stat's nr_periods and nr_throttled (v2 where the cpu controller is there, else v1).
 */
function quotaNotGranted(pid: number): number {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').map((l) => l.split(':'));
  const v2 = lines.find((l) => l[0] === '0')?.[2];
  const unified = existsSync('/sys/fs/cgroup/unified') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup';
  let stat = v2 !== undefined && existsSync(join(unified, v2, 'cpu.stat')) ? readFileSync(join(unified, v2, 'cpu.stat'), 'utf8') : '';
  if (!/^nr_periods /m.test(stat)) {
    const cpu = lines.find((l) => l[1]!.split(',').includes('cpu'))![2]!;
    const dir = ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct'].find((d) => existsSync(join(d, cpu, 'cpu.stat')))!;
    stat = readFileSync(join(dir, cpu, 'cpu.stat'), 'utf8');
  }
  const periods = Number(/^nr_periods (\d+)$/m.exec(stat)![1]);
  const throttled = Number(/^nr_throttled (\d+)$/m.exec(stat)![1]);
  console.log(`metering: ${periods} CFS periods, throttled in ${throttled}`);
  return 0.05 * (periods - throttled);
}
const readdirCpuacct = () => ['/sys/fs/cgroup/cpuacct', '/sys/fs/cgroup/cpu,cpuacct'].find((d) => existsSync(d))!;

/** One instance's rows summed over the hours. */
function total(rows: InstanceMeter[], uid: string): { seconds: number; cpuSeconds: number; cpuReservedSeconds: number; gpu: Map<string, number> } {
  const out = { seconds: 0, cpuSeconds: 0, cpuReservedSeconds: 0, gpu: new Map<string, number>() };
  for (const r of rows.filter((x) => x.uid === uid)) {
    out.seconds += r.seconds;
    out.cpuSeconds += r.cpuSeconds;
    out.cpuReservedSeconds += r.cpuReservedSeconds;
    for (const g of r.gpu ?? []) out.gpu.set(`${g.model} ${g.share}`, (out.gpu.get(`${g.model} ${g.share}`) ?? 0) + g.seconds);
  }
  return out;
}

describe.skipIf(!root)('metering accuracy (cgroup counters, fake nvidia-smi, agent and server restarts)', () => {
  const path = process.env.PATH;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'stratus-metering-'));
    const fake = fakeGpuTools(join(work, 'fake'));
    process.env.PATH = `${fake.bin}:${path}`; // the agent process inherits it
    port = await freePort();
    server = await startTestServer({ args: serverArgs() });
    joinToken = (await api()('POST', '/v1/join-tokens', {})).body.secret as string;
    agent = await startAgent();
  }, 60_000);

  afterAll(async () => {
    process.env.PATH = path;
    try {
      if (server.proc.exitCode !== null) server = await startTestServer({ dataDir: server.dataDir, args: serverArgs() });
      if (agent.proc.exitCode !== null) agent = await startAgent();
      for (const n of ['burner', 'gpu']) await api()('DELETE', `${P}/${n}`);
      await agentForgotAll(join(work, 'agent'));
    } catch (e) {
      console.error(`cleanup: ${(e as Error).message}`);
    }
    await agent?.stop();
    await server?.stop();
    server?.cleanup();
    rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('meters CPU-seconds within 1 % of the cgroup counter and 2 % of the wall clock, and GPU share-seconds, across agent and server restarts', async () => {
    const since = new Date(Date.now() - 3_600_000);
    const burner = { kind: 'instance', metadata: { name: 'burner' }, spec: { driver: 'process', command: ['bash', '-c', BURNER], restartPolicy: 'never', resources: { cpu: '500m', memory: '64Mi' } } };
    const gpu = { kind: 'instance', metadata: { name: 'gpu' }, spec: { driver: 'process', command: ['sleep', '3600'], resources: { cpu: '100m', memory: '64Mi', gpu: { share: 500 } } } };
    expect((await api()('POST', P, burner)).status).toBe(201);
    expect((await api()('POST', P, gpu)).status).toBe(201);
    const b = await running('burner');
    const g = await running('gpu');
    const gpuStart = Date.now();
    const nodeGpus = (await api()('GET', `/v1/nodes/${NODE}`)).body.status.capacity.gpus as { index: number; model: string }[];

    await sleep(8_000);
    await agent.kill(); // mid-interval: its last report was up to a second ago
    await sleep(1_500);
    agent = await startAgent();
    await sleep(8_000);
    await server.kill(); // no final flush: the next server continues from the last one (2 s)
    await sleep(1_000);
    server = await startTestServer({ dataDir: server.dataDir, args: serverArgs() });

    const logs = await until('the burn ends', async () => String((await api()('GET', `${P}/burner/logs`)).body ?? ''), (t) => /burned \d+ \d+/.test(t), 60_000, () => agent.out());
    const [, s, e] = /burned (\d+) (\d+)/.exec(logs)!;
    const wall = (Number(e) - Number(s)) / 1e6;
    // two reports after the burn, then no more reports: what the counter says is final
    const seen = Date.now();
    await until('reports after the burn', async () => (await api()('GET', `${P}/burner/usage`)).body.latest?.at as string | undefined, (at) => at !== undefined && Date.parse(at) > seen + 1_000, 30_000);
    await agent.stop();
    const gpuHeld = (Date.now() - gpuStart) / 1000;
    const counter = cgroupCpuSeconds(b.status.pid);
    const waited = quotaNotGranted(b.status.pid);
    await server.stop(); // flushes

    const backend = await openBackend(`sqlite://${join(server.dataDir, 'stratus.db')}`);
    let records: MeterRecords;
    try {
      records = await new StoreMeterReader(new Records(backend)).read({ since, until: new Date(Date.now() + 3_600_000), project: 'default' });
    } finally {
      await backend.close();
    }
    const burned = total(records.instances, b.metadata.uid);
    console.log(`metering: burn ${wall.toFixed(3)} s wall (quota not granted: at most ${waited.toFixed(3)} s), cgroup ${counter.toFixed(3)} CPU-s, metered ${burned.cpuSeconds.toFixed(3)} CPU-s over ${burned.seconds.toFixed(1)} s`);
    expect(Math.abs(burned.cpuSeconds - counter) / counter).toBeLessThan(0.01);
    // 0.5 × wall-clock holds on a machine with a CPU free; on a busy one (other tests on 2 cores) the
    // kernel does not always grant the quota, and says in which periods it did not
    expect(burned.cpuSeconds).toBeLessThan(wall * 0.5 * 1.02);
    expect(burned.cpuSeconds).toBeGreaterThan(wall * 0.5 * 0.98 - waited);
    expect(burned.cpuReservedSeconds).toBeCloseTo(burned.seconds * 0.5, 6);

    const held = total(records.instances, g.metadata.uid);
    const index = g.status.allocation!.gpus![0]!.index;
    const model = nodeGpus.find((x) => x.index === index)!.model;
    expect([...held.gpu.keys()]).toEqual([`${model} 0.5`]);
    expect(held.gpu.get(`${model} 0.5`)).toBeCloseTo(held.seconds, 6);
    // the time it held the share, less what falls before its first report and after its last (a second each)
    expect(held.seconds).toBeGreaterThan(gpuHeld - 3);
    expect(held.seconds).toBeLessThanOrEqual(gpuHeld);
  }, 240_000);
});
