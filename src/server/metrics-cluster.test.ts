import { describe, it, expect } from 'vitest';
import { nodeSeries, pendingByReason, usageSamples, USAGE_METRICS } from './metrics-cluster.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Node } from '../model/kinds/node.js';

const MIB = 1024 * 1024;
const node = (name: string, cpu: number, memory: number): Node => ({
  kind: 'node', metadata: { name }, spec: {},
  status: { phase: 'Ready', capacity: { cpu, memory, disk: 100, gpus: [{ index: 0, model: 'T4' }] }, allocatable: { cpu: cpu - 500, memory, disk: 100, gpus: [] } },
} as unknown as Node);
const inst = (name: string, phase: string, nodeName: string | undefined, cpu: number, reason?: string, gpu?: { share: number }): Instance => ({
  kind: 'instance', metadata: { name, project: 'p' },
  spec: { driver: 'process', resources: { cpu, memory: 64, disk: 10, ...(gpu ? { gpu } : {}) } },
  status: { phase, ...(nodeName ? { node: nodeName } : {}), ...(reason ? { reason } : {}) },
} as unknown as Instance);

const pick = (s: ReturnType<typeof nodeSeries>, what: string, n: string, r: string) => s.find((x) => x.what === what && x.node === n && x.resource === r)?.value;

describe('nodeSeries', () => {
  it('gives capacity and allocatable in base units, and sums the requests of instances that occupy each node', () => {
    const s = nodeSeries([node('n1', 4000, 8192), node('n2', 2000, 1024)], [
      inst('a', 'Running', 'n1', 500), inst('b', 'Scheduled', 'n1', 250, undefined, { share: 500 }),
      inst('done', 'Succeeded', 'n1', 1000), // finished: frees its node
      inst('wait', 'Pending', undefined, 100),
    ]);
    expect(pick(s, 'capacity', 'n1', 'cpu')).toBe(4); // 4000 millicores
    expect(pick(s, 'allocatable', 'n1', 'cpu')).toBe(3.5);
    expect(pick(s, 'capacity', 'n1', 'memory')).toBe(8192 * MIB);
    expect(pick(s, 'capacity', 'n1', 'gpus')).toBe(1);
    expect(pick(s, 'allocated', 'n1', 'cpu')).toBe(0.75); // (500 + 250) / 1000
    expect(pick(s, 'allocated', 'n1', 'memory')).toBe(128 * MIB);
    expect(pick(s, 'allocated', 'n1', 'gpus')).toBe(0.5); // one half share
    expect(pick(s, 'allocated', 'n1', 'instances')).toBe(2);
    expect(pick(s, 'allocated', 'n2', 'cpu')).toBe(0);
  });
});

describe('pendingByReason', () => {
  it('counts pending instances by the scheduler\'s reason, New before its first try', () => {
    const m = pendingByReason([inst('a', 'Pending', undefined, 1, 'NoNodes'), inst('b', 'Pending', undefined, 1, 'NoNodes'), inst('c', 'Pending', undefined, 1), inst('d', 'Running', 'n1', 1)]);
    expect(Object.fromEntries(m)).toEqual({ NoNodes: 2, New: 1 });
  });
});

describe('usage families', () => {
  it('convert MiB to bytes and percent to a ratio, and give no series for a field not reported', () => {
    const rows = [{ project: 'p', name: 'a', node: 'n1', service: 'web', cpuSeconds: 3, memory: 2, gpuUtilization: 50 }];
    const values = Object.fromEntries(USAGE_METRICS.map((m) => [m.name, usageSamples(rows, m.value).map((s) => s.value)]));
    expect(values).toMatchObject({
      stratus_instance_cpu_seconds_total: [3],
      stratus_instance_memory_working_set_bytes: [2 * MIB],
      stratus_instance_gpu_utilization_ratio: [0.5],
      stratus_instance_memory_peak_bytes: [],
      stratus_instance_pids: [],
    });
    expect(usageSamples(rows, (u) => u.cpuSeconds)[0]!.labels).toEqual({ project: 'p', name: 'a', node: 'n1', service: 'web' });
  });
});
