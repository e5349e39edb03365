/**
 * Step timings of the node's networking, to see where an isolated start spends its time.
 * Off unless the environment has STRATUS_NET_TIMING=1; then every timed step writes one line to
 * stderr, `stratus-net-timing <step> <ms>`, which `bench/agent.ts` collects into a table.
 * Timings are only ever printed, never used for a decision.
 */
import type { Runner } from './exec.js';

export const TIMING_PREFIX = 'stratus-net-timing';

const enabled = (): boolean => process.env.STRATUS_NET_TIMING === '1';

/** Prints one step's duration (when enabled). */
export function recordStep(step: string, ms: number): void {
  if (enabled()) process.stderr.write(`${TIMING_PREFIX} ${step} ${ms.toFixed(2)}\n`);
}

/** Runs `fn`, printing how long it took as `step` (when enabled). */
export async function timed<T>(step: string, fn: () => Promise<T>): Promise<T> {
  if (!enabled()) return fn();
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    recordStep(step, performance.now() - t0);
  }
}

/** The runner, with each command timed as `cmd <tool> [-n] <first word>` (`cmd ip -batch`, `cmd ip -n -batch`, `cmd nft -f`), when enabled. */
export function timedRunner(runner: Runner): Runner {
  if (!enabled()) return runner;
  return { run: (argv, options) => timed(commandStep(argv), () => runner.run(argv, options)) };
}

export function commandStep(argv: readonly string[]): string {
  const rest = argv.slice(1);
  const ns = rest.indexOf('-n');
  if (ns >= 0) rest.splice(ns, 2, '-n');
  const first = rest.find((a) => a === '-batch' || a === '-f' || !a.startsWith('-'));
  return ['cmd', argv[0], ...(ns >= 0 ? ['-n'] : []), ...(first ? [first] : [])].join(' ');
}
