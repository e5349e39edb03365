import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../store/memory.js';
import { Repository } from '../store/repository.js';
import { FakeClock, sequentialIds } from '../model/runtime.js';
import { instanceKind, projectKind, volumeKind } from '../model/kinds/index.js';
import type { Instance } from '../model/kinds/instance.js';
import type { StratusError } from '../model/errors.js';
import { principalOf } from './auth.js';
import type { AdmissionRequest } from './admission.js';
import { volumeFree } from './volume-admission.js';

let repo: Repository;
const admin = principalOf({ kind: 'token', metadata: { name: 't', uid: 't', revision: 1, generation: 1, createdAt: '' }, spec: { clusterAdmin: true } }, undefined);
const spec = (...volumes: string[]) => ({ driver: 'process', command: ['sleep', '1'], volumes: volumes.map((v, i) => ({ volume: v, path: `/v${i}` })) });

async function refusal(req: Omit<AdmissionRequest, 'principal' | 'kind' | 'project'>): Promise<string> {
  try {
    await volumeFree({ ...req, kind: instanceKind, project: 'p', principal: admin }, repo);
  } catch (e) {
    return `${(e as StratusError).status} ${(e as StratusError).code} ${(e as Error).message}`;
  }
  return 'admitted';
}

async function running(name: string, phase: string, ...volumes: string[]): Promise<Instance> {
  const i = await repo.create<Instance>(instanceKind, { metadata: { name, project: 'p' }, spec: spec(...volumes) });
  return repo.setStatus(instanceKind, i, { phase });
}

beforeEach(async () => {
  repo = new Repository(new MemoryBackend(), new FakeClock(), sequentialIds());
  await repo.create(projectKind, { metadata: { name: 'p' }, spec: {} });
});

describe('volume-free', () => {
  it('refuses a volume another active instance uses, naming the field and the user', async () => {
    await running('db-1', 'Running', 'data');
    expect(await refusal({ op: 'create', name: 'db-2', object: { metadata: { name: 'db-2' }, spec: spec('logs', 'data') } }))
      .toBe('409 STRATUS_ERR_VOLUME_IN_USE spec.volumes[1].volume: volume "data" is in use by instance "db-1" (phase Running); a volume is used by one instance at a time: delete or stop that one first');
  });

  it('refuses an instance pinned to another node than its volume\'s, naming the field', async () => {
    await repo.create(volumeKind, { metadata: { name: 'data', project: 'p' }, spec: { size: 64, node: 'n2' } });
    const pinned = (node: string) => ({ op: 'create' as const, name: 'db', object: { metadata: { name: 'db' }, spec: { ...spec('data'), placement: { node } } } });
    expect(await refusal(pinned('n1'))).toBe('400 STRATUS_ERR_BAD_REQUEST spec.volumes[0].volume: volume "data" lives on node n2, but spec.placement.node pins the instance to n1; pin it to n2 or leave the node out');
    expect(await refusal(pinned('n2'))).toBe('admitted');
  });

  it('refuses a filesystem volume for a vm (the node would later mount what the guest wrote raw), admits a block one', async () => {
    await repo.create(volumeKind, { metadata: { name: 'fs', project: 'p' }, spec: { size: 64 } });
    await repo.create(volumeKind, { metadata: { name: 'blk', project: 'p' }, spec: { size: 64, type: 'block' } });
    const vm = (v: string) => ({ op: 'create' as const, name: 'vm', object: { metadata: { name: 'vm' }, spec: { driver: 'vm', image: 'debvm', volumes: [{ volume: v, path: '/dev/vdb' }] } } });
    expect(await refusal(vm('fs'))).toBe('400 STRATUS_ERR_BAD_REQUEST spec.volumes[0].volume: volume "fs" is a filesystem volume; a vm takes block volumes (type: block) as virtio disks, since the node mounts filesystem volumes itself and will not mount one a guest has written raw');
    expect(await refusal(vm('blk'))).toBe('admitted');
    expect(await refusal({ op: 'create', name: 'p1', object: { metadata: { name: 'p1' }, spec: spec('fs') } })).toBe('admitted');
  });

  it('wants a block volume of a process or container at a name under /dev, where its device node is made', async () => {
    await repo.create(volumeKind, { metadata: { name: 'blk', project: 'p' }, spec: { size: 64, type: 'block' } });
    const at = (path: string) => ({ op: 'create' as const, name: 'p2', object: { metadata: { name: 'p2' }, spec: { driver: 'process', command: ['true'], volumes: [{ volume: 'blk', path }] } } });
    expect(await refusal(at('/data'))).toBe('400 STRATUS_ERR_BAD_REQUEST spec.volumes[0].path: "/data": a block volume is a device node; give a name under /dev (e.g. /dev/data)');
    expect(await refusal(at('/dev/blk'))).toBe('admitted');
  });

  it('admits a volume whose last user finished, an update that keeps its volumes, and other volumes', async () => {
    await running('old', 'Failed', 'data');
    expect(await refusal({ op: 'create', name: 'db-2', object: { metadata: { name: 'db-2' }, spec: spec('data') } })).toBe('admitted');
    const self = await running('db-3', 'Running', 'other');
    expect(await refusal({ op: 'update', name: 'db-3', prev: self, object: { metadata: { name: 'db-3' }, spec: spec('other') } })).toBe('admitted');
    expect(await refusal({ op: 'create', name: 'db-4', object: { metadata: { name: 'db-4' }, spec: spec('free') } })).toBe('admitted');
  });
});
