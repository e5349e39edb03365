/**
 * `stratus sim plan` as a user runs it (the built CLI, no server): a small generated trace gives
 * machines needed beside the bound and the ratio, text and JSON; bad input is one readable line
 * and a non-zero exit.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliRunner } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'stratus-plan-cli-'));
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
const NODE_HEAD = 'sn,cpu_milli,memory_mib,gpu,model\n';
const TASK_HEAD = 'name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n';
// 6 machines of 8 cores and 4 GPUs; 20 tasks of 1 core and 1 GPU: 5 machines by GPU, 3 by CPU.
const nodes = file('nodes.csv', NODE_HEAD + Array.from({ length: 6 }, (_, i) => `n-${i},8000,65536,4,T4`).join('\n') + '\n');
const tasks = file('tasks.csv', TASK_HEAD + Array.from({ length: 20 }, (_, i) => `t-${i},1000,2048,1,1000,,LS,Running,0,0,0`).join('\n') + '\n');
const run = cliRunner(join(dir, 'config.json'));

describe('stratus sim plan', () => {
  it('prints machines needed beside the lower bound, the ratio and whether the target is met', async () => {
    const res = await run(['sim', 'plan', '--nodes', nodes, '--tasks', tasks]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/8c-64Gi-4xT4\s+6\s+5\s+20\s+5 \(gpu; CPU 3, memory 1, GPU 5\)\s+1\.000/);
    expect(res.stdout).toContain('Machines needed: 5 (');
    expect(res.stdout).toContain('Lower bound:     5 (gpu; CPU 3, memory 1, GPU 5)');
    expect(res.stdout).toContain('Ratio:           1.000 (target ≤ 1.05)');
    expect(res.stdout).toContain('Target:          met');
  });

  it('--json', async () => {
    const res = await run(['sim', 'plan', '--nodes', nodes, '--tasks', tasks, '--json', '--tries', '1']);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ used: 5, unplaced: 0, met: true, ratio: 1, bound: { machines: 5, binding: 'gpu' }, tried: [{ label: 'list order, machines opened on demand', used: 5, unplaced: 0 }, { label: 'list order, every machine open', used: 5, unplaced: 0 }] });
  });

  it('tasks that fit nowhere are counted and the target is not met', async () => {
    const big = file('big.csv', TASK_HEAD + 't-0,1000,2048,8,1000,,LS,Running,0,0,0\nt-1,1000,2048,1,1000,,LS,Running,0,0,0\n');
    const res = await run(['sim', 'plan', '--nodes', nodes, '--tasks', big]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('Unplaced:        1 of 2 tasks fit on no machine left: the target is not met');
  });

  it.each([
    ['--tries 0', ['--tries', '0'], /^error: --tries 0: not a whole number from 1 to 100\n$/],
    ['--tries many', ['--tries', 'many'], /^error: --tries many: not a whole number from 1 to 100\n$/],
    ['a missing node file', ['--nodes', join(dir, 'nope.csv')], /^error: --nodes \S+nope\.csv: no such file\n$/],
    ['a node file with no nodes', ['--nodes', file('empty.csv', NODE_HEAD)], /^error: \S+empty\.csv:2: no nodes \(the file has only a header\)\n$/],
    ['a node file with a bad field', ['--nodes', file('bad.csv', NODE_HEAD + 'n-0,lots,1024,0,\n')], /^error: \S+bad\.csv:2: column cpu_milli: "lots" is not a whole number\n$/],
    ['an unknown flag', ['--fast'], /^error: unknown option '--fast'/],
  ])('%s: one line, non-zero exit', async (_what, extra, message) => {
    const args = ['sim', 'plan', '--nodes', nodes, '--tasks', tasks];
    for (let i = 0; i < extra.length; i += 2) {
      const at = args.indexOf(extra[i]!);
      if (at >= 0 && extra[i + 1] !== undefined) args[at + 1] = extra[i + 1]!;
      else args.push(...extra.slice(i, i + 2));
    }
    const res = await run(args);
    expect(res.code).not.toBe(0);
    expect(res.stdout + res.stderr).toMatch(message);
  });
});
