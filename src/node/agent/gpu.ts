/**
 * GPUs on a node: the device nodes an instance may use, GPU shares enforced with NVIDIA MPS, the
 * node's "GPU shares" condition, and GPU usage per instance.
 *
 *   instance with          env                                         mounts          devices
 *   no GPU                 -                                           -               -
 *   whole GPUs #i,#j       CUDA_VISIBLE_DEVICES (prepare.ts)          -               ctl, uvm(-tools), nvidia<i>, nvidia<j>, caps (0444)
 *   a share of #i          + CUDA_MPS_PIPE_DIRECTORY, _LOG_DIRECTORY,  the pipe dir    same, for #i
 *   (MPS usable)             _ACTIVE_THREAD_PERCENTAGE = share/10,     (read-write)
 *                            _PINNED_DEVICE_MEM_LIMIT = <dev>=<share × device MiB>M
 *
 * What MPS does, from NVIDIA's documentation and a check on an H200 (driver 580.159, Dec 2026):
 * - A CUDA client connects to the control daemon through the sockets in CUDA_MPS_PIPE_DIRECTORY;
 *   the daemon starts a server on demand. Classic mode runs the server as the client's uid and one
 *   uid at a time: a client of another uid is queued until every client of the first uid has exited
 *   (the control log says "Server is not ready, push client to pending list"). Instances run as
 *   different unprivileged uids, so classic mode would serialize projects. Multi-user mode
 *   (`nvidia-cuda-mps-control -d -M`, "-M, --multiuser-server" in `-h` on driver 580) runs one
 *   server as root for every uid: two clients of uids 65534 and 65533 ran at once. So the agent
 *   runs one daemon per node in multi-user mode and reports shares as not isolated without it.
 * - The limits are per client process and taken from the client's environment:
 *   CUDA_MPS_PINNED_DEVICE_MEM_LIMIT "0=10000M" let a client allocate 9 GiB in 1 GiB steps, then
 *   cuMemAlloc failed (out of memory inside CUDA) while a 20000M client next to it got 19 GiB;
 *   CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50 gave two concurrent bf16 matmul clients 326 and 325 TFLOP/s
 *   where one without MPS ran 676. Keyed by the device's UUID the memory limit held with and without
 *   CUDA_VISIBLE_DEVICES (half an H200, 71885M: 69 GiB allocated, the 70th failed). The daemon's
 *   set_default_* commands only lower these further.
 * - Clients worked from their own mount, IPC and PID namespaces with a private /dev/shm, as uid
 *   65534; CUDA itself fails (error 304) in a PID namespace whose /proc was not remounted.
 * - `quit` waits for the server's clients to exit (see gpu-mps.ts for what that means on stop).
 * Limits of this isolation: the environment is the workload's own, so a hostile workload could
 * raise its limits or leave MPS (unset CUDA_MPS_PIPE_DIRECTORY) and take the device directly. So a
 * device that hosts shares is put in EXCLUSIVE_PROCESS compute mode first (NVIDIA's advice for
 * MPS): then the MPS server is the only process with a context on it and CUDA outside MPS fails
 * there. The agent sets it back to DEFAULT before a whole-GPU instance gets the device. Where the
 * mode cannot be set (`nvidia-smi -c` refused), the node's condition says that leaving MPS is open.
 * A workload of several processes still gets the limits once per process. Kernel-enforced GPU
 * memory limits need the cgroup v2 dmem controller (absent on that machine).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { TaskHandle, TaskMount } from '../drivers/index.js';
import type { Instance } from '../../model/kinds/instance.js';
import { MpsDaemon, type MpsSupport } from './gpu-mps.js';
import { GPU_QUERY, findTool, parseGpuQuery, runTool, type GpuDevice } from './gpu-tools.js';
import { handleCgroupPaths, sampleGpus, usageOf, type GpuSample, type GpuUsage } from './gpu-usage.js';

export interface GpuSharesOptions {
  dataDir: string;
  /** Tools are looked up on this PATH (then /usr/local/nvidia/bin, /usr/bin) and run with it. */
  env?: NodeJS.ProcessEnv;
  extraDirs?: string[];
  devRoot?: string;
  procRoot?: string;
  /** How long to wait for the MPS daemon to start or stop. */
  waitMs?: number;
  log?: (msg: string) => void;
}

/** What the platform grants a run for its GPUs (merged into the run by prepare). */
export interface GpuAttachments {
  env?: Record<string, string>;
  mounts?: TaskMount[];
  devices?: string[];
}

export const GPU_SHARES_CONDITION = 'GpuShares';

/** Whether the instance holds a share (less than a whole device) of a GPU. */
export function hasGpuShare(inst: Instance): boolean {
  return inst.status?.allocation?.gpus?.some((g) => g.milli < 1000) ?? false;
}

export class GpuShares {
  readonly mps: MpsDaemon;
  private devices: GpuDevice[] | undefined;
  private mpsError = '';
  /** Devices put in EXCLUSIVE_PROCESS mode for shares (kept in the data dir for the next agent process), and why that failed last. */
  private readonly exclusive: Set<number>;
  private modeError = '';
  private readonly log: (msg: string) => void;

  constructor(private readonly opts: GpuSharesOptions) {
    this.mps = new MpsDaemon({ dir: join(opts.dataDir, 'mps'), env: opts.env, extraDirs: opts.extraDirs, procRoot: opts.procRoot, waitMs: opts.waitMs });
    this.log = opts.log ?? (() => undefined);
    this.exclusive = new Set(readJsonSync<number[]>(this.exclusiveFile) ?? []);
  }

  private get exclusiveFile(): string {
    return join(this.opts.dataDir, 'mps', 'exclusive-devices.json');
  }

  /** At agent start: looks for MPS, and keeps a daemon an earlier agent process left running. */
  async start(): Promise<void> {
    await this.mps.probe();
    const pid = await this.mps.running();
    if (pid) this.log(`kept the MPS control daemon (pid ${pid}) that an earlier agent process started`);
  }

  /**
   * The env, mounts and devices of an instance's GPU allocation (none without one). A share is made
   * an MPS client when MPS is usable; the daemon is started on the first share. Throws when MPS is
   * usable but its daemon cannot be started: a share does not run unisolated where isolation is
   * expected (the run is retried with backoff).
   */
  async attachments(inst: Instance): Promise<GpuAttachments> {
    const gpus = inst.status?.allocation?.gpus ?? [];
    if (gpus.length === 0) return {};
    const devices = this.deviceNodes(gpus.map((g) => g.index));
    const share = gpus.length === 1 && hasGpuShare(inst) ? gpus[0]! : undefined;
    if (!share) {
      for (const g of gpus) if (this.exclusive.has(g.index)) await this.computeMode(g.index, 'DEFAULT');
      return { devices };
    }
    if (!(await this.mps.probe()).usable) return { devices };
    await this.computeMode(share.index, 'EXCLUSIVE_PROCESS');
    try {
      await this.mps.ensure();
      this.mpsError = '';
    } catch (e) {
      this.mpsError = (e as Error).message;
      throw new Error(`GPU share not isolated: the MPS control daemon did not start: ${this.mpsError}`);
    }
    const device = await this.device(share.index);
    const env: Record<string, string> = {
      CUDA_MPS_PIPE_DIRECTORY: this.mps.pipeDir,
      CUDA_MPS_LOG_DIRECTORY: this.mps.logDir,
      CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: String(Math.max(1, Math.floor(share.milli / 10))),
    };
    // A UUID names the device whatever CUDA_VISIBLE_DEVICES does to ordinals.
    if (device?.memory) env.CUDA_MPS_PINNED_DEVICE_MEM_LIMIT = `${device.uuid ?? share.index}=${Math.floor((share.milli * device.memory) / 1000)}M`;
    return { env, mounts: [{ source: this.mps.pipeDir, destination: this.mps.pipeDir, readOnly: false }], devices };
  }

  /** The node condition on GPU shares; undefined on a node without GPUs. */
  async condition(hasGpus: boolean): Promise<{ type: string; status: 'True' | 'False'; reason: string; message: string } | undefined> {
    if (!hasGpus) return undefined;
    const support: MpsSupport = await this.mps.probe();
    if (!support.usable) return { type: GPU_SHARES_CONDITION, status: 'False', reason: 'NotIsolated', message: `not isolated (${support.reason})` };
    if (this.mpsError) return { type: GPU_SHARES_CONDITION, status: 'False', reason: 'MpsFailed', message: `not isolated (MPS control daemon failed: ${this.mpsError})` };
    if (this.modeError) return { type: GPU_SHARES_CONDITION, status: 'True', reason: 'MPS', message: `isolated by MPS (memory limit and SM percentage), but a workload that leaves MPS gets the whole device: EXCLUSIVE_PROCESS compute mode could not be set (${this.modeError})` };
    return { type: GPU_SHARES_CONDITION, status: 'True', reason: 'MPS', message: 'isolated by MPS (memory limit and SM percentage; shared devices in EXCLUSIVE_PROCESS mode, so no CUDA outside MPS there)' };
  }

  /**
   * Sets a device's compute mode (`nvidia-smi -i N -c MODE`, root). EXCLUSIVE_PROCESS for devices
   * with shares, DEFAULT again for one this agent set before a whole-GPU instance gets it. A
   * failure is remembered for the condition, not thrown: MPS still limits clients that stay in it.
   */
  private async computeMode(index: number, mode: 'EXCLUSIVE_PROCESS' | 'DEFAULT'): Promise<void> {
    if ((mode === 'EXCLUSIVE_PROCESS') === this.exclusive.has(index)) return;
    const smi = findTool('nvidia-smi', this.opts.env, this.opts.extraDirs);
    const res = smi ? await runTool(smi, ['-i', String(index), '-c', mode], { env: this.opts.env, timeoutMs: 10_000 }) : undefined;
    if (res?.code !== 0) {
      this.modeError = smi ? (res?.stderr || res?.stdout || 'failed').trim().split('\n')[0]! : 'nvidia-smi not found';
      this.log(`GPU ${index}: compute mode ${mode} not set: ${this.modeError}`);
      return;
    }
    this.modeError = '';
    if (mode === 'EXCLUSIVE_PROCESS') this.exclusive.add(index);
    else this.exclusive.delete(index);
    mkdirSync(dirname(this.exclusiveFile), { recursive: true, mode: 0o700 });
    writeFileSync(this.exclusiveFile, JSON.stringify([...this.exclusive]));
    this.log(`GPU ${index}: compute mode ${mode}`);
  }

  /**
   * At agent stop: quits the MPS daemon unless GPU shares still run on the node (they outlive the
   * agent, and quit would wait for them); the next agent process keeps the daemon it finds.
   */
  async stop(sharesRunning: boolean): Promise<void> {
    const pid = await this.mps.running();
    if (!pid) return;
    if (sharesRunning) return this.log(`left the MPS control daemon (pid ${pid}) running: GPU shares still run`);
    const result = await this.mps.stop();
    this.log(result === 'stopped' ? `stopped the MPS control daemon (pid ${pid})` : `the MPS control daemon (pid ${pid}) did not quit in time`);
  }

  /**
   * One nvidia-smi sample for a stats round over the `running` instances; undefined when none of
   * them has a GPU, or without nvidia-smi. Per-process utilisation (pmon, about a second) is asked
   * for only when shares run without MPS: MPS clients have none.
   */
  async sample(running: Instance[]): Promise<GpuSample | undefined> {
    const withGpus = running.filter((i) => i.status?.allocation?.gpus?.length);
    const smi = withGpus.length > 0 ? findTool('nvidia-smi', this.opts.env, this.opts.extraDirs) : undefined;
    if (!smi) return undefined;
    const pmon = withGpus.some(hasGpuShare) && !(await this.mps.probe()).usable;
    return sampleGpus(smi, { env: this.opts.env, procRoot: this.opts.procRoot, pmon });
  }

  /** An instance's GPU usage in a sample, or undefined when it has no GPU. */
  usage(sample: GpuSample, inst: Instance, handle: Pick<TaskHandle, 'state'>): GpuUsage | undefined {
    const gpus = inst.status?.allocation?.gpus ?? [];
    if (gpus.length === 0) return undefined;
    return usageOf(sample, handleCgroupPaths(handle), gpus.map((g) => g.index), gpus.every((g) => g.milli >= 1000));
  }

  /**
   * /dev/nvidiactl, the UVM nodes where present, /dev/nvidia<i> of each device, and the capability
   * nodes every user of the node may open (nvidia-cap2, "monitor", is 0444 on an H200 node; cap1,
   * "config", which reconfigures MIG, is 0400 root and stays out).
   */
  private deviceNodes(indexes: number[]): string[] {
    const dev = this.opts.devRoot ?? '/dev';
    const out = ['nvidiactl', 'nvidia-uvm', 'nvidia-uvm-tools', ...indexes.map((i) => `nvidia${i}`)].map((n) => join(dev, n)).filter((p) => existsSync(p));
    const caps = join(dev, 'nvidia-caps');
    const names = existsSync(caps) ? readdirSync(caps).sort() : [];
    out.push(...names.map((n) => join(caps, n)).filter((p) => (statSync(p, { throwIfNoEntry: false })?.mode ?? 0) & 0o004));
    return out;
  }

  /** A device's memory and UUID, from nvidia-smi (asked again when the index is not known yet). */
  private async device(index: number): Promise<GpuDevice | undefined> {
    if (!this.devices?.some((d) => d.index === index)) {
      const smi = findTool('nvidia-smi', this.opts.env, this.opts.extraDirs);
      const res = smi ? await runTool(smi, GPU_QUERY, { env: this.opts.env, timeoutMs: 10_000 }) : undefined;
      if (res?.code === 0) this.devices = parseGpuQuery(res.stdout);
    }
    return this.devices?.find((d) => d.index === index);
  }
}

function readJsonSync<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
