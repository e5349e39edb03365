import { describe, expect, it } from 'vitest';
import type { ApiClient } from '../../client/index.js';
import type { Instance } from '../../model/kinds/instance.js';
import type { Volume } from '../../model/kinds/volume.js';
import { attachVolumes } from './volumes-attach.js';
import type { NodeVolumes } from './volumes.js';

const inst = { kind: 'instance', metadata: { name: 'db', project: 'p', uid: 'u' }, spec: { driver: 'process', volumes: [{ volume: 'data', path: '/data' }] } } as unknown as Instance;
const apiWith = (status: Volume['status'], spec: Partial<Volume['spec']> = {}) => ({
  resources: () => ({ get: async (name: string) => ({ kind: 'volume', metadata: { name, project: 'p' }, spec: { size: 64, type: 'filesystem', ...spec }, status }) }),
}) as unknown as ApiClient;
const attached = { mounts: [{ source: '/m', destination: '/data', readOnly: false }], devices: [], disks: [] };
const volumes = { attach: async () => attached } as unknown as NodeVolumes;

describe('attachVolumes', () => {
  it.each<[string, Volume['status'], Partial<Volume['spec']>]>([
    ['status.node', { phase: 'Available', node: 'n2' }, {}],
    ['spec.node', { phase: 'Pending' }, { node: 'n2' }],
  ])('refuses a volume whose %s is another node, naming the field', async (_name, status, spec) => {
    await expect(attachVolumes(inst, apiWith(status, spec), 'n1', volumes)).rejects.toThrow('spec.volumes[0].volume: volume "data" lives on node n2, not on n1');
  });

  it('attaches a volume of this node or of no node yet', async () => {
    await expect(attachVolumes(inst, apiWith({ phase: 'Available', node: 'n1' }), 'n1', volumes)).resolves.toEqual(attached);
    await expect(attachVolumes(inst, apiWith({ phase: 'Pending' }), 'n1', volumes)).resolves.toEqual(attached);
  });
});
