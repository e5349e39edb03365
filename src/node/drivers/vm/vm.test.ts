/**
 * Integration test of the vm driver: one boot of scripts/build-vm-image.sh's image under TCG (the
 * driver's auto-detection picks it where KVM does not work), its NIC a tap in a network namespace.
 * Boots are slow (~5-10 s under TCG), so one VM walks through everything: HTTP over the tap, the
 * serial console, recovery by a new driver instance, reboot, ACPI stop, destroy.
 * Needs root, QEMU, cloud-image-utils and the image's build tools; skipped otherwise, saying why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectCgroups } from '../cgroups.js';
import { DriverError, type LogLine, type TaskHandle } from '../driver.js';
import { isAlive, sleep } from '../proc.js';
import { makeTask, removeCgroupTree } from '../testing.js';
import { builtVmImage, vmOverlay, vmTestsUnavailable } from './testing.js';
import { VmDriver } from './vm.js';

const why = vmTestsUnavailable();
if (why) console.warn(`vm driver integration tests skipped: ${why}`);

const parent = `stratus-vmtest-${process.pid}`;
const ns = `stt-vmtest-${process.pid}`;
const tap = `sttvm${process.pid % 100000}`;
let base = '';

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, ms = 90_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const GET = "fetch(process.argv[1], { signal: AbortSignal.timeout(2000) }).then(async (r) => process.stdout.write(await r.text()), () => process.exit(1))";

/** An HTTP GET from inside the namespace (node, as this test runs); undefined while the guest does not answer. */
function httpInNs(url: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns, process.execPath, '-e', GET, url], { timeout: 5000 }, (err, out) => resolve(err ? undefined : String(out)));
  });
}

async function serial(driver: VmDriver, h: TaskHandle): Promise<string> {
  const lines: string[] = [];
  for await (const l of driver.logs(h, { streams: ['stdout'] }) as AsyncIterable<LogLine>) lines.push(l.line);
  return lines.join('\n');
}

describe.skipIf(why !== undefined)('vm driver on this host', () => {
  const opts = () => ({ cgroupParent: parent, pollIntervalMs: 100, idRanges: join(base, 'uid-ranges.json') });
  let image = '';

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'stratus-vm-'));
    image = await builtVmImage();
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['-n', ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    execFileSync('ip', ['-n', ns, 'addr', 'add', '10.99.0.1/24', 'dev', tap]);
    execFileSync('ip', ['-n', ns, 'link', 'set', tap, 'up']);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }, 600_000);

  afterAll(async () => {
    execFile('ip', ['netns', 'del', ns], () => undefined);
    await removeCgroupTree(await detectCgroups(), parent).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  });

  it('fingerprints QEMU and the accelerator it will use', async () => {
    const fp = await new VmDriver(opts()).fingerprint();
    expect(fp).toMatchObject({ driver: 'vm', available: true });
    expect(fp.attributes['vm.accel']).toMatch(/^(kvm|tcg)$/);
    expect(fp.attributes['vm.qemu']).toMatch(/^\d+\.\d+\.\d+$/);
    expect(fp.details[0]).toMatch(/KVM|TCG/);
  }, 30_000);

  it('refuses to start without a usable disk, leaving no process or cgroup behind', async () => {
    const driver = new VmDriver(opts());
    const task = { ...makeTask(base, undefined, { spec: { driver: 'vm' } }), disks: [{ path: join(base, 'missing.qcow2'), format: 'qcow2' as const, readOnly: false }] };
    const err = await driver.start(task).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect((err as DriverError).code).toBe('START_FAILED');
    expect((err as Error).message).toMatch(/missing\.qcow2/);
    expect(existsSync(join('/sys/fs/cgroup', parent, task.id))).toBe(false);
    expect(existsSync(task.dir)).toBe(false);
  }, 60_000);

  it('boots, serves HTTP over its tap, has a console, survives a driver restart, reboots and stops with ACPI', async () => {
    const driver = new VmDriver(opts());
    const dir = join(base, 'vm1');
    const root = await vmOverlay(image, join(base, 'disks'));
    const task = {
      ...makeTask(base, undefined, { spec: { driver: 'vm', userData: '#!/bin/sh\necho user-data-ran-$((6*7))\n' } as never, memory: 128, cpu: 1000, dir }),
      instance: { project: 'test', name: 'web-1', uid: 'uid-vm-1' },
      netns: `/run/netns/${ns}`,
      tap: { name: tap, mac: '52:54:00:12:34:56' },
      guestNetwork: { address: '10.99.0.2/24', gateway: '10.99.0.1', dns: ['10.99.0.1'] },
      disks: [{ path: root, format: 'qcow2' as const, readOnly: false }],
    };
    const handle = await driver.start(task);
    const page = await waitFor('HTTP from the guest', () => httpInNs('http://10.99.0.2/'));
    expect(page).toContain('stratus vm web-1');
    expect(await serial(driver, handle)).toMatch(/user-data-ran-42/);

    // The serial console: a shell.
    const con = await driver.console(handle);
    let seen = '';
    con.on('data', (d: Buffer) => (seen += d.toString()));
    con.write('echo console-says-$((40+2))\n');
    await waitFor('the console to answer', () => seen.includes('console-says-42'), 30_000);
    con.destroy();

    // A new driver instance (the agent restarted) re-attaches without restarting QEMU.
    const again = new VmDriver(opts());
    const h2 = await again.recover(JSON.parse(JSON.stringify(handle)));
    expect(h2.pid).toBe(handle.pid);
    expect((await again.inspect(h2)).running).toBe(true);

    await again.reboot(h2);
    await waitFor('the guest to boot again', async () => ((await serial(again, h2)).match(/stratus-vm: ready/g) ?? []).length >= 2);
    expect(await isAlive(handle.pid)).toBe(true);

    const exit = await again.stop(h2, 60_000);
    expect(exit.reason).toBe('Stopped');
    expect(exit.code).toBe(0); // QEMU exited by itself: the guest powered off on the ACPI button
    expect(await serial(again, h2)).toMatch(/power button: powering off/);
    await again.destroy(h2);
    expect(await isAlive(handle.pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    await expect(again.reboot(h2)).rejects.toThrow(/not known|ended/);
  }, 300_000);
});
