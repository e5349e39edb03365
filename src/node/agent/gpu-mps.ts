/**
 * The node's one NVIDIA MPS control daemon (`nvidia-cuda-mps-control -d -M`), its pipe and log
 * directories under the agent's data dir.
 *
 *   ensure() ── running? (pid file + /proc) ──yes──▶ keep it (an earlier agent process started it)
 *                 └─no──▶ mkdir pipe (1777), log ──▶ nvidia-cuda-mps-control -d -M ──▶ wait for its pid file
 *   stop()   ── `quit` on its control pipe, then wait for the process to go
 *
 * Lifetime: the daemon outlives the agent process like the workloads do (it daemonizes into its own
 * session). A restarted agent finds it through the pid file the daemon writes into its pipe dir and
 * keeps it; the agent asks it to quit only when no GPU share runs on the node any more, because
 * `quit` waits for every client to finish (seen on an H200: the control daemon retries the server's
 * shutdown until its last client exits), so quitting under running shares would hang.
 */
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findTool, runDaemonizing, runTool } from './gpu-tools.js';

export const MPS_CONTROL = 'nvidia-cuda-mps-control';
const PID_FILE = 'nvidia-cuda-mps-control.pid';

export interface MpsDaemonOptions {
  /** Holds pipe/ and log/. */
  dir: string;
  /** Where the binary is looked up (PATH) and the base of the daemon's environment. */
  env?: NodeJS.ProcessEnv;
  /** Searched after PATH (default /usr/local/nvidia/bin, /usr/bin). */
  extraDirs?: string[];
  procRoot?: string;
  /** How long to wait for the daemon's pid file, and for it to go after quit. */
  waitMs?: number;
}

/** Whether MPS can isolate shares on this node, and if not, why (one line for a person). */
export type MpsSupport = { usable: true; binary: string } | { usable: false; reason: string };

export class MpsDaemon {
  readonly pipeDir: string;
  readonly logDir: string;
  private support: Promise<MpsSupport> | undefined;
  private starting: Promise<number> | undefined;

  constructor(private readonly opts: MpsDaemonOptions) {
    this.pipeDir = join(opts.dir, 'pipe');
    this.logDir = join(opts.dir, 'log');
  }

  /**
   * Finds the binary and checks that it has a multi-user mode (`-M, --multiuser-server`: one server,
   * running as root, serves clients of every uid at once). Without it MPS runs one server per uid
   * and queues the clients of any other uid until the first uid's clients are gone, which would
   * stall the shares of every project but one: then shares are reported as not isolated.
   * Cached; never throws.
   */
  probe(): Promise<MpsSupport> {
    this.support ??= (async (): Promise<MpsSupport> => {
      const binary = findTool(MPS_CONTROL, this.opts.env, this.opts.extraDirs);
      if (!binary) return { usable: false, reason: `${MPS_CONTROL} not found` };
      const help = await runTool(binary, ['-h'], { env: this.opts.env, timeoutMs: 5000 });
      if (!/--multiuser-server|(^|\s)-M[,\s]/m.test(`${help.stdout}\n${help.stderr}`)) {
        return { usable: false, reason: `${binary} has no multi-user mode (-M); a newer NVIDIA driver has one` };
      }
      return { usable: true, binary };
    })();
    return this.support;
  }

  /** The pid of the daemon this node's pipe dir belongs to, if it runs. */
  async running(): Promise<number | undefined> {
    let pid: number;
    try {
      pid = Number(readFileSync(join(this.pipeDir, PID_FILE), 'utf8').trim());
    } catch {
      return undefined;
    }
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const proc = this.opts.procRoot ?? '/proc';
    try {
      const [cmdline, stat] = await Promise.all([readFile(join(proc, String(pid), 'cmdline'), 'utf8'), readFile(join(proc, String(pid), 'stat'), 'utf8')]);
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      return cmdline.includes(MPS_CONTROL) && state !== 'Z' && state !== 'X' ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Resolves once the daemon runs: the one already running, or a new one. Concurrent calls share
   * one start. Throws (with what the daemon said) when MPS is unusable or the start fails.
   */
  async ensure(): Promise<number> {
    const pid = await this.running();
    if (pid) return pid;
    this.starting ??= this.start().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async start(): Promise<number> {
    const support = await this.probe();
    if (!support.usable) throw new Error(support.reason);
    mkdirSync(this.pipeDir, { recursive: true });
    mkdirSync(this.logDir, { recursive: true, mode: 0o755 });
    // Clients of every uid connect to the sockets here (the daemon creates them world-writable);
    // sticky so that no client can remove the daemon's own.
    chmodSync(this.pipeDir, 0o1777);
    const res = await runDaemonizing(support.binary, ['-d', '-M'], this.daemonEnv());
    if (res.code !== 0) throw new Error(`${MPS_CONTROL} -d -M failed (${res.code ?? 'no exit code'}): ${res.stderr.trim() || 'no output'}`);
    const end = Date.now() + (this.opts.waitMs ?? 5000);
    for (;;) {
      const pid = await this.running();
      if (pid) return pid;
      if (Date.now() > end) throw new Error(`${MPS_CONTROL} started but wrote no pid file in ${this.pipeDir} (see ${this.logDir}/control.log)`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Asks the daemon to quit and waits for it to go. Call only when no client runs (quit waits for
   * clients). Resolves 'stopped', 'not running', or 'still running' (it did not go in time).
   */
  async stop(): Promise<'stopped' | 'not running' | 'still running'> {
    const pid = await this.running();
    const support = await this.probe();
    if (!pid || !support.usable) return 'not running';
    await runTool(support.binary, [], { env: this.daemonEnv(), input: 'quit\n', timeoutMs: this.opts.waitMs ?? 5000 });
    const end = Date.now() + (this.opts.waitMs ?? 5000);
    while (await this.running()) {
      if (Date.now() > end) return 'still running';
      await new Promise((r) => setTimeout(r, 50));
    }
    return 'stopped';
  }

  /** The daemon sees every device under its real index: CUDA_VISIBLE_DEVICES would renumber them. */
  private daemonEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...(this.opts.env ?? process.env), CUDA_MPS_PIPE_DIRECTORY: this.pipeDir, CUDA_MPS_LOG_DIRECTORY: this.logDir };
    delete env.CUDA_VISIBLE_DEVICES;
    return env;
  }
}
