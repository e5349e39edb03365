/**
 * The OCI runtime config (config.json) the container driver hands to runc. Pure: every input is an
 * argument, so the whole document is unit-tested. Runtime spec 1.0.2, as runc 1.1 reads it.
 */
import { CFS_PERIOD_US, cpuQuotaUs, cpuShares } from './cgroups.js';

export interface OciMount {
  destination: string;
  type?: string;
  source: string;
  options?: string[];
}

export interface OciInput {
  args: string[];
  env: Record<string, string>;
  cwd: string;
  hostname: string;
  /** Millicores, MiB, and a pid limit. */
  resources: { cpu: number; memory: number; pids: number };
  /** cgroup path relative to each hierarchy's root, e.g. "/stratus/p.web.1234". */
  cgroupsPath: string;
  /** Network namespace to join; absent: the host's network (no network namespace at all). */
  netns?: string;
  /** Extra bind mounts (resolv.conf, hosts, volumes). */
  mounts?: OciMount[];
  /** RLIMIT_NOFILE (soft and hard); must not exceed the caller's hard limit. Default 1024. */
  nofile?: number;
  /** Root filesystem directory, relative to the bundle. Default "rootfs". */
  root?: string;
}

/** Docker's default capability set: enough for ordinary servers, no admin powers. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

const MASKED = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];
const READONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export function ociConfig(o: OciInput): Record<string, unknown> {
  const bytes = o.resources.memory * 1024 * 1024;
  const namespaces: Array<{ type: string; path?: string }> = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (o.netns) namespaces.push({ type: 'network', path: o.netns });
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: o.args,
      env: Object.entries(o.env).map(([k, v]) => `${k}=${v}`),
      cwd: o.cwd,
      capabilities: {
        bounding: DEFAULT_CAPABILITIES,
        effective: DEFAULT_CAPABILITIES,
        permitted: DEFAULT_CAPABILITIES,
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: o.nofile ?? 1024, soft: o.nofile ?? 1024 }],
      noNewPrivileges: true,
    },
    root: { path: o.root ?? 'rootfs', readonly: false },
    hostname: o.hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
      ...(o.mounts ?? []).map((m) => ({ type: 'bind', ...m, options: m.options ?? ['rbind', 'ro'] })),
    ],
    linux: {
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        memory: { limit: bytes, swap: bytes }, // swap = memory + swap: equal means no swap
        cpu: { shares: cpuShares(o.resources.cpu), quota: cpuQuotaUs(o.resources.cpu), period: CFS_PERIOD_US },
        pids: { limit: o.resources.pids },
      },
      cgroupsPath: o.cgroupsPath,
      namespaces,
      maskedPaths: MASKED,
      readonlyPaths: READONLY,
    },
  };
}
