/**
 * Wall time of one trace replay (shuffle, inflate to 1.3×, place every arrival through the
 * engine), and the resulting GPU allocation.
 *
 *   npx tsx bench/scheduler-replay.ts [--policy fgd|all|...] [--seeds 42] [--nodes FILE] [--tasks FILE]
 *
 * Peer: the FGD paper's Kubernetes-based simulator needs about 10 minutes for one such run
 * (one policy, one seed) on 2 vCPUs (trace README).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { POLICIES } from '../src/model/kinds/instance.js';
import type { PolicyChoice } from '../src/scheduler/engine/types.js';
import { parseSeeds } from '../src/scheduler/sim/command.js';
import { allocationAt, replay } from '../src/scheduler/sim/replay.js';
import { parseNodes, parseTasks } from '../src/scheduler/sim/trace.js';

const PEER_SECONDS = 600;
/** The shared traces sit beside the repository (../shared), as in CI. */
const TRACE = resolve(import.meta.dirname, '..', '..', 'shared', 'traces', 'alibaba-gpu-v2023');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

const nodesFile = arg('nodes', `${TRACE}/openb_node_list_all_node.csv`);
const tasksFile = arg('tasks', `${TRACE}/openb_pod_list_default.csv`);
const nodes = parseNodes(readFileSync(nodesFile, 'utf8'), nodesFile);
const tasks = parseTasks(readFileSync(tasksFile, 'utf8'), tasksFile);
const policyArg = arg('policy', 'fgd');
const policies: PolicyChoice[] = policyArg === 'all' ? [...POLICIES] : [policyArg as PolicyChoice];
const seeds = parseSeeds(arg('seeds', '42'));

console.log(`trace replay: ${tasks.length} tasks ×1.3 on ${nodes.length} nodes, one core\n`);
console.log('policy          seed  arrivals  failed   @100 %  wall s  arrivals/s  vs paper simulator (~600 s)');
for (const policy of policies) {
  for (const seed of seeds) {
    const r = replay(nodes, tasks, { policy, seed });
    const s = r.wallMs / 1000;
    console.log(
      [policy.padEnd(15), String(seed).padStart(4), String(r.arrivals).padStart(9), String(r.failed).padStart(7), allocationAt(r, 100).value.toFixed(2).padStart(8), s.toFixed(2).padStart(7), Math.round(r.arrivals / s).toString().padStart(11), `${Math.round(PEER_SECONDS / s)}× faster`.padStart(14)].join(' '),
    );
  }
}
