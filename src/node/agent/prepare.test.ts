import { describe, expect, it } from 'vitest';
import type { Instance, InstanceSpec } from '../../model/kinds/instance.js';
import type { ApiClient } from '../../client/index.js';
import type { ImageStore } from '../drivers/index.js';
import { prepareInstance, type PrepareContext } from './prepare.js';

const spec: InstanceSpec = { driver: 'process', command: ['app'], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 10 };
const inst = (s: InstanceSpec): Instance => ({ kind: 'instance', metadata: { name: 'db', project: 'p', uid: 'u', revision: 1, generation: 1, createdAt: '' }, spec: s });
const ctx: PrepareContext = { api: {} as ApiClient, images: {} as ImageStore, node: 'n1', dataDir: '/nonexistent' };

describe('prepareInstance', () => {
  it('refuses an instance that uses volumes where the agent has no volume support, rather than running it without them', async () => {
    await expect(prepareInstance(inst({ ...spec, volumes: [{ volume: 'data', path: '/data' }] }), ctx)).rejects.toThrow('spec.volumes: node n1 cannot attach volumes (its agent runs without volume support)');
    await expect(prepareInstance(inst(spec), ctx)).resolves.toMatchObject({ env: { STRATUS_NODE: 'n1', STRATUS_INSTANCE: 'db' } });
  });
});
