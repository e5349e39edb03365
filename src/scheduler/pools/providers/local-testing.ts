/**
 * For tests and benchmarks of the local provider: remove every machine it started under a
 * server's pools directory (even when the server is gone), by the pid files it keeps, and its
 * namespaces and bridge. Processes are matched by pid and their command line, never by name.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isOurAgent } from './local.js';

/**
 * SIGKILLs the agents under `poolsDir` (`<pool>/<machine>/agent.pid`), then hands each machine's
 * directory to `killWorkloads` (workloads outlive their agent), then deletes the namespaces
 * `stpl<subnet>*` and the bridge `stpl<subnet>`.
 */
export async function removeLocalMachines(poolsDir: string, subnet: number, killWorkloads: (machineDir: string) => Promise<unknown> = async () => undefined): Promise<void> {
  const machines = existsSync(poolsDir) ? readdirSync(poolsDir).flatMap((p) => readdirSync(join(poolsDir, p)).map((m) => join(poolsDir, p, m))) : [];
  for (const m of machines) {
    const pidFile = join(m, 'agent.pid');
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
    try {
      if (pid > 0 && isOurAgent(pid, m)) process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
    await killWorkloads(m).catch(() => undefined);
  }
  let list = '';
  try {
    list = execFileSync('ip', ['netns', 'list']).toString();
  } catch {
    return; // no ip, no namespaces
  }
  for (const ns of list.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(`stpl${subnet}`))) execFileSync('ip', ['netns', 'del', ns]);
  try {
    execFileSync('ip', ['link', 'del', `stpl${subnet}`], { stdio: 'ignore' });
  } catch {
    // never made
  }
}
