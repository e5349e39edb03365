/**
 * process driver: the instance's command, sandboxed (sandbox.ts): an unprivileged uid of its
 * project, its own pid/mount/ipc/uts/cgroup namespaces, a read-only view of the host's system
 * directories, no capabilities, no_new_privs, the default seccomp profile, its cgroup limits —
 * run by runc like a container whose root filesystem is the host view (oci-task.ts).
 *
 *   spec.isolation: sandbox (default) ─▶ runc bundle with the host view       (Nomad's exec)
 *   spec.isolation: none              ─▶ sh supervisor on the host, as root  (Nomad's raw_exec;
 *                                        raw-process.ts; only with allowUnisolated on this node)
 */
import { isAbsolute } from 'node:path';
import { release } from 'node:os';
import { access, constants as fsc } from 'node:fs';
import { isoNow } from '../../model/runtime.js';
import { DriverError, checkTaskId, type ExecCapable, type ExecCommand, type ExecCommandOptions, type ExecOptions, type StreamExecCapable, type ExecResult, type Fingerprint, type JsonValue, type Task, type TaskHandle } from './driver.js';
import { TaskCgroup, describeCgroups, detectCgroups, type CgroupHost } from './cgroups.js';
import { DEFAULT_PATH, findExecutable } from './commands.js';
import { IdRanges } from './identity.js';
import { Runc } from './runc.js';
import { DEFAULT_HOST_VIEW, prepareSandbox, sandboxOptions, type SandboxOptions } from './sandbox.js';
import { checkOciState, clearStaleRun, nofileLimit, ociExec, ociExecCommand, ociKill, ociTerminate, runBundle, runcOf, writeBundleConfig, type OciState } from './oci-task.js';
import { afterExitRaw, execRaw, killRaw, rawExecCommand, startRaw, terminateRaw } from './raw-process.js';
import { SH } from './supervisor.js';
import { SupervisedDriver, makeHandle, supervisedState, type SupervisedOptions, type TaskRecord } from './supervised.js';
import { refuseUnsupported } from './attachments.js';

export interface ProcessDriverOptions extends SupervisedOptions {
  /** Parent of every task cgroup, relative to each hierarchy's root. Default "stratus". */
  cgroupParent?: string;
  /** pids.max of each task. Default 4096. */
  pidsLimit?: number;
  /** The host's cgroups; detected when absent. `{ mode: 'none', v1: {} }` runs without limits. */
  cgroups?: CgroupHost;
  /** How long a start may take. Default 10 s. */
  startTimeoutMs?: number;
  /** Run `isolation: none` instances (unisolated, as root). Default false: refused. */
  allowUnisolated?: boolean;
  /** Host directories a sandboxed process sees read-only. Default DEFAULT_HOST_VIEW. */
  hostView?: string[];
  /** runc binary; default: found in PATH. */
  runc?: string;
  /** runc's state root. Default /run/stratus/runc. */
  runcRoot?: string;
  /** The machine's per-project id ranges (identity.ts), or its file. */
  idRanges?: IdRanges | string;
}

type Mode = 'sandbox' | 'raw';

export class ProcessDriver extends SupervisedDriver implements ExecCapable, StreamExecCapable {
  readonly name: string = 'process';
  private readonly cgroupParent: string;
  private readonly pidsLimit: number;
  private readonly startTimeoutMs: number;
  private readonly runcRoot: string;
  private readonly ids: IdRanges;
  private readonly sandbox: SandboxOptions;
  private hostPromise: Promise<CgroupHost> | undefined;
  private runcPromise: Promise<string | undefined> | undefined;

  constructor(private readonly options: ProcessDriverOptions = {}) {
    super(options);
    this.cgroupParent = options.cgroupParent ?? 'stratus';
    this.pidsLimit = options.pidsLimit ?? 4096;
    this.startTimeoutMs = options.startTimeoutMs ?? 10_000;
    this.runcRoot = options.runcRoot ?? '/run/stratus/runc';
    this.ids = options.idRanges instanceof IdRanges ? options.idRanges : new IdRanges(options.idRanges);
    this.sandbox = sandboxOptions(options.hostView ?? DEFAULT_HOST_VIEW);
  }

  protected cgroupHost(): Promise<CgroupHost> {
    this.hostPromise ??= this.options.cgroups ? Promise.resolve(this.options.cgroups) : detectCgroups();
    return this.hostPromise;
  }

  private runcBin(): Promise<string | undefined> {
    this.runcPromise ??= this.options.runc ? Promise.resolve(this.options.runc) : findExecutable('runc', DEFAULT_PATH, '/');
    return this.runcPromise;
  }

  private get root(): boolean {
    return process.getuid?.() === 0;
  }

  /** Why sandboxed processes cannot run here, or undefined when they can. */
  private async sandboxProblem(): Promise<string | undefined> {
    if (!this.root) return 'sandboxed processes need root (to switch to an unprivileged uid and make namespaces)';
    if ((await this.cgroupHost()).mode === 'none') return 'sandboxed processes need cgroups, and this host has none';
    if (!(await this.runcBin())) return 'sandboxed processes need runc: run scripts/install-deps.sh (Debian package "runc")';
    return undefined;
  }

  async fingerprint(): Promise<Fingerprint> {
    const host = await this.cgroupHost();
    const { enforces, notes } = describeCgroups(host, this.root);
    const problem = await this.sandboxProblem();
    const unisolated = this.options.allowUnisolated === true;
    const sh = await new Promise<boolean>((r) => access(SH, fsc.X_OK, (e) => r(!e)));
    if (problem) notes.unshift(problem);
    else notes.push(`sandboxed: project uid, own pid/mount/ipc/uts namespaces, read-only ${this.sandbox.hostView.join(' ')}, no capabilities, seccomp${this.sandbox.init ? '' : '; no tini: the workload is pid 1 and must handle SIGTERM itself'}`);
    if (unisolated) notes.push('unisolated processes (isolation: none) allowed on this node');
    const available = !problem || (unisolated && sh);
    return {
      driver: this.name,
      available,
      version: release(),
      enforcesLimits: available && enforces,
      details: notes,
      attributes: {
        'cgroup.mode': host.mode,
        isolation: problem ? 'none' : 'sandbox',
        unisolated: unisolated ? 'allowed' : 'refused',
        ...(this.sandbox.init ? { init: this.sandbox.init } : {}),
      },
    };
  }

  async start(task: Task): Promise<TaskHandle> {
    checkTaskId(task.id);
    if (!isAbsolute(task.dir)) throw new DriverError('INVALID_TASK', `task dir "${task.dir}" must be an absolute path`);
    refuseUnsupported(task, 'process');
    if (task.spec.isolation === 'none') return this.startUnisolated(task);
    const problem = await this.sandboxProblem();
    if (problem) throw new DriverError('NOT_AVAILABLE', problem);
    return this.startSandboxed(task);
  }

  private async startSandboxed(task: Task): Promise<TaskHandle> {
    const runc = new Runc((await this.runcBin())!, this.runcRoot);
    await clearStaleRun(runc, task);
    const range = this.ids.forProject(task.instance.project);
    const owner = { uid: range.start, gid: range.start };
    const { bundle, input } = await prepareSandbox(task, owner, this.sandbox);
    const cgroupsPath = `/${this.cgroupParent}/${task.id}`;
    const { resources } = task.spec;
    await writeBundleConfig(bundle, { ...input, resources: { cpu: resources.cpu, memory: resources.memory, pids: this.pidsLimit }, cgroupsPath, nofile: await nofileLimit() });
    const startedAt = isoNow(this.clock);
    const { child, pid } = await runBundle(runc, task, bundle, this.startTimeoutMs, async () => undefined, 'the sandbox of');
    const host = await this.cgroupHost();
    const state: OciState & { mode: Mode; uid: number } = {
      ...supervisedState(child.pid!, pid, TaskCgroup.at(host, cgroupsPath).paths, task),
      runcRoot: this.runcRoot,
      runc: runc.bin,
      mode: 'sandbox',
      uid: owner.uid,
    };
    return this.track(makeHandle(this.name, task, pid, startedAt, state), child).handle;
  }

  private async startUnisolated(task: Task): Promise<TaskHandle> {
    if (!this.options.allowUnisolated) {
      throw new DriverError('INVALID_TASK', `instance ${task.instance.name} asks for isolation: none, and this node does not run unisolated processes (a cluster admin enables it with stratus agent --allow-unisolated)`);
    }
    const host = await this.cgroupHost();
    const startedAt = isoNow(this.clock);
    const { child, pid, cgroup } = await startRaw(task, { host, root: this.root, cgroupParent: this.cgroupParent, pidsLimit: this.pidsLimit, startTimeoutMs: this.startTimeoutMs });
    const state = { ...supervisedState(child.pid!, pid, cgroup?.paths ?? {}, task), netns: task.netns ?? null, mode: 'raw' as Mode };
    return this.track(makeHandle(this.name, task, pid, startedAt, state), child).handle;
  }

  private mode(handle: TaskHandle): Mode {
    return handle.state.mode === 'sandbox' ? 'sandbox' : 'raw';
  }

  protected terminate(rec: TaskRecord): Promise<void> {
    return this.mode(rec.handle) === 'sandbox' ? ociTerminate(rec) : terminateRaw(rec);
  }

  protected kill(rec: TaskRecord): Promise<void> {
    return this.mode(rec.handle) === 'sandbox' ? ociKill(rec) : killRaw(rec);
  }

  protected override async afterExit(rec: TaskRecord): Promise<void> {
    if (this.mode(rec.handle) === 'raw') await afterExitRaw(rec);
  }

  protected async teardown(handle: TaskHandle): Promise<void> {
    if (this.mode(handle) === 'sandbox') await runcOf(handle).delete(handle.taskId);
  }

  protected checkState(state: Record<string, JsonValue>): void {
    if (state.mode === 'sandbox') return checkOciState(state);
    if (state.mode !== undefined && state.mode !== 'raw') throw new Error('state.mode must be sandbox or raw');
    if (state.netns !== null && state.netns !== undefined && typeof state.netns !== 'string') throw new Error('state.netns must be a string or null');
  }

  /** Runs argv inside the task: its sandbox (runc exec) or, unisolated, its cgroup, directory, environment and network namespace. */
  async exec(handle: TaskHandle, argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const rec = this.record(handle);
    return this.mode(handle) === 'sandbox' ? ociExec(rec, argv, options) : execRaw(rec, argv, options);
  }

  /** The host command for a live exec: runc exec in the sandbox, or the unisolated wrapper. */
  async execCommand(handle: TaskHandle, argv: string[], options: ExecCommandOptions = {}): Promise<ExecCommand> {
    const rec = this.record(handle);
    return this.mode(handle) === 'sandbox' ? ociExecCommand(rec, argv, options) : rawExecCommand(rec, argv, options);
  }
}
