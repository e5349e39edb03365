/**
 * A node's volumes on the real kernel: sparse ext4 files, loop mounts, loop devices, frozen
 * copies. Needs root (mount, losetup); skipped without it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeVolumes, VolumeBusyError } from './volumes.js';
import { loopsOf, mountSource } from './volumes-host.js';
import type { Instance } from '../../model/kinds/instance.js';
import type { Volume } from '../../model/kinds/volume.js';

const root = process.getuid?.() === 0;
let dir: string;
let vols: NodeVolumes;
const running = new Set<string>();
const OWNER = { uid: 1_200_000, gid: 1_200_000 };

function inst(name: string, driver: 'process' | 'vm' = 'process', volume = 'data', readOnly = false, path = '/data'): Instance {
  return {
    kind: 'instance', metadata: { name, project: 'p', uid: `uid-${name}`, revision: 1, generation: 1, createdAt: '2026-01-01T00:00:00Z' },
    spec: { driver, command: ['true'], resources: { cpu: 100, memory: 64, disk: 0 }, priority: 0, restartPolicy: 'always', gracePeriod: 1, volumes: [{ volume, path, readOnly }] },
  } as unknown as Instance;
}

function vol(name: string, size: number, type: 'filesystem' | 'block' = 'filesystem', uid = `vol-${name}`): ReadonlyMap<string, Volume> {
  return new Map([[name, { kind: 'volume', metadata: { name, project: 'p', uid }, spec: { size, type } } as unknown as Volume]]);
}

const fsBytes = (path: string) => statfsSync(path).blocks * statfsSync(path).bsize;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-vols-'));
  vols = new NodeVolumes({ dataDir: join(dir, 'data'), mountRoot: join(dir, 'mnt'), ownerOf: () => OWNER, isRunning: (uid) => running.has(uid) });
});

afterAll(async () => {
  for (const uid of ['uid-a', 'uid-b', 'uid-c', 'uid-d', 'uid-vm']) await vols?.release(uid);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!root)('NodeVolumes', () => {
  it('provisions a sparse ext4 volume on first use, mounts it for the workload\'s user, and keeps its data after release', async () => {
    const a = await vols.attach(inst('a'), vol('data', 32));
    const mp = vols.mountPoint('p', 'data');
    expect(a).toEqual({ mounts: [{ source: mp, destination: '/data', readOnly: false }], devices: [], disks: [] });
    expect(await mountSource(mp)).toMatch(/^\/dev\/loop\d+$/);
    expect(statSync(mp).uid).toBe(OWNER.uid);
    const file = vols.file('p', 'data');
    expect(statSync(file).size).toBe(32 * 1024 * 1024);
    expect(statSync(file).blocks * 512).toBeLessThan(32 * 1024 * 1024); // sparse
    writeFileSync(join(mp, 'hello'), 'kept');

    await vols.release('uid-a');
    expect(await mountSource(mp)).toBeUndefined();
    expect(await loopsOf(file)).toEqual([]);

    await vols.attach(inst('b'), vol('data', 32));
    expect(readFileSync(join(mp, 'hello'), 'utf8')).toBe('kept');
    await vols.release('uid-b');
  });

  it('refuses a volume another running instance holds, and takes it over from one that ended', async () => {
    await vols.attach(inst('a'), vol('data', 32));
    running.add('uid-a');
    await expect(vols.attach(inst('b'), vol('data', 32))).rejects.toThrow(new VolumeBusyError('volume "data" is in use by instance "a" on this node'));
    running.delete('uid-a');
    await vols.attach(inst('b'), vol('data', 32));
    await vols.release('uid-a'); // no longer the holder: leaves b's mount alone
    expect(await mountSource(vols.mountPoint('p', 'data'))).toBeDefined();
    await vols.release('uid-b');
  });

  it('snapshots, restores (refused while in use) and clones', async () => {
    const mp = vols.mountPoint('p', 'data');
    await vols.attach(inst('a'), vol('data', 32));
    writeFileSync(join(mp, 'v'), 'one');
    await vols.snapshot('p', 'data', 'before');
    writeFileSync(join(mp, 'v'), 'two');
    running.add('uid-a');
    await expect(vols.restore('p', 'data', 'before', 32, 'filesystem')).rejects.toThrow(/in use by instance "a"; stop or delete it/);
    running.delete('uid-a');
    await vols.release('uid-a');
    await vols.restore('p', 'data', 'before', 32, 'filesystem');
    await vols.clone('p', 'data', 'copy', 48, 'filesystem', 'vol-copy');
    await vols.attach(inst('c'), vol('data', 32));
    expect(readFileSync(join(mp, 'v'), 'utf8')).toBe('one');
    await vols.attach(inst('d', 'process', 'copy'), vol('copy', 48));
    expect(readFileSync(join(vols.mountPoint('p', 'copy'), 'v'), 'utf8')).toBe('one');
    expect(fsBytes(vols.mountPoint('p', 'copy'))).toBeGreaterThan(fsBytes(mp) + 12 * 1024 * 1024); // grown to 48 MiB
    await vols.release('uid-c');
    await vols.release('uid-d');
  });

  it('grows a mounted filesystem: online where the kernel lets it, else at its next mount', async () => {
    const mp = vols.mountPoint('p', 'data');
    await vols.attach(inst('a'), vol('data', 32));
    const before = fsBytes(mp);
    const { online } = await vols.resize('p', 'data', 64, 'filesystem');
    if (!online) {
      await vols.release('uid-a');
      await vols.attach(inst('a'), vol('data', 64));
    }
    expect(fsBytes(mp)).toBeGreaterThan(before + 28 * 1024 * 1024);
    expect(readFileSync(join(mp, 'v'), 'utf8')).toBe('one');
    await vols.release('uid-a');
  });

  it('never gives a new volume the data an earlier one of the same name left on the node', async () => {
    await vols.attach(inst('a', 'process', 'again'), vol('again', 16));
    writeFileSync(join(vols.mountPoint('p', 'again'), 'old'), 'left behind');
    await vols.release('uid-a');
    await vols.attach(inst('a', 'process', 'again'), vol('again', 16, 'filesystem', 'vol-again-2'));
    expect(existsSync(join(vols.mountPoint('p', 'again'), 'old'))).toBe(false);
    await vols.release('uid-a');
  });

  it('gives a block volume as a loop device, and any volume to a VM as a raw disk', async () => {
    // a block volume's path is a name under /dev: the loop device is made there inside
    await expect(vols.attach(inst('a', 'process', 'raw'), vol('raw', 8, 'block'))).rejects.toThrow('spec.volumes[0].path: "/data": a block volume is a device node; give a name under /dev (e.g. /dev/data)');
    const b = await vols.attach(inst('a', 'process', 'raw', false, '/dev/raw'), vol('raw', 8, 'block'));
    expect(b.devices).toEqual([{ source: expect.stringMatching(/^\/dev\/loop\d+$/), path: '/dev/raw' }]);
    const dev = b.devices[0]!.source;
    expect([statSync(dev).uid, statSync(dev).mode & 0o777]).toEqual([OWNER.uid, 0o600]); // lent to the workload's user
    await vols.release('uid-a');
    expect(statSync(dev).uid).toBe(0); // given back
    expect(await loopsOf(vols.file('p', 'raw'))).toEqual([]);
    // A guest would write a filesystem volume raw and the node would mount what it wrote: refused.
    await expect(vols.attach(inst('vm', 'vm'), vol('data', 64))).rejects.toThrow(/spec\.volumes\[0\]\.volume: volume "data" is a filesystem volume; a vm takes block volumes/);
    const v = await vols.attach(inst('vm', 'vm', 'raw'), vol('raw', 8, 'block'));
    expect(v).toEqual({ mounts: [], devices: [], disks: [{ path: vols.file('p', 'raw'), format: 'raw', readOnly: false }] });
    expect(await loopsOf(vols.file('p', 'raw'))).toEqual([]);
    await vols.release('uid-vm');
  });
});
