/**
 * Polling, free ports, exits and `stratus agent` processes for tests that stop, restart and
 * signal real processes, and the death of an agent's machine (killWorkloads).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from './server.js';

/** Polls `get` every 100 ms until `ok`; on timeout the error shows the last value and `show()`. */
export async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000, show: () => string = () => ''): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what}: not after ${ms} ms: ${JSON.stringify(v).slice(0, 800)}\n${show()}`);
    await sleep(100);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** How `proc` ended, or 'still running' if it had not within `ms`. */
export function exitOf(proc: ChildProcess, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'still running'> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode });
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('still running'), ms);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/**
 * Waits until the agent with this data dir has destroyed every run (it forgets an instance only
 * after its workload is stopped and destroyed): stop the agent only then, or workloads outlive the test.
 */
export async function agentForgotAll(agentDataDir: string): Promise<void> {
  const dir = join(agentDataDir, 'instances');
  await until(`the runs in ${dir} destroyed`, async () => (existsSync(dir) ? readdirSync(dir) : []), (left) => left.length === 0, 60_000);
}

export interface AgentProcess {
  proc: ChildProcess;
  out: () => string;
  /** SIGTERM (workloads keep running) and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (workloads keep running; nothing is cleaned up) and wait for the exit. */
  kill(): Promise<void>;
}

/** `stratus agent` joined to `server` as `node`, host networking, process driver only. */
export async function startAgentProcess(server: string, joinToken: string, dataDir: string, node: string, extra: string[] = []): Promise<AgentProcess> {
  const proc = spawn(process.execPath, [BIN, '--server', server, 'agent', '--join-token', joinToken, '--data-dir', dataDir, '--node-name', node,
    '--drivers', 'process', '--network', 'host', '--capacity', 'cpu=2,memory=2Gi', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  process.once('exit', () => proc.kill('SIGKILL'));
  await until(`agent ${node} starts`, async () => out, (o) => o.includes('agent running') || proc.exitCode !== null, 30_000);
  if (proc.exitCode !== null) throw new Error(`agent ${node} exited: ${out}`);
  return {
    proc,
    out: () => out,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exitOf(proc, 30_000);
    },
    kill: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exitOf(proc, 30_000);
    },
  };
}

/** Whether `pid` runs (a zombie does not). */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * What the death of an agent's machine does to its workloads: SIGKILLs every run recorded in
 * the agent's data dir, its supervisor's process group (the supervisor, runc) first so that no
 * exit is recorded, then the workload; returns once none of them runs. Kill the agent first. The
 * runs' leftovers (runc state, cgroups) are destroyed when the agent starts again on that dir.
 */
export async function killWorkloads(agentDataDir: string): Promise<number[]> {
  const dir = join(agentDataDir, 'instances');
  const runs = (existsSync(dir) ? readdirSync(dir) : []).filter((f) => f.endsWith('.json'))
    .map((f) => (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { handle?: { pid: number; state: { supervisorPid?: number } } }).handle)
    .filter((h) => h !== undefined);
  const signal = (pid: number) => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  for (const h of runs) if (h.state.supervisorPid) signal(-h.state.supervisorPid);
  for (const h of runs) signal(h.pid);
  const pids = runs.map((h) => h.pid);
  await until('the killed workloads exit', async () => pids.filter(alive), (left) => left.length === 0, 10_000);
  return pids;
}
