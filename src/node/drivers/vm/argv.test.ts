import { describe, expect, it } from 'vitest';
import { DriverError } from '../driver.js';
import { macFor, optValue, qemuArgs, type QemuConfig } from './argv.js';

const base = (o: Partial<QemuConfig> = {}): QemuConfig => ({
  accel: 'tcg',
  machine: 'q35',
  cpus: 2,
  memoryMiB: 256,
  disks: [{ path: '/var/lib/stratus/vm-disks/u1/root.qcow2', format: 'qcow2', readOnly: false }],
  qmpSocket: '/t/run/qmp.sock',
  consoleSocket: '/t/run/console.sock',
  serialLog: '/t/logs/stdout.log',
  sandbox: true,
  tcgCacheMiB: 32,
  name: 'p.web.1234',
  ...o,
});

/** The value after each occurrence of `flag`. */
const values = (args: string[], flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));

describe('qemuArgs', () => {
  it('builds a minimal machine: no defaults, the accelerator, CPUs, memory, QMP and the serial console', () => {
    const args = qemuArgs(base());
    expect(args.slice(0, 3)).toEqual(['-nodefaults', '-no-user-config', '-display']);
    expect(values(args, '-accel')).toEqual(['tcg,tb-size=32']);
    expect(values(args, '-smp')).toEqual(['2']);
    expect(values(args, '-m')).toEqual(['256M']);
    expect(values(args, '-chardev')).toEqual([
      'socket,id=serial0,path=/t/run/console.sock,server=on,wait=off,logfile=/t/logs/stdout.log,logappend=on',
      'socket,id=qmp0,path=/t/run/qmp.sock,server=on,wait=off',
    ]);
    expect(values(args, '-serial')).toEqual(['chardev:serial0']);
    expect(values(args, '-mon')).toEqual(['chardev=qmp0,mode=control']);
    expect(values(args, '-sandbox')).toEqual(['on,obsolete=deny,spawn=deny,resourcecontrol=deny']);
    expect(args).not.toContain('-runas');
  });

  it('boots the first disk, attaches the others and the seed read-only where asked', () => {
    const args = qemuArgs(base({ disks: [...base().disks, { path: '/vol/data.img', format: 'raw', readOnly: true }], seed: '/t/run/seed.img' }));
    expect(values(args, '-drive')).toEqual([
      'file=/var/lib/stratus/vm-disks/u1/root.qcow2,if=none,id=disk0,format=qcow2',
      'file=/vol/data.img,if=none,id=disk1,format=raw,readonly=on',
      'file=/t/run/seed.img,if=none,id=seed,format=raw,readonly=on',
    ]);
    expect(values(args, '-device')).toEqual(['virtio-blk-pci,drive=disk0,bootindex=0', 'virtio-blk-pci,drive=disk1', 'virtio-blk-pci,drive=seed']);
  });

  it('uses KVM without a TCG cache, drops to the uid, and omits -sandbox where QEMU lacks it', () => {
    const args = qemuArgs(base({ accel: 'kvm', runAs: { uid: 1179648, gid: 1179648 }, sandbox: false }));
    expect(values(args, '-accel')).toEqual(['kvm']);
    expect(values(args, '-runas')).toEqual(['1179648:1179648']);
    expect(args).not.toContain('-sandbox');
  });

  it('gives a tap NIC its MAC, or user-mode networking with port forwards', () => {
    const tap = qemuArgs(base({ tap: { name: 'stt1a2b3c', mac: '52:54:00:AA:bb:01' } }));
    expect(values(tap, '-netdev')).toEqual(['tap,id=net0,ifname=stt1a2b3c,script=no,downscript=no']);
    expect(values(tap, '-device')).toContain('virtio-net-pci,netdev=net0,mac=52:54:00:aa:bb:01');
    const user = qemuArgs(base({ userNet: { forwards: [{ protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8080, guestPort: 80 }, { protocol: 'udp', hostIp: '', hostPort: 5353, guestPort: 53 }] }, userMac: '52:54:00:00:00:01' }));
    expect(values(user, '-netdev')).toEqual(['user,id=net0,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp::5353-:53']);
    expect(values(user, '-device')).toContain('virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01');
    expect(values(qemuArgs(base()), '-netdev')).toEqual([]);
  });

  it('doubles commas in paths, so a value cannot add an option', () => {
    const args = qemuArgs(base({ disks: [{ path: '/d/a,file.locking=off', format: 'raw', readOnly: false }] }));
    expect(values(args, '-drive')[0]).toBe('file=/d/a,,file.locking=off,if=none,id=disk0,format=raw');
    expect(optValue('x', 'a,b,,c')).toBe('a,,b,,,,c');
  });

  it.each([
    ['no disk', { disks: [] }, /root disk/],
    ['a relative disk path', { disks: [{ path: 'root.qcow2', format: 'qcow2' as const, readOnly: false }] }, /task\.disks\[0\]\.path "root\.qcow2" must be an absolute/],
    ['a disk path with ..', { disks: [{ path: '/a/../etc/shadow', format: 'raw' as const, readOnly: false }] }, /task\.disks\[0\]\.path .* normalized/],
    ['a disk format', { disks: [{ path: '/a', format: 'vmdk' as never, readOnly: false }] }, /task\.disks\[0\]\.format "vmdk" must be raw or qcow2/],
    ['a control character', { disks: [{ path: '/a\nb', format: 'raw' as const, readOnly: false }] }, /control character/],
    ['a tap name', { tap: { name: 'tap,script=/x', mac: '52:54:00:00:00:01' } }, /task\.tap\.name/],
    ['a MAC', { tap: { name: 'tap0', mac: 'nope' } }, /task\.tap\.mac "nope"/],
    ['a forward address', { userNet: { forwards: [{ protocol: 'tcp' as const, hostIp: '1.2.3.4,guestfwd=x', hostPort: 1, guestPort: 2 }] } }, /forwards\[0\]\.hostIp/],
    ['a forward port', { userNet: { forwards: [{ protocol: 'tcp' as const, hostIp: '', hostPort: 70000, guestPort: 2 }] } }, /forwards\[0\]\.hostPort 70000/],
    ['a forward protocol', { userNet: { forwards: [{ protocol: 'sctp' as never, hostIp: '', hostPort: 1, guestPort: 2 }] } }, /forwards\[0\]\.protocol "sctp"/],
    ['a name', { name: 'a,b' }, /VM name "a,b"/],
  ])('refuses %s with INVALID_TASK naming the field', (_what, o, message) => {
    let err: unknown;
    try {
      qemuArgs(base(o));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DriverError);
    expect((err as DriverError).code).toBe('INVALID_TASK');
    expect((err as Error).message).toMatch(message);
  });
});

describe('macFor', () => {
  it('is stable, in QEMU\'s locally administered prefix, and differs between seeds', () => {
    expect(macFor('uid-1')).toBe(macFor('uid-1'));
    expect(macFor('uid-1')).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
    expect(macFor('uid-1')).not.toBe(macFor('uid-2'));
  });
});
