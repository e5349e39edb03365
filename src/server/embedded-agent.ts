/**
 * The agent `stratus server` runs for its own machine (unless --no-agent), so one machine is a
 * working cloud. It registers its node directly (the server is its own admin), keeps the
 * credential under <data-dir>/agent (0700), and then talks to the API over HTTP like any other
 * agent. A credential that no longer works (revoked) is replaced; a node object that was deleted
 * is registered again by the agent itself, as remote agents do.
 */
import { join, resolve } from 'node:path';
import type { Component } from '../runtime/component.js';
import type { ServerContext } from './main.js';
import { Agent, type AgentOptions } from '../node/agent/agent.js';
import { loadCredential, saveCredential } from '../node/agent/credential.js';
import { registerNode } from '../policy/nodes.js';
import { tokenExists } from '../policy/tokens.js';
import { privateDir } from '../store/private.js';

export type EmbeddedAgentOptions = Omit<AgentOptions, 'server' | 'dataDir' | 'credential' | 'joinToken'>;

export function embeddedAgent(ctx: ServerContext, opts: EmbeddedAgentOptions): Component {
  let agent: Agent | undefined;
  let removeMetrics: (() => void) | undefined;
  return {
    name: 'agent',
    start: async () => {
      const dataDir = join(resolve(ctx.config.dataDir), 'agent');
      privateDir(dataDir);
      let credential = loadCredential(dataDir);
      if (!credential || credential.node !== opts.name || !(await tokenExists(ctx.repo, credential.token))) {
        const { secret } = await registerNode(ctx.repo, { name: opts.name, zone: opts.zone, pool: opts.pool, labels: opts.labels }, 'system:server');
        credential = { server: ctx.url, node: opts.name, token: secret };
        saveCredential(dataDir, credential);
      }
      // its metrics are served inside the server's /metrics (one scrape), never on its own listener
      const { metricsToken: _served, ...rest } = opts;
      agent = new Agent({ ...rest, server: ctx.url, dataDir, credential: { ...credential, server: ctx.url } });
      await agent.start();
      removeMetrics = ctx.metrics.include(agent.metrics);
    },
    stop: async () => {
      removeMetrics?.();
      await agent?.stop();
    },
    health: () => agent?.health() ?? '',
  };
}
