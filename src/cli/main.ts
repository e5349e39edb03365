/**
 * The `stratus` command. Command definitions live in commands/*; each action gets a Cli
 * context. Any failure prints one line to stderr and exits non-zero (2 for usage errors).
 */
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { ApiError, CliError, ConnectionError, ResyncError } from './errors.js';
import { registerServer } from './commands/server.js';
import { registerAuth } from './commands/auth.js';
import { registerResources } from './commands/resources.js';
import { registerAdmin } from './commands/admin.js';
import { registerCluster } from './commands/cluster.js';
import { registerNodes } from './commands/nodes.js';
import { registerNodePools } from './commands/node-pools.js';
import { registerAgent } from './commands/agent.js';
import { registerWorkloads } from './commands/workloads.js';
import { registerStacks } from './commands/stacks.js';
import { registerSim } from './commands/sim.js';
import { registerSecrets } from './commands/secrets.js';
import { registerBackup } from './commands/backup.js';
import { registerExec } from './commands/exec.js';
import { registerCp } from './commands/cp.js';
import { registerPortForward } from './commands/port-forward.js';
import { registerConsole } from './commands/console.js';
import { registerCompletion } from './commands/completion.js';
import { registerTop } from './commands/top.js';
import { registerCost } from './commands/cost.js';
import { registerVolumes } from './commands/volumes.js';

export function buildProgram(): Command {
  const program = new Command('stratus')
    .description('Stratus: a private cloud on your own machines.')
    .version(VERSION, '-v, --version')
    .option('--server <url,...>', 'API server URL, or several servers\' URLs separated by commas: calls fail over between them (env STRATUS_SERVER)')
    .option('--token <token>', 'bearer token (env STRATUS_TOKEN)')
    .option('--context <name>', 'saved context to use (env STRATUS_CONTEXT)')
    .option('-p, --project <name>', 'project (env STRATUS_PROJECT; default: the context\'s, else "default")')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .exitOverride();
  registerServer(program);
  registerAuth(program);
  registerResources(program);
  registerAdmin(program);
  registerCluster(program);
  registerNodes(program);
  registerNodePools(program);
  registerAgent(program);
  registerWorkloads(program);
  registerStacks(program);
  registerSim(program);
  registerSecrets(program);
  registerBackup(program);
  registerExec(program);
  registerCp(program);
  registerPortForward(program);
  registerConsole(program);
  registerTop(program);
  registerCost(program);
  registerVolumes(program);
  registerCompletion(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  endQuietlyOnClosedOutput();
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (e) {
    return reportError(e);
  }
}

export function reportError(e: unknown): number {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    return e.exitCode === 0 ? 0 : 2;
  }
  if (e instanceof ApiError) {
    process.stderr.write(`error: ${e.message} (${e.code})\n`);
    return 1;
  }
  if (e instanceof ConnectionError || e instanceof ResyncError) {
    process.stderr.write(`error: ${e.message}\n`);
    return 1;
  }
  if (e instanceof CliError) {
    // An empty message: the details were already printed, one line per failed object.
    if (e.message) process.stderr.write(`error: ${e.message}\n`);
    return e.exitCode;
  }
  // Anything else is a bug: one line, the stack with STRATUS_DEBUG=1.
  process.stderr.write(`error: ${process.env.STRATUS_DEBUG ? (e as Error)?.stack ?? String(e) : (e as Error)?.message ?? String(e)}\n`);
  return 1;
}

/** `stratus get -w | head`: once the reader is gone, stop, as other commands do (no EPIPE trace). */
function endQuietlyOnClosedOutput(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}
