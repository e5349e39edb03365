/**
 * The process sandbox: how a process instance runs isolated, the way Nomad's `exec` driver does
 * (not its `raw_exec`), built as an OCI bundle for runc with a read-only view of the host.
 *
 *   /usr /etc /bin /sbin /lib* (the host view)   read-only binds of the host's (rro: submounts too)
 *   /work                                        private, writable, the working directory and HOME
 *   /tmp                                         private, writable
 *   /proc /dev /sys                              the sandbox's own (pid namespace; no host devices)
 *   /run/secrets/... (files)                     read-only, owned by the workload
 *
 *   user      the project's unprivileged host uid (identity.ts), never root, never the agent's
 *   namespaces pid, mount, ipc, uts, cgroup (+ the instance's network namespace)
 *   no capabilities, no_new_privs, the default seccomp profile (seccomp.ts)
 *   init      tini as pid 1 (forwards signals to the process group, reaps zombies), where installed
 *
 * Everything else of the host — the agent's data dir (its credential), other instances' dirs,
 * /run/netns, /root, /var, /home, the host's /proc — does not exist inside.
 */
import { chown, lstat, mkdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { realpathSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { DriverError, type Task } from './driver.js';
import { DEFAULT_PATH, findExecutableSync } from './commands.js';
import { fileMounts, hostMounts, isWithin, taskDevices, type Owner } from './attachments.js';
import { netnsEtcFile } from './netns.js';
import { namespaceSysctls, type OciInput, type OciMount } from './oci.js';
import { defaultSeccompProfile } from './seccomp.js';

/** Nomad's default chroot environment, minus /run/resolvconf (resolv.conf is bound on its own). */
export const DEFAULT_HOST_VIEW = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/usr', '/etc'];
export const SANDBOX_WORKDIR = '/work';
const INIT_CANDIDATES = ['/usr/bin/tini-static', '/usr/bin/tini', '/usr/local/bin/tini-static', '/usr/local/bin/tini'];

export interface SandboxOptions {
  /** Host directories the workload sees read-only. */
  hostView: readonly string[];
  /** pid 1 of the sandbox; undefined: the workload itself is pid 1. */
  init?: string;
}

/** The host view that exists here, and tini if it is installed inside it. */
export function sandboxOptions(view: readonly string[] = DEFAULT_HOST_VIEW): SandboxOptions {
  const hostView = view.filter((p) => statSync(p, { throwIfNoEntry: false }) !== undefined);
  const init = INIT_CANDIDATES.find((p) => statSync(p, { throwIfNoEntry: false })?.isFile() && hostView.some((r) => isWithin(p, r)));
  return { hostView, ...(init ? { init } : {}) };
}

/** Kernel 5.12 added mount_setattr, which runc's "rro" (recursively read-only) needs. */
export function recursiveReadOnly(kernel: string = release()): boolean {
  const [major, minor] = kernel.split('.').map((n) => parseInt(n, 10));
  return (major ?? 0) > 5 || (major === 5 && (minor ?? 0) >= 12);
}

/**
 * Lays out the sandbox of `task` (rootfs with the host view's symlinks, private /work and /tmp
 * owned by `owner`, files) and returns the OCI input for it. Clears what an earlier run left.
 */
export async function prepareSandbox(task: Task, owner: Owner, opts: SandboxOptions): Promise<{ bundle: string; input: Omit<OciInput, 'resources' | 'cgroupsPath' | 'nofile'> }> {
  const bundle = join(task.dir, 'bundle');
  const rootfs = join(bundle, 'rootfs');
  await rm(bundle, { recursive: true, force: true });
  await mkdir(rootfs, { recursive: true, mode: 0o755 });
  const ro = recursiveReadOnly() ? 'rro' : 'ro';
  const view: OciMount[] = [];
  const roots: string[] = [];
  for (const path of opts.hostView) {
    const st = await lstat(path).catch(() => undefined);
    if (st?.isSymbolicLink()) await symlink(await readlink(path), join(rootfs, path));
    else if (st?.isDirectory()) view.push({ destination: path, type: 'bind', source: path, options: ['rbind', ro, 'nosuid', 'nodev'] });
    if (st) roots.push(path);
  }
  const own: OciMount[] = [];
  for (const [name, target] of [['work', SANDBOX_WORKDIR], ['tmp', '/tmp']] as const) {
    const dir = join(task.dir, name);
    await mkdir(dir, { recursive: true });
    await chown(dir, owner.uid, owner.gid);
    own.push({ destination: target, type: 'bind', source: dir, options: ['rbind', 'rw', 'nosuid', 'nodev'] });
  }
  const env: Record<string, string> = { PATH: DEFAULT_PATH, HOME: SANDBOX_WORKDIR, ...task.spec.env, ...task.env };
  const argv = [...(task.spec.command ?? []), ...(task.spec.args ?? [])];
  if (argv.length === 0) throw new DriverError('INVALID_TASK', `instance ${task.instance.name}: the process driver needs spec.command`);
  checkCommand(argv[0]!, env.PATH ?? DEFAULT_PATH, roots);
  return {
    bundle,
    input: {
      args: opts.init ? [opts.init, '-g', '--', ...argv] : argv,
      env,
      cwd: await workdir(task, roots),
      hostname: task.instance.name,
      readonlyRoot: true,
      user: owner,
      capabilities: [],
      seccomp: defaultSeccompProfile([], { compat: false }),
      ...(task.netns ? { netns: task.netns, sysctl: namespaceSysctls(task.netns) } : {}),
      mounts: [...view, ...own, ...(await etcMounts(task)), ...(await fileMounts(task, owner, roots)), ...hostMounts(task, roots)],
      devices: taskDevices(task),
    },
  };
}

/** The working directory: /work unless spec.workdir names one under /work (made) or in the host view (must exist). */
async function workdir(task: Task, roots: string[]): Promise<string> {
  const want = task.spec.workdir;
  if (!want || want === SANDBOX_WORKDIR) return SANDBOX_WORKDIR;
  if (isWithin(want, SANDBOX_WORKDIR)) {
    const host = join(task.dir, 'work', want.slice(SANDBOX_WORKDIR.length));
    await mkdir(host, { recursive: true });
    return want;
  }
  if (roots.some((r) => isWithin(want, r)) && statSync(want, { throwIfNoEntry: false })?.isDirectory()) return want;
  throw new DriverError('START_FAILED', `spec.workdir ${want}: a sandboxed process sees only the node's system directories (${roots.join(', ')}, read-only), /work and /tmp; use a directory under /work`);
}

/** /etc/resolv.conf of the network namespace (its DNS) and an /etc/hosts naming the instance. */
async function etcMounts(task: Task): Promise<OciMount[]> {
  if (!task.netns) return [];
  const mounts: OciMount[] = [];
  const resolv = netnsEtcFile(task.netns, 'resolv.conf');
  if (resolv) mounts.push({ destination: '/etc/resolv.conf', source: resolv, type: 'bind', options: ['bind', 'ro'] });
  const hosts = join(task.dir, 'run', 'hosts');
  await mkdir(dirname(hosts), { recursive: true });
  await writeFile(hosts, `127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t${task.instance.name}\n`);
  mounts.push({ destination: '/etc/hosts', source: hosts, type: 'bind', options: ['bind', 'ro'] });
  return mounts;
}

/**
 * The command must be an executable file inside the host view, found the way execvp finds it
 * (PATH entries outside the view are skipped: they do not exist inside).
 */
function checkCommand(cmd: string, path: string, roots: string[]): void {
  const visible = (p: string) => roots.some((r) => isWithin(p, r));
  const dirs = cmd.includes('/') ? [] : path.split(delimiter).filter((d) => d.startsWith('/') && visible(d));
  const found = cmd.includes('/') ? (visible(resolve('/', cmd)) ? findExecutableSync(cmd, '', '/') : undefined) : findExecutableSync(cmd, dirs.join(delimiter), '/');
  let real: string | undefined;
  try {
    real = found ? realpathSync(found) : undefined;
  } catch {
    real = undefined;
  }
  if (found && real && visible(real)) return;
  const why = found ? `${found} resolves to ${real ?? 'nothing'}, outside the sandbox's view` : `not an executable file in ${cmd.includes('/') ? 'the sandbox' : `PATH=${path}`}`;
  throw new DriverError('START_FAILED', `command "${cmd}": ${why}; a sandboxed process sees ${roots.join(', ')} of the node (read-only), /work and /tmp`);
}
