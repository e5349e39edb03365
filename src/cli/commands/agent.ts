/** `stratus agent`: run this machine's agent, joined to a control plane. What it runs is agent-run.ts, loaded only then. */
import { Option, type Command } from 'commander';
import { addAgentOptions } from '../agent-options.js';

export function registerAgent(program: Command): void {
  const cmd = program
    .command('agent')
    .description('Run the node agent on this machine: join the cluster (stratus --server URL[,URL...] agent --join-token T), run what the scheduler places here.')
    .addOption(new Option('--join-token <token>', 'join token (stratus node join-token create); only needed the first time').env('STRATUS_JOIN_TOKEN'))
    .addOption(new Option('--data-dir <dir>', 'agent state: credential, runs, images, logs').env('STRATUS_AGENT_DATA_DIR').default('/var/lib/stratus-agent'));
  addAgentOptions(cmd).action(async (o: Record<string, unknown>, self: Command) => (await import('./agent-run.js')).runAgent(o, self));
}
