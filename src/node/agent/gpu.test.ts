import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Instance } from '../../model/kinds/instance.js';
import { GpuShares } from './gpu.js';
import { fakeDevRoot, fakeGpuTools, type FakeGpuTools } from './gpu-testing.js';

let dir: string;
let fake: FakeGpuTools;
let agents: GpuShares[];

function instance(gpus: { index: number; milli: number }[]): Instance {
  return {
    kind: 'instance',
    metadata: { name: 'train', project: 'p', uid: 'u1', revision: 1, generation: 1, createdAt: '2026-01-01T00:00:00Z' },
    spec: { driver: 'process', command: ['x'], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'never', gracePeriod: 1 },
    status: { phase: 'Scheduled', node: 'n1', ...(gpus.length ? { allocation: { gpus } } : {}) },
  };
}

/** An agent's GPU side on the shared data dir, with the fakes first on PATH (and CUDA_VISIBLE_DEVICES set in the agent's own env). */
function agent(devOpts: Parameters<typeof fakeDevRoot>[2] = {}): GpuShares {
  const g = new GpuShares({
    dataDir: join(dir, 'data'),
    env: { PATH: `${fake.bin}:${process.env.PATH}`, CUDA_VISIBLE_DEVICES: '3' },
    extraDirs: [],
    devRoot: fakeDevRoot(dir, [0, 1], devOpts),
    waitMs: 3000,
  });
  agents.push(g);
  return g;
}

const daemonStarts = () => fake.calls().filter((c) => c.startsWith('nvidia-cuda-mps-control -d'));
const quits = () => fake.calls().filter((c) => c === 'command quit');
const pipe = () => join(dir, 'data', 'mps', 'pipe');
const logDir = () => join(dir, 'data', 'mps', 'log');

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-gpu-'));
  fake = fakeGpuTools(join(dir, 'fake'));
  agents = [];
});

afterEach(async () => {
  for (const g of agents) await g.mps.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('GpuShares: what an instance gets', () => {
  it('makes a share an MPS client: pipe and log dirs, SM percentage, memory limit by UUID, the pipe dir mounted read-write, its device nodes', async () => {
    const g = agent();
    const a = await g.attachments(instance([{ index: 0, milli: 500 }]));
    expect(a.env).toEqual({
      CUDA_MPS_PIPE_DIRECTORY: pipe(),
      CUDA_MPS_LOG_DIRECTORY: logDir(),
      CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: '50',
      // 500/1000 × 143771 MiB = 71885.5 → 71885
      CUDA_MPS_PINNED_DEVICE_MEM_LIMIT: 'GPU-c6dbe07f-8881-de54-993f-947b9b1e0bbd=71885M',
    });
    expect(a.mounts).toEqual([{ source: pipe(), destination: pipe(), readOnly: false }]);
    const dev = join(dir, 'dev');
    // not nvidia-cap1 (0400: MIG configuration)
    expect(a.devices).toEqual([`${dev}/nvidiactl`, `${dev}/nvidia-uvm`, `${dev}/nvidia-uvm-tools`, `${dev}/nvidia0`, `${dev}/nvidia-caps/nvidia-cap2`]);
  });

  it('sizes the limits by the share and the device: 250 of #1 (81559 MiB)', async () => {
    const a = await agent().attachments(instance([{ index: 1, milli: 250 }]));
    expect(a.env!.CUDA_MPS_ACTIVE_THREAD_PERCENTAGE).toBe('25');
    // 250/1000 × 81559 = 20389.75 → 20389
    expect(a.env!.CUDA_MPS_PINNED_DEVICE_MEM_LIMIT).toBe('GPU-11111111-2222-3333-4444-555555555555=20389M');
    expect(a.devices).toContain(join(dir, 'dev', 'nvidia1'));
    expect(a.devices).not.toContain(join(dir, 'dev', 'nvidia0'));
  });

  it('names the device by index when nvidia-smi gives no UUID', async () => {
    fake.setGpus([{ index: 0, name: 'Tesla T4', memory: 16384 }]);
    const a = await agent().attachments(instance([{ index: 0, milli: 100 }]));
    expect(a.env!.CUDA_MPS_PINNED_DEVICE_MEM_LIMIT).toBe('0=1638M');
  });

  it('gives whole GPUs their device nodes without MPS, and starts no daemon for them', async () => {
    const a = await agent({ uvmTools: false, caps: false }).attachments(instance([{ index: 0, milli: 1000 }, { index: 1, milli: 1000 }]));
    const dev = join(dir, 'dev');
    expect(a).toEqual({ devices: [`${dev}/nvidiactl`, `${dev}/nvidia-uvm`, `${dev}/nvidia0`, `${dev}/nvidia1`] });
    expect(daemonStarts()).toEqual([]);
  });

  it('puts a shared device in EXCLUSIVE_PROCESS mode before its first share, once, and back to DEFAULT before a whole-GPU instance gets it', async () => {
    const g = agent();
    const modes = () => fake.calls().filter((c) => / -c /.test(c)).map((c) => c.split(' | ')[0]);
    await g.attachments(instance([{ index: 0, milli: 500 }]));
    await g.attachments(instance([{ index: 0, milli: 250 }]));
    expect(modes()).toEqual(['nvidia-smi -i 0 -c EXCLUSIVE_PROCESS']); // so CUDA outside MPS fails on #0
    await g.attachments(instance([{ index: 1, milli: 1000 }])); // #1 was never switched: left alone
    await agent().attachments(instance([{ index: 0, milli: 1000 }])); // a restarted agent knows what it switched
    expect(modes()).toEqual(['nvidia-smi -i 0 -c EXCLUSIVE_PROCESS', 'nvidia-smi -i 0 -c DEFAULT']);
  });

  it('gives an instance without GPUs nothing', async () => {
    expect(await agent().attachments(instance([]))).toEqual({});
    expect(fake.calls()).toEqual([]);
  });
});

describe('GpuShares: the MPS control daemon', () => {
  it('is started once, at the first share, multi-user, with its dirs in the environment and without CUDA_VISIBLE_DEVICES', async () => {
    const g = agent();
    await g.start();
    expect(daemonStarts()).toEqual([]);
    await Promise.all([g.attachments(instance([{ index: 0, milli: 500 }])), g.attachments(instance([{ index: 0, milli: 500 }]))]);
    await g.attachments(instance([{ index: 1, milli: 300 }]));
    expect(daemonStarts()).toEqual([`nvidia-cuda-mps-control -d -M | PIPE=${pipe()} LOG=${logDir()} CVD=unset`]);
    expect(await g.mps.running()).toBeGreaterThan(0);
    // clients of every uid create and connect to sockets there; sticky keeps the daemon's own
    expect(statSync(pipe()).mode & 0o7777).toBe(0o1777);
  });

  it('quits on stop when no share runs, and the daemon is gone', async () => {
    const g = agent();
    await g.attachments(instance([{ index: 0, milli: 500 }]));
    const pid = await g.mps.running();
    await g.stop(false);
    expect(quits()).toEqual(['command quit']);
    expect(fake.calls()).toContain(`nvidia-cuda-mps-control  | PIPE=${pipe()} LOG=${logDir()} CVD=unset`);
    expect(await g.mps.running()).toBeUndefined();
    expect(pid).toBeGreaterThan(0);
  });

  it('is left running on stop while shares run, and a restarted agent keeps it instead of starting another', async () => {
    const first = agent();
    await first.attachments(instance([{ index: 0, milli: 500 }]));
    const pid = await first.mps.running();
    await first.stop(true);
    expect(quits()).toEqual([]);

    const second = agent();
    await second.start();
    expect(await second.mps.running()).toBe(pid);
    await second.attachments(instance([{ index: 0, milli: 500 }]));
    expect(daemonStarts()).toHaveLength(1);
    await second.stop(false);
    expect(quits()).toEqual(['command quit']);
  });

  it('starts a new daemon when the old one is gone (its pid file left behind)', async () => {
    const g = agent();
    await g.attachments(instance([{ index: 0, milli: 500 }]));
    await g.mps.stop();
    await g.attachments(instance([{ index: 0, milli: 500 }]));
    expect(daemonStarts()).toHaveLength(2);
  });

  it('refuses to start a share unisolated when the daemon fails, and says so in the node condition', async () => {
    fake = fakeGpuTools(join(dir, 'fake-other'), { startFails: true });
    const g = agent();
    await expect(g.attachments(instance([{ index: 0, milli: 500 }]))).rejects.toThrow(/GPU share not isolated: the MPS control daemon did not start: .*failed \(1\): An instance of this daemon is already running/);
    expect(await g.condition(true)).toMatchObject({ status: 'False', reason: 'MpsFailed' });
  });
});

describe('GpuShares: the node condition', () => {
  it('with MPS: isolated', async () => {
    expect(await agent().condition(true)).toEqual({ type: 'GpuShares', status: 'True', reason: 'MPS', message: 'isolated by MPS (memory limit and SM percentage; shared devices in EXCLUSIVE_PROCESS mode, so no CUDA outside MPS there)' });
  });

  it('says that leaving MPS stays open where the compute mode cannot be set', async () => {
    fake.computeModeFails();
    const g = agent();
    expect((await g.attachments(instance([{ index: 0, milli: 500 }]))).env?.CUDA_MPS_PIPE_DIRECTORY).toBe(pipe()); // the share still runs under MPS
    expect((await g.condition(true))!.message).toBe('isolated by MPS (memory limit and SM percentage), but a workload that leaves MPS gets the whole device: EXCLUSIVE_PROCESS compute mode could not be set (Setting compute mode is not supported.)');
  });

  it('without nvidia-cuda-mps-control: not isolated, and shares run without MPS', async () => {
    fake = fakeGpuTools(join(dir, 'fake-other'), { mps: false });
    const g = agent();
    expect(await g.condition(true)).toEqual({ type: 'GpuShares', status: 'False', reason: 'NotIsolated', message: 'not isolated (nvidia-cuda-mps-control not found)' });
    const a = await g.attachments(instance([{ index: 0, milli: 500 }]));
    expect(a.env).toBeUndefined();
    expect(a.devices).toContain(join(dir, 'dev', 'nvidia0'));
  });

  it('with an MPS that has no multi-user mode: not isolated (it would queue every uid but one)', async () => {
    fake = fakeGpuTools(join(dir, 'fake-other'), { multiUser: false });
    const g = agent();
    expect((await g.condition(true))!.message).toMatch(/^not isolated \(.*nvidia-cuda-mps-control has no multi-user mode \(-M\)/);
    expect((await g.attachments(instance([{ index: 0, milli: 500 }]))).env).toBeUndefined();
    expect(daemonStarts()).toEqual([]);
  });

  it('on a node without GPUs: none', async () => {
    expect(await agent().condition(false)).toBeUndefined();
  });
});
