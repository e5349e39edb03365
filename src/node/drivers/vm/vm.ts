/**
 * vm driver: each task is one QEMU process (KVM where it works, TCG otherwise; accel.ts) run the
 * way an unisolated process runs (raw-process.ts: an sh supervisor that outlives the agent, the
 * task's cgroup joined before exec), so wait, stats, logs, recover and destroy are the shared
 * supervised ones (supervised.ts).
 *
 *   <task dir>/run/qmp.sock       QMP (qmp.ts): powerdown, reset, quit
 *   <task dir>/run/console.sock   the serial console (ConsoleCapable), one client at a time
 *   <task dir>/run/seed.img       the NoCloud seed (seed.ts)
 *   <task dir>/logs/stdout.log    the serial output (QEMU appends it there: logs() shows it)
 *   <task dir>/logs/stderr.log    QEMU's own messages
 *
 * QEMU starts as root (to open the tap and the disks), then drops to the project's first host id
 * (identity.ts) before the guest runs, under seccomp (-sandbox on). Its cgroup's memory limit is
 * the guest's memory plus `memoryOverheadMiB` for QEMU itself.
 *
 * stop(handle, grace): ACPI power button (QMP system_powerdown), up to `grace` for the guest to
 * power off, then SIGKILL to the cgroup. reboot(handle): QMP system_reset.
 */
import { rmSync, mkdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { isAbsolute, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { execFile } from 'node:child_process';
import { isoNow } from '../../../model/runtime.js';
import { VM_MEMORY_OVERHEAD_MIB } from '../../../model/kinds/instance.js';
import { DriverError, checkTaskId, type ConsoleCapable, type Fingerprint, type JsonValue, type RebootCapable, type Task, type TaskHandle } from '../driver.js';
import { describeCgroups, detectCgroups, type CgroupHost } from '../cgroups.js';
import { DEFAULT_PATH, findExecutable } from '../commands.js';
import { IdRanges } from '../identity.js';
import { logFile } from '../logs.js';
import { afterExitRaw, killRaw, launchInCgroup, netnsPrefix, terminateRaw } from '../raw-process.js';
import { SupervisedDriver, logDir, makeHandle, runDir, supervisedState, type SupervisedOptions, type TaskRecord } from '../supervised.js';
import { refuseUnsupported } from '../attachments.js';
import { chooseAccelCached, type AccelChoice, type AccelMode } from './accel.js';
import { macFor, qemuArgs } from './argv.js';
import { QmpClient, qmpExecute } from './qmp.js';
import { buildSeed, seedFiles } from './seed.js';

export interface VmDriverOptions extends SupervisedOptions {
  /** kvm, tcg, or auto (default): KVM only when a probe guest runs under it. */
  accel?: AccelMode;
  /** Parent of every task cgroup, relative to each hierarchy's root. Default "stratus". */
  cgroupParent?: string;
  /** The host's cgroups; detected when absent. */
  cgroups?: CgroupHost;
  /** QEMU's own memory beyond the guest's, added to the cgroup limit. Default VM_MEMORY_OVERHEAD_MIB (128), which the scheduler counts too. */
  memoryOverheadMiB?: number;
  /** TCG's translation cache. Default 32 MiB (QEMU's default, 1 GiB, would dwarf small guests). */
  tcgCacheMiB?: number;
  /** pids.max of a task (QEMU's threads count). Default 512. */
  pidsLimit?: number;
  /** How long QEMU may take to open its QMP socket. Default 15 s. */
  startTimeoutMs?: number;
  machine?: 'q35' | 'pc';
  /** Binaries; default: found in PATH. */
  qemu?: string;
  qemuImg?: string;
  cloudLocalds?: string;
  /** The machine's per-project id ranges (identity.ts), or its file. */
  idRanges?: IdRanges | string;
  /** Where the KVM probe looks (tests). Default /dev/kvm. */
  kvmDevice?: string;
  /** Where `auto`'s verdict is kept for this boot. Default /run/stratus/vm-accel.json (accel.ts). */
  accelCache?: string;
}

interface Tools {
  qemu?: string;
  qemuImg?: string;
  cloudLocalds?: string;
  version?: string;
  sandbox: boolean;
}

/** Extra keys of a vm handle's state. */
interface VmState {
  qmp: string;
  console: string;
  accel: string;
}

export class VmDriver extends SupervisedDriver implements RebootCapable, ConsoleCapable {
  readonly name = 'vm';
  private readonly ids: IdRanges;
  private hostPromise: Promise<CgroupHost> | undefined;
  private toolsPromise: Promise<Tools> | undefined;
  private accelPromise: Promise<AccelChoice> | undefined;

  constructor(private readonly options: VmDriverOptions = {}) {
    super(options);
    this.ids = options.idRanges instanceof IdRanges ? options.idRanges : new IdRanges(options.idRanges);
  }

  private get root(): boolean {
    return process.getuid?.() === 0;
  }

  private cgroupHost(): Promise<CgroupHost> {
    this.hostPromise ??= this.options.cgroups ? Promise.resolve(this.options.cgroups) : detectCgroups();
    return this.hostPromise;
  }

  private tools(): Promise<Tools> {
    this.toolsPromise ??= findTools(this.options);
    return this.toolsPromise;
  }

  /** The accelerator, chosen once per driver (the KVM probe takes up to 5 s where KVM hangs). */
  accel(): Promise<AccelChoice> {
    const o = this.options;
    const where = { ...(o.kvmDevice ? { kvmDevice: o.kvmDevice } : {}), ...(o.accelCache ? { file: o.accelCache } : {}) };
    this.accelPromise ??= this.tools().then((t) => (t.qemu ? chooseAccelCached(o.accel ?? 'auto', t.qemu, where) : { accel: 'tcg' as const, reason: 'no QEMU' }));
    return this.accelPromise;
  }

  private async problem(): Promise<string | undefined> {
    const t = await this.tools();
    if (!t.qemu) return 'qemu-system-x86_64 not found: run scripts/install-deps.sh (Debian package qemu-system-x86)';
    if (!t.qemuImg) return 'qemu-img not found: run scripts/install-deps.sh (Debian package qemu-utils)';
    if (!t.cloudLocalds) return 'cloud-localds not found: run scripts/install-deps.sh (Debian package cloud-image-utils)';
    return undefined;
  }

  async fingerprint(): Promise<Fingerprint> {
    const problem = await this.problem();
    const t = await this.tools();
    const { enforces, notes } = describeCgroups(await this.cgroupHost(), this.root);
    if (problem) return { driver: this.name, available: false, enforcesLimits: false, details: [problem, ...notes], attributes: {} };
    const choice = await this.accel();
    if (!this.root) notes.push('not root: QEMU runs as the agent user, without a tap device');
    return {
      driver: this.name,
      available: true,
      ...(t.version ? { version: t.version } : {}),
      enforcesLimits: enforces,
      details: [choice.reason, ...notes, `memory limit = guest memory + ${this.overheadMiB} MiB for QEMU`],
      attributes: { 'vm.accel': choice.accel, ...(t.version ? { 'vm.qemu': t.version } : {}) },
    };
  }

  private get overheadMiB(): number {
    return this.options.memoryOverheadMiB ?? VM_MEMORY_OVERHEAD_MIB;
  }

  async start(task: Task): Promise<TaskHandle> {
    checkVmTask(task);
    const problem = await this.problem();
    if (problem) throw new DriverError('NOT_AVAILABLE', problem);
    const t = await this.tools();
    const run = runDir(task.dir);
    for (const stale of ['exit', 'exit.json', 'stop-requested', 'qmp.sock', 'console.sock', 'seed.img']) rmSync(join(run, stale), { force: true, recursive: true });
    mkdirSync(run, { recursive: true, mode: 0o700 });
    mkdirSync(logDir(task.dir), { recursive: true });
    const nic = task.tap !== undefined || task.userNet !== undefined;
    const mac = task.tap?.mac ?? macFor(task.instance.uid);
    const seed = await buildSeed(run, seedFiles(task, nic ? mac : undefined), t.cloudLocalds);
    const choice = await this.accel();
    const range = this.root ? this.ids.forProject(task.instance.project) : undefined;
    const qmp = join(run, 'qmp.sock');
    const console = join(run, 'console.sock');
    const { resources } = task.spec;
    const args = qemuArgs({
      accel: choice.accel,
      machine: this.options.machine ?? 'q35',
      cpus: Math.ceil(resources.cpu / 1000),
      memoryMiB: resources.memory,
      disks: task.disks ?? [],
      seed,
      ...(task.tap ? { tap: task.tap } : task.userNet ? { userNet: task.userNet, userMac: mac } : {}),
      qmpSocket: qmp,
      consoleSocket: console,
      serialLog: logFile(logDir(task.dir), 'stdout'),
      ...(range ? { runAs: { uid: range.start, gid: range.start } } : {}),
      sandbox: t.sandbox,
      tcgCacheMiB: this.options.tcgCacheMiB ?? 32,
      name: task.id,
    });
    const host = await this.cgroupHost();
    const ctx = { host, root: this.root, cgroupParent: this.options.cgroupParent ?? 'stratus', pidsLimit: this.options.pidsLimit ?? 512, startTimeoutMs: this.startTimeoutMs };
    const startedAt = isoNow(this.clock);
    const limits = { cpu: resources.cpu, memory: resources.memory + this.overheadMiB, pids: ctx.pidsLimit };
    const { child, pid, cgroup } = await launchInCgroup(task, ctx, { argv: [t.qemu!, ...args], env: { PATH: DEFAULT_PATH }, cwd: run, prefix: netnsPrefix(task.netns) }, limits);
    const state = { ...supervisedState(child.pid!, pid, cgroup?.paths ?? {}, task), qmp, console, accel: choice.accel };
    const rec = this.track(makeHandle(this.name, task, pid, startedAt, state), child);
    await this.waitForQmp(rec);
    return rec.handle;
  }

  private get startTimeoutMs(): number {
    return this.options.startTimeoutMs ?? 15_000;
  }

  /** Resolves once QEMU answers on its QMP socket; if it exits first, throws START_FAILED with its last message and cleans up. */
  private async waitForQmp(rec: TaskRecord): Promise<void> {
    const { qmp } = rec.handle.state as unknown as VmState;
    const deadline = Date.now() + this.startTimeoutMs;
    let lastError = 'no QMP socket yet';
    while (Date.now() < deadline && !rec.exit) {
      if (statSync(qmp, { throwIfNoEntry: false })) {
        try {
          const c = await QmpClient.connect(qmp, 2000);
          c.close();
          return;
        } catch (e) {
          lastError = (e as Error).message;
        }
      }
      await Promise.race([rec.exited, new Promise((r) => setTimeout(r, 20))]);
    }
    const why = rec.exit ? await lastLine(logFile(logDir(rec.handle.dir), 'stderr')) : `QMP did not answer within ${this.startTimeoutMs} ms (${lastError})`;
    await this.destroy(rec.handle).catch(() => undefined);
    throw new DriverError('START_FAILED', `QEMU did not start for task ${rec.handle.taskId}: ${why || 'it exited without a message'}`);
  }

  /** ACPI power button; if QMP does not answer, SIGTERM (QEMU then quits at once). */
  protected async terminate(rec: TaskRecord): Promise<void> {
    try {
      await qmpExecute(vmState(rec.handle).qmp, 'system_powerdown', undefined, 3000);
    } catch {
      await terminateRaw(rec);
    }
  }

  protected kill(rec: TaskRecord): Promise<void> {
    return killRaw(rec);
  }

  protected override afterExit(rec: TaskRecord): Promise<void> {
    return afterExitRaw(rec);
  }

  /** Nothing beyond what destroy() removes (run/ holds the seed and the sockets). */
  protected async teardown(_handle: TaskHandle): Promise<void> {}

  protected checkState(state: Record<string, JsonValue>): void {
    for (const k of ['qmp', 'console'] as const) {
      const v = state[k];
      if (typeof v !== 'string' || !isAbsolute(v)) throw new Error(`state.${k} must be an absolute path`);
    }
  }

  /** QMP system_reset: the guest restarts in the same QEMU process (same handle, pid, disks). */
  async reboot(handle: TaskHandle): Promise<void> {
    const rec = this.running(handle);
    await qmpExecute(vmState(rec.handle).qmp, 'system_reset', undefined, 5000);
  }

  /** A new connection to the serial console socket (QEMU serves one at a time; a second waits until the first ends). */
  async console(handle: TaskHandle): Promise<Duplex> {
    const rec = this.running(handle);
    const socket = createConnection(vmState(rec.handle).console);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (e) => reject(new DriverError('NOT_RUNNING', `the console of task ${handle.taskId} is not reachable: ${e.message}`)));
    });
    return socket;
  }

  private running(handle: TaskHandle): TaskRecord {
    const rec = this.record(handle);
    if (rec.exit) throw new DriverError('NOT_RUNNING', `task ${handle.taskId} has ended`);
    return rec;
  }
}

function vmState(handle: TaskHandle): VmState {
  return handle.state as unknown as VmState;
}

/** What a VM task must have; refuses what a VM cannot take (mounts, files, devices). */
function checkVmTask(task: Task): void {
  checkTaskId(task.id);
  if (!isAbsolute(task.dir)) throw new DriverError('INVALID_TASK', `task dir "${task.dir}" must be an absolute path`);
  refuseUnsupported(task, 'vm', ['tap', 'disks']);
  if (!task.disks?.length) throw new DriverError('INVALID_TASK', `instance ${task.instance.name}: a VM needs a root disk (task.disks[0]); the vm driver boots a disk image`);
  for (const [what, v] of [['volume mounts', task.mounts], ['secret files', task.files], ['host devices', task.devices]] as const) {
    if (v?.length) throw new DriverError('INVALID_TASK', `instance ${task.instance.name}: the vm driver cannot take ${what}; give a VM block volumes (disks) and secrets through userData`);
  }
}

async function findTools(o: VmDriverOptions): Promise<Tools> {
  const find = (name: string, given?: string) => (given ? Promise.resolve(given) : findExecutable(name, DEFAULT_PATH, '/'));
  const [qemu, qemuImg, cloudLocalds] = await Promise.all([find('qemu-system-x86_64', o.qemu), find('qemu-img', o.qemuImg), find('cloud-localds', o.cloudLocalds)]);
  let version: string | undefined;
  let sandbox = false;
  if (qemu) {
    const help = await new Promise<string>((r) => execFile(qemu, ['-version'], { timeout: 10_000 }, (_e, out) => r(String(out))));
    version = /version (\d+\.\d+\.\d+)/.exec(help)?.[1];
    const usage = await new Promise<string>((r) => execFile(qemu, ['-help'], { timeout: 10_000, maxBuffer: 4 << 20 }, (_e, out) => r(String(out))));
    sandbox = /^-sandbox /m.test(usage);
  }
  return { ...(qemu ? { qemu } : {}), ...(qemuImg ? { qemuImg } : {}), ...(cloudLocalds ? { cloudLocalds } : {}), ...(version ? { version } : {}), sandbox };
}

async function lastLine(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trim().split('\n').pop() ?? '';
}
