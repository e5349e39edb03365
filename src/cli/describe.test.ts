import { describe, it, expect } from 'vitest';
import { instanceKind, nodeKind, projectKind } from '../model/kinds/index.js';
import type { Project } from '../model/kinds/project.js';
import type { Instance } from '../model/kinds/instance.js';
import type { Node } from '../model/kinds/node.js';
import { describeObject } from './describe.js';

const metadata = { name: 'gpu-1', uid: 'u', revision: 3, generation: 1, createdAt: '2026-12-01T00:00:00Z' };

function node(condition?: { status: 'True' | 'False'; reason: string; message: string }): Node {
  const gpus = [{ index: 0, model: 'H200', memory: 143771 }];
  return {
    kind: 'node',
    metadata,
    spec: {},
    status: {
      phase: 'Ready',
      capacity: { cpu: 16000, memory: 131072, disk: 65536, gpus },
      allocatable: { cpu: 16000, memory: 131072, disk: 65536, gpus },
      conditions: condition ? [{ type: 'GpuShares', ...condition }] : [],
    },
  };
}

describe('describe node: GPU shares', () => {
  it('says shares are isolated by MPS', () => {
    const text = describeObject(nodeKind, node({ status: 'True', reason: 'MPS', message: 'isolated by MPS (memory limit and SM percentage)' }), []);
    expect(text).toContain('GPU shares:   isolated by MPS (memory limit and SM percentage)\n');
  });

  it('says shares are not isolated, and why', () => {
    const text = describeObject(nodeKind, node({ status: 'False', reason: 'NotIsolated', message: 'not isolated (nvidia-cuda-mps-control not found)' }), []);
    expect(text).toContain('GPU shares:   not isolated (nvidia-cuda-mps-control not found)\n');
  });

  it('says nothing about shares on a node without the condition', () => {
    expect(describeObject(nodeKind, node(), [])).not.toContain('GPU shares');
  });
});

describe('describe instance: GPU usage', () => {
  const instance = (usage: NonNullable<Instance['status']>['usage']): Instance => ({
    kind: 'instance',
    metadata: { ...metadata, project: 'p' },
    spec: { driver: 'process', command: ['python3'], resources: { cpu: 1000, memory: 4096, disk: 0 }, priority: 0, restartPolicy: 'never', gracePeriod: 10 },
    status: { phase: 'Running', node: 'gpu-1', allocation: { gpus: [{ index: 0, milli: 500 }] }, ...(usage ? { usage } : {}) },
  });

  it('shows GPU memory and utilisation beside CPU and memory', () => {
    const text = describeObject(instanceKind, instance({ cpu: 1000, memory: 2048, gpuMemory: 71680, gpuUtilization: 48, at: '2026-12-01T00:01:00Z' }), []);
    expect(text).toContain('GPUs:         #0 (50%)\n');
    expect(text).toContain('Usage:        cpu 1, memory 2Gi, gpu memory 70Gi, gpu 48% (at 2026-12-01T00:01:00Z)');
  });

  it('shows GPU memory alone when utilisation is unknown (an MPS share), and nothing GPU without GPU usage', () => {
    expect(describeObject(instanceKind, instance({ cpu: 10, memory: 100, gpuMemory: 9732, at: 't' }), [])).toContain('Usage:        cpu 10m, memory 100Mi, gpu memory 9732Mi (at t)');
    expect(describeObject(instanceKind, instance({ cpu: 10, memory: 100, at: 't' }), [])).toContain('Usage:        cpu 10m, memory 100Mi (at t)');
  });
});

describe('describe instance: health', () => {
  it('shows what the last health check found', () => {
    const inst: Instance = {
      kind: 'instance',
      metadata: { ...metadata, project: 'p' },
      spec: { driver: 'process', command: ['web'], resources: { cpu: 250, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10 },
      status: { phase: 'Running', node: 'n1', conditions: [{ type: 'Ready', status: 'False', reason: 'HealthCheckFailed', message: 'health check failed: GET http://10.240.0.7:9999/: connection refused' }] },
    };
    const text = describeObject(instanceKind, inst, []);
    expect(text).toContain('Ready:        False (HealthCheckFailed): health check failed: GET http://10.240.0.7:9999/: connection refused\n');
    expect(text).toContain('    cpu: 250m\n'); // the spec as written: a quantity string, not 250 (cores)
  });
});

describe('describe instance: host networking', () => {
  it('shows the host port of each declared port', () => {
    const inst: Instance = {
      kind: 'instance',
      metadata: { ...metadata, project: 'p' },
      spec: { driver: 'process', command: ['web'], resources: { cpu: 250, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10, ports: [{ port: 8080 }] },
      status: { phase: 'Running', node: 'n1', ip: '192.0.2.2', hostNetwork: { ports: [{ port: 8080, protocol: 'tcp', hostPort: 20000 }] } },
    };
    expect(describeObject(instanceKind, inst, [])).toContain('IP:           192.0.2.2\nHost ports:   8080→20000/tcp (host networking)\n');
  });
});

describe('describe project: quota usage', () => {
  it('shows each quota as used / limit, quantities as people write them', () => {
    const project: Project = {
      kind: 'project',
      metadata: { ...metadata, name: 'team-a' },
      spec: { quotas: { cpu: 8000, memory: 32768, gpu: 2000, instances: 50 } },
      status: { phase: 'Active', usage: { cpu: 1500, memory: 2560, disk: 0, gpu: 500, instances: 3 } },
    };
    const text = describeObject(projectKind, project, []);
    expect(text).toContain(['Quota usage:', '  RESOURCE    USED / LIMIT', '  cpu         1500m / 8', '  memory      2560Mi / 32Gi', '  disk        0Mi / unlimited', '  gpu         500m / 2', '  instances   3 / 50'].join('\n'));
    expect(text).not.toContain('Status:');
  });
});

describe('describe any kind: owner and deletion', () => {
  const project = (status: Project['status']): Project => ({ kind: 'project', metadata: { ...metadata, name: 'shop', owner: { kind: 'stack', name: 'infra' } }, spec: {}, status });

  it('shows the owner', () => {
    expect(describeObject(projectKind, project({ phase: 'Active' }), [])).toContain('Owner:        stack/infra\n');
  });

  it('shows, while deleting, since when and what the deletion waits for', () => {
    const deletion = {
      startedAt: '2026-12-01T00:00:00Z',
      waitingFor: [{ kind: 'instance', count: 3, names: ['a', 'b'] }, { kind: 'service', count: 1, names: ['web'] }, { kind: 'secret', count: 0 }],
      message: 'instance a: still stopping',
    };
    const text = describeObject(projectKind, project({ phase: 'Deleting', deletion } as Project['status']), []);
    expect(text).toContain('Deleting:     since 2026-12-01T00:00:00Z (');
    expect(text).toContain('\n  waiting for 3 instances (a, b, ...)\n  waiting for 1 service (web)\n  instance a: still stopping\n');
    expect(text).not.toContain('secret');
  });

  it('says nothing of a deletion when there is none', () => {
    expect(describeObject(projectKind, project({ phase: 'Active' }), [])).not.toContain('Deleting');
  });
});
