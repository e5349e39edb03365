import { describe, it, expect, vi } from 'vitest';
import { ResyncError, type ApiClient } from '../../client/index.js';
import type { Instance } from '../../model/kinds/instance.js';
import type { Service } from '../../model/kinds/service.js';
import { SERVICE_LABEL } from '../../model/kinds/service.js';
import { Informer, serviceDefinitionOf } from './network-view.js';

function service(ports?: Service['spec']['ports']): Service {
  return {
    kind: 'service',
    metadata: { name: 'web', project: 'p', uid: 's1', revision: 1, generation: 1, createdAt: '2026-01-01T00:00:00Z' },
    spec: {
      replicas: 1,
      template: { spec: { driver: 'process', command: ['x'], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10, ports: [{ name: 'http', port: 8080 }, { port: 53, protocol: 'udp' }] } },
      ...(ports ? { ports } : {}),
    },
    status: { phase: 'Available', replicas: 1, updated: 1, ready: 1, available: 1, address: '10.1.0.9', revision: 1, history: [] },
  } as unknown as Service;
}

const replica = {
  kind: 'instance',
  metadata: { name: 'web-a', project: 'p', uid: 'i1', revision: 1, generation: 1, createdAt: '2026-01-01T00:00:00Z', labels: { [SERVICE_LABEL]: 'web' } },
  spec: { driver: 'process', command: ['x'], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10 },
  status: { phase: 'Running', node: 'n1', ip: '10.1.0.5', conditions: [{ type: 'Ready', status: 'True', reason: 'Running', lastTransitionTime: '2026-01-01T00:00:00Z' }] },
} as unknown as Instance;

describe('service definitions on a node', () => {
  it('a service without ports answers on its template\'s ports, at the same numbers', () => {
    const d = serviceDefinitionOf(service(), 7, [replica])!;
    expect(d.ports).toEqual([{ port: 8080, targetPort: 8080, protocol: 'tcp' }, { port: 53, targetPort: 53, protocol: 'udp' }]);
    expect(d.backends.map((b) => b.ip)).toEqual(['10.1.0.5']);
  });

  it('given ports replace the template\'s, and an empty list means no ports (nothing to balance)', () => {
    expect(serviceDefinitionOf(service([{ port: 80, targetPort: 8080 }]), 7, [replica])!.ports).toEqual([{ port: 80, targetPort: 8080, protocol: 'tcp' }]);
    expect(serviceDefinitionOf(service([]), 7, [replica])).toBeUndefined();
  });
});

describe('Informer', () => {
  it('lists again at once after a resync (a node that starts hosting a project), but not in a loop', async () => {
    vi.useFakeTimers();
    try {
      let lists = 0;
      const api = {
        listAll: async () => ({ items: [replica], revision: ++lists }),
        watch: async () => {
          throw new ResyncError('what you may read changed: list again', lists);
        },
      } as unknown as ApiClient;
      const abort = new AbortController();
      const informer = new Informer<Instance>(api, '/v1/instances', () => undefined, () => undefined);
      const done = informer.run(abort.signal);
      await vi.advanceTimersByTimeAsync(0);
      expect(lists).toBe(2); // the first resync: listed again without waiting
      await vi.advanceTimersByTimeAsync(999);
      expect(lists).toBe(2); // a second one within a second waits that second
      await vi.advanceTimersByTimeAsync(1);
      expect(lists).toBe(3);
      expect(informer.items.get('p/web-a')?.status?.ip).toBe('10.1.0.5');
      abort.abort();
      await vi.advanceTimersByTimeAsync(1000);
      await done;
    } finally {
      vi.useRealTimers();
    }
  });
});
