/** What `stratus agent` runs, loaded only then (the agent, its drivers and networking are heavy). */
import type { Command } from 'commander';
import { Agent } from '../../node/agent/agent.js';
import { credentialPath, loadCredential, saveCredential, type Credential } from '../../node/agent/credential.js';
import { serverList } from '../config.js';
import { agentOptionsFrom } from '../agent-config.js';
import { reachableListen } from '../agent-options.js';
import { ApiError, CliError, ConnectionError } from '../errors.js';
import { printLine } from '../output.js';
import { privateDir } from '../../store/private.js';

export async function runAgent(o: Record<string, unknown>, self: Command): Promise<void> {
  const dataDir = o.dataDir as string;
  const saved = loadCredential(dataDir);
  const { servers, changed } = agentServers(self, saved, dataDir);
  if (!saved && !o.joinToken) throw new CliError(`--join-token is required the first time (no credential in ${dataDir}); an admin makes one with: stratus node join-token create`, 2);
  const options = agentOptionsFrom(o);
  // The API server reaches this agent for logs: not on 127.0.0.1 when it runs on another machine.
  options.listen = await reachableListen(options.listen, servers[0]!, self.getOptionValueSource('agentListen') !== 'default');
  // Credential, runs and images: the agent's only (an older version left the directory 0755).
  privateDir(dataDir);
  const agent = new Agent({ ...options, server: servers, dataDir, ...(o.joinToken ? { joinToken: o.joinToken as string } : {}), ...(saved ? { credential: { ...saved, server: servers } } : {}) });
  await agent.start().catch((e: Error) => {
    // The API's and the connection's errors already read as one line, with their code.
    if (e instanceof ApiError || e instanceof ConnectionError) throw e;
    throw new CliError(`the agent did not start: ${e.message}`);
  });
  // A new list given: the next start without --server uses it too.
  if (saved && changed) saveCredential(dataDir, { ...saved, server: servers });
  const stopped = new Promise<void>((resolve) => {
    const stop = () => void agent.stop().then(resolve, resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  printLine(`agent running as node ${agent.node}, reporting to ${servers.join(', ')} (data: ${dataDir})`);
  await stopped;
}

/**
 * The servers an agent talks to: --server (the global option, also STRATUS_SERVER: one URL or
 * several, comma-separated), else the saved credential's; `changed` when given and not the saved list.
 */
function agentServers(self: Command, saved: Credential | undefined, dataDir: string): { servers: string[]; changed: boolean } {
  const flag = (self.optsWithGlobals() as { server?: string }).server;
  const given = flag ?? (process.env.STRATUS_SERVER || undefined);
  if (given === undefined) {
    if (!saved) throw new CliError('--server is required (the URL of stratus server, or several servers\' URLs, comma-separated)', 2);
    return { servers: serverList(saved.server, credentialPath(dataDir)), changed: false };
  }
  const servers = serverList(given, flag ? '--server' : 'STRATUS_SERVER');
  return { servers, changed: saved !== undefined && [saved.server].flat().join(',') !== servers.join(',') };
}
