import { describe, expect, it } from 'vitest';
import { TaskCgroup, controllerVersion, cpuQuotaUs, cpuShares, cpuWeight, describeCgroups, parseCgroupMounts, parseFlatKeyed, type CgroupHost } from './cgroups.js';

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;

const COMOUNTED_V1 = `25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
26 24 0:23 / /sys/fs/cgroup/memory rw,nosuid shared:10 - cgroup cgroup rw,memory`;

const PURE_V2 = `29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`;

describe('parseCgroupMounts', () => {
  it.each([
    ['hybrid', HYBRID, { cpu: '/sys/fs/cgroup/cpu', cpuacct: '/sys/fs/cgroup/cpuacct', memory: '/sys/fs/cgroup/memory', freezer: '/sys/fs/cgroup/freezer', pids: '/sys/fs/cgroup/pids' }, '/sys/fs/cgroup/unified'],
    ['co-mounted v1', COMOUNTED_V1, { cpu: '/sys/fs/cgroup/cpu,cpuacct', cpuacct: '/sys/fs/cgroup/cpu,cpuacct', memory: '/sys/fs/cgroup/memory' }, undefined],
    ['pure v2', PURE_V2, {}, '/sys/fs/cgroup'],
  ])('%s', (_name, text, v1, unified) => {
    expect(parseCgroupMounts(text)).toEqual({ v1, unified });
  });
});

describe('limits arithmetic', () => {
  it.each([
    // millicores, quota (µs per 100 ms period), shares, weight
    [1000, 100_000, 1024, 39], // one core: the whole period; 1 + (1024-2)*9999/262142 = 39.98 → 39
    [200, 20_000, 205, 8], //     200m × 100 = 20 000 µs; 1 + (205-2)*9999/262142 = 8.7 → 8
    [2500, 250_000, 2560, 98], // 2.5 cores: 2.5 periods of CPU time per period
    [5, 1000, 5, 1], //           0.5 ms would be below the kernel's 1 ms minimum
  ])('%im → quota %i µs, shares %i, weight %i', (m, quota, shares, weight) => {
    expect(cpuQuotaUs(m)).toBe(quota);
    expect(cpuShares(m)).toBe(shares);
    expect(cpuWeight(m)).toBe(weight);
  });
});

describe('TaskCgroup paths', () => {
  const host: CgroupHost = { mode: 'hybrid', v1: parseCgroupMounts(COMOUNTED_V1).v1, unified: { mount: '/sys/fs/cgroup/unified', controllers: [] } };
  it('puts a task in every hierarchy once, even where controllers share a mount', () => {
    const cg = TaskCgroup.at(host, 'stratus/p.web.1');
    expect(cg.procsFiles()).toEqual([
      '/sys/fs/cgroup/cpu,cpuacct/stratus/p.web.1/cgroup.procs',
      '/sys/fs/cgroup/memory/stratus/p.web.1/cgroup.procs',
      '/sys/fs/cgroup/unified/stratus/p.web.1/cgroup.procs',
    ]);
  });
  it('knows where each resource is controlled, and says what is not enforced', () => {
    expect(controllerVersion(host, 'memory')).toBe('v1');
    expect(controllerVersion(host, 'pids')).toBeUndefined();
    expect(describeCgroups(host, true)).toEqual({ enforces: false, notes: [expect.stringContaining('cgroup hybrid'), 'limits not enforced: no cgroup pids controller'] });
    const v2: CgroupHost = { mode: 'v2', v1: {}, unified: { mount: '/sys/fs/cgroup', controllers: ['cpu', 'memory', 'pids'] } };
    expect(describeCgroups(v2, true).enforces).toBe(true);
    expect(describeCgroups(v2, false).notes).toContain('limits not enforced: not running as root, cannot create cgroups');
  });
});

it('parseFlatKeyed reads cpu.stat and memory.oom_control', () => {
  expect(parseFlatKeyed('nr_periods 12\nnr_throttled 3\nthrottled_time 456\n')).toEqual({ nr_periods: 12, nr_throttled: 3, throttled_time: 456 });
  expect(parseFlatKeyed('oom_kill_disable 0\nunder_oom 0\noom_kill 2\n').oom_kill).toBe(2);
});
