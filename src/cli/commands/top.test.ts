import { describe, it, expect } from 'vitest';
import { instanceTable, nodeTable } from './top.js';
import type { InstanceUsageRow, NodeUsageView } from '../../model/usage.js';

const at = '2026-01-01T00:00:00.000Z';

describe('stratus top tables', () => {
  it('nodes: used, allocated/capacity and used as a share of capacity; "-" where nothing was reported', () => {
    const rows: NodeUsageView[] = [
      { node: 'n1', ready: true, capacity: { cpu: 4000, memory: 8192, gpus: 2 }, allocated: { cpu: 1500, memory: 2048, gpus: 1.5 }, instances: 3, used: { at, cpu: 1000, memory: 1024, gpuMemory: 3000 } },
      { node: 'n2', ready: false, capacity: { cpu: 2000, memory: 4096, gpus: 0 }, allocated: { cpu: 0, memory: 0, gpus: 0 }, instances: 0 },
    ];
    expect(nodeTable(rows).split('\n')).toEqual([
      'NAME   STATUS     CPU     CPU ALLOC/CAP   CPU%   MEMORY   MEMORY ALLOC/CAP   MEMORY%   GPU              INSTANCES',
      'n1     Ready      1000m   1500m/4000m     25%    1024Mi   2048Mi/8192Mi      13%       1.5/2 (3000Mi)   3',
      'n2     NotReady   -       0m/2000m        -      -        0Mi/4096Mi         -         -                0',
    ]);
  });

  it('instances: used against the limits, a PROJECT column across projects, GPU only when someone has one', () => {
    const row = (name: string, usage?: InstanceUsageRow['usage']): InstanceUsageRow => ({ project: 'p', name, uid: `u-${name}`, node: 'n1', phase: 'Running', requests: { cpu: 500, memory: 256 }, ...(usage ? { usage } : {}) });
    const u = { uid: 'u-a', project: 'p', name: 'a', at, cpu: 480, cpuSeconds: 9, memory: 64 };
    expect(instanceTable([row('a', u), row('b')], false).split('\n')).toEqual([
      'NAME   NODE   CPU    CPU LIMIT   CPU%   MEMORY   MEMORY LIMIT   MEMORY%',
      'a      n1     480m   500m        96%    64Mi     256Mi          25%',
      'b      n1     -      500m        -      -        256Mi          -',
    ]);
    expect(instanceTable([row('a', { ...u, gpuMemory: 512, gpuUtilization: 40 })], true).split('\n')[1]).toBe('p         a      n1     480m   500m        96%    64Mi     256Mi          25%       512Mi 40%');
  });
});
