/**
 * The CPU counter metering counts from (issue 18), on each cgroup layout, with fixture files (a
 * machine offers one layout): v1 cpuacct.usage (ns), v2 cpu.stat usage_usec (µs), and hybrid
 * hosts, where cpuacct is skipped for the v2 counter when cpu and cpuacct are mounted apart.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskCgroup, type CgroupHost } from './cgroups.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-cg-counters-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function files(sub: string, content: Record<string, string>): string {
  const d = join(dir, sub);
  mkdirSync(d, { recursive: true });
  for (const [f, text] of Object.entries(content)) writeFileSync(join(d, f), text);
  return d;
}

const V2_STAT = 'usage_usec 7250000\nuser_usec 7000000\nsystem_usec 250000\nnr_periods 100\nnr_throttled 40\nthrottled_usec 2000000\n';

describe('cgroup CPU counters', () => {
  it('v1: cpuacct.usage in nanoseconds, throttling from cpu.stat', async () => {
    const cg = TaskCgroup.fromPaths({
      cpuacct: files('cpuacct/t', { 'cpuacct.usage': '15027000123\n' }),
      cpu: files('cpu/t', { 'cpu.stat': 'nr_periods 300\nnr_throttled 150\nthrottled_time 15000000000\n' }),
    });
    expect(await cg.sample()).toMatchObject({ cpuUsageNs: 15027000123, throttling: { periods: 300, throttledPeriods: 150, throttledNs: 15e9 } });
  });

  it('v2: cpu.stat usage_usec in microseconds', async () => {
    const cg = TaskCgroup.fromPaths({ unified: files('unified/t', { 'cpu.stat': V2_STAT }) });
    expect(await cg.sample()).toMatchObject({ cpuUsageNs: 7_250_000_000, throttling: { periods: 100, throttledPeriods: 40, throttledNs: 2e9 } });
  });

  it('hybrid: cpu and cpuacct mounted apart read the v2 counter; co-mounted cpu,cpuacct reads cpuacct.usage', async () => {
    files('unified/t', { 'cpu.stat': V2_STAT });
    files('cpuacct/t', { 'cpuacct.usage': '999\n' });
    files('cpu,cpuacct/t', { 'cpuacct.usage': '5000000000\n', 'cpu.stat': 'nr_periods 1\nnr_throttled 0\nthrottled_time 0\n' });
    const unified = { mount: join(dir, 'unified'), controllers: [] };
    const apart: CgroupHost = { mode: 'hybrid', v1: { cpu: join(dir, 'cpu'), cpuacct: join(dir, 'cpuacct') }, unified };
    expect((await TaskCgroup.at(apart, 't').sample()).cpuUsageNs).toBe(7_250_000_000);
    const together: CgroupHost = { mode: 'hybrid', v1: { cpu: join(dir, 'cpu,cpuacct'), cpuacct: join(dir, 'cpu,cpuacct') }, unified };
    expect((await TaskCgroup.at(together, 't').sample()).cpuUsageNs).toBe(5_000_000_000);
  });
});
