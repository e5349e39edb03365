import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Instance } from '../../model/kinds/instance.js';
import { parseComputeApps, parseGpuQuery, parsePmon } from './gpu-tools.js';
import { handleCgroupPaths, inCgroups, sampleGpus, usageOf } from './gpu-usage.js';
import { GpuShares } from './gpu.js';
import { fakeGpuTools, type FakeGpuTools } from './gpu-testing.js';

describe('nvidia-smi parsers', () => {
  it('reads compute apps as pid → MiB, adding a pid listed on two devices', () => {
    expect(parseComputeApps('660, 66\n658, 9732\n657, 19972\n658, 100\n[N/A], 5\n')).toEqual(new Map([[660, 66], [658, 9832], [657, 19972]]));
    expect(parseComputeApps('')).toEqual(new Map());
  });

  it('reads pmon by its header, leaving out MPS clients (sm "-")', () => {
    // as driver 580 printed it with two MPS clients and their server
    const text = [
      '# gpu         pid   type     sm    mem    enc    dec    jpg    ofa    command ',
      '# Idx           #    C/G      %      %      %      %      %      %    name ',
      '    0        694   M+C      -      -      -      -      -      -    python3        ',
      '    0        660     C     99     33      -      -      -      -    nvidia-cuda-mps',
      '    0          -     -      -      -      -      -      -      -    -              ',
    ].join('\n');
    expect(parsePmon(text)).toEqual(new Map([[660, 99]]));
  });

  it('reads the GPU query, leaving out [N/A] fields', () => {
    expect(parseGpuQuery('0, GPU-c6dbe07f-8881-de54-993f-947b9b1e0bbd, 143771, 12\n1, [N/A], 81559, [N/A]\n')).toEqual([
      { index: 0, uuid: 'GPU-c6dbe07f-8881-de54-993f-947b9b1e0bbd', memory: 143771, utilization: 12 },
      { index: 1, memory: 81559 },
    ]);
  });
});

describe('pid → cgroup matching', () => {
  const task = ['/sys/fs/cgroup/stratus/p.train.u1', '/sys/fs/cgroup/memory/stratus/p.train.u1'];
  it.each([
    ['cgroup v2', '0::/stratus/p.train.u1\n', true],
    ['a child cgroup of the task (runc, systemd scopes)', '0::/stratus/p.train.u1/init\n', true],
    ['cgroup v1 lines', '12:pids:/user.slice\n4:memory:/stratus/p.train.u1\n', true],
    ['another task', '0::/stratus/p.other.u2\n', false],
    ['a task whose id ends the same', '0::/stratus/xp.train.u1\n', false],
    ['the root cgroup', '0::/\n', false],
    ['the parent of every task', '0::/stratus\n', false],
  ])('%s', (_what, text, expected) => {
    expect(inCgroups(text, task)).toBe(expected);
  });

  it('takes the paths from a handle as a map or a list, ignoring the rest', () => {
    expect(handleCgroupPaths({ state: { cgroups: { unified: '/sys/fs/cgroup/stratus/t', memory: '/sys/fs/cgroup/memory/stratus/t' } } })).toEqual(['/sys/fs/cgroup/stratus/t', '/sys/fs/cgroup/memory/stratus/t']);
    expect(handleCgroupPaths({ state: { cgroups: ['/sys/fs/cgroup/stratus/t', 3, 'relative'] } })).toEqual(['/sys/fs/cgroup/stratus/t']);
    expect(handleCgroupPaths({ state: {} })).toEqual([]);
  });
});

describe('GPU usage of instances', () => {
  let dir: string;
  let fake: FakeGpuTools;
  let proc: string;
  const env = () => ({ PATH: `${fake.bin}:${process.env.PATH}` });
  const inCgroup = (pid: number, path: string) => {
    mkdirSync(join(proc, String(pid)), { recursive: true });
    writeFileSync(join(proc, String(pid), 'cgroup'), `0::${path}\n`);
  };
  const handle = (id: string) => ({ state: { cgroups: { unified: `/sys/fs/cgroup/stratus/${id}` } } });
  const inst = (gpus: { index: number; milli: number }[]) => ({ status: { phase: 'Running', allocation: { gpus } } }) as unknown as Instance;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'stratus-gpu-usage-'));
    fake = fakeGpuTools(join(dir, 'fake'));
    proc = join(dir, 'proc');
    // two MPS clients of share instance A (one in a child cgroup), one of B, the MPS server, a process that is gone
    fake.setComputeApps('101, 9732\n102, 1000\n201, 19972\n660, 66\n999, 5\n');
    inCgroup(101, '/stratus/p.a.u1');
    inCgroup(102, '/stratus/p.a.u1/sub');
    inCgroup(201, '/stratus/p.b.u2');
    inCgroup(660, '/');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('adds up the device memory of the processes in each instance cgroup', async () => {
    const sample = (await sampleGpus(join(fake.bin, 'nvidia-smi'), { env: env(), procRoot: proc }))!;
    expect(usageOf(sample, ['/sys/fs/cgroup/stratus/p.a.u1'], [0], false)).toEqual({ gpuMemory: 10732 });
    expect(usageOf(sample, ['/sys/fs/cgroup/stratus/p.b.u2'], [0], false)).toEqual({ gpuMemory: 19972 });
    expect(usageOf(sample, ['/sys/fs/cgroup/stratus/p.c.u3'], [0], false)).toEqual({ gpuMemory: 0 });
    expect(usageOf(sample, [], [0], false)).toEqual({ gpuMemory: 0 });
    expect(fake.calls().some((c) => c.startsWith('nvidia-smi pmon'))).toBe(false);
  });

  it('takes utilisation per process from pmon when asked, else the device utilisation for whole GPUs', async () => {
    fake.setPmon('# gpu pid type sm mem command\n# Idx # C/G % % name\n 0 201 C 40 10 python3\n 0 202 C 5 1 python3\n');
    inCgroup(202, '/stratus/p.b.u2');
    const sample = (await sampleGpus(join(fake.bin, 'nvidia-smi'), { env: env(), procRoot: proc, pmon: true }))!;
    expect(usageOf(sample, ['/sys/fs/cgroup/stratus/p.b.u2'], [0], false)).toEqual({ gpuMemory: 19972, gpuUtilization: 45 });
    // a whole GPU: device #0 reports 7 %, #1 0 % (the fake's defaults)
    expect(usageOf(sample, ['/sys/fs/cgroup/stratus/p.a.u1'], [0, 1], true)).toEqual({ gpuMemory: 10732, gpuUtilization: 4 });
    // a share under MPS: no per-process figure, and the device's is not its own
    expect(usageOf(sample, ['/sys/fs/cgroup/stratus/p.a.u1'], [0], false)).toEqual({ gpuMemory: 10732 });
  });

  it('goes through GpuShares with a handle, and is undefined for an instance without GPUs or a node without nvidia-smi', async () => {
    const g = new GpuShares({ dataDir: join(dir, 'data'), env: env(), extraDirs: [], procRoot: proc });
    const share = inst([{ index: 0, milli: 500 }]);
    const sample = (await g.sample([share]))!;
    expect(g.usage(sample, share, handle('p.a.u1'))).toEqual({ gpuMemory: 10732 });
    expect(g.usage(sample, inst([]), handle('p.a.u1'))).toBeUndefined();
    // MPS clients have no per-process utilisation: no pmon; without MPS it is asked for
    expect(fake.calls().filter((c) => c.startsWith('nvidia-smi pmon'))).toHaveLength(0);
    const noMps = fakeGpuTools(join(dir, 'fake-no-mps'), { mps: false });
    await new GpuShares({ dataDir: join(dir, 'data2'), env: { PATH: `${noMps.bin}:${process.env.PATH}` }, extraDirs: [] }).sample([share]);
    expect(noMps.calls().filter((c) => c.startsWith('nvidia-smi pmon'))).toHaveLength(1);
    expect(await g.sample([inst([])])).toBeUndefined();
    const none = new GpuShares({ dataDir: join(dir, 'data'), env: { PATH: '/nonexistent' }, extraDirs: [] });
    expect(await none.sample([share])).toBeUndefined();
  });
});
