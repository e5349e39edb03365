/**
 * The unisolated process mode (Nomad's `raw_exec`): the command on the host as the agent's user,
 * in a cgroup of its own (CPU quota, memory limit without swap, pid limit) and a process group of
 * its own, optionally in a network namespace. It sees and can touch everything the agent can, so
 * it runs only where a cluster admin enabled it on the node (`stratus agent --allow-unisolated`)
 * and allowed the instance's project (`spec.allowUnisolated`); process.ts has the sandbox.
 *
 *   agent ─▶ sh supervisor (setsid) ─fork─▶ ( subshell ─┬─ echo <own pid> > <cgroup>/cgroup.procs (each hierarchy)
 *                                                      ├─ echo "pid <own pid>" >&3   (start() returns here)
 *                                                      └─ exec [nsenter --net=…] command args… )  (same pid, inside the limits)
 *
 * The subshell joins the cgroup before exec, so not one instruction of the workload runs unlimited.
 * Every value (cgroup paths, argv) reaches the shells as positional parameters, never as script text.
 */
import type { ChildProcess } from 'node:child_process';
import { readFile, readlink } from 'node:fs/promises';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { DriverError, checkTaskId, type ExecCommand, type ExecOptions, type ExecResult, type Task } from './driver.js';
import { TaskCgroup, type CgroupHost, type CgroupLimits } from './cgroups.js';
import { openLogFds } from './logs.js';
import { namedNetns } from './netns.js';
import { DEFAULT_PATH, findExecutableSync, runCollect } from './commands.js';
import { isAlive, listProcesses, signalProcess } from './proc.js';
import { SH, readReport, spawnSupervisor } from './supervisor.js';
import { cgroupOf, logDir, runDir, type TaskRecord } from './supervised.js';

/**
 * The supervisor and the wrapper in one sh: the supervisor forks a subshell (no second exec of sh)
 * that reads its own pid, joins the cgroup in every hierarchy, reports "pid <n>" on fd 3 and execs
 * the command. argv: exit-file, count, that many cgroup.procs files, command…
 */
const PROCESS_SUPERVISOR =
  'trap : HUP INT QUIT TERM USR1 USR2; f="$1"; n="$2"; shift 2; ' +
  '( trap - HUP INT QUIT TERM USR1 USR2; read -r pid _ < /proc/self/stat; ' +
  'while [ "$n" -gt 0 ]; do echo "$pid" > "$1" || { echo "error cannot join cgroup $1" >&3; exit 126; }; shift; n=$((n - 1)); done; ' +
  'echo "pid $pid" >&3; exec "$@" 3>&- ); ' +
  's="$?"; echo "$s" > "$f"; exit "$s"';
/** Same, for exec(): no report. */
const EXEC_WRAPPER = 'n="$1"; shift; while [ "$n" -gt 0 ]; do echo "$$" > "$1" || exit 126; shift; n=$((n - 1)); done; exec "$@"';

export interface RawContext {
  host: CgroupHost;
  root: boolean;
  cgroupParent: string;
  pidsLimit: number;
  startTimeoutMs: number;
}

/** Starts the task unisolated; resolves once its pid is inside its cgroup (and network namespace). */
export async function startRaw(task: Task, ctx: RawContext): Promise<{ child: ChildProcess; pid: number; cgroup: TaskCgroup | undefined }> {
  const { resources } = task.spec;
  return launchInCgroup(task, ctx, prepareRaw(task), { cpu: resources.cpu, memory: resources.memory, pids: ctx.pidsLimit });
}

/** What launchInCgroup runs: `prefix` (e.g. joining a network namespace) then argv, in `cwd` with exactly `env`. */
export interface RawCommand {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  prefix: string[];
}

/**
 * Runs a host command as the task's workload under the sh supervisor, inside a new cgroup with
 * `limits` (none where this host cannot limit), output to the task's log files, exit status to
 * run/exit. Resolves once its pid is inside the cgroup (and network namespace); the vm driver runs
 * QEMU this way. Throws DriverError START_FAILED, leaving no cgroup behind.
 */
export async function launchInCgroup(task: Task, ctx: RawContext, cmd: RawCommand, limits: CgroupLimits): Promise<{ child: ChildProcess; pid: number; cgroup: TaskCgroup | undefined }> {
  const { argv, env, cwd, prefix } = cmd;
  const run = runDir(task.dir);
  const cgroup = await createCgroup(task, ctx, limits);
  const procs = cgroup?.procsFiles() ?? [];
  const fds = openLogFds(logDir(task.dir));
  let child;
  try {
    child = spawnSupervisor({
      exitFile: join(run, 'exit'),
      script: PROCESS_SUPERVISOR,
      command: [String(procs.length), ...procs, ...prefix, ...argv],
      env,
      cwd,
      stdout: fds.stdout,
      stderr: fds.stderr,
      reportPipe: true,
    });
  } finally {
    fds.close();
  }
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  let pid: number;
  try {
    const report = await Promise.race([readReport(child, ctx.startTimeoutMs), spawnError]);
    const m = /^pid (\d+)$/.exec(report);
    if (!m) throw new Error(report.startsWith('error ') ? report.slice(6) : `the wrapper ended without reporting a pid${report ? `: ${report}` : ''}`);
    pid = Number(m[1]);
  } catch (e) {
    if (child.pid && child.exitCode === null && child.signalCode === null) signalProcess(-child.pid, 'SIGKILL'); // not reaped: its pid is still ours
    await cgroup?.remove().catch(() => undefined);
    throw new DriverError('START_FAILED', `could not start ${argv[0]}: ${(e as Error).message}`);
  }
  if (task.netns) await waitForNetns(pid, task.netns, ctx.startTimeoutMs);
  return { child, pid, cgroup };
}

/**
 * Checks the task and lays out its directories. Synchronous on purpose: each call is a few
 * microseconds of local metadata work, less than the thread-pool round trip an awaited call costs.
 */
function prepareRaw(task: Task): RawCommand {
  checkTaskId(task.id);
  const { spec } = task;
  if (!spec.command || spec.command.length === 0) throw new DriverError('INVALID_TASK', `instance ${task.instance.name}: the process driver needs spec.command`);
  if (!isAbsolute(task.dir)) throw new DriverError('INVALID_TASK', `task dir "${task.dir}" must be an absolute path`);
  // Without a mount namespace there is no private place to put files or mounts: refuse rather than
  // drop them. A host path granted at its own path (the MPS pipes) is already there.
  if (task.files?.length || task.mounts?.some((m) => m.source !== m.destination)) {
    throw new DriverError('INVALID_TASK', `instance ${task.instance.name}: secrets mounted as files and volumes need the sandbox; an unisolated process (isolation: none) cannot have them (use env valueFrom, or drop isolation: none)`);
  }
  const run = runDir(task.dir);
  mkdirSync(run, { recursive: true });
  for (const stale of ['exit', 'exit.json', 'stop-requested']) rmSync(join(run, stale), { force: true });
  const cwd = spec.workdir ?? join(task.dir, 'work');
  if (spec.workdir) {
    if (!statSync(cwd, { throwIfNoEntry: false })?.isDirectory()) throw new DriverError('START_FAILED', `workdir ${cwd} does not exist on this node; create it or drop spec.workdir`);
  } else mkdirSync(cwd, { recursive: true });
  const env: Record<string, string> = { PATH: DEFAULT_PATH, HOME: cwd, ...spec.env, ...task.env };
  const argv = [...spec.command, ...(spec.args ?? [])];
  if (!findExecutableSync(argv[0]!, env.PATH ?? DEFAULT_PATH, cwd)) {
    throw new DriverError('START_FAILED', `command "${argv[0]}" is not an executable file (PATH=${env.PATH}); use an absolute path or install it on the node`);
  }
  return { argv, env, cwd, prefix: netnsPrefix(task.netns) };
}

/** The command prefix that runs a command inside `netns` (none without one). Throws START_FAILED when no tool can. */
export function netnsPrefix(netns: string | undefined): string[] {
  if (!netns) return [];
  // A namespace made by `ip netns add` may carry its own /etc files (resolv.conf with the
  // network's DNS): `ip netns exec` mounts them for the workload; nsenter would not.
  const named = namedNetns(netns);
  const ip = named ? findExecutableSync('ip', DEFAULT_PATH, '/') : undefined;
  const nsenter = findExecutableSync('nsenter', DEFAULT_PATH, '/');
  if (named && ip) return [ip, 'netns', 'exec', named];
  if (nsenter) return [nsenter, `--net=${netns}`, '--'];
  throw new DriverError('START_FAILED', 'joining a network namespace needs nsenter (util-linux) or ip (iproute2), and neither is installed');
}

/** The task's cgroup with its limits, or undefined when this host cannot limit (no cgroups, not root). */
async function createCgroup(task: Task, ctx: RawContext, limits: CgroupLimits): Promise<TaskCgroup | undefined> {
  if (ctx.host.mode === 'none' || !ctx.root) return undefined;
  try {
    const { cgroup } = await TaskCgroup.create(ctx.host, `${ctx.cgroupParent}/${task.id}`, limits);
    return cgroup;
  } catch (e) {
    await TaskCgroup.at(ctx.host, `${ctx.cgroupParent}/${task.id}`).remove().catch(() => undefined);
    throw new DriverError('START_FAILED', `cannot create the cgroup of task ${task.id}: ${(e as Error).message}`);
  }
}

/**
 * SIGTERM to the workload's process group, which is the supervisor's (the supervisor traps it).
 * Group ids are pids, so the group is signalled only while its leader, the supervisor, is
 * provably alive; otherwise just the workload, identified by pid and start time.
 */
export async function terminateRaw(rec: TaskRecord): Promise<void> {
  const s = rec.state;
  if (await isAlive(s.supervisorPid, s.supervisorStart)) signalProcess(-s.supervisorPid, 'SIGTERM');
  else if (await isAlive(rec.handle.pid, s.pidStart)) signalProcess(rec.handle.pid, 'SIGTERM');
}

export async function killRaw(rec: TaskRecord): Promise<void> {
  const cg = cgroupOf(rec.state);
  if (cg) return cg.killAll();
  // No cgroup, best effort: everything in the supervisor's session but the supervisor (which
  // records the status) — while the supervisor lives, so the session id cannot have been reused.
  const s = rec.state;
  if (await isAlive(s.supervisorPid, s.supervisorStart)) {
    for (const p of await listProcesses()) if (p.session === s.supervisorPid && p.pid !== s.supervisorPid) signalProcess(p.pid, 'SIGKILL');
  } else if (await isAlive(rec.handle.pid, s.pidStart)) signalProcess(rec.handle.pid, 'SIGKILL');
}

/** When the main process ends, whatever it left behind in the task goes too. */
export async function afterExitRaw(rec: TaskRecord): Promise<void> {
  const cg = cgroupOf(rec.state);
  if (!cg || (await cg.members()).length > 0) await killRaw(rec);
}

/** Runs argv in the task's cgroup, working directory, environment and network namespace. */
export async function execRaw(rec: TaskRecord, argv: string[], options: ExecOptions): Promise<ExecResult> {
  const cmd = await rawExecCommand(rec, argv, options);
  return runCollect(cmd.argv, { cwd: cmd.cwd!, env: cmd.env! }, options);
}

/** The host command that runs argv as execRaw does (the caller's terminal, if any, is the program's). */
export async function rawExecCommand(rec: TaskRecord, argv: string[], options: { env?: Record<string, string> }): Promise<ExecCommand> {
  const { handle } = rec;
  if (rec.exit) throw new DriverError('NOT_RUNNING', `task ${handle.taskId} has ended; exec needs a running task`);
  if (argv.length === 0) throw new DriverError('INVALID_TASK', 'exec needs a command');
  const pid = handle.pid;
  const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => join(handle.dir, 'work'));
  // Right after start() the workload may be in the middle of its execve, when /proc reads empty.
  let environ = '';
  for (let i = 0; i < 20 && environ === ''; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 5));
    environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
  }
  const env: Record<string, string> = { PATH: DEFAULT_PATH };
  for (const kv of environ.split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  Object.assign(env, options.env);
  const procs = cgroupOf(rec.state)?.procsFiles() ?? [];
  const netns = typeof handle.state.netns === 'string' ? ['nsenter', `--net=/proc/${pid}/ns/net`, '--'] : [];
  return { argv: [...netns, SH, '-c', EXEC_WRAPPER, 'stratus-exec', String(procs.length), ...procs, ...argv], cwd, env, relaysTerminal: false };
}

/**
 * The pid is reported just before `exec nsenter`, so it joins the namespace a moment later; wait
 * for that (start() promises a workload inside its namespaces). Gives up quietly when the process
 * is already gone: wait() reports how it ended.
 */
async function waitForNetns(pid: number, netns: string, timeoutMs: number): Promise<void> {
  const want = statSync(netns, { throwIfNoEntry: false })?.ino;
  const end = Date.now() + timeoutMs;
  while (want !== undefined && Date.now() < end) {
    const ino = statSync(`/proc/${pid}/ns/net`, { throwIfNoEntry: false })?.ino;
    if (ino === undefined || ino === want) return;
    await new Promise((r) => setTimeout(r, 2));
  }
}
