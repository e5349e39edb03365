import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { infoProblem, VmDisks, type DiskImageRef } from './disks.js';
import { hasQemuImg, qemuImgCreate } from './disks-testing.js';

const MiB = 2 ** 20;
let dir: string;

function info(file: string, format: string): Record<string, unknown> {
  return JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-f', format, file], { encoding: 'utf8' })) as Record<string, unknown>;
}

/** An image file made by qemu-img, and how the server would describe it. */
function image(name: string, format: 'qcow2' | 'raw', size: number, extra: string[] = []): { file: string; ref: DiskImageRef } {
  const file = qemuImgCreate(dir, `${name}.${format}`, format, size, extra);
  const digest = `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`;
  return { file, ref: { digest, format, virtualSize: size, name: `team-a/${name}` } };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stratus-disks-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!hasQemuImg)('VmDisks (qemu-img)', () => {
  it('downloads an image once, and gives each instance its own overlay grown to its disk', async () => {
    const { file, ref } = image('debian', 'qcow2', 64 * MiB);
    const disks = new VmDisks(join(dir, 'data'));
    let downloads = 0;
    const download = async (to: string) => {
      downloads++;
      copyFileSync(file, to);
    };
    const [a, b] = await Promise.all([disks.rootDisk('uid-a', ref, 128 * MiB, download), disks.rootDisk('uid-b', ref, 0, download)]);
    expect(downloads).toBe(1);
    expect(a).toEqual({ path: join(dir, 'data/vm-disks/uid-a/root.qcow2'), format: 'qcow2', readOnly: false });
    const base = join(dir, 'data/disk-images', `${ref.digest.slice(7)}.qcow2`);
    expect(info(a.path, 'qcow2')).toMatchObject({ 'virtual-size': 128 * MiB, 'backing-filename': base, 'backing-filename-format': 'qcow2' });
    expect(info(b.path, 'qcow2')).toMatchObject({ 'virtual-size': 64 * MiB }); // no disk asked: the image's size
    // kept: asking again (a restart of the run or of the agent) gives the same disk, nothing downloaded
    expect(await disks.rootDisk('uid-a', ref, 128 * MiB, download)).toEqual(a);
    expect(downloads).toBe(1);
    await disks.release('uid-a');
    expect(existsSync(join(dir, 'data/vm-disks/uid-a'))).toBe(false);
    expect(await disks.instances()).toEqual(['uid-b']);
  });

  it('takes a raw image as the overlay\'s raw base', async () => {
    const { file, ref } = image('plain', 'raw', 8 * MiB);
    const disk = await new VmDisks(join(dir, 'data')).rootDisk('uid-r', ref, 16 * MiB, async (to) => copyFileSync(file, to));
    expect(info(disk.path, 'qcow2')).toMatchObject({ 'virtual-size': 16 * MiB, 'backing-filename-format': 'raw' });
  });

  it.each([
    ['a digest that is not the download\'s', (r: DiskImageRef) => ({ ...r, digest: `sha256:${'0'.repeat(64)}` }), [], /the download's digest is sha256:[0-9a-f]{64}, not sha256:0{64}/],
    ['a format qemu-img disagrees with', (r: DiskImageRef) => ({ ...r, format: 'raw' as const }), [], /virtual size of \d+ bytes for qemu-img, not 67108864/],
  ])('refuses %s and leaves nothing behind', async (_what, change, extra, want) => {
    const { file, ref } = image('bad', 'qcow2', 64 * MiB, extra);
    const disks = new VmDisks(join(dir, 'data'));
    await expect(disks.rootDisk('uid-x', change(ref), 0, async (to) => copyFileSync(file, to))).rejects.toThrow(want);
    expect(readdirSync(join(dir, 'data/disk-images'))).toEqual([]);
    expect(await disks.instances()).toEqual([]);
  });

  it('refuses an image with a backing file, naming it, and keeps nothing', async () => {
    const { file: under } = image('under', 'qcow2', 64 * MiB);
    const { file, ref } = image('over', 'qcow2', 64 * MiB, ['-F', 'qcow2', '-b', under]);
    const disks = new VmDisks(join(dir, 'data'));
    await expect(disks.rootDisk('uid-y', ref, 0, async (to) => copyFileSync(file, to))).rejects.toThrow(`image team-a/over names a backing file (${under}); it is not used`);
    expect(readdirSync(join(dir, 'data/disk-images'))).toEqual([]);
  });

  it('sweeps the disks of instances no longer here, and never leaves a path outside its folder', async () => {
    const { file, ref } = image('debian', 'qcow2', 64 * MiB);
    const disks = new VmDisks(join(dir, 'data'));
    for (const uid of ['keep', 'gone']) await disks.rootDisk(uid, ref, 0, async (to) => copyFileSync(file, to));
    expect(await disks.sweep(new Set(['keep']))).toEqual(['gone']);
    expect(await disks.instances()).toEqual(['keep']);
    await expect(disks.rootDisk('../escape', ref, 0, async () => undefined)).rejects.toThrow(/is not a plain name/);
    await disks.release('..');
    expect(existsSync(join(dir, 'data/vm-disks/keep/root.qcow2'))).toBe(true);
  });
});

describe.skipIf(!hasQemuImg)('VmDisks cache pruning', () => {
  it('removes a cached image once no root disk uses it and it was last used keepUnusedMs ago', async () => {
    const { file, ref } = image('debian', 'qcow2', 64 * MiB);
    let now = Date.now();
    const disks = new VmDisks(join(dir, 'data'), undefined, 60_000, () => now);
    const cache = () => readdirSync(join(dir, 'data/disk-images'));
    for (const uid of ['a', 'b']) await disks.rootDisk(uid, ref, 0, async (to) => copyFileSync(file, to));
    now += 120_000;
    await disks.release('a');
    expect(cache()).toHaveLength(1); // b still boots from it
    await disks.release('b');
    expect(cache()).toEqual([]);
  });

  it('keeps an unused image that was used within keepUnusedMs', async () => {
    const { file, ref } = image('debian', 'qcow2', 64 * MiB);
    const disks = new VmDisks(join(dir, 'data'), undefined, 60_000);
    await disks.rootDisk('a', ref, 0, async (to) => copyFileSync(file, to));
    expect(await disks.sweep(new Set())).toEqual(['a']);
    expect(readdirSync(join(dir, 'data/disk-images'))).toHaveLength(1);
    expect(await disks.prune()).toEqual([]);
  });
});

describe('infoProblem', () => {
  const img = { format: 'qcow2' as const, virtualSize: 1024 };
  it.each([
    [{ format: 'qcow2', 'virtual-size': 1024 }, undefined],
    [{ format: 'raw', 'virtual-size': 1024 }, 'is raw for qemu-img, not qcow2'],
    [{ format: 'qcow2', 'virtual-size': 1024, 'full-backing-filename': '/etc/shadow' }, 'names a backing file (/etc/shadow)'],
    [{ format: 'qcow2', 'virtual-size': 1024, 'format-specific': { type: 'qcow2', data: { 'data-file': '/dev/sda' } } }, 'names an external data file (/dev/sda)'],
    [{ format: 'qcow2', 'virtual-size': 2048 }, 'has a virtual size of 2048 bytes for qemu-img, not 1024'],
  ])('%j → %s', (info, want) => {
    expect(infoProblem(info, img)).toBe(want);
  });
});
