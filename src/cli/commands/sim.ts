/** `stratus sim replay`: the scheduler's trace replay (the same engine the live scheduler runs). */
import type { Command } from 'commander';
import { parseSeeds, simReplayCommand } from '../../scheduler/sim/command.js';
import { CliError } from '../errors.js';

export function registerSim(program: Command): void {
  const sim = program.command('sim').description('Simulations with the scheduler\'s engine.');
  sim.command('replay')
    .description('Replay a cluster trace (Alibaba openb format) under placement policies, as in the FGD paper\'s protocol.')
    .requiredOption('--nodes <file>', 'node list CSV (sn, cpu_milli, memory_mib, gpu, model)')
    .requiredOption('--tasks <file>', 'task list CSV (name, cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, ...)')
    .option('--policy <policy>', 'a policy name, "default" (the cluster default) or "all"', 'default')
    .option('--seeds <seeds>', 'seeds, e.g. 42-51 or 42,43', '42-51')
    .option('--json', 'print one JSON document')
    .option('--csv <file>', 'write the full curve, one row per arrival')
    .action(async (o: { nodes: string; tasks: string; policy: string; seeds: string; json?: boolean; csv?: string }) => {
      let seeds: number[];
      try {
        seeds = parseSeeds(o.seeds);
      } catch (e) {
        throw new CliError(`--${(e as Error).message}`, 2);
      }
      const code = await simReplayCommand({ nodes: o.nodes, tasks: o.tasks, policy: o.policy, seeds, json: Boolean(o.json), ...(o.csv ? { csv: o.csv } : {}) }, process.stdout);
      if (code !== 0) process.exitCode = code;
    });
}
