/**
 * QEMU's command line for one VM task, as an argument array (never a shell string). Pure.
 *
 *   -nodefaults -no-user-config -display none        nothing but what is listed here
 *   -machine q35|pc -accel kvm|tcg -smp N -m MiB
 *   -drive …,if=none -device virtio-blk-pci          one per task disk, the first boots
 *   -drive seed (read-only)                           the NoCloud seed (label cidata)
 *   -netdev tap,ifname=…  | -netdev user,hostfwd=…   + -device virtio-net-pci,mac=…
 *   -chardev socket (serial, logfile) -serial        the console socket, copied into the task's log
 *   -chardev socket (qmp) -mon mode=control           the QMP socket
 *   -sandbox on,…                                     seccomp: no obsolete syscalls, no spawning
 *   -runas UID:GID                                    drops root once the devices are open
 *
 * QEMU splits option values at commas, and ",," stands for a comma: every value from outside
 * (paths, names) goes through `optValue`, and values that QEMU cannot take safely are refused.
 */
import { isAbsolute, normalize } from 'node:path';
import { isIPv4 } from 'node:net';
import { DriverError, type TaskDisk, type TaskTap, type UserNet } from '../driver.js';

export type Accel = 'kvm' | 'tcg';

export interface QemuConfig {
  accel: Accel;
  machine: 'q35' | 'pc';
  cpus: number;
  memoryMiB: number;
  /** The first disk boots. */
  disks: TaskDisk[];
  /** The NoCloud seed image (raw), attached read-only after the disks. */
  seed?: string;
  tap?: TaskTap;
  /** Used only without `tap`; absent too: the guest has no NIC. */
  userNet?: UserNet;
  /** MAC of the user-mode NIC (the tap's comes with it). */
  userMac?: string;
  qmpSocket: string;
  consoleSocket: string;
  /** The serial output is appended here as well (the task's stdout log). */
  serialLog: string;
  /** Drop to this uid:gid before the guest runs (QEMU starts as root to open the tap and disks). */
  runAs?: { uid: number; gid: number };
  /** -sandbox on (QEMU built with seccomp). */
  sandbox: boolean;
  /** TCG's translation cache, MiB (bounds QEMU's own memory under TCG). */
  tcgCacheMiB: number;
  /** -name guest=… (shown by ps and QMP). */
  name: string;
}

const TAP_NAME = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const NAME = /^[a-z0-9][a-z0-9_.-]{0,127}$/;

/** A value for a QEMU option list: commas doubled. Refuses control characters (and NUL). */
export function optValue(field: string, value: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f]/.test(value)) throw new DriverError('INVALID_TASK', `${field} "${value}" contains a control character`);
  return value.replace(/,/g, ',,');
}

function absolutePath(field: string, p: string): string {
  if (!isAbsolute(p) || normalize(p) !== p) throw new DriverError('INVALID_TASK', `${field} "${p}" must be an absolute, normalized path`);
  return optValue(field, p);
}

/** The whole argv after the QEMU binary. Throws DriverError INVALID_TASK naming the bad field. */
export function qemuArgs(c: QemuConfig): string[] {
  if (c.disks.length === 0) throw new DriverError('INVALID_TASK', 'a VM needs a root disk (task.disks[0])');
  if (!NAME.test(c.name)) throw new DriverError('INVALID_TASK', `VM name "${c.name}" must match ${NAME.source}`);
  const accel = c.accel === 'tcg' ? `tcg,tb-size=${Math.max(1, Math.floor(c.tcgCacheMiB))}` : 'kvm';
  const args = [
    '-nodefaults', '-no-user-config', '-display', 'none',
    '-name', `guest=${c.name}`,
    '-machine', c.machine, '-accel', accel,
    '-smp', String(Math.max(1, Math.floor(c.cpus))), '-m', `${Math.max(16, Math.floor(c.memoryMiB))}M`,
    ...diskArgs(c.disks, c.seed),
    ...netArgs(c),
    '-chardev', `socket,id=serial0,path=${absolutePath('console socket', c.consoleSocket)},server=on,wait=off,logfile=${absolutePath('serial log', c.serialLog)},logappend=on`,
    '-serial', 'chardev:serial0',
    '-chardev', `socket,id=qmp0,path=${absolutePath('QMP socket', c.qmpSocket)},server=on,wait=off`,
    '-mon', 'chardev=qmp0,mode=control',
  ];
  // elevateprivileges stays allowed: -runas needs setuid/setgid after the filter is in place.
  if (c.sandbox) args.push('-sandbox', 'on,obsolete=deny,spawn=deny,resourcecontrol=deny');
  if (c.runAs) args.push('-runas', `${c.runAs.uid}:${c.runAs.gid}`);
  return args;
}

function diskArgs(disks: TaskDisk[], seed: string | undefined): string[] {
  const args: string[] = [];
  disks.forEach((d, i) => {
    if (d.format !== 'raw' && d.format !== 'qcow2') throw new DriverError('INVALID_TASK', `task.disks[${i}].format "${String(d.format)}" must be raw or qcow2`);
    const ro = d.readOnly ? ',readonly=on' : '';
    args.push('-drive', `file=${absolutePath(`task.disks[${i}].path`, d.path)},if=none,id=disk${i},format=${d.format}${ro}`);
    args.push('-device', `virtio-blk-pci,drive=disk${i}${i === 0 ? ',bootindex=0' : ''}`);
  });
  if (seed) args.push('-drive', `file=${absolutePath('seed', seed)},if=none,id=seed,format=raw,readonly=on`, '-device', 'virtio-blk-pci,drive=seed');
  return args;
}

function netArgs(c: QemuConfig): string[] {
  if (c.tap) {
    if (!TAP_NAME.test(c.tap.name)) throw new DriverError('INVALID_TASK', `task.tap.name "${c.tap.name}" must match ${TAP_NAME.source}`);
    return ['-netdev', `tap,id=net0,ifname=${c.tap.name},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=net0,mac=${mac('task.tap.mac', c.tap.mac)}`];
  }
  if (!c.userNet) return [];
  const fwds = c.userNet.forwards.map((f, i) => {
    const at = `task.userNet.forwards[${i}]`;
    if (f.protocol !== 'tcp' && f.protocol !== 'udp') throw new DriverError('INVALID_TASK', `${at}.protocol "${String(f.protocol)}" must be tcp or udp`);
    if (f.hostIp !== '' && !isIPv4(f.hostIp)) throw new DriverError('INVALID_TASK', `${at}.hostIp "${f.hostIp}" must be an IPv4 address or empty`);
    for (const k of ['hostPort', 'guestPort'] as const) {
      if (!Number.isInteger(f[k]) || f[k] < 1 || f[k] > 65535) throw new DriverError('INVALID_TASK', `${at}.${k} ${String(f[k])} must be a port (1-65535)`);
    }
    return `,hostfwd=${f.protocol}:${f.hostIp}:${f.hostPort}-:${f.guestPort}`;
  });
  return ['-netdev', `user,id=net0${fwds.join('')}`, '-device', `virtio-net-pci,netdev=net0${c.userMac ? `,mac=${mac('user-mode MAC', c.userMac)}` : ''}`];
}

function mac(field: string, value: string): string {
  if (!MAC.test(value)) throw new DriverError('INVALID_TASK', `${field} "${value}" must be a MAC address like 52:54:00:12:34:56`);
  return value.toLowerCase();
}

/** A stable, locally administered MAC for a task (52:54:00 is QEMU's prefix). */
export function macFor(seed: string): string {
  let h = 2166136261;
  for (const ch of seed) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  const b = [h & 0xff, (h >>> 8) & 0xff, (h >>> 16) & 0xff].map((x) => x.toString(16).padStart(2, '0'));
  return `52:54:00:${b.join(':')}`;
}
