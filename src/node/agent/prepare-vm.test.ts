import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Instance, InstanceSpec } from '../../model/kinds/instance.js';
import type { Image } from '../../model/kinds/image.js';
import type { ApiClient } from '../../client/index.js';
import type { ImageStore } from '../drivers/index.js';
import { prepareInstance } from './prepare.js';
import { VmDisks } from './disks.js';
import { hasQemuImg, qemuImgCreate } from './disks-testing.js';

const MiB = 2 ** 20;
const spec: InstanceSpec = { driver: 'vm', image: 'debian', resources: { cpu: 1000, memory: 256, disk: 128 }, priority: 0, restartPolicy: 'always', gracePeriod: 10 };
const inst = (s: Partial<InstanceSpec> = {}): Instance => ({ kind: 'instance', metadata: { name: 'vm1', project: 'p', uid: 'u-vm1', revision: 1, generation: 1, createdAt: '' }, spec: { ...spec, ...s } });

let dir: string;
let file: string;
let asked: string[];

/** An API that knows one image, `image`, whose content is `file`. */
function api(image: Partial<Image>): ApiClient {
  return {
    resources: (_kind: unknown, project: string) => ({ get: async (name: string) => (asked.push(`${project}/${name}`), { kind: 'image', metadata: { name, project }, spec: {}, ...image }) }),
    download: async (_path: string, to: string) => copyFileSync(file, to),
  } as unknown as ApiClient;
}

function ctx(image: Partial<Image>) {
  return { api: api(image), images: {} as ImageStore, node: 'n1', dataDir: dir, disks: new VmDisks(dir) };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-prepare-vm-'));
  file = join(dir, 'src.qcow2');
  asked = [];
  if (hasQemuImg) qemuImgCreate(dir, 'src.qcow2', 'qcow2', 64 * MiB);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!hasQemuImg)('prepareInstance for a vm', () => {
  const ready = () => ({ spec: { type: 'disk' as const }, status: { phase: 'Ready' as const, digest: `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`, format: 'qcow2' as const, virtualSize: 64 * MiB } });

  it('hands the driver its root disk first: an overlay as big as resources.disk', async () => {
    const got = await prepareInstance(inst(), ctx(ready()));
    expect(got.disks).toEqual([{ path: join(dir, 'vm-disks/u-vm1/root.qcow2'), format: 'qcow2', readOnly: false }]);
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-f', 'qcow2', got.disks![0]!.path], { encoding: 'utf8' })) as Record<string, unknown>;
    expect(info['virtual-size']).toBe(128 * MiB);
    expect(got.spec.image).toBe('debian'); // a vm's image stays a name: the disk is what it boots
  });

  it('reads a shared image from the system project', async () => {
    await prepareInstance(inst({ image: 'system/debian' }), ctx(ready()));
    expect(asked).toEqual(['system/debian']);
  });

  it.each([
    ['a rootfs image', { spec: {}, status: { phase: 'Ready' as const, digest: 'sha256:' + '1'.repeat(64) } }, 'spec.image: image "p/debian" is a rootfs image; a vm boots a disk image'],
    ['a disk image with no content', { spec: { type: 'disk' as const }, status: { phase: 'Empty' as const } }, 'image "p/debian" has no content yet (stratus image import debian DISK.qcow2 --type disk)'],
  ])('refuses %s, and makes no disk', async (_what, image, want) => {
    await expect(prepareInstance(inst(), ctx(image))).rejects.toThrow(want);
    expect(await new VmDisks(dir).instances()).toEqual([]);
  });

  it('refuses a root disk smaller than the image (replaced after admission, or no disk asked), and makes no disk', async () => {
    const big = { ...ready(), status: { ...ready().status, virtualSize: 1024 * MiB } };
    await expect(prepareInstance(inst(), ctx(big))).rejects.toThrow('spec.resources.disk: 128Mi is smaller than image "p/debian" (a 1Gi disk); ask for at least 1Gi');
    await expect(prepareInstance(inst({ resources: { cpu: 1000, memory: 256, disk: 0 } }), ctx(ready()))).rejects.toThrow('spec.resources.disk: a vm needs its root disk\'s size: ask for at least 64Mi');
    expect(await new VmDisks(dir).instances()).toEqual([]);
  });

  it('refuses another project\'s image', async () => {
    await expect(prepareInstance(inst({ image: 'q/debian' }), ctx(ready()))).rejects.toThrow('image "q/debian" belongs to project "q"');
  });
});
