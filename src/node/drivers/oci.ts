/**
 * The OCI runtime config (config.json) the container driver hands to runc. Pure: every input is an
 * argument, so the whole document is unit-tested. Runtime spec 1.0.2, as runc 1.1 reads it.
 */
import { CFS_PERIOD_US, cpuQuotaUs, cpuShares } from './cgroups.js';
import type { IdRange } from './identity.js';
import { defaultSeccompProfile, type SeccompProfile } from './seccomp.js';

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
  /** Mount the root filesystem read-only (the process sandbox's host view). Default false. */
  readonlyRoot?: boolean;
  /** The workload's user (ids inside its user namespace when `userns` is set). Default 0:0. */
  user?: { uid: number; gid: number };
  /** Capability set (bounding, effective, permitted). Default: Docker's default set. */
  capabilities?: readonly string[];
  /** Seccomp profile; default: the default profile for `capabilities`; null: none (benchmarks measure its cost). */
  seccomp?: SeccompProfile | null;
  /** Run in a user namespace whose ids 0..size-1 are these host ids (root inside is unprivileged outside). */
  userns?: IdRange;
  /** Host devices to create inside and allow (the device cgroup denies every other). */
  devices?: OciDevice[];
  /** Namespaced sysctls set inside (see namespaceSysctls). */
  sysctl?: Record<string, string>;
}

/**
 * What a workload with a network namespace of its own may do there without privileges, as Docker
 * sets for containers: bind ports below 1024 (a sandboxed process has no capabilities, and a user
 * namespace's root has none over a namespace the host made) and ping. Both sysctls belong to the
 * network namespace, so the host's stay as they are. Without a namespace of its own: none.
 */
export function namespaceSysctls(netns: string | undefined): Record<string, string> | undefined {
  return netns ? { 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647' } : undefined;
}

export interface OciDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  uid?: number;
  gid?: number;
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
  // The cgroup namespace makes /sys/fs/cgroup and /proc/self/cgroup show the task's own cgroup
  // as the root: without it, cgroup v2 shows every other task's cgroup (names and stats).
  const namespaces: Array<{ type: string; path?: string }> = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }];
  if (o.userns) namespaces.push({ type: 'user' });
  if (o.netns) namespaces.push({ type: 'network', path: o.netns });
  const caps = [...(o.capabilities ?? DEFAULT_CAPABILITIES)];
  const map = o.userns ? [{ containerID: 0, hostID: o.userns.start, size: o.userns.size }] : undefined;
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: o.user ?? { uid: 0, gid: 0 },
      args: o.args,
      env: Object.entries(o.env).map(([k, v]) => `${k}=${v}`),
      cwd: o.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: o.nofile ?? 1024, soft: o.nofile ?? 1024 }],
      noNewPrivileges: true,
    },
    root: { path: o.root ?? 'rootfs', readonly: o.readonlyRoot ?? false },
    hostname: o.hostname,
    mounts: [...systemMounts(o), ...(o.mounts ?? []).map((m) => ({ type: 'bind', ...m, options: m.options ?? ['rbind', 'ro'] }))],
    linux: {
      ...(map ? { uidMappings: map, gidMappings: map } : {}),
      ...(o.devices?.length ? { devices: o.devices } : {}),
      ...(o.sysctl ? { sysctl: o.sysctl } : {}),
      resources: {
        devices: [{ allow: false, access: 'rwm' }, ...(o.devices ?? []).map((d) => ({ allow: true, type: d.type, major: d.major, minor: d.minor, access: 'rwm' }))],
        memory: { limit: bytes, swap: bytes }, // swap = memory + swap: equal means no swap
        cpu: { shares: cpuShares(o.resources.cpu), quota: cpuQuotaUs(o.resources.cpu), period: CFS_PERIOD_US },
        pids: { limit: o.resources.pids },
      },
      cgroupsPath: o.cgroupsPath,
      namespaces,
      ...(o.seccomp === null ? {} : { seccomp: o.seccomp ?? defaultSeccompProfile(caps) }),
      maskedPaths: MASKED,
      readonlyPaths: READONLY,
    },
  };
}

/**
 * /proc, /dev and friends. In a user namespace that joins a network namespace of the host's,
 * sysfs and cgroupfs cannot be mounted (the kernel ties them to the owner of the network
 * namespace), so /sys is the host's, bound read-only with the same masks.
 */
function systemMounts(o: OciInput): OciMount[] {
  const sys: OciMount[] = o.userns
    ? [{ destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }]
    : [
        { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
        { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
      ];
  return [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    ...sys,
  ];
}
