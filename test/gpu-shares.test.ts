/**
 * GPU shares end to end on a machine without a GPU: a real server with its embedded agent, the
 * fake `nvidia-smi` and `nvidia-cuda-mps-control` first on its PATH, real (sandboxed) process
 * instances. What a share, a whole GPU and no GPU get inside the instance; GPU memory in
 * `describe instance`; the node's wording; the MPS daemon kept across an agent restart while a share
 * runs, and quit once none does.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, client, instance, type TestServer } from './helpers/server.js';
import { cliRunner } from './helpers/cli.js';
import { agentForgotAll, until } from './helpers/processes.js';
import { fakeGpuTools, type FakeGpuTools } from '../src/node/agent/gpu-testing.js';

const root = process.getuid?.() === 0;
let work: string;
let fake: FakeGpuTools;
let server: TestServer;
let dataDir: string;
let api: ReturnType<typeof client>;
let cli: ReturnType<typeof cliRunner>;

const ENV_DUMP = 'env | grep -E "^(CUDA|NVIDIA)_" | sort; [ -d "$CUDA_MPS_PIPE_DIRECTORY" ] && echo pipe-dir-visible; echo end-of-env; exec sleep 300';

async function start(): Promise<void> {
  server = await startTestServer({ dataDir, agent: true, args: ['--network', 'host'], env: { PATH: `${fake.bin}:${process.env.PATH}` } });
  api = client(server.url, server.token);
  cli = cliRunner(join(work, 'cli.json'));
  expect((await cli(['login', '--server', server.url, '--token', server.token])).code).toBe(0);
}

const status = async (name: string) => (await api('GET', `/v1/projects/default/instances/${name}`)).body.status ?? {};
const logs = (name: string) => until(`logs of ${name}`, async () => (await cli(['logs', name])).stdout, (t) => t.includes('end-of-env'), 30_000, () => server.output());
const envOf = async (name: string) => (await logs(name)).split('\n').filter((l) => l.includes('='));
const daemonStarts = () => fake.calls().filter((c) => c.startsWith('nvidia-cuda-mps-control -d'));

describe.skipIf(!root)('GPU shares on a node (fake NVIDIA tools)', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'stratus-gpu-e2e-'));
    fake = fakeGpuTools(join(work, 'fake'));
    dataDir = join(work, 'data');
    await start();
    for (const [name, gpu] of [['share', { share: 500 }], ['whole', { count: 1 }], ['plain', undefined]] as const) {
      const spec = { command: ['sh', '-c', ENV_DUMP], restartPolicy: 'never', resources: { cpu: '100m', memory: '64Mi', ...(gpu ? { gpu } : {}) } };
      expect((await api('POST', '/v1/projects/default/instances', instance(name, spec))).status).toBe(201);
    }
    for (const name of ['share', 'whole', 'plain']) await until(`${name} running`, () => status(name), (s) => s.phase === 'Running', 30_000, () => server.output());
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('says in describe node that shares are isolated by MPS', async () => {
    const out = (await cli(['describe', 'node', (await api('GET', '/v1/nodes')).body.items[0].metadata.name])).stdout;
    expect(out).toContain('GPU shares:   isolated by MPS (memory limit and SM percentage; shared devices in EXCLUSIVE_PROCESS mode, so no CUDA outside MPS there)');
  });

  it('runs a share as an MPS client of the node daemon, whose pipe dir it sees', async () => {
    const pipe = join(dataDir, 'agent', 'mps', 'pipe');
    expect(await envOf('share')).toEqual([
      'CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50',
      `CUDA_MPS_LOG_DIRECTORY=${join(dataDir, 'agent', 'mps', 'log')}`,
      'CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=GPU-c6dbe07f-8881-de54-993f-947b9b1e0bbd=71885M',
      `CUDA_MPS_PIPE_DIRECTORY=${pipe}`,
      'CUDA_VISIBLE_DEVICES=0',
      'NVIDIA_VISIBLE_DEVICES=0',
    ]);
    expect(await logs('share')).toContain('pipe-dir-visible');
    expect(daemonStarts()).toEqual([`nvidia-cuda-mps-control -d -M | PIPE=${pipe} LOG=${join(dataDir, 'agent', 'mps', 'log')} CVD=unset`]);
  });

  it('gives a whole GPU its device without MPS, and an instance without GPUs neither', async () => {
    expect(await envOf('whole')).toEqual(['CUDA_VISIBLE_DEVICES=1', 'NVIDIA_VISIBLE_DEVICES=1']);
    expect(await envOf('plain')).toEqual([]);
  });

  it('shows the GPU memory of the share\'s processes, found by pid and cgroup, in describe instance', async () => {
    const pid = (await status('share')).pid as number;
    fake.setComputeApps(`${pid}, 9732\n4242, 66\n`);
    const out = await until('gpu usage in describe', async () => (await cli(['describe', 'instance', 'share'])).stdout, (t) => t.includes('gpu memory'));
    expect(out).toMatch(/Usage: +cpu \S+, memory \S+, gpu memory 9732Mi \(at /);
  });

  it('keeps the daemon when the agent stops and comes back while the share runs, and quits it once no share runs', async () => {
    await server.stop();
    expect(server.output()).toContain('left the MPS control daemon');
    expect(fake.calls()).not.toContain('command quit');
    await start();
    await until('daemon kept', async () => server.output(), (o) => o.includes('kept the MPS control daemon'));
    expect(daemonStarts()).toHaveLength(1);
    expect((await status('share')).phase).toBe('Running');

    for (const name of ['share', 'whole', 'plain']) await api('DELETE', `/v1/projects/default/instances/${name}`);
    await agentForgotAll(join(dataDir, 'agent'));
    await server.stop();
    expect(fake.calls()).toContain('command quit');
    expect(server.output()).toContain('stopped the MPS control daemon');
  }, 60_000);
});
