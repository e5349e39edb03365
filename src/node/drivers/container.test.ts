/**
 * Integration tests of the container driver: real runc, a busybox image built from the host's
 * busybox-static. Skipped, saying why, without root, runc or a static busybox
 * (scripts/install-deps.sh installs both).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerDriver } from './container.js';
import { detectCgroups } from './cgroups.js';
import { findExecutable, DEFAULT_PATH } from './commands.js';
import { ImageStore, buildBusyboxRootfs, isStaticElf } from './images.js';
import { Runc } from './runc.js';
import { sleep } from './proc.js';
import type { TaskHandle } from './driver.js';
import { makeTask, removeCgroupTree, type TaskOverrides } from './testing.js';

const root = process.getuid?.() === 0;
const runcBin = await findExecutable('runc', DEFAULT_PATH, '/');
const busybox = existsSync('/bin/busybox') && (await isStaticElf('/bin/busybox'));
const host = await detectCgroups();
const why = !root ? 'not root' : !runcBin ? 'runc is not installed (scripts/install-deps.sh)' : !busybox ? 'no static /bin/busybox (busybox-static, scripts/install-deps.sh)' : host.mode === 'none' ? 'no cgroups' : '';
if (why) console.warn(`container driver integration tests skipped: ${why}`);

const parent = `stratus-ctest-${process.pid}`;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.skipIf(why !== '')('container driver with runc and a busybox image', () => {
  let base = '';
  let driver: ContainerDriver;
  let runc: Runc;
  const task = (command: string[] | undefined, o: TaskOverrides = {}) =>
    makeTask(join(base, 'tasks'), command, { ...o, spec: { driver: 'container', image: 'busybox', ...o.spec } });

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'stratus-container-'));
    const { applets } = await buildBusyboxRootfs(join(base, 'rootfs'));
    expect(applets).toEqual(expect.arrayContaining(['sh', 'httpd', 'sleep']));
    const store = new ImageStore(join(base, 'images'));
    await store.importImage('busybox', join(base, 'rootfs'));
    execFileSync('tar', ['-cf', join(base, 'busybox.tar'), '-C', join(base, 'rootfs'), '.']);
    await store.importImage('busybox-tar', join(base, 'busybox.tar'), { cmd: ['cat', '/etc/passwd'] });
    runc = new Runc(runcBin!, join(base, 'runc'));
    driver = new ContainerDriver({ images: store, runcRoot: runc.root, cgroupParent: parent, pollIntervalMs: 50 });
  });

  afterAll(async () => {
    await removeCgroupTree(host, parent);
    await rm(base, { recursive: true, force: true });
  });

  /** Nothing of the task is left: no runc state (ours or the default root's), no cgroup, no mount, no dirs. */
  async function expectGone(h: TaskHandle) {
    expect((await runc.list()).map((c) => c.id)).not.toContain(h.taskId);
    expect(execFileSync(runcBin!, ['list', '-q']).toString()).not.toContain(h.taskId);
    expect(Object.values(h.state.cgroups as Record<string, string>).filter((d) => existsSync(d))).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(h.dir);
    expect(existsSync(h.dir)).toBe(false);
  }

  it('fingerprints runc', async () => {
    const fp = await driver.fingerprint();
    expect(fp).toMatchObject({ driver: 'container', available: true, enforcesLimits: true });
    expect(fp.version).toMatch(/^1\./);
  });

  it('serves HTTP from busybox httpd on the host network, within its limits, and tears down completely', async () => {
    const port = await freePort();
    const t = task(['sh', '-c', `echo hello from $(hostname) > /tmp/index.html; exec httpd -f -p ${port} -h /tmp`], { cpu: 300, memory: 48 });
    const h = await driver.start(t);
    const body = await waitFor('httpd', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/index.html`).catch(() => undefined);
      return res?.ok ? res.text() : undefined;
    });
    expect(body.trim()).toBe(`hello from ${t.instance.name}`);
    const cg = h.state.cgroups as Record<string, string>;
    expect(readFileSync(join(cg.memory!, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(48 * 1024 * 1024));
    expect(readFileSync(join(cg.cpu!, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('30000');
    expect(readFileSync(join(cg.memory!, 'cgroup.procs'), 'utf8')).toContain(String(h.pid));
    expect((await runc.state(h.taskId))?.status).toBe('running');
    const stats = await driver.stats(h);
    expect(stats).toMatchObject({ source: 'cgroup', memoryLimitBytes: 48 * 1024 * 1024, pids: 1 });
    const ex = await driver.exec(h, ['sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "']);
    expect(ex.stdout).toContain('httpd -f -p');
    // httpd as pid 1 has no SIGTERM handler, so the kernel ignores SIGTERM: killed after the grace period
    expect(await driver.stop(h, 300)).toMatchObject({ reason: 'Stopped', signal: 'SIGKILL' });
    await driver.destroy(h);
    await expectGone(h);
    await driver.destroy(h); // idempotent
  });

  it('enforces the memory limit: a hog over 32Mi is OOMKilled', async () => {
    const h = await driver.start(task(['sh', '-c', 'a=x; while :; do a=$a$a; done'], { memory: 32 }));
    expect(await driver.wait(h)).toMatchObject({ reason: 'OOMKilled', oomKilled: true, signal: 'SIGKILL' });
    await driver.destroy(h);
    await expectGone(h);
  });

  it('reports exit codes and captures stdout and stderr', async () => {
    const h = await driver.start(task(['sh', '-c', 'echo out; echo err >&2; exit 3']));
    expect(await driver.wait(h)).toMatchObject({ code: 3, reason: 'Error', oomKilled: false });
    const lines: string[] = [];
    for await (const l of driver.logs(h)) lines.push(`${l.stream}:${l.line}`);
    expect(lines).toEqual(['stdout:out', 'stderr:err']);
    await driver.destroy(h);
  });

  it('runs an image imported from a tar archive, with its default command', async () => {
    const h = await driver.start(task(undefined, { spec: { image: 'busybox-tar' } }));
    expect(await driver.wait(h)).toMatchObject({ code: 0, reason: 'Completed' });
    const lines: string[] = [];
    for await (const l of driver.logs(h, { streams: ['stdout'] })) lines.push(l.line);
    expect(lines[0]).toMatch(/^root:x:0:0:/);
    await driver.destroy(h);
  });

  it('can copy the image instead of mounting an overlay', async () => {
    const copying = new ContainerDriver({ images: driver.images, runcRoot: runc.root, cgroupParent: parent, rootfs: 'copy' });
    const h = await copying.start(task(['sh', '-c', 'echo changed > /etc/motd; cat /etc/passwd']));
    expect(h.state.rootfs).toBe('copy');
    expect(await copying.wait(h)).toMatchObject({ code: 0 });
    expect(existsSync(join((await driver.images.resolve('busybox'))!.dir, 'etc/motd'))).toBe(false); // the image is untouched
    await copying.destroy(h);
    await expectGone(h);
  });

  it('recovers a running container after an agent restart and stops it gracefully', async () => {
    const h = await driver.start(task(['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done']));
    const again = new ContainerDriver({ images: driver.images, runcRoot: runc.root, cgroupParent: parent, pollIntervalMs: 50 });
    const r = await again.recover(JSON.parse(JSON.stringify(h)));
    expect(await again.inspect(r)).toMatchObject({ running: true, pid: h.pid });
    expect((await again.stats(r)).source).toBe('cgroup');
    expect(await again.stop(r, 5000)).toMatchObject({ reason: 'Stopped', code: 0 });
    await again.destroy(r);
    await expectGone(h);
  });

  it('fails to start a command the image lacks, with runc\'s reason, leaving nothing behind', async () => {
    const t = task(['no-such-binary']);
    await expect(driver.start(t)).rejects.toThrow(/runc could not start container .*no-such-binary/);
    expect((await runc.list()).map((c) => c.id)).not.toContain(t.id);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(t.dir);
    expect(existsSync(join(t.dir, 'bundle'))).toBe(false);
    expect(await readFile(join(t.dir, 'run', 'runc.log'), 'utf8')).toContain('no-such-binary');
    await rm(t.dir, { recursive: true, force: true });
  });

  it('refuses an image that is not in the store', async () => {
    await expect(driver.start(task(['true'], { spec: { image: 'nope' } }))).rejects.toThrow(/image "nope" is not in the image store/);
  });
});
