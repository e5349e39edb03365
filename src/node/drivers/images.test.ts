import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore, buildBusyboxRootfs, isStaticElf } from './images.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stratus-images-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('ImageStore', () => {
  it('imports a directory and a tar archive, and replaces an image atomically', async () => {
    const src = join(dir, 'src');
    mkdirSync(join(src, 'etc'), { recursive: true });
    writeFileSync(join(src, 'etc/version'), 'v1\n');
    const store = new ImageStore(join(dir, 'store'));
    const v1 = await store.importImage('app', src, { cmd: ['cat', '/etc/version'] });
    expect(readFileSync(join(v1.dir, 'etc/version'), 'utf8')).toBe('v1\n');
    writeFileSync(join(src, 'etc/version'), 'v2\n');
    execFileSync('tar', ['-czf', join(dir, 'app.tgz'), '-C', src, '.']);
    const v2 = await store.importImage('app', join(dir, 'app.tgz'));
    expect(readFileSync(join(v2.dir, 'etc/version'), 'utf8')).toBe('v2\n');
    expect(existsSync(v1.dir)).toBe(false); // unused old content is removed
    expect((await store.resolve('app'))?.dir).toBe(v2.dir);
    expect((await store.list()).map((i) => i.name)).toEqual(['app']);
    await store.removeImage('app');
    expect(await store.resolve('app')).toBeUndefined();
    expect(existsSync(v2.dir)).toBe(false);
  });

  it('says what is wrong with a bad name or source', async () => {
    const store = new ImageStore(join(dir, 'store'));
    await expect(store.importImage('Bad Name', dir)).rejects.toThrow(/image name "Bad Name" must match/);
    await expect(store.importImage('x', join(dir, 'missing'))).rejects.toThrow(/does not exist/);
    writeFileSync(join(dir, 'junk.tar'), 'not a tar');
    await expect(store.importImage('x', join(dir, 'junk.tar'))).rejects.toThrow(/cannot import image x/);
    expect(existsSync(join(dir, 'store', 'tmp')) && execFileSync('ls', [join(dir, 'store', 'tmp')]).toString()).toBeFalsy();
  });
});

describe('busybox rootfs', () => {
  it('tells static from dynamic executables', async () => {
    expect(await isStaticElf(process.execPath)).toBe(false); // node is dynamically linked
  });

  it.skipIf(!existsSync('/bin/busybox'))('links every applet to a static busybox', async () => {
    const { applets } = await buildBusyboxRootfs(join(dir, 'rootfs'));
    expect(applets).toEqual(expect.arrayContaining(['sh', 'httpd', 'sleep', 'cat']));
    expect(readlinkSync(join(dir, 'rootfs/bin/sh'))).toBe('busybox');
    expect(await isStaticElf(join(dir, 'rootfs/bin/busybox'))).toBe(true);
    expect(readFileSync(join(dir, 'rootfs/etc/passwd'), 'utf8')).toMatch(/^root:x:0:0:/);
    await expect(buildBusyboxRootfs(join(dir, 'other'), { busybox: process.execPath })).rejects.toThrow(/dynamically linked/);
  });
});
