import { describe, it, expect, beforeEach } from 'vitest';
import { MemoryBackend } from '../store/memory.js';
import { Repository } from '../store/repository.js';
import { FakeClock, sequentialIds } from '../model/runtime.js';
import { imageKind, instanceKind, serviceKind } from '../model/kinds/index.js';
import { parseObject, type Kind } from '../model/kind.js';
import type { Image } from '../model/kinds/image.js';
import { ValidationError } from '../model/errors.js';
import { imageFits } from './image-admission.js';
import type { Principal } from './auth.js';

let repo: Repository;
const GiB = 2 ** 30;

async function image(name: string, project: string, type: 'disk' | 'rootfs' | undefined, virtualSize?: number): Promise<void> {
  const img = await repo.create<Image>(imageKind, { metadata: { name, project }, spec: type ? { type } : {} });
  if (virtualSize) await repo.setStatus<Image>(imageKind, img, { phase: 'Ready', format: 'qcow2', virtualSize });
}

/** What imageFits says of creating `body` of `kind` in team-a: the problems' "path: message", or [] when admitted. */
async function admit(kind: Kind, spec: unknown): Promise<string[]> {
  const object = parseObject(kind, { kind: kind.kind, metadata: { name: 'x' }, spec });
  try {
    await imageFits({ op: 'create', kind, name: 'x', project: 'team-a', object, principal: {} as Principal }, repo);
    return [];
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    return e.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

beforeEach(async () => {
  repo = new Repository(new MemoryBackend(), new FakeClock(), sequentialIds());
  await image('debian', 'team-a', 'disk', 2 * GiB);
  await image('busybox', 'system', undefined);
  await image('empty-disk', 'team-a', 'disk');
});

describe('imageFits', () => {
  it('admits a vm on a disk image it holds, and a container on a root filesystem', async () => {
    expect(await admit(instanceKind, { driver: 'vm', image: 'debian', resources: { disk: '2Gi' } })).toEqual([]);
    expect(await admit(instanceKind, { driver: 'vm', image: 'empty-disk', resources: { disk: '1Gi' } })).toEqual([]); // size unknown until uploaded
    expect(await admit(instanceKind, { driver: 'container', image: 'system/busybox' })).toEqual([]);
    expect(await admit(instanceKind, { driver: 'vm', image: 'not-yet' })).toEqual([]); // a later wave may create it
  });

  it('refuses the wrong type of image, naming spec.image', async () => {
    expect(await admit(instanceKind, { driver: 'vm', image: 'system/busybox' })).toEqual([
      'spec.image: image "system/busybox" is a rootfs image; the vm driver needs a disk image: import a bootable disk (stratus image import NAME DISK.qcow2 --type disk)',
    ]);
    expect(await admit(instanceKind, { driver: 'container', image: 'debian' })).toEqual([
      'spec.image: image "debian" is a disk image; the container driver needs a rootfs image: import a root filesystem (stratus image import NAME DIR|TAR)',
    ]);
  });

  it('refuses another project\'s image without telling whether it exists', async () => {
    await image('secret-disk', 'team-b', 'disk', 8 * GiB);
    const want = ['spec.image: "team-b/secret-disk" names an image of project "team-b"; use an image of project "team-a" or a shared one ("system/NAME")'];
    expect(await admit(instanceKind, { driver: 'vm', image: 'team-b/secret-disk', resources: { disk: '1Gi' } })).toEqual(want);
    expect(await admit(instanceKind, { driver: 'vm', image: 'team-b/nothing', resources: { disk: '1Gi' } })).toEqual([want[0]!.replace(/secret-disk/g, 'nothing')]);
  });

  it('refuses a root disk smaller than the image, naming spec.resources.disk', async () => {
    expect(await admit(instanceKind, { driver: 'vm', image: 'debian', resources: { disk: '1Gi' } })).toEqual([
      'spec.resources.disk: 1Gi is smaller than image "debian" (a 2Gi disk); ask for at least 2Gi',
    ]);
  });

  it('refuses a vm with no root disk size: a tiny upload claiming a huge virtual size would take node disk nobody counts', async () => {
    expect(await admit(instanceKind, { driver: 'vm', image: 'debian' })).toEqual([
      'spec.resources.disk: a vm needs its root disk\'s size: ask for at least 2Gi (image "debian"\'s virtual size); the scheduler and the disk quota count it',
    ]);
    expect(await admit(instanceKind, { driver: 'vm', image: 'debian', resources: { disk: '2Gi' } })).toEqual([]);
  });

  it('checks a service\'s template at its own path', async () => {
    const template = { spec: { driver: 'vm', image: 'debian', resources: { disk: '512Mi' } } };
    const got = await admit(serviceKind, { replicas: 1, template });
    expect(got.map((p) => p.split(':')[0])).toEqual(['spec.template.spec.resources.disk']);
  });
});
