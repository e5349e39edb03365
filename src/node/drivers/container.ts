/**
 * container driver: an OCI bundle run by runc (the flow is oci-task.ts), in a user namespace where
 * the kernel allows: root inside is the first id of the project's host range (identity.ts), so a
 * container that escapes its namespaces is an unprivileged user on the node. The image is used
 * through an id-shifted copy per project range (made once, idshift.ts) as the overlay's lower layer.
 *
 *   <task dir>/overlay/{upper,work}   the container's writable layer (owned by the range's root)
 *   <task dir>/bundle/config.json     oci.ts: Docker's default capabilities, no_new_privs, seccomp
 *   <task dir>/bundle/rootfs          overlay(image content, upper) — or a copy where overlayfs is missing
 *   <task dir>/run/{pid,exit,runc.log}
 */
import { chmod, chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { dirname, isAbsolute, join } from 'node:path';
import { isoNow } from '../../model/runtime.js';
import { DriverError, checkTaskId, type ExecCapable, type ExecCommand, type ExecCommandOptions, type ExecOptions, type StreamExecCapable, type ExecResult, type Fingerprint, type JsonValue, type Task, type TaskHandle } from './driver.js';
import { TaskCgroup, describeCgroups, detectCgroups, type CgroupHost } from './cgroups.js';
import { DEFAULT_PATH, findExecutable } from './commands.js';
import { ImageStore, type ImageInfo } from './images.js';
import { netnsEtcFile } from './netns.js';
import { namespaceSysctls, type OciMount } from './oci.js';
import { Runc } from './runc.js';
import { IdRanges, type IdRange } from './identity.js';
import { shiftedImage, userNamespacesUsable } from './idshift.js';
import { fileMounts, hostMounts, refuseUnsupported, taskDevices } from './attachments.js';
import { checkOciState, clearStaleRun, nofileLimit, ociExec, ociExecCommand, ociKill, ociTerminate, runBundle, runcOf, writeBundleConfig, type OciState } from './oci-task.js';
import { SupervisedDriver, makeHandle, supervisedState, type SupervisedOptions, type TaskRecord } from './supervised.js';

const sh = promisify(execFile);

export interface ContainerDriverOptions extends SupervisedOptions {
  /** The image store, or its root directory. */
  images: ImageStore | string;
  /** runc binary; default: found in PATH. */
  runc?: string;
  /** runc's state root. Default /run/stratus/runc. */
  runcRoot?: string;
  cgroupParent?: string;
  pidsLimit?: number;
  /** How the writable rootfs is made. Default auto: overlayfs when the kernel has it, else a copy. */
  rootfs?: 'overlay' | 'copy' | 'auto';
  startTimeoutMs?: number;
  cgroups?: CgroupHost;
  /** User namespaces: auto (where the kernel allows) or off (root inside is root on the host). Default auto. */
  userns?: 'auto' | 'off';
  /** The machine's per-project id ranges (identity.ts), or its file. */
  idRanges?: IdRanges | string;
  /** Where containers in user namespaces get their root and mount sources (see usernsDir). Default /run/stratus/userns. */
  usernsRoot?: string;
}

interface ContainerState extends OciState {
  rootfs: 'overlay' | 'copy';
  /** First host id of the user namespace, or null without one. */
  userns: number | null;
  /** The task's directory under usernsRoot, or null without a user namespace. */
  usernsDir?: string | null;
}

export class ContainerDriver extends SupervisedDriver implements ExecCapable, StreamExecCapable {
  readonly name: string = 'container';
  readonly images: ImageStore;
  private readonly runcRoot: string;
  private readonly cgroupParent: string;
  private readonly pidsLimit: number;
  private readonly startTimeoutMs: number;
  private readonly ids: IdRanges;
  private readonly usernsRoot: string;
  private hostPromise: Promise<CgroupHost> | undefined;
  private runcPromise: Promise<string | undefined> | undefined;
  private usernsPromise: Promise<string | undefined> | undefined;

  constructor(private readonly options: ContainerDriverOptions) {
    super(options);
    this.images = typeof options.images === 'string' ? new ImageStore(options.images) : options.images;
    this.runcRoot = options.runcRoot ?? '/run/stratus/runc';
    this.cgroupParent = options.cgroupParent ?? 'stratus';
    this.pidsLimit = options.pidsLimit ?? 4096;
    this.startTimeoutMs = options.startTimeoutMs ?? 30_000;
    this.ids = options.idRanges instanceof IdRanges ? options.idRanges : new IdRanges(options.idRanges);
    this.usernsRoot = options.usernsRoot ?? '/run/stratus/userns';
  }

  private cgroupHost(): Promise<CgroupHost> {
    this.hostPromise ??= this.options.cgroups ? Promise.resolve(this.options.cgroups) : detectCgroups();
    return this.hostPromise;
  }

  private runcBin(): Promise<string | undefined> {
    this.runcPromise ??= this.options.runc ? Promise.resolve(this.options.runc) : findExecutable('runc', DEFAULT_PATH, '/');
    return this.runcPromise;
  }

  /** Why containers run without a user namespace here, or undefined when they get one. */
  private usernsProblem(): Promise<string | undefined> {
    this.usernsPromise ??= this.options.userns === 'off' ? Promise.resolve('user namespaces are switched off for this agent') : userNamespacesUsable();
    return this.usernsPromise;
  }

  private async runc(): Promise<Runc> {
    const bin = await this.runcBin();
    if (!bin) throw new DriverError('NOT_AVAILABLE', 'runc is not installed; run scripts/install-deps.sh (Debian package "runc")');
    return new Runc(bin, this.runcRoot);
  }

  async fingerprint(): Promise<Fingerprint> {
    const host = await this.cgroupHost();
    const root = process.getuid?.() === 0;
    const { enforces, notes } = describeCgroups(host, root);
    const bin = await this.runcBin();
    const version = bin ? await new Runc(bin, this.runcRoot).version() : undefined;
    if (!version) notes.unshift('runc is not installed: run scripts/install-deps.sh (Debian package "runc")');
    if (!root) notes.unshift('needs root: rootless containers are not supported yet');
    if (host.mode === 'none') notes.unshift('needs cgroups, and this host has none');
    const overlay = await hasOverlay();
    if (!overlay) notes.push('no overlayfs: each container gets a full copy of its image');
    const userns = await this.usernsProblem();
    notes.push(userns ? `no user namespaces (${userns}): root in a container is root on the node, with Docker's default capabilities` : 'user namespaces: root in a container is an unprivileged uid of its project on the node');
    const available = version !== undefined && root && host.mode !== 'none';
    return {
      driver: this.name,
      available,
      ...(version ? { version } : {}),
      enforcesLimits: available && enforces,
      details: notes,
      attributes: { 'cgroup.mode': host.mode, rootfs: overlay ? 'overlay' : 'copy', userns: userns ? 'no' : 'yes', ...(bin ? { runc: bin } : {}) },
    };
  }

  async start(task: Task): Promise<TaskHandle> {
    checkTaskId(task.id);
    if (!isAbsolute(task.dir)) throw new DriverError('INVALID_TASK', `task dir "${task.dir}" must be an absolute path`);
    refuseUnsupported(task, 'container');
    const runc = await this.runc();
    const range = (await this.usernsProblem()) ? undefined : this.ids.forProject(task.instance.project);
    const nsDir = range ? join(this.usernsRoot, String(range.start), task.id) : undefined;
    const cleanup = async () => {
      await this.removeRootfs(task.dir, nsDir);
      for (const sub of ['bundle', 'overlay']) await rm(join(task.dir, sub), { recursive: true, force: true });
    };
    let prepared;
    try {
      prepared = await this.prepareBundle(task, runc, range, nsDir);
    } catch (e) {
      await cleanup();
      throw e;
    }
    const { bundle, rootfs, cgroupsPath } = prepared;
    const startedAt = isoNow(this.clock);
    const { child, pid } = await runBundle(runc, task, bundle, this.startTimeoutMs, cleanup);
    const host = await this.cgroupHost();
    const state: ContainerState = {
      ...supervisedState(child.pid!, pid, TaskCgroup.at(host, cgroupsPath).paths, task),
      runcRoot: this.runcRoot,
      runc: runc.bin,
      rootfs,
      userns: range?.start ?? null,
      usernsDir: nsDir ?? null,
    };
    return this.track(makeHandle(this.name, task, pid, startedAt, state), child).handle;
  }

  /** Resolves the image and writes the bundle: writable rootfs and config.json. Clears what an earlier run of this id left. */
  private async prepareBundle(task: Task, runc: Runc, range: IdRange | undefined, nsDir: string | undefined): Promise<{ bundle: string; rootfs: 'overlay' | 'copy'; cgroupsPath: string }> {
    const image = await this.image(task);
    const args = [...(task.spec.command ?? image.config.entrypoint ?? []), ...(task.spec.args ?? (task.spec.command ? [] : (image.config.cmd ?? [])))];
    if (args.length === 0) throw new DriverError('INVALID_TASK', `image ${image.name} has no entrypoint; set spec.command`);
    const run = await clearStaleRun(runc, task);
    const bundle = join(task.dir, 'bundle');
    const lower = range ? await shiftedImage(this.images, image, range) : image.dir;
    const rootfs = await this.prepareRootfs(task.dir, lower, range);
    if (range && task.netns) await setNetnsSysctls(task.netns, namespaceSysctls(task.netns)!);
    const cgroupsPath = `/${this.cgroupParent}/${task.id}`;
    const owner = { uid: range?.start ?? 0, gid: range?.start ?? 0 };
    // In a user namespace runc resolves the root and the mount sources as the container's root:
    // they must lie where that uid may look (usernsDir), not in the agent's private data dir.
    const sources = range && nsDir ? await usernsDir(nsDir, range, join(task.dir, 'bundle', 'rootfs')) : run;
    await writeBundleConfig(bundle, {
      args,
      env: { PATH: DEFAULT_PATH, HOSTNAME: task.instance.name, ...image.config.env, ...task.spec.env, ...task.env },
      cwd: task.spec.workdir ?? image.config.workdir ?? '/',
      hostname: task.instance.name,
      resources: { cpu: task.spec.resources.cpu, memory: task.spec.resources.memory, pids: this.pidsLimit },
      cgroupsPath,
      // runc writes sysctls from inside the user namespace, which has no say over a network
      // namespace the host made: then they are set from here, as root of the host.
      ...(task.netns ? { netns: task.netns, ...(range ? {} : { sysctl: namespaceSysctls(task.netns) }) } : {}),
      ...(range && nsDir ? { userns: range, root: join(nsDir, 'rootfs') } : {}),
      mounts: [...(await this.etcMounts(sources, task)), ...(await fileMounts(task, owner, [], join(sources, 'files'))), ...hostMounts(task)],
      devices: taskDevices(task),
      nofile: await nofileLimit(),
    });
    return { bundle, rootfs, cgroupsPath };
  }

  /** A store name, or an absolute path to a rootfs directory or tar archive (imported once). */
  private async image(task: Task): Promise<ImageInfo> {
    const name = task.spec.image;
    if (!name) throw new DriverError('INVALID_TASK', `instance ${task.instance.name}: the container driver needs spec.image`);
    const stored = await this.images.resolve(name);
    if (stored) return stored;
    if (isAbsolute(name)) {
      const st = await stat(name).catch(() => undefined);
      if (st?.isDirectory()) return { name, dir: name, importedAt: '', source: name, config: {} };
      if (st?.isFile()) {
        const alias = `local/${Buffer.from(name).toString('hex').slice(-40)}`;
        return (await this.images.resolve(alias)) ?? this.images.importImage(alias, name);
      }
    }
    throw new DriverError('START_FAILED', `image "${name}" is not in the image store at ${this.images.root}; import it first (ImageStore.importImage) or give an absolute path to a rootfs directory or tar`);
  }

  private async prepareRootfs(dir: string, lower: string, range: IdRange | undefined): Promise<'overlay' | 'copy'> {
    const target = join(dir, 'bundle', 'rootfs');
    const upper = join(dir, 'overlay', 'upper');
    const work = join(dir, 'overlay', 'work');
    await unmountIfMounted(target);
    await rm(join(dir, 'overlay'), { recursive: true, force: true });
    await rm(target, { recursive: true, force: true });
    await mkdir(target, { recursive: true });
    const mode = this.options.rootfs ?? 'auto';
    const safe = ![lower, upper, work].some((p) => /[,:\\]/.test(p));
    if (mode !== 'copy' && safe && (mode === 'overlay' || (await hasOverlay()))) {
      await mkdir(upper, { recursive: true });
      await mkdir(work, { recursive: true });
      // The merged root takes the upper dir's owner: the range's root, like the image's own root.
      if (range) await chown(upper, range.start, range.start);
      await sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, target]);
      return 'overlay';
    }
    await sh('cp', ['-a', '--', `${lower}/.`, target]);
    return 'copy';
  }

  /**
   * /etc/resolv.conf: the network namespace's own (its DNS server) when it has one, else the host's;
   * /etc/hosts from the host on its network, else our own.
   */
  private async etcMounts(run: string, task: Task): Promise<OciMount[]> {
    const mounts: OciMount[] = [];
    const resolv = netnsEtcFile(task.netns, 'resolv.conf') ?? '/etc/resolv.conf';
    if (await stat(resolv).catch(() => undefined)) mounts.push({ destination: '/etc/resolv.conf', source: resolv });
    if (!task.netns && (await stat('/etc/hosts').catch(() => undefined))) mounts.push({ destination: '/etc/hosts', source: '/etc/hosts' });
    else {
      await writeFile(join(run, 'hosts'), `127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t${task.instance.name}\n`);
      mounts.push({ destination: '/etc/hosts', source: join(run, 'hosts') });
    }
    return mounts;
  }

  protected terminate(rec: TaskRecord): Promise<void> {
    return ociTerminate(rec);
  }

  protected kill(rec: TaskRecord): Promise<void> {
    return ociKill(rec);
  }

  protected async teardown(handle: TaskHandle): Promise<void> {
    await runcOf(handle).delete(handle.taskId);
    const nsDir = (handle.state as unknown as ContainerState).usernsDir;
    await this.removeRootfs(handle.dir, nsDir && nsDir.startsWith(`${this.usernsRoot}/`) ? nsDir : undefined);
  }

  private async removeRootfs(dir: string, nsDir: string | undefined): Promise<void> {
    if (nsDir) {
      await unmountIfMounted(join(nsDir, 'rootfs'));
      await rm(nsDir, { recursive: true, force: true });
    }
    await unmountIfMounted(join(dir, 'bundle', 'rootfs'));
  }

  protected checkState(state: Record<string, JsonValue>): void {
    checkOciState(state);
    if (state.rootfs !== 'overlay' && state.rootfs !== 'copy') throw new Error('state.rootfs must be overlay or copy');
    if (state.userns !== undefined && state.userns !== null && !Number.isInteger(state.userns)) throw new Error('state.userns must be an integer or null');
    if (state.usernsDir !== undefined && state.usernsDir !== null && (typeof state.usernsDir !== 'string' || !isAbsolute(state.usernsDir))) throw new Error('state.usernsDir must be an absolute path or null');
  }

  async exec(handle: TaskHandle, argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    return ociExec(this.record(handle), argv, options);
  }

  /** The host command for a live exec: runc exec in the container (its user namespace, user and environment). */
  async execCommand(handle: TaskHandle, argv: string[], options: ExecCommandOptions = {}): Promise<ExecCommand> {
    return ociExecCommand(this.record(handle), argv, options);
  }
}

/**
 * `<usernsRoot>/<range start>/<task id>/`: the container's root (a bind of its rootfs) and its
 * generated mount sources. usernsRoot is searchable by all (0711); each range's directory only
 * by its own group (root:<range> 0710), so one project's escaped process cannot walk into
 * another's. Resolves with the directory for generated files.
 */
async function usernsDir(nsDir: string, range: IdRange, rootfs: string): Promise<string> {
  const rangeDir = dirname(nsDir);
  await mkdir(nsDir, { recursive: true, mode: 0o710 });
  const root = dirname(rangeDir);
  await chmod(root, 0o711);
  // Its parent must be searchable too: runc makes /run/stratus 0700 when it comes first.
  const parent = dirname(root);
  const st = await stat(parent);
  if ((st.mode & 0o001) === 0) {
    if (parent.split('/').length > 3) throw new DriverError('START_FAILED', `${parent} must be searchable by all (mode o+x) for containers in user namespaces; or set the container driver's usernsRoot elsewhere`);
    await chmod(parent, (st.mode & 0o7777) | 0o011);
  }
  for (const d of [rangeDir, nsDir]) {
    await chown(d, 0, range.start);
    await chmod(d, 0o710);
  }
  await mkdir(join(nsDir, 'rootfs'), { recursive: true });
  await sh('mount', ['--bind', rootfs, join(nsDir, 'rootfs')]);
  const files = join(nsDir, 'files');
  await mkdir(files, { recursive: true, mode: 0o710 });
  await chown(files, 0, range.start);
  return files;
}

/** Writes namespaced sysctls inside `netns` (nsenter as root; /proc/sys/net follows the caller's network namespace). */
async function setNetnsSysctls(netns: string, sysctls: Record<string, string>): Promise<void> {
  const writes = Object.entries(sysctls).flatMap(([k, v]) => [`/proc/sys/${k.replace(/\./g, '/')}`, v]);
  const script = 'while [ "$#" -gt 1 ]; do echo "$2" > "$1" || exit 1; shift 2; done';
  await sh('nsenter', [`--net=${netns}`, '--', '/bin/sh', '-c', script, 'sysctls', ...writes]).catch((e: Error & { stderr?: string }) => {
    throw new DriverError('START_FAILED', `cannot set ${Object.keys(sysctls).join(', ')} in ${netns}: ${e.stderr?.trim() || e.message}`);
  });
}

async function hasOverlay(): Promise<boolean> {
  const fs = await readFile('/proc/filesystems', 'utf8').catch(() => '');
  return /\toverlay$/m.test(fs);
}

async function unmountIfMounted(target: string): Promise<void> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const mounted = info.split('\n').some((l) => l.split(' ')[4] === target);
  if (!mounted) return;
  await sh('umount', [target]).catch(() => sh('umount', ['-l', target]));
}
