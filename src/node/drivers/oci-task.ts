/**
 * What the container driver and the sandboxed process driver share: a task is an OCI bundle run
 * by runc in the foreground under the supervisor (see supervisor.ts).
 *
 *   agent ─▶ sh supervisor (setsid) ─▶ runc run --keep --pid-file run/pid   (runc stays the
 *            container's parent and subreaper, relays stdout/stderr into logs/, returns its status)
 *
 * Why not `runc run --detach`: a detached container is reparented to init and its exit status is
 * lost (Node cannot be a subreaper). In the foreground runc plays the part of containerd's shim, and
 * the supervisor records its status on disk, so exit codes survive an agent restart. `--keep` leaves
 * the cgroup in place after exit, so the OOM counters can still be read; teardown runs `runc delete`.
 */
import type { ChildProcess } from 'node:child_process';
import { watch as watchDir } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { DriverError, type ExecCommand, type ExecCommandOptions, type ExecOptions, type ExecResult, type JsonValue, type Task, type TaskHandle } from './driver.js';
import { DEFAULT_PATH, runCollect } from './commands.js';
import { openLogFds } from './logs.js';
import { ociConfig, type OciInput } from './oci.js';
import { Runc } from './runc.js';
import { spawnSupervisor } from './supervisor.js';
import { cgroupOf, logDir, runDir, type SupervisedState, type TaskRecord } from './supervised.js';

/** Handle state of a task run by runc (beyond SupervisedState). */
export interface OciState extends SupervisedState {
  runcRoot: string;
  runc: string;
}

/** Writes config.json into `bundle` (whose rootfs the caller prepared). */
export async function writeBundleConfig(bundle: string, input: OciInput): Promise<void> {
  await writeFile(join(bundle, 'config.json'), JSON.stringify(ociConfig(input)));
}

/**
 * Clears what an earlier run of this task id left in runc's state (it must have ended) and the
 * run files of the task dir. Throws START_FAILED when a container of this id still runs.
 */
export async function clearStaleRun(runc: Runc, task: Task): Promise<string> {
  const run = runDir(task.dir);
  await mkdir(run, { recursive: true });
  for (const stale of ['pid', 'exit', 'exit.json', 'stop-requested']) await rm(join(run, stale), { force: true });
  // Only look when runc has state for it: `runc state` costs ~10 ms.
  const existing = (await stat(join(runc.root, task.id)).catch(() => undefined)) ? await runc.state(task.id) : undefined;
  if (existing && existing.status !== 'stopped') throw new DriverError('START_FAILED', `task ${task.id} already runs (pid ${existing.pid}); destroy it first or use a new task id`);
  if (existing) await runc.delete(task.id);
  return run;
}

/**
 * Runs the bundle under a new supervisor and resolves with the workload's pid once runc reports
 * it. On failure, calls `cleanup` and throws START_FAILED with runc's own error ("runc could not
 * start <what> <task id>: ...").
 */
export async function runBundle(runc: Runc, task: Task, bundle: string, timeoutMs: number, cleanup: () => Promise<void>, what = 'container'): Promise<{ child: ChildProcess; pid: number }> {
  const run = runDir(task.dir);
  const fds = openLogFds(logDir(task.dir));
  let child: ChildProcess;
  try {
    child = spawnSupervisor({
      exitFile: join(run, 'exit'),
      command: runc.runArgv(task.id, bundle, join(run, 'pid'), join(run, 'runc.log')),
      env: { PATH: DEFAULT_PATH },
      cwd: bundle,
      stdout: fds.stdout,
      stderr: fds.stderr,
    });
  } finally {
    fds.close();
  }
  const pid = await waitForPidFile(run, 'pid', child, timeoutMs);
  if (pid === undefined) {
    const why = await runcError(join(run, 'runc.log'));
    await runc.delete(task.id).catch(() => undefined);
    await cleanup();
    throw new DriverError('START_FAILED', `runc could not start ${what} ${task.id}: ${why}`);
  }
  return { child, pid };
}

export function runcOf(handle: TaskHandle): Runc {
  const s = handle.state as unknown as OciState;
  return new Runc(s.runc, s.runcRoot);
}

export function checkOciState(state: Record<string, JsonValue>): void {
  if (typeof state.runcRoot !== 'string' || !isAbsolute(state.runcRoot)) throw new Error('state.runcRoot must be an absolute path');
  if (typeof state.runc !== 'string' || !isAbsolute(state.runc)) throw new Error('state.runc must be an absolute path');
}

export async function ociTerminate(rec: TaskRecord): Promise<void> {
  await runcOf(rec.handle).kill(rec.handle.taskId, 'TERM');
}

/** SIGKILL to init (its death ends the pid namespace) and to everything in the cgroup (also what joined later). */
export async function ociKill(rec: TaskRecord): Promise<void> {
  await runcOf(rec.handle).kill(rec.handle.taskId, 'KILL');
  await cgroupOf(rec.state)?.killAll();
}

export async function ociExec(rec: TaskRecord, argv: string[], options: ExecOptions): Promise<ExecResult> {
  const cmd = await ociExecCommand(rec, argv, options);
  return runCollect(cmd.argv, { env: cmd.env! }, options);
}

/** `runc exec` of argv in the task (with `tty`, runc relays a terminal of the container's own). */
export async function ociExecCommand(rec: TaskRecord, argv: string[], options: ExecCommandOptions): Promise<ExecCommand> {
  checkExec(rec, argv);
  const { runc, prefix } = await execRuntime(rec);
  return { argv: [...prefix, ...runc.execArgv(rec.handle.taskId, argv, options)], env: { PATH: DEFAULT_PATH }, relaysTerminal: options.tty === true };
}

/**
 * How to reach the task with `runc exec`. runc 1.1 joins a container's user namespace before its
 * other namespaces, so it cannot join a network namespace the host made (EPERM). For such a task,
 * runc is pointed at a copy of its state without the network namespace (run/exec-root, rewritten
 * each time) and started inside the task's network namespace (nsenter, as root), which the
 * command inherits: the same namespaces, user, cgroup, capabilities and seccomp as the workload.
 */
async function execRuntime(rec: TaskRecord): Promise<{ runc: Runc; prefix: string[] }> {
  const runc = runcOf(rec.handle);
  const id = rec.handle.taskId;
  const text = await readFile(join(runc.root, id, 'state.json'), 'utf8').catch(() => undefined);
  if (!text) throw new DriverError('NOT_RUNNING', `task ${id} has no runc state; exec needs a running task`);
  const state = JSON.parse(text) as { init_process_pid: number; config: { namespaces: { type: string; path?: string }[] } };
  const ns = state.config.namespaces;
  if (!ns.some((n) => n.type === 'NEWUSER') || !ns.some((n) => n.type === 'NEWNET' && n.path)) return { runc, prefix: [] };
  state.config.namespaces = ns.filter((n) => n.type !== 'NEWNET');
  const root = join(runDir(rec.handle.dir), 'exec-root');
  await mkdir(join(root, id), { recursive: true, mode: 0o700 });
  const tmp = join(root, id, `state.json.${process.pid}.${Math.random().toString(36).slice(2)}`);
  await writeFile(tmp, JSON.stringify(state), { mode: 0o600 });
  await rename(tmp, join(root, id, 'state.json'));
  return { runc: new Runc(runc.bin, root), prefix: ['nsenter', `--net=/proc/${state.init_process_pid}/ns/net`, '--'] };
}

function checkExec(rec: TaskRecord, argv: string[]): void {
  if (rec.exit) throw new DriverError('NOT_RUNNING', `task ${rec.handle.taskId} has ended; exec needs a running task`);
  if (argv.length === 0) throw new DriverError('INVALID_TASK', 'exec needs a command');
}

/**
 * Resolves with the pid runc writes once the container's process runs, or undefined when the
 * supervisor (and so runc) ended first or the deadline passed.
 */
function waitForPidFile(dir: string, name: string, child: ChildProcess, timeoutMs: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    const file = join(dir, name);
    const finish = (pid: number | undefined) => {
      if (settled) return;
      settled = true;
      watcher.close();
      clearTimeout(timer);
      child.removeListener('exit', onExit);
      resolve(pid);
    };
    const tryRead = async () => {
      const text = await readFile(file, 'utf8').catch(() => '');
      if (/^\d+$/.test(text.trim())) finish(Number(text.trim()));
    };
    const onExit = () => void tryRead().then(() => finish(undefined));
    const watcher = watchDir(dir, (_event, changed) => {
      if (changed === name) void tryRead();
    });
    const timer = setTimeout(() => {
      void tryRead().then(() => {
        if (!settled && child.pid && child.exitCode === null && child.signalCode === null) process.kill(-child.pid, 'SIGKILL');
        finish(undefined);
      });
    }, timeoutMs);
    child.once('exit', onExit);
    child.once('error', () => finish(undefined));
    void tryRead();
  });
}

/** The last error runc logged (its log is JSON lines: {"level":"error","msg":...}). */
export async function runcError(logFile: string): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const errors = text
    .split('\n')
    .map((l) => {
      try {
        return JSON.parse(l) as { level?: string; msg?: string };
      } catch {
        return undefined;
      }
    })
    .filter((e) => e?.level === 'error' || e?.level === 'fatal');
  return errors.at(-1)?.msg ?? (text.trim().split('\n').at(-1) || 'runc exited without a message');
}

/** Our own hard RLIMIT_NOFILE, capped at 1Mi: a container cannot be given more than its creator has. */
export async function nofileLimit(): Promise<number> {
  const limits = await readFile('/proc/self/limits', 'utf8').catch(() => '');
  const hard = /^Max open files\s+\S+\s+(\S+)/m.exec(limits)?.[1];
  if (hard === 'unlimited') return 1048576;
  return hard && /^\d+$/.test(hard) ? Math.min(Number(hard), 1048576) : 1024;
}
