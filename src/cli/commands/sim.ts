/** `stratus sim replay` and `stratus sim plan`: trace replay and machine planning with the live scheduler's engine. */
import { accessSync, constants, statSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError } from '../errors.js';

export function registerSim(program: Command): void {
  const sim = program.command('sim').description('Simulations with the scheduler\'s engine.');
  sim.command('replay')
    .description('Replay a cluster trace (Alibaba openb format) under placement policies, as in the FGD paper\'s protocol.')
    .requiredOption('--nodes <file>', 'node list CSV (sn, cpu_milli, memory_mib, gpu, model)')
    .requiredOption('--tasks <file>', 'task list CSV (name, cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, ...)')
    .option('--policy <policy>', 'a policy name, "default" (the cluster default) or "all"', 'default')
    .option('--seeds <seeds>', 'seeds, e.g. 42-51 or 42,43', '42-51')
    .option('--workload <source>', 'FGD\'s target workload: "online" (learned from the arrivals, as the live scheduler) or "trace" (from the task list, as the paper)', 'online')
    .option('--json', 'print one JSON document')
    .option('--csv <file>', 'write the full curve, one row per arrival')
    .action(async (o: { nodes: string; tasks: string; policy: string; seeds: string; workload: string; json?: boolean; csv?: string }) => {
      if (o.workload !== 'online' && o.workload !== 'trace') throw new CliError(`--workload: ${JSON.stringify(o.workload)} is not "online" or "trace"`, 2);
      for (const [flag, path] of [['--nodes', o.nodes], ['--tasks', o.tasks]] as const) readableFile(flag, path);
      // The scheduler's engine loads only when a replay runs (every other command starts without it).
      const { parseSeeds, simReplayCommand } = await import('../../scheduler/sim/command.js');
      let seeds: number[];
      try {
        seeds = parseSeeds(o.seeds);
      } catch (e) {
        throw new CliError(`--${(e as Error).message}`, 2);
      }
      const code = await simReplayCommand({ nodes: o.nodes, tasks: o.tasks, policy: o.policy, seeds, workload: o.workload, json: Boolean(o.json), ...(o.csv ? { csv: o.csv } : {}) }, process.stdout);
      if (code !== 0) process.exitCode = code;
    });
  sim.command('plan')
    .description('How many machines of each kind a workload needs, placed by the live scheduler\'s engine and default policy, beside the lower bound per resource.')
    .requiredOption('--nodes <file>', 'node list CSV (sn, cpu_milli, memory_mib, gpu, model): its distinct shapes are the machine kinds, its counts how many of each may be used')
    .requiredOption('--tasks <file>', 'task list CSV (name, cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, ...), all running at once')
    .option('--unlimited', 'any number of machines of each kind')
    .option('--no-compaction', 'skip the compaction pass after the first placement')
    .option('--tries <n>', 'task orders to try, the best kept: the list\'s, decreasing size, then seeded shuffles (1-100)', '4')
    .option('--json', 'print one JSON document')
    .action(async (o: { nodes: string; tasks: string; unlimited?: boolean; compaction: boolean; tries: string; json?: boolean }) => {
      if (!/^\d{1,3}$/.test(o.tries) || Number(o.tries) < 1 || Number(o.tries) > 100) throw new CliError(`--tries ${o.tries}: not a whole number from 1 to 100`, 2);
      for (const [flag, path] of [['--nodes', o.nodes], ['--tasks', o.tasks]] as const) readableFile(flag, path);
      const { simPlanCommand } = await import('../../scheduler/plan/sim-command.js');
      const code = await simPlanCommand({ nodes: o.nodes, tasks: o.tasks, unlimited: Boolean(o.unlimited), compaction: o.compaction, tries: Number(o.tries), json: Boolean(o.json) }, process.stdout);
      if (code !== 0) process.exitCode = code;
    });
}

/** A trace file the replay can read, checked here so the error names the flag and the file. */
function readableFile(flag: string, path: string): void {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw new CliError(`${flag} ${path}: no such file`, 2);
  if (!st.isFile()) throw new CliError(`${flag} ${path}: not a file (give a CSV file)`, 2);
  try {
    accessSync(path, constants.R_OK);
  } catch {
    throw new CliError(`${flag} ${path}: not readable (permission denied)`, 2);
  }
}
