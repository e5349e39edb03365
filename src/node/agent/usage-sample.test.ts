import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { existsSync, mkdtempSync, mkdirSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroupPathsOf, memoryPeakBytes, netnsBytes, parseNetDev } from './usage-sample.js';

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  999999      10    0    0    0     0          0         0   999999      10    0    0    0     0       0          0
  eth0:    1500      12    0    0    0     0          0         0      700       9    0    0    0     0       0          0
vxlan1:     100       1    0    0    0     0          0         0       50       1    0    0    0     0       0          0
`;

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'usage-sample-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(path: string, text: string): string {
  mkdirSync(join(dir, path, '..'), { recursive: true });
  writeFileSync(join(dir, path), text);
  return join(dir, path);
}

describe('memoryPeakBytes', () => {
  it('reads memory.max_usage_in_bytes on cgroup v1 (the memory controller\'s directory wins over the v2 tree)', async () => {
    file('v1/memory/t1/memory.max_usage_in_bytes', '73400320\n');
    file('unified/t1/memory.peak', '1\n');
    expect(await memoryPeakBytes({ memory: join(dir, 'v1/memory/t1'), unified: join(dir, 'unified/t1') })).toBe(73400320);
  });

  it('reads memory.peak on cgroup v2', async () => {
    file('unified/t1/memory.peak', '52428800\n');
    expect(await memoryPeakBytes({ unified: join(dir, 'unified/t1') })).toBe(52428800);
  });

  it('is undefined on a v2 kernel without memory.peak (before 5.19), or without cgroups', async () => {
    file('unified/t1/memory.current', '1\n');
    expect(await memoryPeakBytes({ unified: join(dir, 'unified/t1') })).toBeUndefined();
    expect(await memoryPeakBytes({})).toBeUndefined();
  });
});

describe('cgroupPathsOf', () => {
  it('keeps the absolute paths of a handle\'s state.cgroups', () => {
    expect(cgroupPathsOf({ cgroups: { memory: '/sys/fs/cgroup/memory/stratus/t', unified: 'relative', cpu: 3 } })).toEqual({ memory: '/sys/fs/cgroup/memory/stratus/t' });
    expect(cgroupPathsOf({})).toEqual({});
    expect(cgroupPathsOf({ cgroups: ['/a'] })).toEqual({});
  });
});

describe('network bytes', () => {
  it('sums every interface but loopback', () => {
    expect(parseNetDev(NET_DEV)).toEqual({ rx: 1600, tx: 750 });
  });

  it('reads the namespace of the process; none when it shares the agent\'s (host networking)', async () => {
    file('proc/42/net/dev', NET_DEV);
    mkdirSync(join(dir, 'proc/42/ns'), { recursive: true });
    mkdirSync(join(dir, 'proc/self/ns'), { recursive: true });
    symlinkSync('net:[4026532001]', join(dir, 'proc/42/ns/net'));
    symlinkSync('net:[4026531992]', join(dir, 'proc/self/ns/net'));
    expect(await netnsBytes(42, join(dir, 'proc'))).toEqual({ rx: 1600, tx: 750 });
    file('proc/43/net/dev', NET_DEV);
    mkdirSync(join(dir, 'proc/43/ns'), { recursive: true });
    symlinkSync('net:[4026531992]', join(dir, 'proc/43/ns/net'));
    expect(await netnsBytes(43, join(dir, 'proc'))).toBeUndefined();
    expect(await netnsBytes(44, join(dir, 'proc'))).toBeUndefined();
  });
});

const V1_MEMORY = '/sys/fs/cgroup/memory';
const V2_TREE = '/sys/fs/cgroup/unified';
const onHost = process.getuid?.() === 0 && existsSync(V1_MEMORY);

describe.skipIf(!onHost)('on this host\'s cgroups (v1 memory controller, v2 tree without controllers)', () => {
  it('reads the peak of a real v1 cgroup a process allocated in, and none from a v2 tree without the memory controller', async () => {
    const name = `stratus-usage-test-${process.pid}`;
    const v1 = join(V1_MEMORY, name);
    const v2 = join(V2_TREE, name);
    mkdirSync(v1);
    if (existsSync(V2_TREE)) mkdirSync(v2);
    try {
      // joins the cgroup, then holds 32 MiB (touched) until told to exit
      const child = spawn(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(join(v1, 'cgroup.procs'))}, String(process.pid)); globalThis.b = Buffer.alloc(32 * 1024 * 1024, 1); console.log('ok'); setTimeout(() => {}, 60000)`], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise((r) => child.stdout!.once('data', r));
      expect(await memoryPeakBytes({ memory: v1 })).toBeGreaterThan(32 * 1024 * 1024);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      if (existsSync(v2)) expect(await memoryPeakBytes({ unified: v2 })).toBe(existsSync(join(v2, 'memory.peak')) ? 0 : undefined);
    } finally {
      rmdirSync(v1);
      if (existsSync(v2)) rmdirSync(v2);
    }
  });
});
