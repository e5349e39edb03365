/**
 * One browser-test file's world: a real `stratus server` (with its embedded agent when asked:
 * real processes on this machine, host networking so it never waits for another file's overlay)
 * and one Chromium. Each test file starts one and stops it in afterAll.
 */
import type { Browser } from 'playwright-core';
import { client, startTestServer, type TestServer } from '../helpers/server.js';
import { teardownTenants } from '../helpers/tenants.js';
import { launchBrowser } from './browser.js';

export interface UiCloud {
  server: TestServer;
  /** The server's API as its first cluster admin. */
  admin: ReturnType<typeof client>;
  browser: Browser;
  /** The embedded agent's node name (absent without an agent). */
  node?: string;
  /**
   * Closes the browser; with an agent, deletes `projects` and waits (best effort) for the agent to
   * destroy their workloads, which outlive their agent by design; stops the server and removes its data.
   * Safe to call twice.
   */
  close(projects?: string[]): Promise<void>;
}

/**
 * Starts the server (and its agent when `agent`), then the browser. The agent's node offers
 * 4 CPUs and 4 GiB whatever the machine has, so scheduling is the same everywhere.
 */
export async function startUiCloud(opts: { agent?: boolean; name?: string } = {}): Promise<UiCloud> {
  const node = opts.agent ? `${opts.name ?? 'ui'}-${process.pid}` : undefined;
  const args = node ? ['--node-name', node, '--network', 'host', '--capacity', 'cpu=4,memory=4Gi', '--restart-backoff', '200ms'] : [];
  const server = await startTestServer({ agent: opts.agent, args });
  let browser: Browser;
  try {
    browser = await launchBrowser();
  } catch (e) {
    await server.stop();
    server.cleanup();
    throw e;
  }
  let closed = false;
  const admin = client(server.url, server.token);
  return {
    server, browser, admin, ...(node ? { node } : {}),
    close: async (projects = []) => {
      if (closed) return;
      closed = true;
      await browser.close();
      if (node) return teardownTenants(server, admin, projects, server.dataDir);
      await server.stop();
      server.cleanup();
    },
  };
}
