/**
 * For suites that run workloads of several projects on a server with its embedded agent: which
 * host tools are there, and a teardown that lets the agent destroy the workloads first.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { client, TestServer } from './server.js';
import { until } from './processes.js';

/** Whether `cmd` is on the PATH. */
export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', cmd]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Deletes the projects, waits (best effort) until the agent destroyed every workload and task
 * dir (workloads outlive their agent by design), then stops the server and removes `dir`.
 */
export async function teardownTenants(server: TestServer, admin: ReturnType<typeof client>, projects: string[], dir: string): Promise<void> {
  for (const p of projects) await admin('DELETE', `/v1/projects/${p}?cascade=true`).catch(() => undefined);
  await until('every instance destroyed', () => admin('GET', '/v1/instances').then((r) => r.body.items.length), (n) => n === 0, 30_000).catch(() => undefined);
  await until('task dirs removed', async () => readdirSync(join(server.dataDir, 'agent', 'tasks')).length, (n) => n === 0, 30_000).catch(() => undefined);
  await server.stop();
  server.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
