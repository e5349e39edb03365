/**
 * The driver interface: how the agent runs one instance on its machine.
 *
 * Required methods live in one interface (`Driver`); optional capabilities (`exec`, ...) are
 * separate interfaces found with type guards, so a driver implements only what it can do.
 *
 * Lifecycle, as the agent uses it:
 *
 *   start(task) ──▶ handle (JSON, persisted by the agent)
 *        │            ├─ wait(handle)      resolves once, when the workload ends
 *        │            ├─ stop(handle, ms)  SIGTERM, grace, SIGKILL of everything in the task
 *        │            ├─ inspect / stats / logs
 *        │            └─ destroy(handle)   removes cgroups, bundles, files; idempotent
 *   agent restarts ──▶ recover(persisted) ──▶ same handle, same workload (never restarted)
 */
import type { Duplex } from 'node:stream';
import type { RunSpec } from '../../model/kinds/instance.js';

/** Which instance a task runs. */
export interface InstanceRef {
  project: string;
  name: string;
  uid: string;
}

/**
 * One run of one instance on this node.
 *
 * Besides its command, a task carries what the platform attaches to it; the agent builds all of
 * it (never from the user's spec directly) and each driver turns it into its own terms
 * (attachments.ts: OCI mounts and devices):
 *
 *   network   `netns`    a network namespace to join (the node dataplane made it, veth inside)
 *   files     `files`    secrets, written into the task's directory and mounted read-only
 *   mounts    `mounts`   host paths granted by the agent (MPS pipes; a filesystem volume)
 *   devices   `devices`  host device nodes (GPUs; a block-device volume for a container)
 *   tap       `tap`      a tap device in `netns` (a VM's NIC: its name and MAC)
 *   disks     `disks`    block devices or image files handed over whole (a VM's root disk, a volume)
 *   guest     `guestNetwork` the VM guest's static address, gateway and DNS (its NoCloud network-config)
 *   usernet   `userNet`  a VM without a tap: QEMU user-mode networking with host port forwards
 *
 * The process and container drivers take volumes as `mounts` (a mounted filesystem) or `devices`
 * (a raw block device) and refuse `tap` and `disks` (attachments.ts refuseUnsupported:
 * INVALID_TASK naming the attachment), which are the vm driver's; adding an attachment is one
 * optional field here that the drivers which cannot use it refuse, and reshapes nothing else.
 */
export interface Task {
  /**
   * Unique on this node for one run ([a-z0-9][a-z0-9_.-]*, at most 128 characters; see `taskIdFor`).
   * Names the cgroup and the runc container, so a restarted instance needs a new id or a destroyed predecessor.
   */
  id: string;
  instance: InstanceRef;
  /** The normalized spec (resources in millicores / MiB, gracePeriod in seconds), secret references resolved: env holds strings only. */
  spec: RunSpec;
  /** Absolute directory the driver owns for this task: created by start(), removed by destroy(). */
  dir: string;
  /** A network namespace to join (e.g. /run/netns/x). Absent: the host's network. */
  netns?: string;
  /** Environment set by the agent (STRATUS_* and the like); it wins over spec.env, which may not override the platform. */
  env?: Record<string, string>;
  /** Files the platform places inside the instance (secrets), readable only by the workload. */
  files?: TaskFile[];
  /** Host paths the agent grants to the task (never taken from the user's spec): MPS pipes, volumes. */
  mounts?: TaskMount[];
  /**
   * Host device nodes the task may use: a host path, made at the same path inside (e.g.
   * /dev/nvidia0), or a device made at another path inside (a block volume's /dev/loopN at
   * /dev/data). None by default.
   */
  devices?: (string | TaskDevice)[];
  /**
   * A tap device the dataplane made for the task (a VM's NIC), inside `netns` when set. The vm
   * driver starts QEMU as root, which opens the tap and the disks, then drops to the project's
   * first host id (identity.ts) before the guest runs (-runas), so the tap needs no owner.
   */
  tap?: TaskTap;
  /** Disks handed over whole (a VM's root disk, block-device volumes): the drivers that boot or attach disks use them. */
  disks?: TaskDisk[];
  /**
   * How a VM's guest configures its NIC (written into its NoCloud seed as network-config v2):
   * the address the platform gave the instance, with `tap`. Absent: the guest gets no network config.
   */
  guestNetwork?: GuestNetwork;
  /**
   * A VM in host-networking mode (no overlay, no tap): QEMU's user-mode network, with the
   * instance's published ports forwarded from the host. Ignored when `tap` is set.
   */
  userNet?: UserNet;
}

/** A guest's static network configuration (the vm driver's NoCloud network-config). */
export interface GuestNetwork {
  /** The guest's address with its prefix length, e.g. "10.80.0.5/24". */
  address: string;
  /** Default route, e.g. "10.80.0.1". */
  gateway?: string;
  /** Name servers, e.g. ["10.80.0.1"]. */
  dns?: string[];
  /** DNS search domains, e.g. ["team-a.stratus.internal"]. */
  searchDomains?: string[];
  /** Interface MTU (1450 on a VXLAN overlay). */
  mtu?: number;
}

/** QEMU user-mode networking (slirp): the guest is 10.0.2.15 behind NAT; `forwards` publish its ports on the host. */
export interface UserNet {
  forwards: UserNetForward[];
}

export interface UserNetForward {
  protocol: 'tcp' | 'udp';
  /** Host address to listen on ("" or "0.0.0.0": all). */
  hostIp: string;
  hostPort: number;
  guestPort: number;
}

/** A host device node (`source`) made inside the task at `path` (under /dev). */
export interface TaskDevice {
  source: string;
  path: string;
}

/** A tap device: its interface name and the MAC address the guest's NIC gets. */
export interface TaskTap {
  name: string;
  mac: string;
}

/** A disk: a block device or an image file on the node. */
export interface TaskDisk {
  path: string;
  format: 'raw' | 'qcow2';
  readOnly: boolean;
}

/**
 * A file placed inside the instance's private view at `path` (absolute, normalized). The driver
 * writes it into the task's own directory, owned by the workload's user, and mounts it read-only.
 */
export interface TaskFile {
  path: string;
  /** Base64 of the content. */
  data: string;
  /** Permission bits; default 0o400. */
  mode?: number;
}

/** A host directory or file bound into the instance at `destination`. */
export interface TaskMount {
  source: string;
  destination: string;
  readOnly: boolean;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * What the agent keeps to find a task again. Plain JSON: the agent persists it in its data dir
 * and passes it to `recover()` after a restart.
 */
export interface TaskHandle {
  readonly driver: string;
  readonly version: 1;
  readonly taskId: string;
  readonly instance: InstanceRef;
  readonly dir: string;
  /** The workload's main process in the host's pid namespace. */
  readonly pid: number;
  readonly startedAt: string;
  /** Driver-private state (pids with start times, cgroup paths, bundle paths). */
  readonly state: { readonly [key: string]: JsonValue };
}

/**
 * Why a workload ended, most specific first: `OOMKilled` (the kernel killed a process of the task
 * for exceeding its memory limit) beats `Stopped` (stop() was called) beats the plain outcomes.
 * `Unknown`: it ended while nobody could observe its status (e.g. its supervisor was killed).
 */
export type ExitReason = 'Completed' | 'Error' | 'Signaled' | 'OOMKilled' | 'Stopped' | 'Unknown';

export interface ExitResult {
  /** Exit code, or null when it died from a signal or the status is unknown. */
  code: number | null;
  /** Signal name such as SIGKILL, or null. */
  signal: string | null;
  oomKilled: boolean;
  reason: ExitReason;
  /** One line for a person, e.g. "killed by SIGKILL after exceeding its 32 MiB memory limit". */
  message: string;
  finishedAt: string;
}

export interface Fingerprint {
  driver: string;
  /** Usable on this machine at all. */
  available: boolean;
  version?: string;
  /** CPU, memory and pid limits are enforced by the kernel. */
  enforcesLimits: boolean;
  /** Notes for a person, e.g. "limits not enforced: no cgroup memory controller". */
  details: string[];
  /** Machine-readable facts for the node's status and the scheduler. */
  attributes: Record<string, string>;
}

export interface TaskState {
  running: boolean;
  pid: number;
  startedAt: string;
  /** Set once the workload has ended and the driver has observed it. */
  exit?: ExitResult;
}

export interface TaskStats {
  at: string;
  /** Millicores used on average since the previous stats() call for this task (or since start). */
  cpu: number;
  /** Cumulative CPU time, nanoseconds. */
  cpuUsageNs: number;
  /** Working set (usage minus inactive page cache), MiB, rounded up. */
  memory: number;
  memoryBytes: number;
  memoryLimitBytes?: number;
  /** CFS bandwidth counters; absent without a cgroup cpu controller. */
  throttling?: { periods: number; throttledPeriods: number; throttledNs: number };
  pids?: number;
  /** 'cgroup' when read from the task's cgroup, 'proc' when summed from /proc (no cgroups). */
  source: 'cgroup' | 'proc' | 'mock';
}

export type LogStream = 'stdout' | 'stderr';

export interface LogOptions {
  /** Keep yielding new lines until the task ends (and its output is drained) or `signal` aborts. */
  follow?: boolean;
  /** Start with at most this many of the last lines of each stream (default: everything kept). */
  tail?: number;
  /** Default both. */
  streams?: LogStream[];
  signal?: AbortSignal;
}

/**
 * One line of output. Without `follow`, a stream's lines come in order, stdout's before stderr's;
 * while following, lines come in the order they are read. Interleaving between the two streams is
 * not recorded (each is a file of its own).
 */
export interface LogLine {
  stream: LogStream;
  line: string;
}

export interface Driver {
  readonly name: string;
  /** Whether and how this driver works here. Never throws; cheap enough to call at every heartbeat. */
  fingerprint(): Promise<Fingerprint>;
  /**
   * Starts the workload; resolves once its main process exists inside its cgroup and namespaces
   * (for the process driver: about to exec the command, which was checked to be executable).
   */
  start(task: Task): Promise<TaskHandle>;
  /** Resolves once, when the workload ends; every call returns the same result. */
  wait(handle: TaskHandle): Promise<ExitResult>;
  /**
   * SIGTERM, then after `gracePeriodMs` SIGKILL to every process of the task, including children
   * that left its process group. Resolves with the exit. Idempotent: a finished task resolves at once.
   */
  stop(handle: TaskHandle, gracePeriodMs: number): Promise<ExitResult>;
  /** Kills what still runs and removes everything start() created. Idempotent; works on any handle. */
  destroy(handle: TaskHandle): Promise<void>;
  inspect(handle: TaskHandle): Promise<TaskState>;
  /**
   * Re-attaches to a task started by an earlier agent process, without restarting it.
   * Throws DriverError INVALID_HANDLE when `persisted` is not a handle of this driver.
   */
  recover(persisted: unknown): Promise<TaskHandle>;
  stats(handle: TaskHandle): Promise<TaskStats>;
  logs(handle: TaskHandle, options?: LogOptions): AsyncIterable<LogLine>;
}

export interface ExecOptions {
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Output beyond this many bytes per stream is dropped. Default 1 MiB. */
  maxOutputBytes?: number;
}

export interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Optional capability: run a command inside a running task (its cgroup, namespaces, environment). */
export interface ExecCapable {
  exec(handle: TaskHandle, argv: string[], options?: ExecOptions): Promise<ExecResult>;
}

export function isExecCapable(driver: Driver): driver is Driver & ExecCapable {
  return typeof (driver as Partial<ExecCapable>).exec === 'function';
}

export interface ExecCommandOptions {
  /** The command gets a terminal: the caller spawns it with a pseudo-terminal as its stdin (see `relaysTerminal`). */
  tty?: boolean;
  env?: Record<string, string>;
}

/** A host command line that runs a program inside a running task, for the caller to spawn with stdio of its own. */
export interface ExecCommand {
  argv: string[];
  cwd?: string;
  env?: Record<string, string>;
  /**
   * With `tty`: the command makes the task's own terminal and relays it (runc exec --tty), so the
   * caller's terminal must be raw, without echo, and sized as wanted before it starts. Otherwise the
   * caller's terminal is the program's.
   */
  relaysTerminal: boolean;
}

/**
 * Optional capability: how to run argv inside a running task (its sandbox, user, cgroup,
 * namespaces and environment) with live stdio: interactive exec, copies. The caller spawns it.
 */
export interface StreamExecCapable {
  execCommand(handle: TaskHandle, argv: string[], options?: ExecCommandOptions): Promise<ExecCommand>;
}

export function isStreamExecCapable(driver: Driver): driver is Driver & StreamExecCapable {
  return typeof (driver as Partial<StreamExecCapable>).execCommand === 'function';
}

/** Optional capability: a hard reset of the guest, as a machine's reset button (the vm driver: QMP system_reset). */
export interface RebootCapable {
  /** Resets a running task in place (same handle, same process). Throws DriverError NOT_RUNNING once it has ended. */
  reboot(handle: TaskHandle): Promise<void>;
}

export function isRebootCapable(driver: Driver): driver is Driver & RebootCapable {
  return typeof (driver as Partial<RebootCapable>).reboot === 'function';
}

/**
 * Optional capability: the task's interactive console (the vm driver: the guest's serial port).
 * Each call returns a new duplex stream: bytes written go to the console's input, bytes read are
 * its output from now on (the past is in logs()). Ending the stream detaches; the task keeps running.
 * Throws DriverError NOT_RUNNING once the task has ended.
 */
export interface ConsoleCapable {
  console(handle: TaskHandle): Promise<Duplex>;
}

export function isConsoleCapable(driver: Driver): driver is Driver & ConsoleCapable {
  return typeof (driver as Partial<ConsoleCapable>).console === 'function';
}

export type DriverErrorCode =
  | 'NOT_AVAILABLE' // the driver cannot run here (see its fingerprint)
  | 'INVALID_TASK' // the task asks for something this driver cannot do
  | 'START_FAILED' // the workload could not be started
  | 'UNKNOWN_TASK' // a handle this driver instance neither started nor recovered
  | 'INVALID_HANDLE' // recover() got something that is not a handle of this driver
  | 'NOT_RUNNING'; // the operation needs a running task

export class DriverError extends Error {
  constructor(
    readonly code: DriverErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'DriverError';
  }
}

const TASK_ID = /^[a-z0-9][a-z0-9_.-]{0,127}$/;

/** A task id for one run of an instance: `project.name.uid[.attempt]`, safe for cgroup and runc names. */
export function taskIdFor(instance: InstanceRef, attempt = 0): string {
  const clean = (s: string) => s.toLowerCase().replace(/[^a-z0-9_-]+/g, '-');
  const uid = clean(instance.uid).replace(/-/g, '').slice(0, 12) || 'x';
  const id = `${clean(instance.project)}.${clean(instance.name)}.${uid}${attempt > 0 ? `.${attempt}` : ''}`;
  return id.slice(0, 128).replace(/^[^a-z0-9]+/, 'x');
}

export function checkTaskId(id: string): void {
  if (!TASK_ID.test(id)) {
    throw new DriverError('INVALID_TASK', `task id "${id}" must match ${TASK_ID.source} (use taskIdFor())`);
  }
}
