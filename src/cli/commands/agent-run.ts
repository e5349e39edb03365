/** What `stratus agent` runs, loaded only then (the agent, its drivers and networking are heavy). */
import type { Command } from 'commander';
import { Agent } from '../../node/agent/agent.js';
import { loadCredential } from '../../node/agent/credential.js';
import { agentOptionsFrom } from '../agent-config.js';
import { reachableListen } from '../agent-options.js';
import { ApiError, CliError, ConnectionError } from '../errors.js';
import { printLine } from '../output.js';
import { privateDir } from '../../store/private.js';

export async function runAgent(o: Record<string, unknown>, self: Command): Promise<void> {
  const dataDir = o.dataDir as string;
  const saved = loadCredential(dataDir);
  // --server is the global option (also STRATUS_SERVER).
  const server = ((self.optsWithGlobals() as { server?: string }).server ?? (process.env.STRATUS_SERVER || undefined)) ?? saved?.server;
  if (!server) throw new CliError('--server is required (the URL of stratus server)', 2);
  if (!saved && !o.joinToken) throw new CliError(`--join-token is required the first time (no credential in ${dataDir}); an admin makes one with: stratus node join-token create`, 2);
  const options = agentOptionsFrom(o);
  // The API server reaches this agent for logs: not on 127.0.0.1 when it runs on another machine.
  options.listen = await reachableListen(options.listen, server, self.getOptionValueSource('agentListen') !== 'default');
  // Credential, runs and images: the agent's only (an older version left the directory 0755).
  privateDir(dataDir);
  const agent = new Agent({ ...options, server, dataDir, ...(o.joinToken ? { joinToken: o.joinToken as string } : {}), ...(saved ? { credential: { ...saved, server } } : {}) });
  await agent.start().catch((e: Error) => {
    // The API's and the connection's errors already read as one line, with their code.
    if (e instanceof ApiError || e instanceof ConnectionError) throw e;
    throw new CliError(`the agent did not start: ${e.message}`);
  });
  // Listen for signals before saying "running": a SIGTERM right after would otherwise kill it outright.
  const stopped = new Promise<void>((resolve) => {
    const stop = () => void agent.stop().then(resolve, resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  printLine(`agent running as node ${agent.node}, reporting to ${server} (data: ${dataDir})`);
  await stopped;
}
